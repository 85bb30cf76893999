"""Notebook sources: every notebook is a jupytext pair whose two files agree,
and its headings are cells of their own with the matching slide type."""

from pathlib import Path

import jupytext
import nbformat
import pytest

from tools import nb as nbtool

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
PAIRS = sorted({p.stem for p in NOTEBOOKS.glob("[0-9][0-9]_*.py")} | {p.stem for p in NOTEBOOKS.glob("*.ipynb")})


def cells_of(nb):
    return [(c.cell_type, c.source) for c in nb.cells]


def test_every_notebook_has_both_files():
    assert PAIRS, "no notebooks found"
    for stem in PAIRS:
        for suffix in (".py", ".ipynb"):
            assert (NOTEBOOKS / f"{stem}{suffix}").exists(), (
                f"notebooks/{stem}{suffix} is missing: run `python tools/nb.py sync notebooks/{stem}.*`")


@pytest.mark.parametrize("stem", PAIRS)
def test_py_and_ipynb_agree_on_every_cell(stem):
    text = jupytext.read(NOTEBOOKS / f"{stem}.py")
    saved = nbformat.read(NOTEBOOKS / f"{stem}.ipynb", as_version=4)
    a, b = cells_of(text), cells_of(saved)
    for i, (x, y) in enumerate(zip(a, b)):
        assert x == y, (f"{stem}: cell {i} differs between the .py and the .ipynb "
                        f"(.py: {x[0]} {x[1][:60]!r}; .ipynb: {y[0]} {y[1][:60]!r}); "
                        f"run `python tools/nb.py sync notebooks/{stem}.py`")
    assert len(a) == len(b), f"{stem}: the .py has {len(a)} cells, the .ipynb {len(b)}: sync them"


@pytest.mark.parametrize("stem", PAIRS)
def test_headings_start_cells_with_their_slide_type(stem):
    nb = jupytext.read(NOTEBOOKS / f"{stem}.py")
    for i, cell in enumerate(nb.cells):
        stored = cell.metadata.get("slideshow", {}).get("slide_type")
        assert stored == nbtool.slide_type(cell), (
            f"{stem}: cell {i} ({cell.source[:50]!r}) has slide type {stored!r}, expected "
            f"{nbtool.slide_type(cell)!r}: run `python tools/nb.py stamp notebooks/{stem}.py`")
        if cell.cell_type != "markdown":
            continue
        lines = list(nbtool.markdown_lines(cell.source))
        for n, (line, fenced) in enumerate(lines):
            if n and not fenced and nbtool.heading_level(line):
                raise AssertionError(f"{stem}: the heading {line!r} is in the middle of cell {i}: a heading "
                                     f"starts its own cell (`python tools/nb.py stamp` splits it)")


def test_the_heading_rule_catches_a_heading_mid_cell():
    cell = nbformat.v4.new_markdown_cell("## First\ntext\n\n### Second\nmore\n```\n## not a heading\n```")
    assert nbtool.split_at_headings(cell.source) == ["## First\ntext", "### Second\nmore\n```\n## not a heading\n```"]


def test_saving_in_jupyterlab_writes_both_files_and_keeps_outputs(tmp_path):
    """What `make lab` runs: JupyterLab's contents manager with jupytext's pairing."""
    import asyncio
    import shutil

    from jupyter_server.services.contents.largefilemanager import AsyncLargeFileManager
    from jupytext.async_contentsmanager import build_async_jupytext_contents_manager_class

    stem = "03_pooling"
    shutil.copy(ROOT / "jupytext.toml", tmp_path)
    for suffix in (".py", ".ipynb"):
        shutil.copy(NOTEBOOKS / f"{stem}{suffix}", tmp_path)
    manager = build_async_jupytext_contents_manager_class(AsyncLargeFileManager)(root_dir=str(tmp_path))

    def n_outputs(nb):
        return sum(len(c.get("outputs", [])) for c in nb.cells)

    async def edit_prose_and_save():
        model = await manager.get(f"{stem}.ipynb")
        nb = model["content"]
        before = n_outputs(nb)
        cell = next(c for c in nb.cells if c.cell_type == "markdown" and c.source.startswith("## "))
        cell.source += "\n\nA sentence added in JupyterLab."
        await manager.save({"type": "notebook", "content": nb}, f"{stem}.ipynb")
        return before

    before = asyncio.run(edit_prose_and_save())
    assert before > 0
    assert "# A sentence added in JupyterLab." in (tmp_path / f"{stem}.py").read_text()
    saved = nbformat.read(tmp_path / f"{stem}.ipynb", as_version=4)
    assert n_outputs(saved) == before, "a prose edit must keep the saved outputs"
