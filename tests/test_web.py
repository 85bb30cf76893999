"""tools/web.py without a browser: what the decks and the site are made of.

The browser suite (tests/browser) opens the built pages; these tests check
the pieces that need no browser (and run where Chromium is missing): links
between notebooks, long outputs in decks, the course map read from the
README, the slide counts a deck must have, and that every notebook is
found by name and gets a page, a deck and a summary.
"""

from pathlib import Path

import nbformat
import pytest

from course_utils import REPO_URL
from tools import nb as nbtool
from tools import web

ROOT = nbtool.ROOT
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
PREFIX = f"{REPO_URL}/blob/main/"


def test_relink_points_notebooks_at_pages_and_files_at_github():
    source = ("See [notebook 06](06_lenet.ipynb#Training), [the helpers](../course_utils/train.py), "
              "[a data note](../data/README.md#offline), [Colab](https://colab.research.google.com/x), "
              "[above](#a-heading) and ![a figure](figures/kernel.png).")
    out = web.relink(source, web.page_name, PREFIX)
    assert "[notebook 06](06_lenet.html#Training)" in out
    assert f"[the helpers]({PREFIX}course_utils/train.py)" in out
    assert f"[a data note]({PREFIX}data/README.md#offline)" in out
    assert "[Colab](https://colab.research.google.com/x)" in out and "[above](#a-heading)" in out
    assert "![a figure](figures/kernel.png)" in out, "images are not links"
    assert "(06_lenet.slides.html)" in web.relink("[06](06_lenet.ipynb)", web.deck_name, PREFIX)


def test_long_printed_output_keeps_its_head_and_tail_in_a_deck():
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("for i in range(100): print(i)")
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="".join(f"line {i}\n" for i in range(100))),
                    nbformat.v4.new_output("stream", name="stdout", text="short\n")]
    nb.cells = [cell]
    web.shorten_outputs(nb, max_lines=10)
    lines = cell.outputs[0].text.split("\n")
    assert lines[:4] == ["line 0", "line 1", "line 2", "line 3"]
    assert lines[4] == "... 91 more lines (see the notebook) ..."
    assert lines[5:] == ["line 95", "line 96", "line 97", "line 98", "line 99", ""]
    assert len(lines) - 1 == 10 and cell.outputs[1].text == "short\n"


def test_the_course_map_is_the_readme_table(tmp_path):
    rows = web.readme_course_map()
    stems = [stem for _, stem, _ in rows]
    assert [n for n, _, _ in rows] == [s[:2] for s in stems]
    for path in NOTEBOOKS:
        assert path.stem in stems, (f"the README's notebook table has no row for {path.stem}: the site's home page "
                                    "takes each notebook's summary from it")
    empty = tmp_path / "README.md"
    empty.write_text("# A course\n\nno table here\n")
    with pytest.raises(ValueError, match="found no notebook table"):
        web.readme_course_map(empty)


def test_expected_slides_counts_heading_cells():
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell(s) for s in ("# 99 Title", "## One", "text", "### One a", "## Two")]
    nb.cells.append(nbformat.v4.new_code_cell("x = 1"))
    for cell in nb.cells:
        kind = nbtool.slide_type(cell)
        if kind:
            cell.metadata["slideshow"] = {"slide_type": kind}
    assert web.expected_slides(nb) == (3, 1)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_every_notebook_has_slides_and_a_title(path):
    """What the deck test counts against: every notebook found by name has
    slides from its headings and a title for its page and the home page."""
    nb = nbformat.read(path, as_version=4)
    slides, _ = web.expected_slides(nb)
    assert slides >= 2, f"{path.stem}: {slides} slide headings; run `python tools/nb.py stamp notebooks/{path.stem}.py`"
    assert web.notebook_title(nb), f"{path.stem}: its first cell has no title after the #"


def test_a_notebook_missing_from_the_readme_table_is_named(tmp_path, capsys, monkeypatch):
    readme = tmp_path / "README.md"
    readme.write_text("| 00 | `00_start_here` | the start |\n")
    monkeypatch.setattr(web, "copy_static", lambda out_dir, npm_dir=None: Path(out_dir) / web.STATIC)
    monkeypatch.setattr(web, "export_deck", lambda nb, target, static: target)
    written = web.build_site([NOTEBOOKS[0], NOTEBOOKS[1]], tmp_path / "site", readme=readme)
    assert [p.name for p in written] == ["index.html", web.page_name(NOTEBOOKS[0]), web.page_name(NOTEBOOKS[1])]
    err = capsys.readouterr().err
    assert f"no row for {NOTEBOOKS[1].stem}" in err and NOTEBOOKS[0].stem not in err
