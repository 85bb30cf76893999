"""The images of a run: the train/validation split, the training batch of
every iteration, the evaluation batches.

Training batches are indexed by iteration instead of drawn from an
iterator: ``batches[t]`` is the mini-batch of step ``t``, the same whenever
it is asked for. Its images are taken from a random order of the training
set that is drawn afresh each epoch (from the seed and the epoch), and
augmented with random numbers drawn from the seed and ``t``. So a run that
is killed and resumed at step ``t`` sees exactly the batches it would have
seen, without replaying anything, and every process of a distributed run
computes the same global batch and keeps its own part of it
(:meth:`IterationBatches.part`), as ``torch.utils.data.DistributedSampler``
gives each process its own share of an epoch.

The images, their normalisation and the augmentation (pad with zeros, crop
at a random offset, flip) are those of ``course_utils.data``.
"""

import hashlib
from dataclasses import dataclass

import torch

from course_utils.data import Batches
from course_utils.data.batches import augment, augment_draws
from course_utils.data.splits import validation_split

EVAL_BATCH = 1_000  # images per forward pass when evaluating


def generator(*keys):
    """A ``torch.Generator`` seeded from ``keys`` (e.g. ``(seed, "order", epoch)``):
    different keys give independent streams, equal keys the same stream."""
    digest = hashlib.sha256(repr(keys).encode()).digest()
    return torch.Generator().manual_seed(int.from_bytes(digest[:8], "little") >> 1)


def split(num_images, val_size, train_size=None):
    """``(train_indices, val_indices)`` of a training set of ``num_images``:
    a random ``val_size`` of them for validation, drawn from the fixed key
    ``"validation split"`` (so the same for every run, as the paper's one
    45k/5k split), and a random ``train_size`` of the others (``None``: all)
    for training; see :func:`course_utils.data.splits.validation_split`."""
    return validation_split(num_images, val_size, generator("validation split"), n_train=train_size)


def fixed_subset(num_images, size, name):
    """The first ``size`` indices of a fixed random order (all for ``None``)."""
    if size is None or size >= num_images:
        return torch.arange(num_images)
    return torch.randperm(num_images, generator=generator("subset", name))[:size].sort().values


class IterationBatches:
    """The training mini-batch of every iteration.

    Args:
        images, labels: the training images (uint8 ``(N, C, H, W)``) and labels.
        batch_size: images per global mini-batch; an epoch has
            ``N // batch_size`` of them (the remainder waits for the next
            epoch's order, so every step has the same number of images).
        mean, std: per-channel statistics to normalise with.
        device: where the images live and batches are made.
        crop_padding: zero pixels added on each side before the random crop
            (0: no crop); flip: random horizontal flips.
        seed: the run's seed; orders and augmentations follow from it.
    """

    def __init__(self, images, labels, batch_size, *, mean, std, device, crop_padding=4, flip=True, seed=0):
        if batch_size > len(labels):
            raise ValueError(f"a mini-batch of {batch_size} needs at least that many training images, "
                             f"got {len(labels)}")
        self.source = Batches(images, labels, batch_size, mean=mean, std=std, device=device)
        self.batch_size, self.crop_padding, self.flip, self.seed = batch_size, crop_padding, flip, seed
        self.steps_per_epoch = len(labels) // batch_size
        self._epoch, self._order = None, None
        self._draws_epoch, self._draws = None, None

    def order(self, epoch):
        """The random order of the training images in ``epoch``."""
        if epoch != self._epoch:
            n = self.source.num_examples
            self._order = torch.randperm(n, generator=generator(self.seed, "order", epoch)).to(self.source.device)
            self._epoch = epoch
        return self._order

    def augmentation(self, epoch):
        """The crop offsets and flips of every step of ``epoch``, ``(steps_per_epoch,
        batch_size, 3)`` on the device (see ``course_utils.data.batches.augment_draws``).
        Step ``t``'s are drawn from its own generator, ``(seed, "augment", t)``,
        and the epoch's are copied to the device at once, not step by step."""
        if epoch != self._draws_epoch:
            first = epoch * self.steps_per_epoch
            draws = [augment_draws([self.batch_size], self.crop_padding, self.flip,
                                   generator(self.seed, "augment", t))
                     for t in range(first, first + self.steps_per_epoch)]
            self._draws = torch.stack(draws).to(self.source.device)  # (steps, B, 3)
            self._draws_epoch = epoch
        return self._draws

    def __getitem__(self, iteration):
        """``(x, y)``: the normalised, augmented images and labels of step ``iteration``."""
        if iteration < 0:
            raise IndexError(f"iterations count from 0, got {iteration}")
        epoch, k = divmod(iteration, self.steps_per_epoch)
        idx = self.order(epoch)[k * self.batch_size:(k + 1) * self.batch_size]
        images = self.source.images[idx]  # (B, C, H, W) uint8
        if self.crop_padding or self.flip:
            images = augment(images, self.crop_padding, self.augmentation(epoch)[k])
        return self.source.prepare(images), self.source.labels[idx]

    def part(self, iteration, rank, world_size):
        """Process ``rank``'s share of step ``iteration``'s batch: the
        ``rank``-th of ``world_size`` equal consecutive slices."""
        if self.batch_size % world_size:
            raise ValueError(f"a batch of {self.batch_size} cannot be split evenly over {world_size} processes: "
                             "choose a batch size divisible by the number of processes")
        x, y = self[iteration]
        size = self.batch_size // world_size
        return x[rank * size:(rank + 1) * size], y[rank * size:(rank + 1) * size]

    def describe(self):
        """What these batches are, as JSON data, for a training run's identity
        (``course_utils.checkpoint.run_config``): the batch size, the seed,
        the augmentation, and the images' size, normalisation and fingerprints."""
        images = self.source.describe()
        return {"batch_size": self.batch_size, "seed": self.seed, "crop_padding": self.crop_padding,
                "flip": self.flip, **{k: images[k] for k in ("num_examples", "mean", "std", "labels_fingerprint",
                                                             "images_fingerprint")}}


@dataclass
class RunImages:
    """What a run trains and evaluates on."""

    train: IterationBatches
    val: Batches  # the validation images of the final error (None without a validation split)
    test: Batches  # the test images of the final error
    val_curve: Batches  # the images evaluated at every point of the curves
    test_curve: Batches
    responses: torch.Tensor  # normalised test images for the layer responses


def run_images(dataset, config, device):
    """Split ``dataset`` (an ``ImageDataset``) as ``config`` says and build its batches."""
    recipe, scale = config.recipe, config.scale
    train_idx, val_idx = split(len(dataset.train_labels), recipe.val_size, scale.train_size)

    def batches(images, labels):
        return Batches(images, labels, EVAL_BATCH, mean=dataset.mean, std=dataset.std, device=device)

    train = IterationBatches(dataset.train_images[train_idx], dataset.train_labels[train_idx], recipe.batch_size,
                             mean=dataset.mean, std=dataset.std, device=device, crop_padding=recipe.crop_padding,
                             flip=recipe.flip, seed=config.seed)
    val_images, val_labels = dataset.train_images[val_idx], dataset.train_labels[val_idx]
    val = val_curve = None
    if len(val_idx):
        keep = fixed_subset(len(val_idx), scale.final_eval_size, "val final")
        val = batches(val_images[keep], val_labels[keep])
        keep = fixed_subset(len(val_idx), scale.eval_size, "val")
        val_curve = batches(val_images[keep], val_labels[keep])
    keep = fixed_subset(len(dataset.test_labels), scale.final_eval_size, "test final")
    test = batches(dataset.test_images[keep], dataset.test_labels[keep])
    keep = fixed_subset(len(dataset.test_labels), scale.eval_size, "test")
    test_curve = batches(dataset.test_images[keep], dataset.test_labels[keep])
    keep = fixed_subset(len(dataset.test_labels), scale.response_images, "responses")
    responses = test.prepare(dataset.test_images[keep].to(test.device))
    return RunImages(train, val, test, val_curve, test_curve, responses)
