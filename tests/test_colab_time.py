"""benchmarks/colab_time.py reads each notebook's full settings from its source."""

import ast
import importlib.util

import pytest

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

    def is_pick(call):
        return isinstance(call, ast.Call) and (getattr(call.func, "attr", "") == "pick" or (
            getattr(call.func, "id", "") == "range" and is_pick(call.args[0])))

    node = next(n for n in ast.walk(ast.parse(source)) if isinstance(n, ast.Assign)
                and any(name in names(t) for t in n.targets) and is_pick(n.value))
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
    full = colab_time.picks("12_self_attention")
    for name in ("n_sort_train", "epochs_sort", "sizes", "steps", "seeds"):
        assert full[name] == evaluated_picks("12_self_attention", name, monkeypatch), name


def test_every_notebook_has_an_estimate():
    """Notebooks are found by name; one that trains needs its runs in colab_time.runs()."""
    stems = colab_time.notebook_stems()
    assert stems == sorted(p.stem for p in colab_time.NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")), "a notebook without .py"
    missing = colab_time.missing()
    assert not missing, (
        f"no Colab T4 estimate for {', '.join(missing)}: it trains (calls fit), so add its runs (models at their "
        "full settings, images or sequences, epochs) to runs() in benchmarks/colab_time.py; see CONTRIBUTING, "
        "'Colab time'")


def test_a_notebook_that_trains_without_an_entry_is_reported(monkeypatch, tmp_path):
    for name in ("00_start_here", "04_fully_connected_and_log_softmax"):
        for suffix in (".py", ".ipynb"):
            (tmp_path / f"{name}{suffix}").write_text((colab_time.NOTEBOOKS / f"{name}{suffix}").read_text())
    (tmp_path / "98_new.py").write_text("# %%\nhistory = fit(model, batches, epochs=3)\n")
    (tmp_path / "99_new.py").write_text("# %%\n# fit(model) is only mentioned in a comment\nx = 1\n")
    (tmp_path / "99_new.ipynb").write_text('{"metadata": {"course": {"seconds": 7.5}}, "cells": []}')
    monkeypatch.setattr(colab_time, "NOTEBOOKS", tmp_path)
    monkeypatch.setattr(colab_time, "runs", lambda: {"04_fully_connected_and_log_softmax": []})
    monkeypatch.setattr(colab_time, "cpu_notebooks", lambda: {
        stem: (colab_time.saved_seconds(stem), "") for stem in colab_time.notebook_stems()
        if not colab_time.trains(stem)})
    assert colab_time.trains("98_new") and not colab_time.trains("99_new")
    assert colab_time.missing() == ["98_new"]


def test_the_sequence_runs_count_the_notebooks_models():
    """Notebook 12's estimate uses its own classes; the multiply-adds of its
    attention tagger equal the formula for its layers (one sequence of T tokens)."""
    runs = {r.what: r for r in colab_time.runs()["12_self_attention"]}
    tagger = next(r for name, r in runs.items() if name.startswith("AttentionTagger"))
    e, t, labels = 64, 16, 4
    projections = 4 * t * e * e  # q, k, v and the output projection
    scores = 2 * t * t * e  # Q K^T and weights @ V
    feed_forward = 2 * t * e * 4 * e
    readout = t * e * labels
    assert colab_time.forward_macs(tagger.model, tagger.example) == projections + scores + feed_forward + readout
    assert sum(r.steps() for name, r in runs.items() if "Tagger" in name) == sum(
        2 * 5 * max(1, round(3000 / -(-n // 32))) * -(-n // 32) for n in (100, 300, 1000, 3000))


def test_every_training_notebook_has_a_finite_estimate():
    for stem, runs in colab_time.runs().items():
        assert runs, stem
        for run in runs:
            assert run.flops() > 0 and run.steps() > 0, (stem, run.what)


def test_an_entry_that_no_longer_matches_its_notebook_names_it(monkeypatch, tmp_path):
    """E.g. a notebook whose settings lose a key its entry reads (here 07 part 1
    without its validation size): the error names the notebook and the entry,
    not a bare KeyError."""
    (tmp_path / "07_alexnet.py").write_text(
        "# %%\nsettings = profile.pick(smoke=dict(epochs=1), standard=dict(epochs=2), full=dict(n_train=60_000, "
        "epochs=10, input_size=224, width=1.0, hidden=4096))\nhistory = fit(model, batches, epochs=1)\n")
    monkeypatch.setattr(colab_time, "NOTEBOOKS", tmp_path)
    with pytest.raises(colab_time.EntryError, match=r"entry for 07_alexnet \(alexnet_runs\).*KeyError: 'n_val'"):
        colab_time.runs()
