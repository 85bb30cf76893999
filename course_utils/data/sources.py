"""Where the image datasets come from: the registry, the readers and the cache.

- :data:`DATASETS`: what the loader knows about each dataset (classes,
  channels, the environment variable that points at an offline copy, the
  torchvision class, the Debian package).
- Readers of an offline copy in each supported layout: IDX files (the
  MNISTs), the CIFAR-10 ``data_batch_*`` pickles, and image folders
  (``train/<class>/*``, ``test/<class>/*``). :func:`read_folder` picks the
  layout. Every reader returns :class:`Splits`: uint8 images ``(N, C, H, W)``
  and int64 labels ``(N,)`` of both splits.
- :func:`download`: torchvision's download into the data folder.
- :func:`write_cache` / :func:`read_cache`: one ``.pt`` file per dataset in
  the data folder, written atomically.

``course_utils.data.images.load_dataset`` tries them in order; this module
knows nothing about the in-memory dataset object it builds.
"""

import gzip
import itertools
import os
import pickle
import struct
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

from course_utils.paths import data_dir

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


class Splits(NamedTuple):
    """The two splits of a dataset as tensors: uint8 images ``(N, C, H, W)``, int64 labels ``(N,)``."""

    train_images: torch.Tensor
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor


def get_spec(name):
    """The :class:`DatasetSpec` of ``name`` (``"Fashion-MNIST"`` and ``"fashion_mnist"`` both work)."""
    key = name.lower().replace("-", "_")
    if key not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}: choose one of {', '.join(DATASETS)}")
    return DATASETS[key]


# ----------------------------------------------------------------------------
# Readers of offline copies
# ----------------------------------------------------------------------------


def read_idx(path):
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


def read_idx_folder(folder):
    """The four IDX files of an MNIST-style dataset (gzipped or not) in ``folder``."""
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
    arrays = {key: read_idx(path) for key, path in paths.items()}
    return Splits(
        train_images=arrays["train_images"].unsqueeze(1),  # (N, 28, 28) -> (N, 1, 28, 28)
        train_labels=arrays["train_labels"].long(),
        test_images=arrays["test_images"].unsqueeze(1),
        test_labels=arrays["test_labels"].long(),
    )


def read_cifar_batches(folder):
    """CIFAR-10's python pickles ``data_batch_1`` ... ``data_batch_5`` and ``test_batch`` in ``folder``."""
    def read(names):
        images, labels = [], []
        for name in names:
            with open(folder / name, "rb") as f:
                batch = pickle.load(f, encoding="latin1")
            rows = np.asarray(batch["data"], dtype=np.uint8)  # (N, 3072): 1024 red, 1024 green, 1024 blue
            images.append(rows.reshape(-1, 3, 32, 32))  # (N, C, H, W)
            labels.extend(batch["labels"])
        return torch.from_numpy(np.concatenate(images)), torch.tensor(labels, dtype=torch.int64)

    train = read([f"data_batch_{i}" for i in range(1, 6)])
    test = read(["test_batch"])
    return Splits(*train, *test)


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
    with Image.open(path) as img:
        return np.asarray(img.convert(mode), dtype=np.uint8)


def read_image_folder(root, spec, progress=True):
    """Images in ``root/train/<class>/*`` and ``root/test/<class>/*``, decoded in threads.

    Class folders are matched to ``spec.classes`` by name (ignoring case and
    punctuation, so ``T-shirt_top`` is ``T-shirt/top``) or, failing that,
    taken in sorted order. Images are converted to ``spec.channels``.
    """
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
        with ThreadPoolExecutor(max_workers=max(1, min(8, os.cpu_count() or 1))) as pool:
            decoded = pool.map(lambda p: _decode(p, mode), files, chunksize=256)
            if progress:
                decoded = tqdm(decoded, total=len(files), desc=f"decoding {spec.title} {split}",
                               file=sys.stdout, mininterval=2.0, leave=False)
            arrays = list(decoded)
        images = np.stack(arrays)  # (N, H, W) or (N, H, W, C)
        if images.ndim == 3:
            images = images[:, None]  # (N, 1, H, W)
        else:
            images = images.transpose(0, 3, 1, 2)  # (N, C, H, W)
        splits[split] = (torch.from_numpy(np.ascontiguousarray(images)), torch.tensor(labels, dtype=torch.int64))
    return Splits(*splits["train"], *splits["test"])


ORIGINAL = "original files"  # what ImageDataset.origin says of the original files (read or downloaded)
FORMAT_NAMES = {".jpg": "JPEG", ".jpeg": "JPEG", ".tif": "TIFF"}  # by file suffix; else the suffix in capitals


def _locate(folder, spec):
    """``(layout, path)`` of the offline copy in ``folder``: ``"images"``, ``"cifar"`` or ``"idx"``."""
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} is not a folder")
    for candidate in (folder, folder / spec.name, folder / f"{spec.name.replace('_', '-')}"):
        if (candidate / "train").is_dir() and (candidate / "test").is_dir():
            return "images", candidate
    if spec.name == "cifar10":
        for candidate in (folder, folder / "cifar-10-batches-py"):
            if (candidate / "data_batch_1").exists():
                return "cifar", candidate
    else:
        for candidate in (folder, folder / "raw", folder / spec.torchvision_class / "raw"):
            if _find(candidate, "train-images-idx3-ubyte"):
                return "idx", candidate
    raise FileNotFoundError(
        f"{folder} holds neither an image-folder copy (train/<class>/*, test/<class>/*) "
        f"nor the original {spec.title} files"
    )


def read_folder(folder, spec):
    """An offline copy of ``spec``'s dataset in any supported layout."""
    layout, path = _locate(folder, spec)
    if layout == "images":
        return read_image_folder(path, spec)
    return read_cifar_batches(path) if layout == "cifar" else read_idx_folder(path)


def folder_origin(folder, spec):
    """What :func:`read_folder` reads in ``folder``, in two words: ``"original
    files"`` (IDX files, CIFAR-10's python batches) or ``"<FORMAT> copy"`` for
    an image-folder copy (``"JPEG copy"``: lossy, so not the original pixels)."""
    layout, path = _locate(folder, spec)
    if layout != "images":
        return ORIGINAL
    suffixes = {p.suffix.lower() for split in ("train", "test") for d in (path / split).iterdir() if d.is_dir()
                for p in itertools.islice(d.iterdir(), 10) if p.suffix.lower() in IMAGE_SUFFIXES}
    names = sorted({FORMAT_NAMES.get(x, x.lstrip(".").upper()) for x in suffixes})
    return f"{'/'.join(names) or 'image'} copy"


def offline_sources(spec):
    """``(description, folder or None, why-not)`` for each offline source, in order."""
    sources = []
    if spec.debian_dir is not None:
        present = spec.debian_dir.is_dir()
        sources.append((f"Debian package {spec.debian_package} ({spec.debian_dir})",
                        spec.debian_dir if present else None, None if present else "not installed"))
    env = os.environ.get(spec.env_var)
    sources.append((f"${spec.env_var}" + (f" ({env})" if env else ""),
                    Path(env) if env else None, None if env else "not set"))
    return sources


# ----------------------------------------------------------------------------
# Download and cache
# ----------------------------------------------------------------------------


def download(spec, root):
    """Download with torchvision into ``root`` (or reuse an earlier download)."""
    import torchvision  # only here: importing it costs a second, and most loads never download

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
        parts.extend((images, labels))
    return Splits(*parts)


def cache_path(spec):
    """The cache file of ``spec``'s dataset: ``<data folder>/<name>.pt``."""
    return data_dir() / f"{spec.name}.pt"


def write_cache(path, blob):
    """Save the dict ``blob`` (which names its dataset under ``"name"``) with
    the cache version, atomically: a half-written cache is never read. The
    temporary file is the process's own, so that the processes of a
    distributed run never rename each other's half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    torch.save({"version": CACHE_VERSION, **blob}, tmp)
    os.replace(tmp, path)


def read_cache(path, name):
    """The dict saved by :func:`write_cache` for dataset ``name``; ``ValueError``
    if it was written by another cache version or for another dataset."""
    blob = torch.load(path, map_location="cpu", weights_only=True)
    if blob.get("version") != CACHE_VERSION or blob.get("name") != name:
        raise ValueError("cache written by another version")
    return blob
