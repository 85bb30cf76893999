"""course_utils.data.images: ImageDataset, stratified subsets, channel
statistics, and load_dataset's order of sources (cache, offline copy,
download) and its error message."""

import dataclasses
import time
import urllib.error

import numpy as np
import pytest
import torch

from course_utils.data import DatasetUnavailableError, ImageDataset, dataset_status, load_dataset, sources


def toy_splits(n_train=100, n_test=50, channels=1, size=6, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return sources.Splits(
        torch.randint(0, 256, (n_train, channels, size, size), generator=gen, dtype=torch.uint8),
        torch.arange(n_train) % 10,
        torch.randint(0, 256, (n_test, channels, size, size), generator=gen, dtype=torch.uint8),
        torch.arange(n_test) % 10,
    )


def toy_dataset(*args, **kwargs):
    return ImageDataset("toy", tuple("abcdefghij"), *toy_splits(*args, **kwargs))


def without_debian(monkeypatch, tmp_path, name="fashion_mnist"):
    spec = dataclasses.replace(sources.DATASETS[name], debian_dir=tmp_path / "not-installed")
    monkeypatch.setitem(sources.DATASETS, name, spec)


def download_returns(monkeypatch, splits):
    """Stand in for torchvision's download; count the calls."""
    calls = []

    def fake(spec, root):
        calls.append(spec.name)
        if splits is None:
            raise urllib.error.URLError("[Errno -2] Name or service not known")
        return splits

    monkeypatch.setattr(sources, "download", fake)
    return calls


# ---------------------------------------------------------------------------
# load_dataset: cache, offline copy, download, error
# ---------------------------------------------------------------------------


def test_download_then_cache_then_quick_second_load(tmp_data_dir, monkeypatch):
    splits = toy_splits(30, 10, size=28)
    calls = download_returns(monkeypatch, splits)
    assert "will be downloaded" in dataset_status("mnist")
    first = load_dataset("mnist")
    assert calls == ["mnist"] and (tmp_data_dir / "mnist.pt").exists()
    assert torch.equal(first.train_images, splits.train_images) and first.classes[3] == "3"
    download_returns(monkeypatch, None)  # the network is gone: only the cache can answer
    start = time.perf_counter()
    second = load_dataset("mnist")
    assert time.perf_counter() - start < 1.0
    assert torch.equal(first.train_images, second.train_images) and torch.equal(first.std, second.std)
    assert "cached" in dataset_status("mnist")
    assert calls == ["mnist"]


def test_cache_false_neither_reads_nor_writes(tmp_data_dir, monkeypatch):
    calls = download_returns(monkeypatch, toy_splits(20, 10))
    load_dataset("mnist", cache=False)
    load_dataset("mnist", cache=False)
    assert calls == ["mnist", "mnist"] and not (tmp_data_dir / "mnist.pt").exists()


def test_corrupt_cache_is_rebuilt(tmp_data_dir, monkeypatch):
    tmp_data_dir.mkdir(parents=True)
    (tmp_data_dir / "mnist.pt").write_bytes(b"not a cache")
    calls = download_returns(monkeypatch, toy_splits(20, 10))
    ds = load_dataset("mnist")
    assert calls == ["mnist"] and len(ds.train_labels) == 20
    assert load_dataset("mnist").train_images.shape == (20, 1, 6, 6) and calls == ["mnist"]


def test_offline_error_names_package_variable_and_download(tmp_data_dir, tmp_path, monkeypatch):
    without_debian(monkeypatch, tmp_path)
    download_returns(monkeypatch, None)
    with pytest.raises(DatasetUnavailableError) as err:
        load_dataset("fashion_mnist")
    text = str(err.value)
    assert "apt-get install dataset-fashion-mnist" in text
    assert "COURSE_FASHION_MNIST_DIR" in text
    assert "URLError" in text and "connect to the internet" in text
    assert err.value.__cause__ is None and err.value.__suppress_context__  # no network stack trace


def test_download_false_says_so(tmp_data_dir, monkeypatch):
    calls = download_returns(monkeypatch, toy_splits())
    with pytest.raises(DatasetUnavailableError, match=r"not attempted \(download=False\)"):
        load_dataset("mnist", download=False)
    assert calls == []


def test_unknown_dataset_name():
    with pytest.raises(ValueError, match="choose one of fashion_mnist, mnist, cifar10"):
        load_dataset("imagenet")


def test_full_fashion_mnist_from_debian_package():
    ds = load_dataset("fashion_mnist")
    assert len(ds.train_labels) == 60_000 and len(ds.test_labels) == 10_000
    assert ds.train_images.shape == (60_000, 1, 28, 28)
    assert ds.train_labels.bincount().tolist() == [6000] * 10
    assert ds.mean.item() == pytest.approx(0.2860, abs=1e-3)  # the commonly quoted statistics
    assert ds.std.item() == pytest.approx(0.3530, abs=1e-3)


def test_full_cifar10_from_offline_copy():
    ds = load_dataset("cifar10")
    assert len(ds.train_labels) == 50_000 and len(ds.test_labels) == 10_000
    assert ds.train_images.shape == (50_000, 3, 32, 32)
    assert ds.test_labels.bincount().tolist() == [1000] * 10
    assert ds.mean.tolist() == pytest.approx([0.491, 0.482, 0.447], abs=3e-3)


# ---------------------------------------------------------------------------
# ImageDataset
# ---------------------------------------------------------------------------


def test_image_dataset_validates_its_tensors():
    train_images, train_labels, test_images, test_labels = toy_splits(10, 10)
    with pytest.raises(ValueError, match=r"train_images must be uint8 \(N, C, H, W\)"):
        ImageDataset("toy", tuple("abcdefghij"), train_images.float(), train_labels, test_images, test_labels)
    with pytest.raises(ValueError, match=r"test_labels must have shape \(10,\)"):
        ImageDataset("toy", tuple("abcdefghij"), train_images, train_labels, test_images, test_labels[:9])
    ds = ImageDataset("toy", tuple("abcdefghij"), train_images, train_labels, test_images, test_labels)
    assert ds.image_shape == (1, 6, 6) and ds.num_classes == 10
    assert repr(ds) == "ImageDataset('toy': 10 train + 10 test images of 1x6x6, 10 classes)"


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


def test_train_and_test_batches_carry_the_dataset_statistics():
    ds = toy_dataset(40, 20, channels=3)
    train, test = ds.train_batches(8, device="cpu", seed=5), ds.test_batches(8, device="cpu")
    assert train.shuffle and not test.shuffle and train.seed == 5 and train.num_examples == 40
    for batches in (train, test):
        assert torch.equal(batches.mean.flatten(), ds.mean) and torch.equal(batches.std.flatten(), ds.std)
    assert torch.equal(torch.cat([y for _, y in test]), ds.test_labels)  # fixed order


# ---------------------------------------------------------------------------
# A validation split carved out of the training images
# ---------------------------------------------------------------------------


def image_keys(images):
    """One hashable key per image, to compare sets of images across splits."""
    return {bytes(img.flatten().tolist()) for img in images}


def test_split_validation_partitions_the_training_images():
    ds = toy_dataset(200, 50)
    split = ds.split_validation(40, seed=1)
    assert len(split.train_labels) == 160 and len(split.val_labels) == 40
    assert split.val_labels.bincount(minlength=10).tolist() == [4] * 10  # stratified
    # Every training image lands in exactly one of the two splits (toy images are distinct).
    assert len(image_keys(ds.train_images)) == 200
    train_keys, val_keys = image_keys(split.train_images), image_keys(split.val_images)
    assert not train_keys & val_keys and train_keys | val_keys == image_keys(ds.train_images)
    # Labels travel with their images: each image keeps the label it had.
    label_of = {bytes(img.flatten().tolist()): int(y) for img, y in zip(ds.train_images, ds.train_labels)}
    for images, labels in ((split.train_images, split.train_labels), (split.val_images, split.val_labels)):
        assert all(label_of[bytes(img.flatten().tolist())] == int(y) for img, y in zip(images, labels))
    assert torch.equal(split.test_images, ds.test_images)
    assert torch.equal(split.mean, ds.mean) and torch.equal(split.std, ds.std)
    assert repr(split) == "ImageDataset('toy': 160 train + 40 validation + 50 test images of 1x6x6, 10 classes)"


def test_split_validation_is_deterministic_per_seed():
    ds = toy_dataset(200, 50)
    a, b, c = ds.split_validation(30, seed=2), ds.split_validation(30, seed=2), ds.split_validation(30, seed=3)
    assert torch.equal(a.val_images, b.val_images) and torch.equal(a.train_images, b.train_images)
    assert not torch.equal(a.val_images, c.val_images)


def test_val_batches_iterate_the_validation_split_in_order():
    split = toy_dataset(100, 20, channels=3).split_validation(20)
    val = split.val_batches(8, device="cpu")
    assert not val.shuffle and val.num_examples == 20 and len(val) == 3
    assert torch.equal(torch.cat([y for _, y in val]), split.val_labels)
    assert torch.equal(val.mean.flatten(), split.mean)


def test_validation_split_errors_say_what_to_do():
    ds = toy_dataset(100, 20)
    with pytest.raises(ValueError, match=r"split_validation\(n_val\) first"):
        ds.val_batches(8)
    with pytest.raises(ValueError, match="must leave images on both sides"):
        ds.split_validation(100)
    with pytest.raises(ValueError, match="already has a validation split"):
        ds.split_validation(10).split_validation(10)
    with pytest.raises(ValueError, match="go together"):
        ImageDataset("toy", tuple("abcdefghij"), *toy_splits(10, 10), val_images=ds.train_images[:2])


def test_subset_keeps_the_validation_split():
    split = toy_dataset(200, 50).split_validation(20)
    sub = split.subset(50, 10)
    assert torch.equal(sub.val_images, split.val_images) and len(sub.train_labels) == 50
    whole_test = split.subset(50)  # n_test=None: the test split as it is
    assert torch.equal(whole_test.test_images, split.test_images)
    assert torch.equal(whole_test.train_images, sub.train_images), "the training subset does not depend on n_test"
