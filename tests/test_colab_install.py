"""The set-up cell's Colab path: it installs the course_utils the notebook
was written for, and says what to do when that fails.

Every notebook's set-up cell pins ``course_utils`` to a commit (stamped by
``tools/nb.py``). Here the pin is checked against the repository, and the
cell's install logic, exactly as stamped, runs in a fresh virtual
environment with the GitHub URL pointed at a local clone. ``PIP_NO_DEPS``
keeps pip from downloading torch and the other dependencies (Colab has them);
pip still builds the package itself (setuptools from the package index).
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

import course_utils
from tools import nb as nbtool

ROOT = nbtool.ROOT
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def setup_source(path):
    nb = nbformat.read(path, as_version=4)
    return next(c for c in nb.cells if c.cell_type == "code").source


def clean_env():
    """The environment without what would let the fresh Python find this checkout."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PIP_NO_DEPS"] = "1"  # Colab has torch & co; the test must not download them
    return env


def git(*args):
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_every_notebook_pins_the_checked_out_course_utils(path):
    url, commit = nbtool.pinned_in(setup_source(path))
    assert url == course_utils.REPO_URL, f"{path.name}: installs from {url}, not {course_utils.REPO_URL}"
    problem = nbtool.pin_problem(commit)
    assert problem is None, f"{path.name}: {problem}"


def test_the_pin_check_rejects_stale_and_unknown_commits():
    pin = nbtool.pinned_commit()
    assert nbtool.pin_problem(pin) is None
    assert git("log", "-1", "--format=%H", pin, "--", *nbtool.PIN_PATHS) == pin
    # an older commit whose course_utils differs from today's
    older = git("log", "--format=%H", f"{pin}~1", "--", "course_utils").splitlines()[0]
    assert "changed since commit" in nbtool.pin_problem(older)
    assert "not in this repository" in nbtool.pin_problem("0" * 40)


def test_the_setup_cell_is_collapsed_in_jupyterlab_and_a_form_on_colab():
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        setup = next(c for c in nb.cells if c.cell_type == "code")
        assert setup.metadata.get("jupyter", {}).get("source_hidden") is True, f"{path.name}: set-up cell shows"
        assert setup.metadata.get("cellView") == "form" and setup.source.startswith("# @title "), path.name


@pytest.fixture(scope="module")
def fresh_venv(tmp_path_factory):
    """A virtual environment with nothing but pip and setuptools."""
    venv = tmp_path_factory.mktemp("colab") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    return venv / "bin" / "python"


def assert_without_course_utils(python):
    found = subprocess.run([python, "-c", "import course_utils"], cwd=python.parent, env=clean_env(),
                           capture_output=True)
    assert found.returncode != 0, "the fresh environment already finds course_utils"


@pytest.fixture(scope="module")
def local_remote(tmp_path_factory):
    """A bare clone of this repository standing in for GitHub, holding the pinned commit."""
    remote = tmp_path_factory.mktemp("github") / "conv-to-transformer.git"
    subprocess.run(["git", "clone", "--quiet", "--bare", str(ROOT), str(remote)], check=True)
    subprocess.run(["git", "push", "--quiet", str(remote), f"{nbtool.pinned_commit()}:refs/heads/pinned"],
                   cwd=ROOT, check=True)
    return remote


def run_install_logic(python, setup, cwd, check_code):
    """Run the set-up cell's install part (everything before the notebook's
    imports) and then ``check_code`` with ``python``, in ``cwd``."""
    assert_without_course_utils(python)
    preamble = setup.split(nbtool.SETUP_MARKER, 1)[0]
    script = Path(cwd) / "setup_cell.py"
    script.write_text(preamble + "\n" + check_code)
    return subprocess.run([str(python), str(script)], cwd=cwd, env=clean_env(), capture_output=True, text=True,
                          timeout=600)


CHECK = """
import importlib.metadata, json, course_utils
direct_url = importlib.metadata.distribution("course-utils").read_text("direct_url.json")
print(json.dumps({"file": course_utils.__file__, "direct_url": json.loads(direct_url)}))
"""


def test_the_setup_cell_installs_the_pinned_course_utils_in_a_fresh_environment(fresh_venv, local_remote, tmp_path):
    setup = setup_source(NOTEBOOKS[0])
    url, commit = nbtool.pinned_in(setup)
    assert commit == nbtool.pinned_commit() or nbtool.pin_problem(commit) is None
    local = setup.replace(f"git+{url}@", f"git+file://{local_remote}@")
    assert local != setup
    colab = tmp_path / "content"  # like Colab's working folder: no checkout around it
    colab.mkdir()
    try:
        done = run_install_logic(fresh_venv, local, colab, CHECK)
        assert done.returncode == 0, f"the set-up cell failed:\n{done.stdout}\n{done.stderr}"
        report = json.loads(done.stdout.strip().splitlines()[-1])
        installed = Path(report["file"]).parent
        assert installed.is_relative_to(fresh_venv.parent.parent), f"imported {installed}, not the fresh install"
        assert report["direct_url"]["vcs_info"]["commit_id"] == commit
        # the installed helpers are HEAD's, file for file
        modules = [f for f in git("ls-tree", "-r", "--name-only", "HEAD", "course_utils").splitlines()
                   if f.endswith(".py")]
        assert modules, "no course_utils modules in HEAD"
        for name in modules:
            copy = installed / Path(name).relative_to("course_utils")
            assert copy.exists(), f"{name} was not installed"
            head = subprocess.run(["git", "show", f"HEAD:{name}"], cwd=ROOT, capture_output=True,
                                  check=True).stdout
            assert copy.read_bytes() == head, f"installed {name} differs from HEAD's"
    finally:  # leave the environment fresh for the other tests
        subprocess.run([fresh_venv, "-m", "pip", "uninstall", "-q", "-y", "course-utils"], env=clean_env(),
                       capture_output=True)


def test_a_failed_install_says_what_to_do(fresh_venv, tmp_path):
    setup = setup_source(NOTEBOOKS[0])
    url, commit = nbtool.pinned_in(setup)
    missing = tmp_path / "no-such-repository.git"
    broken = setup.replace(f"git+{url}@", f"git+file://{missing}@")
    done = run_install_logic(fresh_venv, broken, tmp_path, "print('imported')")
    assert done.returncode != 0 and "imported" not in done.stdout
    assert "RuntimeError: Installing the course helpers failed" in done.stderr
    assert "runtime is online" in done.stderr
    assert f"!pip install git+file://{missing}@{commit}" in done.stderr
    assert "CalledProcessError" not in done.stderr


def test_in_a_checkout_the_setup_cell_uses_the_parent_folder(fresh_venv, tmp_path):
    """A notebook in notebooks/ of a checkout (course_utils not installed)
    imports the checkout's helpers and installs nothing."""
    checkout = tmp_path / "checkout"
    (checkout / "notebooks").mkdir(parents=True)
    os.symlink(ROOT / "course_utils", checkout / "course_utils")
    setup = setup_source(NOTEBOOKS[0])
    url, _ = nbtool.pinned_in(setup)
    unreachable = setup.replace(f"git+{url}@", f"git+file://{tmp_path / 'unreachable'}@")  # would fail if used
    done = run_install_logic(fresh_venv, unreachable, checkout / "notebooks",
                             "import course_utils; print(course_utils.__file__)")
    assert done.returncode == 0, done.stderr
    assert Path(done.stdout.strip().splitlines()[-1]).parent == checkout / "course_utils"
