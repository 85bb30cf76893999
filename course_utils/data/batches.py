"""Batches drawn from in-memory uint8 images, augmented on the device.

:class:`Batches` iterates over whole-dataset tensors the way airbench does
for CIFAR-10: the data stays on the device, each epoch is a random
permutation of indices, and conversion, normalisation, augmentation
(:class:`Augment`: :func:`random_crop` after zero padding,
:func:`random_flip`) and resizing happen on whole batches with tensor
operations -- no DataLoader workers, no per-image Python transforms.
"""

import dataclasses
import hashlib
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from course_utils.device import get_device


@dataclass(frozen=True)
class Augment:
    """Batch augmentation: random crop after zero padding, horizontal flip."""

    crop_padding: int = 4
    flip: bool = True


def random_crop(images, padding, generator=None):
    """Pad a batch by ``padding`` zeros on each side, then crop each image back
    to its size at its own random offset. Works on any dtype and device."""
    if padding <= 0:
        return images
    b, c, h, w = images.shape
    padded = F.pad(images, (padding, padding, padding, padding))  # (B, C, H+2p, W+2p)
    dy = torch.randint(0, 2 * padding + 1, (b,), generator=generator).to(images.device)
    dx = torch.randint(0, 2 * padding + 1, (b,), generator=generator).to(images.device)
    rows = dy[:, None] + torch.arange(h, device=images.device)  # (B, H)
    cols = dx[:, None] + torch.arange(w, device=images.device)  # (B, W)
    batch = torch.arange(b, device=images.device)[:, None, None, None]
    chan = torch.arange(c, device=images.device)[None, :, None, None]
    return padded[batch, chan, rows[:, None, :, None], cols[:, None, None, :]]  # (B, C, H, W)


def random_flip(images, generator=None):
    """Flip each image of a batch left-right with probability 1/2."""
    flip = torch.rand(images.shape[0], generator=generator).to(images.device) < 0.5
    return torch.where(flip[:, None, None, None], images.flip(3), images)


class Batches:
    """Iterate ``(x, y)`` batches over in-memory uint8 images.

    Args:
        images: uint8 tensor ``(N, C, H, W)``.
        labels: int64 tensor ``(N,)``.
        batch_size: examples per batch (the last batch may be smaller unless
            ``drop_last``).
        mean, std: per-channel statistics of [0, 1]-scaled images used to
            normalise; ``None`` leaves the [0, 1] scaling alone.
        device: where the data lives and batches are produced (default: the
            best available, see :func:`course_utils.device.get_device`). On a GPU
            the whole dataset is copied to GPU memory once.
        shuffle: a fresh random order each epoch.
        augment: ``False``, ``True`` (``Augment()``) or an ``Augment``.
        resize: ``None``, an int or ``(H, W)``: bilinear resizing of the batch
            (for models designed for larger inputs).
        seed: epoch ``e`` uses the order and augmentation drawn from
            ``seed`` and ``e``, so a resumed run sees the same batches.
    """

    def __init__(self, images, labels, batch_size, *, mean=None, std=None, device=None, shuffle=False,
                 augment=False, resize=None, seed=0, drop_last=False):
        if not isinstance(images, torch.Tensor) or images.ndim != 4:
            raise ValueError(f"images must be a 4-D tensor (N, C, H, W), got {getattr(images, 'shape', type(images))}")
        if labels.shape != (images.shape[0],):
            raise ValueError(f"labels must have shape ({images.shape[0]},), got {tuple(labels.shape)}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        if device is None:
            device = get_device()
        self.device = torch.device(device)
        self.images = images.to(self.device)
        self.labels = labels.to(self.device)
        self.batch_size = int(batch_size)
        c = images.shape[1]

        def per_channel(stat):  # (C,) -> (1, C, 1, 1) on the data's device
            if stat is None:
                return None
            return torch.as_tensor(stat, dtype=torch.float32).reshape(1, c, 1, 1).to(self.device)

        self.mean, self.std = per_channel(mean), per_channel(std)
        self.shuffle = shuffle
        self.augment = Augment() if augment is True else (augment or None)
        self.resize = (resize, resize) if isinstance(resize, int) else (tuple(resize) if resize else None)
        self.seed = seed
        self.drop_last = drop_last
        self.epoch = 0  # advanced by each pass; saved and restored by fit's checkpoints

    @property
    def num_examples(self):
        return self.images.shape[0]

    def __len__(self):
        n, b = self.num_examples, self.batch_size
        return n // b if self.drop_last else -(-n // b)

    def describe(self):
        """What these batches are, as JSON data, for a training run's identity
        (``course_utils.checkpoint.run_config``): batch size, number of
        examples, shuffling, seed, augmentation, resizing, normalisation, and
        fingerprints of the labels and images (so that another subset of a
        dataset is another run)."""
        def channels(stat):
            return None if stat is None else stat.reshape(-1).tolist()  # (1, C, 1, 1) -> [C values]

        return {"batch_size": self.batch_size, "num_examples": self.num_examples, "shuffle": self.shuffle,
                "drop_last": self.drop_last, "seed": self.seed,
                "augment": dataclasses.asdict(self.augment) if self.augment is not None else None,
                "resize": list(self.resize) if self.resize is not None else None,
                "mean": channels(self.mean), "std": channels(self.std),
                "labels_fingerprint": fingerprint(self.labels), "images_fingerprint": fingerprint(self.images)}

    def prepare(self, images):
        """uint8 batch -> normalised float batch (augmented if enabled)."""
        x = images.float() / 255
        if self.mean is not None:
            x = (x - self.mean) / self.std
        if self.resize is not None and tuple(x.shape[-2:]) != self.resize:
            x = F.interpolate(x, size=self.resize, mode="bilinear", align_corners=False)
        return x

    def __iter__(self):
        gen = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        self.epoch += 1
        n = self.num_examples
        order = torch.randperm(n, generator=gen).to(self.device) if self.shuffle else None
        for k in range(len(self)):
            sl = slice(k * self.batch_size, min((k + 1) * self.batch_size, n))
            idx = order[sl] if order is not None else sl
            images, labels = self.images[idx], self.labels[idx]
            if self.augment is not None:
                images = random_crop(images, self.augment.crop_padding, gen)
                if self.augment.flip:
                    images = random_flip(images, gen)
            yield self.prepare(images), labels


def fingerprint(tensor, max_values=2**20):
    """A short SHA-256 of ``tensor``'s contents, or of ``max_values`` evenly
    spaced values of it (enough to tell one subset of a dataset from another)."""
    flat = tensor.detach().reshape(-1)
    step = max(1, flat.numel() // max_values)
    sample = flat[::step].cpu().contiguous()
    return hashlib.sha256(sample.numpy().tobytes()).hexdigest()[:16]
