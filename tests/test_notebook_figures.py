"""Figures are saved with the notebooks: a cell that calls ``plt.show()``
has an image among its committed outputs.

With ``MPLBACKEND=Agg`` in the environment that executes a notebook, the
kernel draws with Agg and ``plt.show()`` leaves no output: the notebook,
its page on the course site and its deck silently lose their figures.
``tools/nb.py run`` now removes the variable for the kernel; this test finds
notebooks saved by a run that did not.
"""

import os
from pathlib import Path

import nbformat
import pytest

from tools import nb as nbtool

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def cells_without_figures(nb):
    """Indices of code cells that call plt.show() but saved no image."""
    return [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and "plt.show()" in c.source
            and not any(k.startswith("image/") for o in c.get("outputs", []) for k in o.get("data", {}))]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_every_plt_show_saved_its_figure(path):
    nb = nbformat.read(path, as_version=4)
    missing = cells_without_figures(nb)
    assert not missing, (
        f"{path.name}: cells {missing} call plt.show() but saved no figure (executed with MPLBACKEND=Agg?): "
        f"execute it again with `python tools/nb.py run notebooks/{path.stem}.py --profile standard --inplace`")


def test_the_check_finds_a_lost_figure():
    shown = nbformat.v4.new_code_cell("plt.plot([1, 2]); plt.show()")
    shown.outputs = [nbformat.v4.new_output("display_data", data={"image/png": "iVBOR", "text/plain": "<Figure>"})]
    lost = nbformat.v4.new_code_cell("plt.plot([1, 2]); plt.show()")
    lost.outputs = [nbformat.v4.new_output("stream", name="stdout", text="done\n")]
    nb = nbformat.v4.new_notebook(cells=[shown, nbformat.v4.new_code_cell("x = 1"), lost])
    assert cells_without_figures(nb) == [2]


def test_execute_runs_the_kernel_without_an_inherited_mplbackend(monkeypatch, tmp_path):
    """tools/nb.py's execute hands the kernel no MPLBACKEND (so figures are
    drawn inline) and restores the caller's afterwards."""
    import nbclient

    seen = {}

    class FakeClient:
        def __init__(self, nb, **kwargs):
            self.nb = nb

        def execute(self):
            seen["MPLBACKEND"] = os.environ.get("MPLBACKEND")
            seen["COURSE_PROFILE"] = os.environ.get("COURSE_PROFILE")

    monkeypatch.setattr(nbclient, "NotebookClient", FakeClient)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    (tmp_path / "jupytext.toml").write_text((ROOT / "jupytext.toml").read_text())
    source = tmp_path / "99_demo.ipynb"
    nbtool.save(nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# 99 Demo"),
                                                nbformat.v4.new_code_cell("x = 1")]), source)
    nbtool.execute(source, "smoke")
    assert seen == {"MPLBACKEND": None, "COURSE_PROFILE": "smoke"}
    assert os.environ["MPLBACKEND"] == "Agg"
