"""Datasets in memory and the batches drawn from them.

- :mod:`course_utils.data.sources`: where the image datasets come from (the
  registry ``DATASETS``, readers of offline copies, torchvision's download,
  the cache file).
- :mod:`course_utils.data.images`: ``load_dataset(name)`` -> an
  ``ImageDataset`` (whole splits as uint8 tensors), ``dataset_status(name)``.
- :mod:`course_utils.data.batches`: ``Batches`` (shuffled, normalised,
  augmented batches on the device), ``Augment``.

A loader for text (notebook 13) will sit beside them as
``course_utils.data.text``. The names most notebooks need are re-exported
here: ``from course_utils.data import load_dataset``.
"""

from course_utils.data.batches import Augment, Batches, random_crop, random_flip
from course_utils.data.images import (
    DatasetUnavailableError,
    ImageDataset,
    channel_stats,
    dataset_status,
    load_dataset,
)
from course_utils.data.sources import DATASETS

__all__ = [
    "DATASETS", "Augment", "Batches", "DatasetUnavailableError", "ImageDataset", "channel_stats",
    "dataset_status", "load_dataset", "random_crop", "random_flip",
]
