"""course_utils.data.batches: Batches and its augmentation, against the raw
uint8 images they are drawn from."""

import pytest
import torch

from course_utils.data import Augment, Batches, channel_stats, random_crop, random_flip


def toy_images(n, channels=1, size=6, seed=0):
    gen = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (n, channels, size, size), generator=gen, dtype=torch.uint8)
    return images, torch.arange(n) % 10


def test_batches_cover_every_example_once_per_epoch_in_a_new_order():
    images, labels = toy_images(103)
    mean, std = channel_stats(images)
    batches = Batches(images, labels, 16, mean=mean, std=std, device="cpu", shuffle=True)
    assert len(batches) == 7 and batches.num_examples == 103
    seen = []
    for _ in range(2):
        xs, ys = zip(*batches)
        assert [len(y) for y in ys] == [16] * 6 + [7]
        x = torch.cat(xs)
        # Undo the normalisation and find every training image exactly once.
        raw = (x * std + mean) * 255
        assert torch.allclose(raw.round(), raw, atol=1e-3)
        rows = raw.round().to(torch.uint8).flatten(1)
        original = images.flatten(1)
        matches = (rows[:, None, :] == original[None, :, :]).all(-1)  # (103, 103)
        assert matches.sum(1).min() >= 1 and sorted(matches.float().argmax(1).tolist()) == list(range(103))
        seen.append(torch.cat(ys))
    assert not torch.equal(seen[0], seen[1])  # a fresh permutation each epoch
    fixed = Batches(images, labels, 4, device="cpu")
    assert torch.equal(torch.cat([y for _, y in fixed]), labels)  # fixed order without shuffle


def test_drop_last_and_resumed_epochs_repeat_the_order():
    images, labels = toy_images(50)
    batches = Batches(images, labels, 16, device="cpu", shuffle=True, seed=7, drop_last=True)
    assert len(batches) == 3 and [len(y) for _, y in batches] == [16, 16, 16]
    second_epoch = torch.cat([y for _, y in batches])
    resumed = Batches(images, labels, 16, device="cpu", shuffle=True, seed=7, drop_last=True)
    resumed.epoch = 1  # as fit's checkpoints restore it
    assert torch.equal(torch.cat([y for _, y in resumed]), second_epoch)


def test_batches_are_normalised():
    images, labels = toy_images(500, channels=3)
    mean, std = channel_stats(images)
    x = torch.cat([x for x, _ in Batches(images, labels, 100, mean=mean, std=std, device="cpu")])
    assert x.dtype == torch.float32
    assert x.mean(dim=(0, 2, 3)).abs().max() < 1e-4
    assert (x.std(dim=(0, 2, 3)) - 1).abs().max() < 1e-2


def test_random_crop_takes_a_window_of_the_padded_image():
    images = torch.randint(1, 256, (32, 3, 6, 6), dtype=torch.uint8)
    out = random_crop(images, 2, torch.Generator().manual_seed(0))
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
    out = random_flip(images, torch.Generator().manual_seed(0))
    same = (out == images).flatten(1).all(1)
    flipped = (out == images.flip(3)).flatten(1).all(1)
    assert (same | flipped).all()
    assert 150 < int(flipped.sum()) < 250


def test_augmented_resized_batches_have_the_requested_shape():
    images, labels = toy_images(40)
    batches = Batches(images, labels, 8, device="cpu", shuffle=True, augment=True, resize=12)
    assert batches.augment == Augment()
    x, y = next(iter(batches))
    assert x.shape == (8, 1, 12, 12) and y.shape == (8,)
    constant = Batches(torch.full((4, 1, 5, 5), 255, dtype=torch.uint8), torch.zeros(4, dtype=torch.int64),
                       4, device="cpu", resize=(9, 7))
    x, _ = next(iter(constant))
    assert x.shape == (4, 1, 9, 7) and torch.allclose(x, torch.ones_like(x))


def test_augmentation_without_flip_only_shifts():
    images, labels = toy_images(64, size=8)
    batches = Batches(images, labels, 64, device="cpu", augment=Augment(crop_padding=1, flip=False))
    x, _ = next(iter(batches))
    out = (x * 255).round().to(torch.uint8)
    padded = torch.nn.functional.pad(images, (1, 1, 1, 1))
    for i in range(64):
        assert any(torch.equal(out[i], padded[i, :, dy:dy + 8, dx:dx + 8]) for dy in range(3) for dx in range(3))


def test_batches_validate_their_input():
    with pytest.raises(ValueError, match=r"4-D tensor \(N, C, H, W\)"):
        Batches(torch.zeros(10, 28, 28, dtype=torch.uint8), torch.zeros(10, dtype=torch.int64), 4)
    with pytest.raises(ValueError, match="labels must have shape"):
        Batches(torch.zeros(10, 1, 28, 28, dtype=torch.uint8), torch.zeros(9, dtype=torch.int64), 4)
    with pytest.raises(ValueError, match="batch_size must be at least 1"):
        Batches(torch.zeros(10, 1, 28, 28, dtype=torch.uint8), torch.zeros(10, dtype=torch.int64), 0)
