"""The environment: environment.yml, pyproject.toml, constraints.txt and the
Makefile agree; course_utils.environment.describe() reports what is installed."""

import platform
import re
from pathlib import Path

import numpy as np
import tomllib
import torch
import torchvision

import course_utils
from course_utils.device import autocast_dtype, get_device
from course_utils.environment import describe

ROOT = Path(__file__).resolve().parent.parent


def norm(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_name(req):
    return norm(re.split(r"[<>=!~\[; ]", req.strip(), maxsplit=1)[0])


def pyproject():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def constraints():
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, version = line.split("==")
            pins[norm(name)] = version
    return pins


def test_constraints_pin_exactly_the_declared_packages():
    project = pyproject()["project"]
    declared = {requirement_name(r) for r in project["dependencies"] + project["optional-dependencies"]["dev"]}
    assert declared == set(constraints()), (
        f"only in pyproject.toml: {sorted(declared - set(constraints()))}; "
        f"only in constraints.txt: {sorted(set(constraints()) - declared)}")


def test_pyproject_ranges_are_loose():
    for req in pyproject()["project"]["dependencies"]:
        assert "==" not in req, f"{req}: pin exact versions in constraints.txt, not in pyproject.toml"


def test_environment_yml_installs_the_same_packages_and_python():
    text = (ROOT / "environment.yml").read_text()
    assert re.search(r"^\s*-\s*-c constraints\.txt\s*$", text, re.M), "environment.yml must use constraints.txt"
    assert re.search(r"^\s*-\s*-e \.\[dev\]\s*$", text, re.M), "environment.yml must install .[dev]"
    python = re.search(r"^\s*-\s*python=(\d+)\.(\d+)", text, re.M)
    minimum = re.search(r">=(\d+)\.(\d+)", pyproject()["project"]["requires-python"])
    assert python and tuple(map(int, python.groups())) >= tuple(map(int, minimum.groups()))


def test_d2l_version_is_the_same_everywhere():
    versions = {
        "Makefile": re.findall(r"d2l==([\d.]+)", (ROOT / "Makefile").read_text()),
        "constraints.txt": re.findall(r"d2l==([\d.]+)", (ROOT / "constraints.txt").read_text()),
        "environment.yml": re.findall(r"d2l==([\d.]+)", (ROOT / "environment.yml").read_text()),
        "README.md": re.findall(r"d2l==([\d.]+)", (ROOT / "README.md").read_text()),
    }
    found = {v for vs in versions.values() for v in vs}
    assert all(versions.values()) and len(found) == 1, versions


def test_repository_url_is_defined_once():
    assert pyproject()["project"]["urls"]["Repository"] == course_utils.REPO_URL


def test_describe_reports_versions_device_profile_and_data(monkeypatch, tmp_data_dir):
    monkeypatch.setenv("COURSE_PROFILE", "smoke")
    tmp_data_dir.mkdir(parents=True)
    (tmp_data_dir / "mnist.pt").touch()  # a cache file: the report says mnist is cached
    lines = describe().splitlines()
    fields = {line[:13].strip(): line[13:] for line in lines if not line.startswith("dataset")}
    assert fields["python"].startswith(platform.python_version())
    assert fields["torch"] == torch.__version__ and fields["torchvision"] == torchvision.__version__
    assert fields["numpy"] == np.__version__
    assert fields["device"].split()[0] == get_device().type
    dtype = autocast_dtype(get_device())
    assert fields["precision"] == ("float32" if dtype is None else f"mixed {str(dtype).split('.')[1]}")
    assert fields["cpu threads"] == str(torch.get_num_threads())
    assert fields["profile"] == "smoke" and fields["data folder"] == str(tmp_data_dir)
    datasets = {line.split()[1]: line for line in lines if line.startswith("dataset")}
    assert sorted(datasets) == ["cifar10", "fashion_mnist", "mnist"]
    assert f"cached in {tmp_data_dir / 'mnist.pt'}" in datasets["mnist"]
    assert "will be downloaded" in datasets["cifar10"]  # no cache, no $COURSE_CIFAR10_DIR
