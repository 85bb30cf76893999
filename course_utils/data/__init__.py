"""Datasets in memory and the batches drawn from them.

- :mod:`course_utils.data.sources`: where the image datasets come from (the
  registry ``DATASETS``, readers of offline copies, torchvision's download,
  the cache file).
- :mod:`course_utils.data.images`: ``load_dataset(name)`` -> an
  ``ImageDataset`` (whole splits as uint8 tensors), ``dataset_status(name)``.
- :mod:`course_utils.data.batches`: ``Batches`` (shuffled, normalised,
  augmented batches on the device), ``Augment``.
- :mod:`course_utils.data.splits`: ``validation_split`` (the one way the
  course carves a validation split out of a training set, used by
  ``ImageDataset.split_validation`` and the ResNet experiments),
  ``stratified_indices``.

- :mod:`course_utils.data.text`: notebook 13's English-French sentence pairs
  (loader, word-level tokenizer, vocabularies, the split by source sentence,
  bucketed batches, BLEU); import it as ``from course_utils.data import text``.
- :mod:`course_utils.data.shakespeare`: notebook 15's Tiny Shakespeare
  (``load_tiny_shakespeare()``, nanoGPT's ``split_text``).
- :mod:`course_utils.data.tokens`: batches of a token stream for a language
  model (``TokenBatches``: random windows for training; ``TokenBlocks``:
  consecutive windows covering a text, for evaluation).

The names most image notebooks need are re-exported here:
``from course_utils.data import load_dataset``.
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
