"""Image-classification datasets in memory, offline first.

``load_dataset(name)`` returns a whole dataset as uint8 tensors (an
:class:`ImageDataset`). It looks, in order, for

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
was tried and how to fix it. The sources themselves (readers, download,
cache file) live in :mod:`course_utils.data.sources`.
"""

from dataclasses import dataclass, field

import torch

from course_utils.data import sources
from course_utils.data.batches import Batches
from course_utils.data.splits import stratified_indices, validation_split
from course_utils.paths import data_dir


class DatasetUnavailableError(RuntimeError):
    """No cached, offline or downloadable copy of a dataset could be used."""


@dataclass(eq=False)
class ImageDataset:
    """A whole image-classification dataset in memory.

    Images are uint8 tensors ``(N, C, H, W)``, labels int64 tensors ``(N,)``.
    ``mean`` and ``std`` are per-channel statistics of the training images
    scaled to [0, 1]; subsets keep their parent's statistics so that a model
    sees identically normalised inputs whatever the subset.

    A validation split (``val_images``, ``val_labels``) exists only after
    :meth:`split_validation` carves it out of the training images: choose
    between models and settings on it, and look at the test set once.
    """

    name: str
    classes: tuple
    train_images: torch.Tensor
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor
    mean: torch.Tensor = field(default=None, repr=False)
    std: torch.Tensor = field(default=None, repr=False)
    val_images: torch.Tensor = field(default=None, repr=False)
    val_labels: torch.Tensor = field(default=None, repr=False)
    origin: str = field(default=None, repr=False)  # "original files", "JPEG copy"...: see load_dataset

    def __post_init__(self):
        if (self.val_images is None) != (self.val_labels is None):
            raise ValueError("val_images and val_labels go together: give both or neither")
        for split in ("train", "test") + (("val",) if self.val_images is not None else ()):
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
        val = f"{len(self.val_labels):,} validation + " if self.val_labels is not None else ""
        return (f"ImageDataset({self.name!r}: {len(self.train_labels):,} train + {val}"
                f"{len(self.test_labels):,} test images of {c}x{h}x{w}, {self.num_classes} classes)")

    def subset(self, n_train, n_test=None, seed=0):
        """A deterministic, class-stratified subset of ``n_train`` training and
        ``n_test`` test images (``None``: the whole test split).

        Each class gets ``n // num_classes`` examples and the remainder goes
        to randomly chosen classes, one each, so class counts differ by at
        most one (and are equal when ``n`` is a multiple of the class count).
        A validation split, if any, is kept as it is: take the subset first,
        then :meth:`split_validation`, or keep a fixed validation split and
        take training subsets of the rest.
        """
        gen = torch.Generator().manual_seed(seed)
        train_idx = stratified_indices(self.train_labels, n_train, gen, self.num_classes, what="n_train")
        test_idx = (torch.arange(len(self.test_labels)) if n_test is None
                    else stratified_indices(self.test_labels, n_test, gen, self.num_classes, what="n_test"))
        return ImageDataset(
            name=self.name,
            classes=self.classes,
            train_images=self.train_images[train_idx],
            train_labels=self.train_labels[train_idx],
            test_images=self.test_images[test_idx],
            test_labels=self.test_labels[test_idx],
            mean=self.mean,
            std=self.std,
            val_images=self.val_images,
            val_labels=self.val_labels,
            origin=self.origin,
        )

    def split_validation(self, n_val, seed=0):
        """Carve a class-stratified validation split of ``n_val`` images out of
        the training images; the rest stay the training split
        (:func:`course_utils.data.splits.validation_split`).

        Returns a new dataset with ``train`` (the remaining images), ``val``
        and the unchanged ``test`` split; the normalisation statistics stay
        the parent's. Deterministic for a given ``seed``.
        """
        if self.val_images is not None:
            raise ValueError(f"this dataset already has a validation split of {len(self.val_labels):,} images")
        if not 0 < n_val < len(self.train_labels):
            raise ValueError(f"n_val={n_val} must leave images on both sides: the training split has "
                             f"{len(self.train_labels):,}")
        train_idx, val_idx = validation_split(len(self.train_labels), n_val, torch.Generator().manual_seed(seed),
                                              stratify=self.train_labels, num_classes=self.num_classes)
        return ImageDataset(
            name=self.name,
            classes=self.classes,
            train_images=self.train_images[train_idx],
            train_labels=self.train_labels[train_idx],
            test_images=self.test_images,
            test_labels=self.test_labels,
            mean=self.mean,
            std=self.std,
            val_images=self.train_images[val_idx],
            val_labels=self.train_labels[val_idx],
            origin=self.origin,
        )

    def train_batches(self, batch_size, device=None, augment=False, resize=None, seed=0, drop_last=False):
        """Shuffled training batches (see :class:`~course_utils.data.batches.Batches`).

        ``augment=True`` uses :class:`~course_utils.data.batches.Augment`'s
        defaults; pass an ``Augment(...)`` to choose. ``resize`` is an int or
        ``(H, W)``.
        """
        return Batches(self.train_images, self.train_labels, batch_size, mean=self.mean, std=self.std,
                       device=device, shuffle=True, augment=augment, resize=resize, seed=seed,
                       drop_last=drop_last)

    def test_batches(self, batch_size, device=None, resize=None):
        """Test batches in a fixed order, no augmentation."""
        return Batches(self.test_images, self.test_labels, batch_size, mean=self.mean, std=self.std,
                       device=device, shuffle=False, resize=resize)

    def val_batches(self, batch_size, device=None, resize=None):
        """Validation batches in a fixed order, no augmentation (after :meth:`split_validation`)."""
        if self.val_images is None:
            raise ValueError("this dataset has no validation split: carve one out of the training images "
                             "with data.split_validation(n_val) first")
        return Batches(self.val_images, self.val_labels, batch_size, mean=self.mean, std=self.std,
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


# ----------------------------------------------------------------------------
# Loading
# ----------------------------------------------------------------------------


def _to_cache(ds):
    return {
        "name": ds.name,
        "classes": list(ds.classes),
        "train_images": ds.train_images,
        "train_labels": ds.train_labels,
        "test_images": ds.test_images,
        "test_labels": ds.test_labels,
        "mean": ds.mean,
        "std": ds.std,
        "origin": ds.origin,
    }


def _from_cache(blob, path):
    origin = blob.get("origin") or f"not recorded (a cache from an earlier course_utils: delete {path} to reload)"
    return ImageDataset(blob["name"], tuple(blob["classes"]), blob["train_images"], blob["train_labels"],
                        blob["test_images"], blob["test_labels"], blob["mean"], blob["std"], origin=origin)


def dataset_status(name):
    """Where ``load_dataset(name)`` would find the data, without loading it."""
    spec = sources.get_spec(name)
    cache_path = sources.cache_path(spec)
    if cache_path.exists():
        return f"cached in {cache_path}"
    for description, folder, _ in sources.offline_sources(spec):
        if folder is not None and folder.exists():
            return f"offline copy: {description}"
    return "not cached and no offline copy: will be downloaded by torchvision (needs internet)"


def load_dataset(name, download=True, cache=True):
    """Load ``"fashion_mnist"``, ``"mnist"`` or ``"cifar10"`` into memory.

    Returns an :class:`ImageDataset`. The first successful load writes a
    cache file into :func:`course_utils.paths.data_dir`; later loads read it.
    Raises :class:`DatasetUnavailableError` if no source works. The dataset's
    ``origin`` says what was read, also through the cache: ``"original
    files"`` (torchvision's download, the IDX files, CIFAR-10's python
    batches) or an image-folder copy such as ``"JPEG copy"`` (the course's
    offline CIFAR-10: lossy, so its accuracies run a little below the
    original's).
    """
    spec = sources.get_spec(name)
    cache_path = sources.cache_path(spec)
    tried = []
    if cache and cache_path.exists():
        try:
            return _from_cache(sources.read_cache(cache_path, spec.name), cache_path)
        except Exception as err:  # a corrupt or old cache is rebuilt, not fatal
            tried.append(f"cache {cache_path}: unreadable ({err}); rebuilding it")
    else:
        tried.append(f"cache {cache_path}: not found")

    ds = None
    for description, folder, why_not in sources.offline_sources(spec):
        if folder is None:
            tried.append(f"{description}: {why_not}")
            continue
        try:
            ds = ImageDataset(spec.name, spec.classes, *sources.read_folder(folder, spec),
                              origin=sources.folder_origin(folder, spec))
            break
        except (OSError, ValueError) as err:
            tried.append(f"{description}: {err}")

    if ds is None and download:
        root = data_dir() / "torchvision"
        try:
            ds = ImageDataset(spec.name, spec.classes, *sources.download(spec, root), origin=sources.ORIGINAL)
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
            sources.write_cache(cache_path, _to_cache(ds))
        except OSError as err:
            print(f"note: could not write the cache {cache_path} ({err}); the next load will be slower")
    return ds
