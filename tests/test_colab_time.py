"""benchmarks/colab_time.py estimates what each notebook declares in its cells tagged colab-estimate."""

import functools
import importlib.util
import json
import re
import textwrap

import pytest
import torch

from course_utils import budget
from tools import nb as nbtool

spec = importlib.util.spec_from_file_location("colab_time", nbtool.ROOT / "benchmarks" / "colab_time.py")
colab_time = importlib.util.module_from_spec(spec)
spec.loader.exec_module(colab_time)


@functools.cache
def estimates():
    return colab_time.estimates()


def test_every_notebook_has_an_estimate():
    """Notebooks are found by name; one that trains declares its runs in a cell tagged colab-estimate."""
    stems = colab_time.notebook_stems()
    assert stems == sorted(p.stem for p in colab_time.NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")), "a notebook without .py"
    missing = colab_time.missing()
    assert not missing, (
        f"no Colab T4 estimate for {', '.join(missing)}: it trains (calls fit), so declare its runs (models at "
        "their full settings, images or sequences, epochs) as colab_runs in a cell tagged colab-estimate; see "
        "CONTRIBUTING, 'Colab time'")


def readme_rows():
    """``[(label, figure)]`` of the README's table "What to expect on Colab's free GPU"."""
    text = (nbtool.ROOT / "README.md").read_text().split("### What to expect on Colab's free GPU", 1)[1]
    rows = re.findall(r"^\| (\d\d[^|]*?) \| ([^|]+?) \|", text.split("\n\n### ", 1)[0], re.MULTILINE)
    assert rows, "README has no Colab table"
    return rows


def test_the_readme_table_shows_what_the_benchmark_prints():
    stems, found = colab_time.notebook_stems(), estimates()
    covered = set()
    for label, figure in readme_rows():
        if "-" in label.split()[0]:  # "00-03 | under 15 s each"
            first, last = label.split()[0].split("-")
            group = [s for s in stems if first <= s[:2] <= last]
            assert all(found[s][0] < 15 for s in group), (label, {s: found[s][0] for s in group})
            covered.update(group)
            continue
        same_number = [s for s in stems if s.startswith(label[:2])]
        part = re.search(r"part (\d)", label)
        stem = same_number[int(part.group(1)) - 1] if part else same_number[0]
        minutes = float(re.match(r"([\d.]+) min", figure).group(1))
        assert minutes == round(found[stem][0] / 60, 1), (
            f"README's Colab table says {figure} for {label}; python benchmarks/colab_time.py prints "
            f"{found[stem][0] / 60:.1f} min: update the README")
        covered.add(stem)
    assert covered == set(stems), f"notebooks missing from README's Colab table: {sorted(set(stems) - covered)}"


def test_notebook_00_points_to_the_readme_table_instead_of_repeating_it():
    """The README's table is the one place the estimates are written (the test above checks it against
    the benchmark): notebook 00 links to it, so the two cannot drift apart."""
    source = (nbtool.ROOT / "notebooks" / "00_start_here.py").read_text()
    heading = "### What `full` costs on Colab's free GPU"
    assert heading in source, "notebook 00 lost its Colab slide"
    slide = source.split(heading, 1)[1].split("# %%", 1)[0]
    readme_heading = "What to expect on Colab's free GPU"
    anchor = re.sub(r"[^a-z0-9 -]", "", readme_heading.lower()).replace(" ", "-")  # GitHub's anchor
    assert f"#{anchor})" in slide, f"notebook 00's Colab slide should link to the README's table (#{anchor})"
    figures = re.findall(r"\d+(?:\.\d+)?\s*(?:min|minutes|s)\b", slide)
    assert not figures, f"notebook 00 repeats Colab estimates {figures}: link to the README's table instead"


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
        assert all(run.steps() > 0 for run in runs), stem
        assert estimates()[stem][0] > 0, stem


# ----------------------------------------------------------------------------
# The mechanism, on planted notebooks
# ----------------------------------------------------------------------------

SETUP = '''\
# %% tags=["setup"]
# ---- notebook imports ----
import torch
from torch import nn

from course_utils import profile

PROFILE = profile.current()
'''


def plant(folder, stem, body, seconds=None):
    (folder / f"{stem}.py").write_text(SETUP + "\n" + textwrap.dedent(body))
    metadata = {"course": {"seconds": seconds}} if seconds is not None else {}
    (folder / f"{stem}.ipynb").write_text(json.dumps({"metadata": metadata, "cells": []}))


@pytest.fixture
def planted(monkeypatch, tmp_path):
    monkeypatch.setattr(colab_time, "NOTEBOOKS", tmp_path)
    return tmp_path


def test_a_declaration_sees_the_full_settings_and_runs_no_other_cell(planted):
    plant(planted, "98_new", '''\
        # %%
        settings = profile.pick(smoke=dict(n=10, epochs=1), standard=dict(n=100, epochs=2),
                                full=dict(n=1_000, epochs=5))
        seeds = range(profile.pick(smoke=1, standard=2, full=3))
        data = profile.pick(smoke=load_data(), standard=load_data(), full=load_data())  # not plain: never run
        raise RuntimeError("an untagged cell ran")

        # %% tags=["colab-estimate"]
        def tiny():
            return nn.Sequential(nn.Flatten(), nn.Linear(4, 3))  # 12 multiply-adds on a 1x2x2 image

        # %% tags=["colab-estimate", "no-slide"]
        colab_runs = [dict(what="tiny", model=tiny, input_shape=(1, 1, 2, 2), train=settings["n"],
                           epochs=settings["epochs"], eval=200, repeats=len(seeds), batch_size=100)]

        # %%
        history = fit(model, batches, epochs=1)
        ''')
    (run,) = colab_time.runs()["98_new"]
    assert (run.train, run.epochs, run.repeats, run.macs()) == (1_000, 5, 3, 12)
    assert run.flops() == 2 * 12 * (3 * 1_000 + 200) * 5 * 3 == budget.training_flops(12, 1_000, 5, 200, 3)
    assert run.steps() == 10 * 5 * 3
    assert "98_new" in colab_time.estimates() and colab_time.missing() == []


def test_a_notebook_that_trains_without_a_declaration_is_reported(planted):
    plant(planted, "98_new", "# %%\nhistory = fit(model, batches, epochs=3)\n", seconds=30.0)
    plant(planted, "99_new", "# %%\n# fit(model) is only mentioned in a comment\nx = 1\n", seconds=7.5)
    assert colab_time.trains("98_new") and not colab_time.trains("99_new")
    assert colab_time.missing() == ["98_new"]
    assert colab_time.cpu_notebooks() == {"99_new": (7.5, "measured (standard run, 2-core CPU); no training")}


def test_cpu_work_scales_the_measured_standard_run(planted):
    plant(planted, "97_numpy", '''\
        # %%
        n_train = profile.pick(smoke=100, standard=1_000, full=5_000)
        epochs = profile.pick(smoke=1, standard=2, full=4)

        # %% tags=["colab-estimate"]
        colab_cpu_work = n_train * epochs
        ''', seconds=60.0)
    seconds, basis = colab_time.cpu_notebooks()["97_numpy"]
    assert seconds == pytest.approx(60.0 * (5_000 * 4) / (1_000 * 2)) and "x 10" in basis


def test_a_failing_estimate_names_the_notebook_and_the_cell(planted):
    plant(planted, "96_broken", '''\
        # %%
        settings = profile.pick(smoke=dict(epochs=1), standard=dict(epochs=2), full=dict(epochs=10))

        # %% tags=["colab-estimate"]
        colab_runs = [dict(what="x", model=nn.Linear(2, 2), example=torch.ones(1, 2), train=settings["n_train"],
                           epochs=settings["epochs"])]
        ''')
    with pytest.raises(colab_time.EntryError, match=r"notebooks/96_broken.py: the cell tagged colab-estimate "
                                                    r"starting 'colab_runs = .*KeyError: 'n_train'"):
        colab_time.runs()


def test_a_run_needs_an_input_and_known_keys(planted):
    plant(planted, "95_bad", '''\
        # %% tags=["colab-estimate"]
        colab_runs = [dict(what="x", model=nn.Linear(2, 2), train=10, epochs=1)]
        ''')
    with pytest.raises(colab_time.EntryError, match="input_shape .* or example"):
        colab_time.runs()
    plant(planted, "95_bad", '''\
        # %% tags=["colab-estimate"]
        colab_runs = [dict(what="x", model=nn.Linear(2, 2), train=10, epochs=1, example=None, epoch=3)]
        ''')
    with pytest.raises(colab_time.EntryError, match="epoch"):
        colab_time.runs()


def test_a_tuple_example_is_passed_as_separate_arguments():
    class Pair(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = torch.nn.Linear(3, 4), torch.nn.Linear(5, 4)

        def forward(self, x, y):
            return self.a(x) + self.b(y)

    assert colab_time.forward_macs(Pair(), (torch.ones(1, 3), torch.ones(1, 5))) == 3 * 4 + 5 * 4
