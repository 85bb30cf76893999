"""course_utils.paths: the repository root, found in one place, and the folders under it."""

from pathlib import Path

from course_utils import paths
from course_utils.data import text

ROOT = Path(__file__).resolve().parent.parent


def test_repo_root_is_the_checkout():
    assert paths.repo_root() == ROOT
    assert paths.in_checkout()


def test_data_dir_defaults_to_the_checkout_and_follows_the_env_var(monkeypatch, tmp_path):
    monkeypatch.delenv("COURSE_DATA_DIR", raising=False)
    assert paths.data_dir() == ROOT / "data"
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    assert paths.data_dir() == tmp_path
    assert paths.project_folder("COURSE_NO_SUCH_FOLDER", "checkpoints") == tmp_path.parent / "checkpoints"


def test_outside_a_checkout_the_data_folder_is_in_the_working_directory(monkeypatch, tmp_path):
    monkeypatch.delenv("COURSE_DATA_DIR", raising=False)
    monkeypatch.setattr(paths, "repo_root", lambda: tmp_path / "site-packages")  # no pyproject.toml there
    monkeypatch.chdir(tmp_path)
    assert not paths.in_checkout()
    assert paths.data_dir() == tmp_path / "data"


def test_the_text_data_finds_the_shared_archive_beside_the_same_root():
    assert text.shared_archive_path() == ROOT.parent / "shared" / "datasets" / text.SHARED_ARCHIVE
