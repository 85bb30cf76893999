"""Committed notebooks: fresh standard-profile outputs, in order, no errors,
and the course's conventions (badge, set-up cell, slides, exercises)."""

import importlib
import json
import re
from pathlib import Path

import pytest

import course_utils
from course_utils.exercises import checkers_of
from tools import nb as nbtool

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def test_there_are_notebooks():
    assert NOTEBOOKS, "no notebooks found in notebooks/"
    assert NOTEBOOKS[0].name == "00_start_here.ipynb"


@pytest.fixture(params=NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def notebook(request):
    return request.param, json.loads(request.param.read_text())


def as_text(value):
    """Notebook JSON stores multi-line strings as lists of lines."""
    return "".join(value) if isinstance(value, list) else value


def code_cells(nb):
    return [c for c in nb["cells"] if c["cell_type"] == "code"]


def test_name_is_numbered(notebook):
    path, _ = notebook
    assert re.fullmatch(r"\d\d_[a-z0-9_]+\.ipynb", path.name)


def test_saved_from_a_fresh_standard_run(notebook):
    path, nb = notebook
    assert nb["metadata"].get("course", {}).get("profile") == "standard", (
        f"{path.name}: save it with `python tools/nb.py run {path.relative_to(ROOT)} --profile standard --inplace`")
    counts = [c["execution_count"] for c in code_cells(nb)]
    assert counts == list(range(1, len(counts) + 1)), f"{path.name}: execution counts {counts} are not 1..N"
    setup_out = "".join(as_text(o.get("text", "")) for o in code_cells(nb)[0]["outputs"])
    assert "profile: standard" in setup_out


def test_no_error_outputs(notebook):
    path, nb = notebook
    for i, cell in enumerate(code_cells(nb)):
        for out in cell["outputs"]:
            assert out["output_type"] != "error", f"{path.name}: code cell {i + 1} is saved with an error"
            if out["output_type"] == "stream" and out["name"] == "stderr":
                assert "Traceback" not in as_text(out["text"]), f"{path.name}: cell {i + 1} printed a traceback"


def test_badge_setup_and_slides(notebook):
    path, nb = notebook
    title = "".join(nb["cells"][0]["source"])
    assert nbtool.colab_url(path) in title, f"{path.name}: run `python tools/nb.py stamp {path.name}`"
    setup = code_cells(nb)[0]
    assert "setup" in setup["metadata"].get("tags", [])
    assert f"git+{course_utils.REPO_URL}" in "".join(setup["source"])
    assert setup["metadata"].get("slideshow", {}).get("slide_type") == "skip", f"{path.name}: the set-up cell shows"


def checkers_called(path):
    nb = json.loads(path.read_text())
    text = "\n".join("".join(c["source"]) for c in nb["cells"])
    number = path.name[:2]
    return text, set(re.findall(rf"ex{number}\.(check_\w+)\(", text))


def test_exercises_with_checkers(notebook):
    """Every notebook ends with exercises and their checkers. A topic split over two notebooks
    (07_alexnet and 07_alexnet_experiments, two lectures) shares one exercise module: each part has
    at least 2 exercises, the two together at least 3, none checked twice."""
    path, _ = notebook
    if path.name.startswith("00_"):
        return  # the start page has no exercises
    text, checks = checkers_called(path)
    assert re.search(r"^#+ .*Exercises", text, re.M), f"{path.name}: no Exercises section"
    number = path.name[:2]
    parts = [p for p in NOTEBOOKS if p.name[:2] == number]
    assert len(checks) >= (3 if len(parts) == 1 else 2), (
        f"{path.name}: expected at least {3 if len(parts) == 1 else 2} exercise checkers from ex{number}, "
        f"found {checks}")
    if len(parts) > 1:
        per_part = [checkers_called(p)[1] for p in parts]
        together = set().union(*per_part)
        assert len(together) >= 3, f"the notebooks {number} together should have at least 3 exercises"
        assert sum(map(len, per_part)) == len(together), f"the notebooks {number} check the same exercise twice"


def test_a_split_topic_is_numbered_once_and_its_parts_say_so():
    """Two notebooks with one number are the two parts of one topic, and their titles say which part."""
    by_number = {}
    for path in NOTEBOOKS:
        by_number.setdefault(path.name[:2], []).append(path)
    for number, paths in by_number.items():
        if len(paths) == 1:
            continue
        assert len(paths) == 2, f"notebooks {number}: at most two parts, found {[p.name for p in paths]}"
        for k, path in enumerate(sorted(paths), 1):
            title = "".join(json.loads(path.read_text())["cells"][0]["source"]).split("\n", 1)[0]
            assert f"(part {k} of 2)" in title, f"{path.name}: the title should say '(part {k} of 2)', got {title!r}"


def test_output_checked_cells_do_not_hide_their_result_with_a_semicolon(notebook):
    # nbval runs cells without storing them in IPython's history, and IPython
    # decides whether a trailing ';' hides the result from the last *stored*
    # cell: under nbval the result shows and the output check fails.
    path, nb = notebook
    for i, cell in enumerate(nb["cells"]):
        source = as_text(cell["source"])
        if cell["cell_type"] == "code" and "NBVAL_CHECK_OUTPUT" in source:
            assert not source.rstrip().endswith(";"), (
                f"{path.name} cell {i}: an output-checked cell ends with ';'; assign the result instead")


def test_figures_are_saved(notebook):
    """A cell that shows a figure is saved with its image: a run under a non-interactive matplotlib
    backend (MPLBACKEND=Agg in the environment) executes every cell and silently drops the figures."""
    path, nb = notebook
    for i, cell in enumerate(code_cells(nb)):
        if "plt.show()" in as_text(cell["source"]):
            images = [o for o in cell["outputs"] if "image/png" in o.get("data", {})]
            assert images, (f"{path.name}: code cell {i + 1} calls plt.show() but is saved without an image; "
                            "run the notebook without MPLBACKEND=Agg in the environment")


def test_saved_outputs_show_only_first_tier_hints(notebook):
    """No saved output gives an exercise away: a stub's checker prints tier 1 of its hints (the nudge)
    and nothing more; the key idea and the recipe appear only when the learner asks or answers wrongly.
    Every nudge saved is the exercise's current tier 1 (a changed nudge needs the notebook re-run)."""
    path, nb = notebook
    try:
        module = importlib.import_module(f"course_utils.exercises.ex{path.name[:2]}")
    except ModuleNotFoundError:
        return
    checks = {c.exercise.replace("_", " "): c for c in checkers_of(module).values()}
    saved = "".join(as_text(o.get("text", "")) + as_text(o.get("data", {}).get("text/plain", ""))
                    for c in code_cells(nb) for o in c["outputs"])
    for check in checks.values():
        for tier in check.hints[1:]:
            assert tier[:60] not in saved, f"{path.name}: a saved output shows a hint beyond the nudge: {tier[:60]!r}"
    assert not re.search(r"Hint (?:[2-9]|\d\d+) of \d+", saved), f"{path.name}: a saved output shows a later hint"
    shown = re.findall(r"Exercise '([^']+)' not attempted yet\. Hint: (.*?)(?: \(stuck\?.*)?$", saved, re.M)
    for title, nudge in shown:
        assert title in checks, f"{path.name}: a saved output names an exercise {title!r} that ex{path.name[:2]} lacks"
        assert nudge == checks[title].hints[0], (f"{path.name}: the saved nudge of {title!r} is not its current "
                                                f"tier 1 (re-run the notebook): {nudge[:60]!r}")
    for name in sorted(checkers_called(path)[1]):
        title = name.removeprefix("check_").replace("_", " ")
        assert title in dict(shown), f"{path.name}: no saved nudge for the exercise {title!r}: is its cell a stub?"
