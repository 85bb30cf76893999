"""The data of a run: split, training batch per iteration, augmentation image by image."""

import pytest
import torch

from course_utils.data import ImageDataset
from course_utils.experiments import batches as B
from course_utils.experiments.config import Scale


def _images(n=40, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return (torch.randint(0, 256, (n, 3, 8, 8), generator=gen, dtype=torch.uint8),
            torch.arange(n) % 10)


def _make(n=40, batch=8, crop=2, flip=True, seed=0):
    images, labels = _images(n)
    return B.IterationBatches(images, labels, batch, mean=None, std=None, device="cpu", crop_padding=crop,
                              flip=flip, seed=seed), images, labels


def test_split_is_fixed_disjoint_and_complete():
    train, val = B.split(100, 10)
    again = B.split(100, 10)
    assert torch.equal(train, again[0]) and torch.equal(val, again[1])
    assert len(val) == 10 and len(train) == 90
    assert sorted(torch.cat([train, val]).tolist()) == list(range(100))
    kept, _ = B.split(100, 10, train_size=30)
    assert len(kept) == 30 and set(kept.tolist()) <= set(train.tolist())
    # the paper's one split, for every run: a random order drawn from a fixed key (changing the key or
    # the draw would change every stored run's validation and training images)
    order = torch.randperm(100, generator=B.generator("validation split"))
    assert torch.equal(val, order[:10].sort().values) and torch.equal(kept, order[10:40].sort().values)
    with pytest.raises(ValueError, match="training examples"):
        B.split(100, 10, train_size=95)
    with pytest.raises(ValueError, match="validation split of 100"):
        B.split(100, 100)


def test_every_image_once_per_epoch_and_batches_repeatable():
    stream, _, labels = _make(n=40, batch=8, crop=0, flip=False)
    assert stream.steps_per_epoch == 5
    for epoch in range(2):
        seen = torch.cat([stream[epoch * 5 + k][1] for k in range(5)])
        assert len(seen) == 40
    # labels are index % 10, so look at the images instead: each appears once in an epoch
    xs = torch.cat([stream[k][0] for k in range(5)])  # (40, 3, 8, 8) in [0, 1]
    originals = _images(40)[0].float() / 255
    matches = (xs[:, None] == originals[None]).flatten(2).all(dim=2)  # (40, 40)
    assert torch.equal(matches.sum(dim=1), torch.ones(40, dtype=torch.long)), "an image appeared twice"
    assert torch.equal(matches.sum(dim=0), torch.ones(40, dtype=torch.long)), "an image was left out"
    x1, y1 = stream[7]
    x2, y2 = _make(n=40, batch=8, crop=0, flip=False)[0][7]  # a fresh object, as after a restart
    assert torch.equal(x1, x2) and torch.equal(y1, y2)
    assert not torch.equal(stream[0][0], stream[5][0]), "two epochs in the same order"
    other_seed = _make(n=40, batch=8, crop=0, flip=False, seed=1)[0]
    assert not torch.equal(stream[0][0], other_seed[0][0])


def test_augmentation_image_by_image():
    """Each augmented image is a 8x8 window of the zero-padded original, maybe
    mirrored; offsets and flips vary."""
    stream, images, _ = _make(n=40, batch=8, crop=2, flip=True)
    padded = torch.nn.functional.pad(images, (2, 2, 2, 2)).float() / 255
    offsets, flips = set(), set()
    for t in range(10):
        x, _ = stream[t]
        epoch, k = divmod(t, stream.steps_per_epoch)
        idx = stream.order(epoch)[k * 8:(k + 1) * 8]
        for img, i in zip(x, idx.tolist()):
            found = [(dy, dx, f) for dy in range(5) for dx in range(5) for f in (False, True)
                     if torch.equal(img, (lambda w: w.flip(2) if f else w)(padded[i, :, dy:dy + 8, dx:dx + 8]))]
            assert found, f"image {i} of iteration {t} is no crop of its padded original"
            offsets.add(found[0][:2])
            flips.add(found[0][2])
    assert len(offsets) > 10 and flips == {False, True}


def test_parts_of_a_batch_over_ranks():
    stream, _, _ = _make(n=40, batch=8)
    x, y = stream[3]
    parts = [stream.part(3, r, 2) for r in range(2)]
    assert torch.equal(torch.cat([p[0] for p in parts]), x) and torch.equal(torch.cat([p[1] for p in parts]), y)
    assert parts[0][0].shape[0] == 4
    with pytest.raises(ValueError, match="evenly"):
        stream.part(3, 0, 3)


def test_run_images_sizes():
    images, labels = _images(120)
    dataset = ImageDataset("cifar10", tuple(str(i) for i in range(10)), images, labels, images[:50], labels[:50])

    class Config:
        recipe = type("R", (), {"val_size": 20, "batch_size": 16, "crop_padding": 4, "flip": True})()
        scale = Scale(eval_size=10, final_eval_size=None, response_images=5)
        seed = 0

    data = B.run_images(dataset, Config, "cpu")
    assert data.train.source.num_examples == 100 and data.val.num_examples == 20
    assert data.val_curve.num_examples == 10 and data.test_curve.num_examples == 10
    assert data.test.num_examples == 50 and data.responses.shape == (5, 3, 8, 8)


def test_generators_are_independent_streams():
    a = torch.rand(4, generator=B.generator(0, "order", 1))
    assert torch.equal(a, torch.rand(4, generator=B.generator(0, "order", 1)))
    assert not torch.equal(a, torch.rand(4, generator=B.generator(0, "order", 2)))
    assert not torch.equal(a, torch.rand(4, generator=B.generator(1, "order", 1)))


def test_iteration_batches_describe_themselves():
    stream, _, _ = _make(seed=3)
    described = stream.describe()
    assert (described["batch_size"], described["seed"], described["crop_padding"], described["flip"],
            described["num_examples"]) == (8, 3, 2, True, 40)
    assert _make(seed=3)[0].describe() == described
    assert _make(seed=4)[0].describe()["seed"] == 4 and _make(flip=False, seed=3)[0].describe()["flip"] is False
    images, labels = _images(seed=1)
    other = B.IterationBatches(images, labels, 8, mean=None, std=None, device="cpu", crop_padding=2, seed=3)
    assert other.describe()["images_fingerprint"] != described["images_fingerprint"]
