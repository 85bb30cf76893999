"""Shared test set-up: the repository root on sys.path (for ``solutions`` and
``tools``), a headless matplotlib, and small fixtures."""

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture
def tmp_data_dir(tmp_path, monkeypatch):
    """An empty data folder, and no offline-copy variables set."""
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("COURSE_RESULTS_DIR", str(tmp_path / "results"))
    for var in ("COURSE_FASHION_MNIST_DIR", "COURSE_MNIST_DIR", "COURSE_CIFAR10_DIR"):
        monkeypatch.delenv(var, raising=False)
    return tmp_path / "data"
