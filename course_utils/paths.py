"""Where the course keeps its files: data, results, checkpoints.

In a checkout of the repository everything lives under the repository root
(``data/``, ``build/results/``, ``checkpoints/``); installed elsewhere (e.g. on
Colab) under the working directory. Each folder can be moved with an
environment variable.
"""

import os
from pathlib import Path


def repo_root():
    """The folder that holds the ``course_utils`` package: the repository's
    root in a checkout (see :func:`in_checkout`)."""
    return Path(__file__).resolve().parent.parent


def in_checkout():
    """Whether ``course_utils`` runs from a checkout of the repository (rather
    than installed, e.g. on Colab)."""
    root = repo_root()
    return (root / "pyproject.toml").exists() and (root / "course_utils").is_dir()


def data_dir():
    """The download and cache folder: ``COURSE_DATA_DIR`` or ``<repo>/data``.

    Outside a checkout of the repository (e.g. installed on Colab) the default
    is ``./data`` in the working directory.
    """
    env = os.environ.get("COURSE_DATA_DIR")
    if env:
        return Path(env).expanduser()
    if in_checkout():
        return repo_root() / "data"
    return Path.cwd() / "data"


def project_folder(env_var, default):
    """A working folder: ``$env_var`` if set, else ``default`` (a relative
    path such as ``"checkpoints"``) beside the data folder, i.e. under the
    repository root in a checkout."""
    env = os.environ.get(env_var)
    return Path(env).expanduser() if env else data_dir().parent / default
