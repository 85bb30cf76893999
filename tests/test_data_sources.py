"""course_utils.data.sources: the readers of each offline layout, the cache file,
and load_dataset finding an offline copy through its environment variable.
The oracle is a small synthetic copy written here in each layout."""

import dataclasses
import gzip
import pickle
import struct

import numpy as np
import pytest
import torch
from PIL import Image

from course_utils.data import DatasetUnavailableError, load_dataset, sources

# ---------------------------------------------------------------------------
# Small synthetic copies in every supported layout
# ---------------------------------------------------------------------------


def write_idx(path, array, compress=True):
    array = np.asarray(array, dtype=np.uint8)
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(">" + "I" * array.ndim, *array.shape)
    with (gzip.open if compress else open)(path, "wb") as f:
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


def make_image_folder(root, classes, per_class=(3, 2), size=8, seed=0, suffix=".png"):
    rng = np.random.default_rng(seed)
    pixels = {}
    for split, n in zip(("train", "test"), per_class):
        for k, name in enumerate(classes):
            folder = root / split / name
            folder.mkdir(parents=True)
            for i in range(n):
                img = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
                Image.fromarray(img).save(folder / f"{i:04d}{suffix}")  # .png: lossless
                pixels[(split, k, i)] = img
    return pixels


def make_cifar_batches(folder, per_batch=4, seed=0):
    """The python pickles of CIFAR-10, with images stored as rows of 3072 bytes
    (1024 red, then green, then blue, each row-major): the documented layout."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    images = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        hwc = rng.integers(0, 256, (per_batch, 32, 32, 3), dtype=np.uint8)  # (N, H, W, C)
        rows = np.stack([np.concatenate([img[:, :, ch].ravel() for ch in range(3)]) for img in hwc])
        labels = rng.integers(0, 10, per_batch).tolist()
        with open(folder / name, "wb") as f:
            pickle.dump({"data": rows, "labels": labels}, f)
        images[name] = (hwc, labels)
    return images


def without_debian(monkeypatch, name="fashion_mnist", tmp_path=None):
    spec = dataclasses.replace(sources.DATASETS[name], debian_dir=tmp_path / "not-installed")
    monkeypatch.setitem(sources.DATASETS, name, spec)


def no_download(monkeypatch):
    def fail(spec, root):
        import urllib.error

        raise urllib.error.URLError("[Errno -2] Name or service not known")

    monkeypatch.setattr(sources, "download", fail)


# ---------------------------------------------------------------------------
# Readers
# ---------------------------------------------------------------------------


def test_read_idx_gzipped_or_not(tmp_path):
    array = np.random.default_rng(0).integers(0, 256, (3, 4, 5))
    write_idx(tmp_path / "a.gz", array)
    write_idx(tmp_path / "b", array, compress=False)
    for name in ("a.gz", "b"):
        out = sources.read_idx(tmp_path / name)
        assert out.dtype == torch.uint8 and out.tolist() == array.tolist()


def test_read_idx_rejects_truncated_and_foreign_files(tmp_path):
    write_idx(tmp_path / "full", np.zeros((2, 3, 3)), compress=False)
    (tmp_path / "short").write_bytes((tmp_path / "full").read_bytes()[:-1])
    with pytest.raises(ValueError, match="truncated: expected 18 values, found 17"):
        sources.read_idx(tmp_path / "short")
    (tmp_path / "foreign").write_bytes(struct.pack(">HBB", 0, 0x0D, 1) + struct.pack(">I", 1) + b"\0" * 4)
    with pytest.raises(ValueError, match="not an unsigned-byte IDX file"):
        sources.read_idx(tmp_path / "foreign")


def test_read_cifar_batches_unpacks_channel_planes(tmp_path):
    written = make_cifar_batches(tmp_path / "cifar-10-batches-py")
    splits = sources.read_folder(tmp_path, sources.DATASETS["cifar10"])  # finds the subfolder
    assert splits.train_images.shape == (20, 3, 32, 32) and splits.test_images.shape == (4, 3, 32, 32)
    hwc, labels = written["data_batch_2"]
    expected = torch.from_numpy(hwc).permute(0, 3, 1, 2)  # (N, H, W, C) -> (N, C, H, W)
    assert torch.equal(splits.train_images[4:8], expected)
    assert splits.train_labels[4:8].tolist() == labels and splits.train_labels.dtype == torch.int64
    assert torch.equal(splits.test_images, torch.from_numpy(written["test_batch"][0]).permute(0, 3, 1, 2))


def test_read_folder_names_what_it_expected(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="neither an image-folder copy"):
        sources.read_folder(tmp_path / "empty", sources.DATASETS["mnist"])
    with pytest.raises(FileNotFoundError, match="is not a folder"):
        sources.read_folder(tmp_path / "missing", sources.DATASETS["mnist"])
    make_image_folder(tmp_path / "wrong", ["a", "b"], per_class=(1, 1))
    with pytest.raises(ValueError, match="expected one per class of CIFAR-10"):
        sources.read_folder(tmp_path / "wrong", sources.DATASETS["cifar10"])


def test_get_spec_accepts_either_spelling_and_rejects_others():
    assert sources.get_spec("Fashion-MNIST") is sources.DATASETS["fashion_mnist"]
    with pytest.raises(ValueError, match="choose one of fashion_mnist, mnist, cifar10"):
        sources.get_spec("imagenet")


def test_offline_sources_report_why_not(tmp_path, monkeypatch):
    without_debian(monkeypatch, tmp_path=tmp_path)
    monkeypatch.delenv("COURSE_FASHION_MNIST_DIR", raising=False)
    found = sources.offline_sources(sources.DATASETS["fashion_mnist"])
    assert [(folder, why) for _, folder, why in found] == [(None, "not installed"), (None, "not set")]
    monkeypatch.setenv("COURSE_FASHION_MNIST_DIR", str(tmp_path))
    assert sources.offline_sources(sources.DATASETS["fashion_mnist"])[1][1] == tmp_path


# ---------------------------------------------------------------------------
# Cache file
# ---------------------------------------------------------------------------


def test_cache_round_trip_and_version_check(tmp_path):
    path = tmp_path / "sub" / "toy.pt"
    blob = {"name": "toy", "images": torch.arange(6, dtype=torch.uint8)}
    sources.write_cache(path, blob)
    assert sorted(p.name for p in path.parent.iterdir()) == ["toy.pt"]  # no temporary file left behind
    back = sources.read_cache(path, "toy")
    assert back["version"] == sources.CACHE_VERSION and torch.equal(back["images"], blob["images"])
    with pytest.raises(ValueError, match="another version"):
        sources.read_cache(path, "other")
    torch.save({**back, "version": sources.CACHE_VERSION + 1}, path)
    with pytest.raises(ValueError, match="another version"):
        sources.read_cache(path, "toy")


def test_two_processes_writing_one_cache_use_their_own_temporary_files(tmp_path, monkeypatch):
    """The ranks of a first multi-GPU run may build the cache at once: each
    writes its own temporary file (a shared one would be renamed half-written)."""
    renamed = []
    real_replace = sources.os.replace
    monkeypatch.setattr(sources.os, "replace", lambda src, dst: (renamed.append(str(src)), real_replace(src, dst)))
    path = tmp_path / "toy.pt"
    for pid in (1001, 1002):
        monkeypatch.setattr(sources.os, "getpid", lambda pid=pid: pid)
        sources.write_cache(path, {"name": "toy", "images": torch.zeros(3, dtype=torch.uint8)})
    assert len(set(renamed)) == 2, f"both writes went through {renamed[0]}"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["toy.pt"]


def test_cache_path_is_in_the_data_folder(tmp_data_dir):
    assert sources.cache_path(sources.DATASETS["mnist"]) == tmp_data_dir / "mnist.pt"


# ---------------------------------------------------------------------------
# load_dataset finds each layout through the environment variable
# ---------------------------------------------------------------------------


def test_idx_folder_via_env_var(tmp_data_dir, tmp_path, monkeypatch):
    arrays = make_idx_folder(tmp_path / "mnist")
    monkeypatch.setenv("COURSE_MNIST_DIR", str(tmp_path / "mnist"))
    no_download(monkeypatch)
    ds = load_dataset("mnist")
    assert ds.train_images.shape == (40, 1, 28, 28) and ds.train_images.dtype == torch.uint8
    assert ds.test_images.shape == (20, 1, 28, 28)
    assert torch.equal(ds.train_images[:, 0], torch.as_tensor(arrays["train-images-idx3-ubyte.gz"], dtype=torch.uint8))
    assert ds.train_labels.dtype == torch.int64
    assert ds.train_labels.tolist() == (np.arange(40) % 10).tolist()
    assert ds.classes == tuple(str(d) for d in range(10))


def test_image_folder_via_env_var_keeps_label_order(tmp_data_dir, tmp_path, monkeypatch):
    classes = sources.DATASETS["cifar10"].classes
    pixels = make_image_folder(tmp_path / "cifar", classes)
    monkeypatch.setenv("COURSE_CIFAR10_DIR", str(tmp_path / "cifar"))
    no_download(monkeypatch)
    ds = load_dataset("cifar10")
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
    ds = load_dataset("fashion_mnist")
    assert ds.train_images.shape == (20, 1, 8, 8)  # converted to one channel
    assert ds.classes[0] == "T-shirt/top" and ds.train_labels[:2].tolist() == [0, 0]


def test_bad_offline_folder_is_reported(tmp_data_dir, tmp_path, monkeypatch):
    (tmp_path / "empty").mkdir()
    monkeypatch.setenv("COURSE_CIFAR10_DIR", str(tmp_path / "empty"))
    no_download(monkeypatch)
    with pytest.raises(DatasetUnavailableError, match="neither an image-folder copy"):
        load_dataset("cifar10")


@pytest.mark.parametrize("layout, origin", [("jpeg", "JPEG copy"), ("png", "PNG copy"), ("batches", "original files"),
                                            ("download", "original files")])
def test_a_dataset_says_where_it_came_from_also_through_its_cache(tmp_data_dir, tmp_path, monkeypatch, layout,
                                                                  origin):
    """Notebook 10 prints which CIFAR-10 it trained on: the course's offline
    JPEG copy (lossy) or the original files (Colab downloads them)."""
    classes = sources.DATASETS["cifar10"].classes
    if layout in ("jpeg", "png"):
        make_image_folder(tmp_path / "cifar", classes, suffix="." + layout.replace("jpeg", "jpg"))
    elif layout == "batches":
        make_cifar_batches(tmp_path / "cifar")
    monkeypatch.setenv("COURSE_CIFAR10_DIR", str(tmp_path / ("cifar" if layout != "download" else "absent")))
    if layout == "download":
        fake = sources.Splits(torch.zeros(20, 3, 4, 4, dtype=torch.uint8), torch.arange(20) % 10,
                              torch.zeros(10, 3, 4, 4, dtype=torch.uint8), torch.arange(10))
        monkeypatch.setattr(sources, "download", lambda spec, root: fake)
    else:
        no_download(monkeypatch)
    assert load_dataset("cifar10").origin == origin
    assert load_dataset("cifar10").origin == origin, "read back from the cache"
    if layout != "batches":  # (random labels there: a stratified subset may find a class empty)
        assert load_dataset("cifar10").subset(10, 10).split_validation(5).origin == origin


def test_a_cache_from_before_origins_says_so(tmp_data_dir):
    blob = {"name": "cifar10", "classes": list(sources.DATASETS["cifar10"].classes),
            "train_images": torch.zeros(10, 3, 4, 4, dtype=torch.uint8), "train_labels": torch.arange(10),
            "test_images": torch.zeros(10, 3, 4, 4, dtype=torch.uint8), "test_labels": torch.arange(10),
            "mean": torch.zeros(3), "std": torch.ones(3)}
    sources.write_cache(sources.cache_path(sources.DATASETS["cifar10"]), blob)
    assert "not recorded" in load_dataset("cifar10").origin
