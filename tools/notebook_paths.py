"""Where a notebook's files are: the repository root, the two files of a
jupytext pair, and the notebook's page on Colab.

``tools/nb.py`` (stamp, sync, run) and ``tools/web.py`` (decks, site) both
need these; they live here so that neither of the two imports the other's
internals (``nb`` imports ``web`` for its ``slides`` and ``site`` commands).
"""

from pathlib import Path

from course_utils import REPO_URL

ROOT = Path(__file__).resolve().parent.parent


def pair(path):
    """``(py_path, ipynb_path)`` of the pair that ``path`` (either file) belongs to."""
    path = Path(path)
    if path.suffix not in (".py", ".ipynb"):
        raise ValueError(f"{path}: expected a notebook's .py or .ipynb file")
    return path.with_suffix(".py"), path.with_suffix(".ipynb")


def colab_url(path):
    """The notebook's "Open in Colab" address (the ``.ipynb`` on GitHub's ``main``)."""
    repo = REPO_URL.removeprefix("https://github.com/")
    return f"https://colab.research.google.com/github/{repo}/blob/main/notebooks/{pair(path)[1].name}"
