import dataclasses
import gzip
import struct
import time

import numpy as np
import pytest
import torch
from PIL import Image

from course_utils import data

# ---------------------------------------------------------------------------
# Small synthetic copies in every supported layout
# ---------------------------------------------------------------------------


def write_idx(path, array):
    array = np.asarray(array, dtype=np.uint8)
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(">" + "I" * array.ndim, *array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.tobytes())


def make_idx_folder(folder, n_train=40, n_test=20, seed=0):
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    arrays = {
        "train-images-idx3-ubyte.gz": rng.integers(0, 256, (n_train, 28, 28)),
        "train-labels-idx1-ubyte.gz": np.arange(n_train) % 10,
        "t10k-images-idx3-ubyte.gz": rng.integers(0, 256, (n_test, 28, 28)),
        "t10k-labels-idx1-ubyte.gz": np.arange(n_test) % 10,
    }
    for name, array in arrays.items():
        write_idx(folder / name, array)
    return arrays


def make_image_folder(root, classes, per_class=(3, 2), size=8, seed=0):
    rng = np.random.default_rng(seed)
    pixels = {}
    for split, n in zip(("train", "test"), per_class):
        for k, name in enumerate(classes):
            folder = root / split / name
            folder.mkdir(parents=True)
            for i in range(n):
                img = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
                Image.fromarray(img).save(folder / f"{i:04d}.png")  # lossless
                pixels[(split, k, i)] = img
    return pixels


def without_debian(monkeypatch, name="fashion_mnist", tmp_path=None):
    spec = dataclasses.replace(data.DATASETS[name], debian_dir=tmp_path / "not-installed")
    monkeypatch.setitem(data.DATASETS, name, spec)


def no_download(monkeypatch):
    def fail(spec, root):
        import urllib.error

        raise urllib.error.URLError("[Errno -2] Name or service not known")

    monkeypatch.setattr(data, "_download", fail)


# ---------------------------------------------------------------------------
# Sources
# ---------------------------------------------------------------------------


def test_idx_folder_via_env_var(tmp_data_dir, tmp_path, monkeypatch):
    arrays = make_idx_folder(tmp_path / "mnist")
    monkeypatch.setenv("COURSE_MNIST_DIR", str(tmp_path / "mnist"))
    no_download(monkeypatch)
    ds = data.load_dataset("mnist")
    assert ds.train_images.shape == (40, 1, 28, 28) and ds.train_images.dtype == torch.uint8
    assert ds.test_images.shape == (20, 1, 28, 28)
    assert torch.equal(ds.train_images[:, 0], torch.as_tensor(arrays["train-images-idx3-ubyte.gz"], dtype=torch.uint8))
    assert ds.train_labels.dtype == torch.int64
    assert ds.train_labels.tolist() == (np.arange(40) % 10).tolist()
    assert ds.classes == tuple(str(d) for d in range(10))


def test_image_folder_via_env_var_keeps_label_order(tmp_data_dir, tmp_path, monkeypatch):
    classes = data.DATASETS["cifar10"].classes
    pixels = make_image_folder(tmp_path / "cifar", classes)
    monkeypatch.setenv("COURSE_CIFAR10_DIR", str(tmp_path / "cifar"))
    no_download(monkeypatch)
    ds = data.load_dataset("cifar10")
    assert ds.train_images.shape == (30, 3, 8, 8) and ds.test_images.shape == (20, 3, 8, 8)
    assert ds.train_labels.bincount().tolist() == [3] * 10
    # The first image of class "bird" (label 2) is the one written there.
    first_bird = int(torch.nonzero(ds.train_labels == 2)[0])
    expected = torch.from_numpy(pixels[("train", 2, 0)]).permute(2, 0, 1)  # (H, W, C) -> (C, H, W)
    assert torch.equal(ds.train_images[first_bird], expected)


def test_fashion_mnist_image_folder_with_sanitised_class_names(tmp_data_dir, tmp_path, monkeypatch):
    names = ["T-shirt_top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
    make_image_folder(tmp_path / "fm", names, per_class=(2, 1))
    without_debian(monkeypatch, tmp_path=tmp_path)
    monkeypatch.setenv("COURSE_FASHION_MNIST_DIR", str(tmp_path / "fm"))
    ds = data.load_dataset("fashion_mnist")
    assert ds.train_images.shape == (20, 1, 8, 8)  # converted to one channel
    assert ds.classes[0] == "T-shirt/top" and ds.train_labels[:2].tolist() == [0, 0]


def test_second_load_comes_from_the_cache_quickly(tmp_data_dir, tmp_path, monkeypatch):
    make_idx_folder(tmp_path / "mnist")
    monkeypatch.setenv("COURSE_MNIST_DIR", str(tmp_path / "mnist"))
    first = data.load_dataset("mnist")
    assert (tmp_data_dir / "mnist.pt").exists()
    monkeypatch.delenv("COURSE_MNIST_DIR")  # the offline copy is gone: only the cache can answer
    no_download(monkeypatch)
    start = time.perf_counter()
    second = data.load_dataset("mnist")
    assert time.perf_counter() - start < 1.0
    assert torch.equal(first.train_images, second.train_images)
    assert "cached" in data.dataset_status("mnist")


def test_offline_error_names_package_variable_and_download(tmp_data_dir, tmp_path, monkeypatch):
    without_debian(monkeypatch, tmp_path=tmp_path)
    no_download(monkeypatch)
    with pytest.raises(data.DatasetUnavailableError) as err:
        data.load_dataset("fashion_mnist")
    text = str(err.value)
    assert "apt-get install dataset-fashion-mnist" in text
    assert "COURSE_FASHION_MNIST_DIR" in text
    assert "URLError" in text and "connect to the internet" in text
    assert err.value.__cause__ is None and err.value.__suppress_context__  # no network stack trace


def test_bad_offline_folder_is_reported(tmp_data_dir, tmp_path, monkeypatch):
    (tmp_path / "empty").mkdir()
    monkeypatch.setenv("COURSE_CIFAR10_DIR", str(tmp_path / "empty"))
    no_download(monkeypatch)
    with pytest.raises(data.DatasetUnavailableError, match="neither an image-folder copy"):
        data.load_dataset("cifar10")


def test_unknown_dataset_name():
    with pytest.raises(ValueError, match="choose one of fashion_mnist, mnist, cifar10"):
        data.load_dataset("imagenet")


def test_full_fashion_mnist_from_debian_package():
    ds = data.load_dataset("fashion_mnist")
    assert len(ds.train_labels) == 60_000 and len(ds.test_labels) == 10_000
    assert ds.train_images.shape == (60_000, 1, 28, 28)
    assert ds.train_labels.bincount().tolist() == [6000] * 10
    assert ds.mean.item() == pytest.approx(0.2860, abs=1e-3)  # the commonly quoted statistics
    assert ds.std.item() == pytest.approx(0.3530, abs=1e-3)


def test_full_cifar10_from_offline_copy():
    ds = data.load_dataset("cifar10")
    assert len(ds.train_labels) == 50_000 and len(ds.test_labels) == 10_000
    assert ds.train_images.shape == (50_000, 3, 32, 32)
    assert ds.test_labels.bincount().tolist() == [1000] * 10
    assert ds.mean.tolist() == pytest.approx([0.491, 0.482, 0.447], abs=3e-3)


# ---------------------------------------------------------------------------
# Subsets and batches
# ---------------------------------------------------------------------------


def toy_dataset(n_train=100, n_test=50, channels=1, size=6, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return data.ImageDataset(
        "toy", tuple("abcdefghij"),
        torch.randint(0, 256, (n_train, channels, size, size), generator=gen, dtype=torch.uint8),
        torch.arange(n_train) % 10,
        torch.randint(0, 256, (n_test, channels, size, size), generator=gen, dtype=torch.uint8),
        torch.arange(n_test) % 10,
    )


def test_subset_is_stratified_and_deterministic():
    ds = toy_dataset(200, 100)
    sub = ds.subset(50, 30, seed=3)
    assert sub.train_labels.bincount(minlength=10).tolist() == [5] * 10
    assert sub.test_labels.bincount(minlength=10).tolist() == [3] * 10
    again = ds.subset(50, 30, seed=3)
    assert torch.equal(sub.train_images, again.train_images)
    assert not torch.equal(sub.train_images, ds.subset(50, 30, seed=4).train_images)
    uneven = ds.subset(23, 10).train_labels.bincount(minlength=10)
    assert uneven.sum() == 23 and uneven.max() - uneven.min() == 1
    assert torch.equal(sub.mean, ds.mean)  # normalisation follows the parent


def test_subset_rejects_impossible_sizes():
    with pytest.raises(ValueError, match="out of range"):
        toy_dataset(100, 50).subset(101, 10)


def test_channel_stats_match_numpy():
    ds = toy_dataset(64, 10, channels=3)
    x = ds.train_images.numpy().astype(np.float64) / 255
    np.testing.assert_allclose(ds.mean.numpy(), x.mean(axis=(0, 2, 3)), rtol=1e-5)
    np.testing.assert_allclose(ds.std.numpy(), x.std(axis=(0, 2, 3)), rtol=1e-5)


def test_batches_cover_every_example_once_per_epoch_in_a_new_order():
    ds = toy_dataset(103, 10)
    batches = ds.train_batches(16, device="cpu")
    assert len(batches) == 7 and batches.num_examples == 103
    seen = []
    for _ in range(2):
        xs, ys = zip(*batches)
        assert [len(y) for y in ys] == [16] * 6 + [7]
        x = torch.cat(xs)
        # Undo the normalisation and find every training image exactly once.
        raw = (x * ds.std + ds.mean) * 255
        assert torch.allclose(raw.round(), raw, atol=1e-3)
        rows = raw.round().to(torch.uint8).flatten(1)
        original = ds.train_images.flatten(1)
        matches = (rows[:, None, :] == original[None, :, :]).all(-1)  # (103, 103)
        assert matches.sum(1).min() >= 1 and sorted(matches.float().argmax(1).tolist()) == list(range(103))
        seen.append(torch.cat(ys))
    assert not torch.equal(seen[0], seen[1])  # a fresh permutation each epoch
    test = ds.test_batches(4, device="cpu")
    assert torch.equal(torch.cat([y for _, y in test]), ds.test_labels)  # fixed order


def test_batches_are_normalised():
    ds = toy_dataset(500, 10, channels=3)
    x = torch.cat([x for x, _ in ds.train_batches(100, device="cpu")])
    assert x.dtype == torch.float32
    assert x.mean(dim=(0, 2, 3)).abs().max() < 1e-4
    assert (x.std(dim=(0, 2, 3)) - 1).abs().max() < 1e-2


def test_random_crop_takes_a_window_of_the_padded_image():
    images = torch.randint(1, 256, (32, 3, 6, 6), dtype=torch.uint8)
    out = data.random_crop(images, 2, torch.Generator().manual_seed(0))
    padded = torch.nn.functional.pad(images, (2, 2, 2, 2))
    offsets = set()
    for i in range(32):
        found = [(dy, dx) for dy in range(5) for dx in range(5)
                 if torch.equal(out[i], padded[i, :, dy:dy + 6, dx:dx + 6])]
        assert found, f"crop {i} is not a window of its padded image"
        offsets.add(found[0])
    assert len(offsets) > 5  # offsets really vary


def test_random_flip_flips_about_half():
    images = torch.randint(0, 256, (400, 1, 4, 5), dtype=torch.uint8)
    out = data.random_flip(images, torch.Generator().manual_seed(0))
    same = (out == images).flatten(1).all(1)
    flipped = (out == images.flip(3)).flatten(1).all(1)
    assert (same | flipped).all()
    assert 150 < int(flipped.sum()) < 250


def test_augmented_resized_batches_have_the_requested_shape():
    ds = toy_dataset(40, 10)
    batches = ds.train_batches(8, device="cpu", augment=True, resize=12)
    x, y = next(iter(batches))
    assert x.shape == (8, 1, 12, 12) and y.shape == (8,)
    constant = data.Batches(torch.full((4, 1, 5, 5), 255, dtype=torch.uint8), torch.zeros(4, dtype=torch.int64),
                            4, device="cpu", resize=(9, 7))
    x, _ = next(iter(constant))
    assert x.shape == (4, 1, 9, 7) and torch.allclose(x, torch.ones_like(x))


def test_batches_validate_their_input():
    with pytest.raises(ValueError, match=r"4-D tensor \(N, C, H, W\)"):
        data.Batches(torch.zeros(10, 28, 28, dtype=torch.uint8), torch.zeros(10, dtype=torch.int64), 4)
    with pytest.raises(ValueError, match="labels must have shape"):
        data.Batches(torch.zeros(10, 1, 28, 28, dtype=torch.uint8), torch.zeros(9, dtype=torch.int64), 4)
