"""benchmarks/colab_time.py reads each notebook's full settings from its source."""

import ast
import importlib.util

from course_utils import profile
from tools import nb as nbtool

spec = importlib.util.spec_from_file_location("colab_time", nbtool.ROOT / "benchmarks" / "colab_time.py")
colab_time = importlib.util.module_from_spec(spec)
spec.loader.exec_module(colab_time)


def evaluated_picks(stem, name, monkeypatch):
    """Oracle: run the notebook's own `name = profile.pick(...)` line under COURSE_PROFILE=full."""
    source = (colab_time.NOTEBOOKS / f"{stem}.py").read_text()
    def names(target):
        return [target.id] if isinstance(target, ast.Name) else [e.id for e in getattr(target, "elts", [])
                                                                  if isinstance(e, ast.Name)]

    node = next(n for n in ast.walk(ast.parse(source)) if isinstance(n, ast.Assign)
                and any(name in names(t) for t in n.targets)
                and isinstance(n.value, ast.Call) and getattr(n.value.func, "attr", "") == "pick")
    monkeypatch.setenv("COURSE_PROFILE", "full")
    scope = {"profile": profile}
    exec(ast.get_source_segment(source, node), scope)  # noqa: S102 (the notebook's own line)
    return scope[name]


def test_full_settings_are_the_notebooks_own(monkeypatch):
    for stem in ("06_lenet", "07_alexnet", "08_vgg", "09_inception"):
        assert colab_time.picks(stem)["settings"] == evaluated_picks(stem, "settings", monkeypatch), stem
    assert colab_time.picks("04_fully_connected_and_log_softmax")["epochs"] == evaluated_picks(
        "04_fully_connected_and_log_softmax", "epochs", monkeypatch)
    full = colab_time.picks("05_manual_backprop")
    for name in ("n_train", "n_test", "epochs"):
        assert full[name] == evaluated_picks("05_manual_backprop", name, monkeypatch), name


def test_every_training_notebook_has_a_finite_estimate():
    for stem, runs in colab_time.runs().items():
        assert runs, stem
        for run in runs:
            assert run.flops() > 0 and run.steps() > 0, (stem, run.what)
