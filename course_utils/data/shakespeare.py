"""Tiny Shakespeare for notebook 15: 1,115,394 characters of Shakespeare's plays in one text.

It is the file char-rnn ships as ``data/tinyshakespeare/input.txt`` and that
nanoGPT's ``data/shakespeare_char/prepare.py`` downloads, so losses measured on
it with nanoGPT's split (:func:`split_text`: the first 90% of the characters
for training, the last 10% for validation) compare with nanoGPT's published
ones.

:func:`load_tiny_shakespeare` reads it from, in order: the file named by
``COURSE_TINYSHAKESPEARE``; a copy in the data folder (an earlier download,
or one put there by hand); the shared offline archive beside the checkout
(``../shared/datasets/tinyshakespeare.txt.xz``); or, online, char-rnn's file,
saved into the data folder. Every source is checked against the text's
SHA-256, so a different file is never taken for it. When none works it raises
:class:`~course_utils.data.DatasetUnavailableError` listing what was tried.

Licence: Shakespeare's text is in the public domain.
"""

import hashlib
import lzma
from pathlib import Path

from course_utils.data.fetch import download_checked, read_first
from course_utils.paths import repo_root

ENV_VAR = "COURSE_TINYSHAKESPEARE"
URL = "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt"
TEXT_SHA256 = "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"
NUM_CHARACTERS = 1_115_394
SHARED_ARCHIVE = "tinyshakespeare.txt.xz"
FILE_NAMES = ("tinyshakespeare.txt.xz", "tinyshakespeare.txt", "input.txt")
DOWNLOAD_NAME = "tinyshakespeare.txt"


def shared_archive_path():
    """Where a development checkout keeps the offline archive: ``<repo>/../shared/datasets/tinyshakespeare.txt.xz``."""
    return repo_root().parent / "shared" / "datasets" / SHARED_ARCHIVE


def _sha256(data):
    return hashlib.sha256(data).hexdigest()


def read_text_file(path, check=True):
    """The text of ``path`` (plain or ``.xz``; a folder: the first of :data:`FILE_NAMES` in it),
    checked against :data:`TEXT_SHA256` (``check=False``: not checked)."""
    path = Path(path).expanduser()
    if path.is_dir():
        for name in FILE_NAMES:
            if (path / name).is_file():
                return read_text_file(path / name, check)
        raise FileNotFoundError(f"{path} holds none of {', '.join(FILE_NAMES)}")
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist")
    data = lzma.decompress(path.read_bytes()) if path.suffix == ".xz" else path.read_bytes()
    if check and _sha256(data) != TEXT_SHA256:
        raise ValueError(f"its text's SHA-256 is {_sha256(data)[:16]}..., not Tiny Shakespeare's "
                         f"{TEXT_SHA256[:16]}... ({len(data):,} bytes; the file has {NUM_CHARACTERS:,})")
    return data.decode("utf-8")


def load_tiny_shakespeare(download=True):
    """The whole Tiny Shakespeare text, one string of 1,115,394 characters.

    Sources, in order: ``$COURSE_TINYSHAKESPEARE`` (a file, plain or ``.xz``, or
    a folder holding one), ``tinyshakespeare.txt.xz`` / ``tinyshakespeare.txt``
    / ``input.txt`` in the data folder, the shared archive beside the checkout
    (:func:`shared_archive_path`), and (if ``download``) char-rnn's file, saved
    into the data folder as ``tinyshakespeare.txt``. Each is checked against the
    text's SHA-256. Raises ``DatasetUnavailableError`` saying what was tried and
    how to fix it.
    """
    fixes = [
        f"point {ENV_VAR} at the text, e.g. export {ENV_VAR}=/path/to/tinyshakespeare.txt.xz (or char-rnn's "
        "input.txt)",
        "put tinyshakespeare.txt.xz beside the checkout, at {shared}",
        "connect to the internet and run again: the text is downloaded into {folder}",
    ]
    return read_first("The Tiny Shakespeare text is", read_text_file, env_var=ENV_VAR, local_names=FILE_NAMES,
                      shared=shared_archive_path(), errors=(OSError, ValueError, lzma.LZMAError, UnicodeDecodeError),
                      fixes=fixes, url=URL, download_name=DOWNLOAD_NAME,
                      download=(lambda target: download_checked(URL, target, "sha256", TEXT_SHA256, timeout=20))
                      if download else None)


def split_text(text, train_fraction=0.9):
    """nanoGPT's split: the first ``train_fraction`` of the characters for training, the rest for
    validation (``int(len(text) * train_fraction)`` characters go to training)."""
    if not 0 < train_fraction < 1:
        raise ValueError(f"train_fraction must be between 0 and 1, got {train_fraction}")
    cut = int(len(text) * train_fraction)
    return text[:cut], text[cut:]
