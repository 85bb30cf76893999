"""Datasets in memory, offline first, and a fast batch iterator.

``load_dataset(name)`` returns a whole image-classification dataset as uint8
tensors. It looks, in order, for

1. a cache file in the data folder (``COURSE_DATA_DIR``, default
   ``<repo>/data``), written on the first successful load, so later loads
   take a fraction of a second;
2. an offline copy: the Debian/Ubuntu package ``dataset-fashion-mnist`` for
   Fashion-MNIST, or a folder named by the dataset's environment variable
   (``COURSE_FASHION_MNIST_DIR``, ``COURSE_MNIST_DIR``, ``COURSE_CIFAR10_DIR``)
   holding either an image-folder copy (``train/<class>/*``,
   ``test/<class>/*``) or the original files (IDX files for the MNISTs, the
   ``data_batch_*`` pickles for CIFAR-10);
3. torchvision's download into the data folder.

If none works it raises :class:`DatasetUnavailableError`, which lists what
was tried and how to fix it.

:class:`Batches` iterates over such tensors the way airbench does for
CIFAR-10: the data stays on the device, each epoch is a random permutation of
indices, and conversion, normalisation, augmentation and resizing happen on
whole batches with tensor operations -- no DataLoader workers, no per-image
Python transforms.
"""

import gzip
import os
import pickle
import struct
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from course_utils.paths import data_dir, project_folder  # noqa: F401  (project_folder: until the split)

CACHE_VERSION = 1
DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}


@dataclass(frozen=True)
class DatasetSpec:
    """What the loader needs to know about one dataset."""

    name: str
    title: str
    classes: tuple
    channels: int
    env_var: str
    torchvision_class: str
    debian_dir: Path = None
    debian_package: str = None


DATASETS = {
    "fashion_mnist": DatasetSpec(
        name="fashion_mnist",
        title="Fashion-MNIST",
        classes=("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                 "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
        channels=1,
        env_var="COURSE_FASHION_MNIST_DIR",
        torchvision_class="FashionMNIST",
        debian_dir=DEBIAN_FASHION_MNIST,
        debian_package="dataset-fashion-mnist",
    ),
    "mnist": DatasetSpec(
        name="mnist",
        title="MNIST",
        classes=tuple(str(d) for d in range(10)),
        channels=1,
        env_var="COURSE_MNIST_DIR",
        torchvision_class="MNIST",
    ),
    "cifar10": DatasetSpec(
        name="cifar10",
        title="CIFAR-10",
        classes=("airplane", "automobile", "bird", "cat", "deer",
                 "dog", "frog", "horse", "ship", "truck"),
        channels=3,
        env_var="COURSE_CIFAR10_DIR",
        torchvision_class="CIFAR10",
    ),
}


class DatasetUnavailableError(RuntimeError):
    """No cached, offline or downloadable copy of a dataset could be used."""


def _spec(name):
    key = name.lower().replace("-", "_")
    if key not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}: choose one of {', '.join(DATASETS)}")
    return DATASETS[key]


def _cache_path(spec):
    return data_dir() / f"{spec.name}.pt"


# ----------------------------------------------------------------------------
# The dataset object
# ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Augment:
    """Batch augmentation: random crop after zero padding, horizontal flip."""

    crop_padding: int = 4
    flip: bool = True


@dataclass(eq=False)
class ImageDataset:
    """A whole image-classification dataset in memory.

    Images are uint8 tensors ``(N, C, H, W)``, labels int64 tensors ``(N,)``.
    ``mean`` and ``std`` are per-channel statistics of the training images
    scaled to [0, 1]; subsets keep their parent's statistics so that a model
    sees identically normalised inputs whatever the subset.
    """

    name: str
    classes: tuple
    train_images: torch.Tensor
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor
    mean: torch.Tensor = field(default=None, repr=False)
    std: torch.Tensor = field(default=None, repr=False)

    def __post_init__(self):
        for split in ("train", "test"):
            images = getattr(self, f"{split}_images")
            labels = getattr(self, f"{split}_labels")
            if images.dtype != torch.uint8 or images.ndim != 4:
                raise ValueError(f"{split}_images must be uint8 (N, C, H, W), got {images.dtype} {tuple(images.shape)}")
            if labels.shape != (images.shape[0],):
                raise ValueError(f"{split}_labels must have shape ({images.shape[0]},), got {tuple(labels.shape)}")
        if self.mean is None or self.std is None:
            self.mean, self.std = channel_stats(self.train_images)

    @property
    def image_shape(self):
        """``(C, H, W)`` of one image."""
        return tuple(self.train_images.shape[1:])

    @property
    def num_classes(self):
        return len(self.classes)

    def __repr__(self):
        c, h, w = self.image_shape
        return (f"ImageDataset({self.name!r}: {len(self.train_labels):,} train + "
                f"{len(self.test_labels):,} test images of {c}x{h}x{w}, {self.num_classes} classes)")

    def subset(self, n_train, n_test, seed=0):
        """A deterministic, class-stratified subset.

        Each class gets ``n // num_classes`` examples and the remainder goes
        to randomly chosen classes, one each, so class counts differ by at
        most one (and are equal when ``n`` is a multiple of the class count).
        """
        gen = torch.Generator().manual_seed(seed)
        train_idx = _stratified(self.train_labels, n_train, self.num_classes, gen, "n_train")
        test_idx = _stratified(self.test_labels, n_test, self.num_classes, gen, "n_test")
        return ImageDataset(
            name=self.name,
            classes=self.classes,
            train_images=self.train_images[train_idx],
            train_labels=self.train_labels[train_idx],
            test_images=self.test_images[test_idx],
            test_labels=self.test_labels[test_idx],
            mean=self.mean,
            std=self.std,
        )

    def train_batches(self, batch_size, device=None, augment=False, resize=None, seed=0, drop_last=False):
        """Shuffled training batches (see :class:`Batches`).

        ``augment=True`` uses :class:`Augment`'s defaults; pass an
        ``Augment(...)`` to choose. ``resize`` is an int or ``(H, W)``.
        """
        return Batches(self.train_images, self.train_labels, batch_size, mean=self.mean, std=self.std,
                       device=device, shuffle=True, augment=augment, resize=resize, seed=seed,
                       drop_last=drop_last)

    def test_batches(self, batch_size, device=None, resize=None):
        """Test batches in a fixed order, no augmentation."""
        return Batches(self.test_images, self.test_labels, batch_size, mean=self.mean, std=self.std,
                       device=device, shuffle=False, resize=resize)


def channel_stats(images, chunk=8192):
    """Per-channel mean and standard deviation of uint8 images scaled to [0, 1]."""
    c = images.shape[1]
    total = torch.zeros(c, dtype=torch.float64)
    total_sq = torch.zeros(c, dtype=torch.float64)
    for start in range(0, images.shape[0], chunk):
        x = images[start:start + chunk].to(torch.float64) / 255
        total += x.sum(dim=(0, 2, 3))
        total_sq += (x * x).sum(dim=(0, 2, 3))
    count = images.shape[0] * images.shape[2] * images.shape[3]
    mean = total / count
    std = (total_sq / count - mean**2).clamp_min(0).sqrt()
    return mean.float(), std.float()


def _stratified(labels, n, num_classes, gen, what):
    if n < 0 or n > len(labels):
        raise ValueError(f"{what}={n} is out of range: the split has {len(labels)} examples")
    per_class = [torch.nonzero(labels == k).flatten() for k in range(num_classes)]
    counts = [n // num_classes] * num_classes
    extra = torch.randperm(num_classes, generator=gen)[: n % num_classes]
    for k in extra.tolist():
        counts[k] += 1
    chosen = []
    for k, (idx, count) in enumerate(zip(per_class, counts)):
        if count > len(idx):
            raise ValueError(f"{what}={n} needs {count} examples of class {k} but the split has only {len(idx)}")
        chosen.append(idx[torch.randperm(len(idx), generator=gen)[:count]])
    return torch.cat(chosen).sort().values


# ----------------------------------------------------------------------------
# Sources
# ----------------------------------------------------------------------------


def _read_idx(path):
    """Read an IDX file (gzipped or not) into a uint8 tensor."""
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rb") as f:
        raw = f.read()
    zero, dtype_code, ndim = struct.unpack(">HBB", raw[:4])
    if zero != 0 or dtype_code != 0x08:
        raise ValueError(f"{path} is not an unsigned-byte IDX file")
    dims = struct.unpack(">" + "I" * ndim, raw[4:4 + 4 * ndim])
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(dims)):
        raise ValueError(f"{path} is truncated: expected {int(np.prod(dims))} values, found {data.size}")
    return torch.from_numpy(data.reshape(dims).copy())


def _find(folder, stem):
    for suffix in ("", ".gz"):
        path = folder / f"{stem}{suffix}"
        if path.exists():
            return path
    return None


def _load_idx_folder(folder, spec):
    stems = {
        "train_images": "train-images-idx3-ubyte",
        "train_labels": "train-labels-idx1-ubyte",
        "test_images": "t10k-images-idx3-ubyte",
        "test_labels": "t10k-labels-idx1-ubyte",
    }
    paths = {key: _find(folder, stem) for key, stem in stems.items()}
    missing = [stems[k] for k, p in paths.items() if p is None]
    if missing:
        raise FileNotFoundError(f"missing {', '.join(missing)} in {folder}")
    arrays = {key: _read_idx(path) for key, path in paths.items()}
    return ImageDataset(
        name=spec.name,
        classes=spec.classes,
        train_images=arrays["train_images"].unsqueeze(1),  # (N, 1, 28, 28)
        train_labels=arrays["train_labels"].long(),
        test_images=arrays["test_images"].unsqueeze(1),
        test_labels=arrays["test_labels"].long(),
    )


def _load_cifar_batches(folder, spec):
    def read(names):
        images, labels = [], []
        for name in names:
            with open(folder / name, "rb") as f:
                batch = pickle.load(f, encoding="latin1")
            images.append(np.asarray(batch["data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
            labels.extend(batch["labels"])
        return torch.from_numpy(np.concatenate(images)), torch.tensor(labels, dtype=torch.int64)

    train = read([f"data_batch_{i}" for i in range(1, 6)])
    test = read(["test_batch"])
    return ImageDataset(spec.name, spec.classes, train[0], train[1], test[0], test[1])


def _class_folders(split_dir, spec):
    """Class folders of an image-folder split, in the dataset's label order."""
    folders = {p.name: p for p in split_dir.iterdir() if p.is_dir()}

    def key(text):
        return "".join(ch for ch in text.lower() if ch.isalnum())

    by_key = {key(n): p for n, p in folders.items()}
    wanted = [key(c) for c in spec.classes]
    if set(wanted) == set(by_key):
        return [by_key[k] for k in wanted]
    if len(folders) == len(spec.classes):
        # Folders named 0..9 or otherwise: take them in sorted order.
        return [folders[n] for n in sorted(folders, key=lambda n: (len(n), n))]
    raise ValueError(
        f"{split_dir} has class folders {sorted(folders)}, expected one per class of "
        f"{spec.title}: {list(spec.classes)}"
    )


def _decode(path, mode):
    from PIL import Image

    with Image.open(path) as img:
        return np.asarray(img.convert(mode), dtype=np.uint8)


def _load_image_folder(root, spec, progress=True):
    mode = "L" if spec.channels == 1 else "RGB"
    splits = {}
    for split in ("train", "test"):
        split_dir = root / split
        if not split_dir.is_dir():
            raise FileNotFoundError(f"no {split}/ folder in {root}")
        files, labels = [], []
        for label, folder in enumerate(_class_folders(split_dir, spec)):
            names = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            files.extend(names)
            labels.extend([label] * len(names))
        if not files:
            raise FileNotFoundError(f"no images under {split_dir}")
        items = files
        with ThreadPoolExecutor(max_workers=max(1, min(8, os.cpu_count() or 1))) as pool:
            decoded = pool.map(lambda p: _decode(p, mode), items, chunksize=256)
            if progress:
                from tqdm import tqdm

                decoded = tqdm(decoded, total=len(items), desc=f"decoding {spec.title} {split}",
                               file=sys.stdout, mininterval=2.0, leave=False)
            arrays = list(decoded)
        images = np.stack(arrays)  # (N, H, W) or (N, H, W, C)
        if images.ndim == 3:
            images = images[:, None]  # (N, 1, H, W)
        else:
            images = images.transpose(0, 3, 1, 2)  # (N, C, H, W)
        splits[split] = (torch.from_numpy(np.ascontiguousarray(images)), torch.tensor(labels, dtype=torch.int64))
    return ImageDataset(spec.name, spec.classes, splits["train"][0], splits["train"][1],
                        splits["test"][0], splits["test"][1])


def _load_folder(folder, spec):
    """An offline copy in any supported layout."""
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} is not a folder")
    for candidate in (folder, folder / spec.name, folder / f"{spec.name.replace('_', '-')}"):
        if (candidate / "train").is_dir() and (candidate / "test").is_dir():
            return _load_image_folder(candidate, spec)
    if spec.name == "cifar10":
        for candidate in (folder, folder / "cifar-10-batches-py"):
            if (candidate / "data_batch_1").exists():
                return _load_cifar_batches(candidate, spec)
    else:
        for candidate in (folder, folder / "raw", folder / spec.torchvision_class / "raw"):
            if _find(candidate, "train-images-idx3-ubyte"):
                return _load_idx_folder(candidate, spec)
    raise FileNotFoundError(
        f"{folder} holds neither an image-folder copy (train/<class>/*, test/<class>/*) "
        f"nor the original {spec.title} files"
    )


def _download(spec, root):
    """Download with torchvision into ``root`` (or reuse an earlier download)."""
    import torchvision

    cls = getattr(torchvision.datasets, spec.torchvision_class)
    parts = []
    for train in (True, False):
        ds = cls(root=str(root), train=train, download=True)
        images = torch.as_tensor(np.asarray(ds.data), dtype=torch.uint8)
        if images.ndim == 3:
            images = images.unsqueeze(1)  # (N, 1, H, W)
        else:
            images = images.permute(0, 3, 1, 2).contiguous()  # (N, H, W, C) -> (N, C, H, W)
        labels = torch.as_tensor(np.asarray(ds.targets), dtype=torch.int64)
        parts.append((images, labels))
    return ImageDataset(spec.name, spec.classes, parts[0][0], parts[0][1], parts[1][0], parts[1][1])


def _save_cache(ds, path):
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save({
        "version": CACHE_VERSION,
        "name": ds.name,
        "classes": list(ds.classes),
        "train_images": ds.train_images,
        "train_labels": ds.train_labels,
        "test_images": ds.test_images,
        "test_labels": ds.test_labels,
        "mean": ds.mean,
        "std": ds.std,
    }, tmp)
    os.replace(tmp, path)  # atomic: a half-written cache is never read


def _load_cache(path, spec):
    blob = torch.load(path, map_location="cpu", weights_only=True)
    if blob.get("version") != CACHE_VERSION or blob.get("name") != spec.name:
        raise ValueError("cache written by another version")
    return ImageDataset(spec.name, tuple(blob["classes"]), blob["train_images"], blob["train_labels"],
                        blob["test_images"], blob["test_labels"], blob["mean"], blob["std"])


def _offline_sources(spec):
    """(description, folder or None, why-not) for each offline source, in order."""
    sources = []
    if spec.debian_dir is not None:
        present = spec.debian_dir.is_dir()
        sources.append((f"Debian package {spec.debian_package} ({spec.debian_dir})",
                        spec.debian_dir if present else None, None if present else "not installed"))
    env = os.environ.get(spec.env_var)
    sources.append((f"${spec.env_var}" + (f" ({env})" if env else ""),
                    Path(env) if env else None, None if env else "not set"))
    return sources


def dataset_status(name):
    """Where ``load_dataset(name)`` would find the data, without loading it."""
    spec = _spec(name)
    if _cache_path(spec).exists():
        return f"cached in {_cache_path(spec)}"
    for description, folder, _ in _offline_sources(spec):
        if folder is not None and folder.exists():
            return f"offline copy: {description}"
    return "not cached and no offline copy: will be downloaded by torchvision (needs internet)"


def load_dataset(name, download=True, cache=True):
    """Load ``"fashion_mnist"``, ``"mnist"`` or ``"cifar10"`` into memory.

    Returns an :class:`ImageDataset`. The first successful load writes a
    cache file into :func:`data_dir`; later loads read it. Raises
    :class:`DatasetUnavailableError` if no source works.
    """
    spec = _spec(name)
    cache_path = _cache_path(spec)
    tried = []
    if cache and cache_path.exists():
        try:
            return _load_cache(cache_path, spec)
        except Exception as err:  # a corrupt or old cache is rebuilt, not fatal
            tried.append(f"cache {cache_path}: unreadable ({err}); rebuilding it")
    else:
        tried.append(f"cache {cache_path}: not found")

    ds = None
    for description, folder, why_not in _offline_sources(spec):
        if folder is None:
            tried.append(f"{description}: {why_not}")
            continue
        try:
            ds = _load_folder(folder, spec)
            break
        except (OSError, ValueError) as err:
            tried.append(f"{description}: {err}")

    if ds is None and download:
        root = data_dir() / "torchvision"
        try:
            ds = _download(spec, root)
        except Exception as err:  # network errors come in many types
            detail = " ".join(str(err).split())  # one line, however the error was formatted
            detail = detail if len(detail) <= 160 else detail[:157] + "..."
            tried.append(f"torchvision download into {root}: failed ({type(err).__name__}: {detail})")
    elif ds is None:
        tried.append("torchvision download: not attempted (download=False)")

    if ds is None:
        fixes = []
        if spec.debian_package:
            fixes.append(f"install the offline copy: sudo apt-get install {spec.debian_package}")
        fixes.append(
            f"point {spec.env_var} at a folder holding train/<class>/* and test/<class>/* images "
            f"or the original {spec.title} files, e.g. export {spec.env_var}=/path/to/{spec.name}"
        )
        fixes.append("connect to the internet and run again: torchvision downloads it into " f"{data_dir()}")
        message = (
            f"{spec.title} is not available.\nTried:\n"
            + "\n".join(f"  {i}. {t}" for i, t in enumerate(tried, 1))
            + "\nFix it in one of these ways:\n"
            + "\n".join(f"  - {f}" for f in fixes)
        )
        raise DatasetUnavailableError(message) from None

    if cache:
        try:
            _save_cache(ds, cache_path)
        except OSError as err:
            print(f"note: could not write the cache {cache_path} ({err}); the next load will be slower")
    return ds


# ----------------------------------------------------------------------------
# Batches
# ----------------------------------------------------------------------------


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
            best available, see ``course_utils.device.get_device``). On a GPU
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
            from course_utils.device import get_device

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
