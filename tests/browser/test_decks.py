"""Lecture decks, opened as a lecturer opens them (a file, no network).

For each notebook: the deck ``tools/nb.py slides`` builds loads with no
request leaving the machine and no console error, reveal.js starts, the deck
has one slide per ``#``/``##`` heading and one sub-slide per ``###``, the End
key reaches the last slide, and every slide is measured against the 1280x720
frame (``deck.js`` shrinks a slide that is too big, down to 60%, and lets it
scroll beyond that). The counts go to ``build/browser/report.txt``; a
screenshot of each deck's first slide to ``build/browser/screenshots/decks``.
"""

import nbformat
import pytest
from browser_support import OUT, ROOT, report, screenshot

from tools import nb as nbtool
from tools import web

NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))

# Slides that do not fit even at 60% and scroll, per deck: a ratchet, and the
# one place a deck is named in this suite (decks are found by name, above).
# Lower a number when a slide is split (a new ## or ### heading) or a
# check-only code cell is tagged `no-slide`; never raise one to let a new
# overflow in. A deck without an entry (a new notebook) may have none.
MAX_SCROLLING_SLIDES = {  # measured 2026-11-25, after the restructure; lowered after the 00-09 revision
    "00_start_here": 0, "01_convolution": 3, "02_padding_and_stride": 0, "03_pooling": 0,
    "04_fully_connected_and_log_softmax": 0, "05_manual_backprop": 3, "06_lenet": 1, "07_alexnet": 2,
    "08_vgg": 2, "09_inception": 5,
    # 10-13 split their tall slides in the 10-13 revision (issue 21): none may scroll
    "10_resnet": 0, "11_resnet_paper": 0, "12_self_attention": 0, "13_transformer": 0,
    # split in the standard run of 2026-12-06 (the race's checks, the gradient table and LRN's probe)
    "07_alexnet_experiments": 0,
}
MAX_SCROLLING_SLIDES_NEW_NOTEBOOK = 0


def ceiling_problem(stem, scrolling):
    """Why a deck with the slides ``scrolling`` (rows of :func:`measure`
    that do not fit at 60%) breaks its ceiling, or ``None``."""
    listed = "; ".join(f"slide {r['h']}/{r['v']} {r['title']!r} ({r['height']} px)" for r in scrolling)
    fix = ("Split them with a ### heading (a sub-slide) or tag check-only code cells `no-slide` "
           "(CONTRIBUTING, 'Notebook conventions')")
    if stem not in MAX_SCROLLING_SLIDES:
        if len(scrolling) <= MAX_SCROLLING_SLIDES_NEW_NOTEBOOK:
            return None
        return (f"{stem} is a new deck (no entry in MAX_SCROLLING_SLIDES in tests/browser/test_decks.py), and a "
                f"new deck may have no slide that does not fit 1280x720 even at 60%; it has {len(scrolling)}: "
                f"{listed}. {fix}; or, to accept them for now, add \"{stem}\": {len(scrolling)} to "
                "MAX_SCROLLING_SLIDES and lower it as you split them.")
    limit = MAX_SCROLLING_SLIDES[stem]
    if len(scrolling) <= limit:
        return None
    return (f"{stem}: {len(scrolling)} slides do not fit 1280x720 even at 60%, more than its ceiling of {limit} "
            f"(MAX_SCROLLING_SLIDES in tests/browser/test_decks.py): {listed}. {fix}; never raise the ceiling.")


def test_every_ceiling_names_a_deck():
    """An entry for a notebook that no longer exists (renamed or split) is
    reported, not failed: it does no harm, but should be removed."""
    stale = sorted(set(MAX_SCROLLING_SLIDES) - {p.stem for p in NOTEBOOKS})
    for stem in stale:
        report("decks", f"MAX_SCROLLING_SLIDES names {stem}, which is no notebook: remove the entry")


def test_the_ceiling_messages():
    rows = [{"h": 3, "v": 1, "title": "A long one", "height": 1400}]
    new = ceiling_problem("98_new_notebook", rows)
    assert "98_new_notebook is a new deck" in new and '"98_new_notebook": 1' in new and "A long one" in new
    assert ceiling_problem("98_new_notebook", []) is None
    assert ceiling_problem("00_start_here", []) is None
    over = ceiling_problem("00_start_here", rows)
    assert "ceiling of 0" in over and "never raise" in over
    stem, limit = next((k, v) for k, v in MAX_SCROLLING_SLIDES.items() if v > 0)
    assert ceiling_problem(stem, rows * limit) is None and ceiling_problem(stem, rows * (limit + 1))


@pytest.fixture(scope="session")
def decks(timer):
    out = OUT / "slides"
    with timer(f"build {len(NOTEBOOKS)} decks (tools/nb.py slides)"):
        web.build_decks(NOTEBOOKS, out)
    return out


def wait_for_deck(page):
    page.wait_for_function("window.courseDeck && window.courseDeck.ready", timeout=30_000)
    page.evaluate("courseDeck.ready.then(() => true)")


MEASURE_ALL = """() => {
  const rows = [];
  Reveal.getHorizontalSlides().forEach((stack, h) => {
    const leaves = stack.querySelectorAll(':scope > section');
    const count = Math.max(1, leaves.length);
    for (let v = 0; v < count; v++) {
      Reveal.slide(h, v);
      const s = Reveal.getCurrentSlide();
      const heading = s.querySelector('h1, h2, h3');
      rows.push({h, v, title: heading ? heading.textContent.replace('¶', '').trim() : '',
                 height: +s.dataset.naturalHeight, width: +s.dataset.naturalWidth,
                 scale: +s.dataset.fitScale, fits: s.dataset.fits === 'true'});
    }
  });
  Reveal.slide(0, 0);
  return rows;
}"""


def measure(page):
    """Visit every slide; ``[{h, v, title, height, width, scale, fits}]``."""
    return page.evaluate(MEASURE_ALL)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_deck_works_offline(decks, open_page, path):
    nb = nbformat.read(path, as_version=4)
    n_slides, n_subslides = web.expected_slides(nb)
    page, traffic = open_page()
    page.goto((decks / web.deck_name(path)).as_uri())
    wait_for_deck(page)
    assert page.evaluate("Reveal.isReady()"), "reveal.js did not start"
    assert page.evaluate("typeof MathJax.typesetPromise") == "function", "MathJax did not load"
    screenshot(page, "decks", f"{path.stem}.png")

    horizontal = page.evaluate("Reveal.getHorizontalSlides().length")
    total = page.evaluate("Reveal.getTotalSlides()")
    assert horizontal == n_slides, f"{path.stem}: {horizontal} slides, but the notebook has {n_slides} # / ## headings"
    assert total == n_slides + n_subslides, (
        f"{path.stem}: {total} slides and sub-slides, expected {n_slides} + {n_subslides} (### headings)")

    page.locator(".reveal").focus()
    page.keyboard.press("End")  # to the last slide, then down its sub-slides
    page.wait_for_function(f"Reveal.getIndices().h === {horizontal - 1}", timeout=5_000)
    below = page.evaluate("Reveal.getHorizontalSlides().at(-1).querySelectorAll(':scope > section').length")
    for _ in range(max(below - 1, 0)):
        page.keyboard.press("ArrowDown")
    page.wait_for_function("Reveal.isLastSlide()", timeout=5_000)

    rows = measure(page)
    assert len(rows) == total
    assert all(r["height"] > 0 for r in rows), "a slide was not measured"
    shrunk = [r for r in rows if r["scale"] < 1]
    scrolling = [r for r in rows if not r["fits"]]
    report("decks", f"{path.stem}: {horizontal} slides + {n_subslides} sub-slides = {total}; "
                    f"{len(shrunk)} overflow 1280x720 (shown shrunk), {len(scrolling)} do not fit at 60% (scroll)")
    for r in sorted(shrunk, key=lambda r: r["scale"])[:3]:
        report("decks", f"    scale {r['scale']:.2f}: {r['height']}x{r['width']} px, "
                        f"slide {r['h']}/{r['v']} {r['title'][:60]!r}")
    for r in scrolling:
        report("slides that do not fit at 60% (split them)",
               f"{path.stem} slide {r['h']}/{r['v']} {r['title']!r}: {r['height']} px tall")
    problems = traffic.problems()
    assert not problems, f"{path.stem}: {problems}"
    limit = MAX_SCROLLING_SLIDES.get(path.stem)
    if limit is not None and len(scrolling) < limit:
        report("decks", f"    {path.stem}: lower its ceiling in MAX_SCROLLING_SLIDES from {limit} to {len(scrolling)}")
    problem = ceiling_problem(path.stem, scrolling)
    assert problem is None, problem


def test_the_fit_measurement_on_a_planted_deck(browser, open_page, tmp_path):
    """A deck with a short slide, a tall one that fits when shrunk, one too
    tall even at 60%, and one with a line of code too wide: deck.js must
    tell them apart."""

    def slide(title, code=None):
        cells = [nbformat.v4.new_markdown_cell(f"## {title}")]
        if code:
            cells.append(nbformat.v4.new_code_cell(code))
        return cells

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# 99 Planted\n\nshort")]
    nb.cells += slide("Tall", "\n".join(f"x{i} = {i}" for i in range(38)))
    nb.cells += slide("Too tall", "\n".join(f"y{i} = {i}" for i in range(90)))
    nb.cells += slide("Too wide", "z = " + " + ".join(str(i) for i in range(30, 66)))  # 175 characters
    nb.cells += slide("Math", "")
    nb.cells[-1].source = "## Math\n\n$$\\sum_{i=1}^n x_i$$ and $a^2$"
    nb.cells += [nbformat.v4.new_code_cell("only_checks = True")]
    nb.cells[-1].metadata["tags"] = [nbtool.NO_SLIDE_TAG]
    for cell in nb.cells:
        kind = nbtool.slide_type(cell)
        if kind:
            cell.metadata["slideshow"] = {"slide_type": kind}
    web.copy_static(tmp_path)
    target = web.export_deck(nb, tmp_path / "99_planted.slides.html", web.STATIC)
    page, traffic = open_page()
    page.goto(target.as_uri())
    wait_for_deck(page)
    rows = {r["title"]: r for r in measure(page)}
    assert list(rows) == ["99 Planted", "Tall", "Too tall", "Too wide", "Math"]
    assert rows["99 Planted"]["scale"] == 1 and rows["99 Planted"]["fits"]
    assert rows["Tall"]["height"] > 720 and 0.6 <= rows["Tall"]["scale"] < 1 and rows["Tall"]["fits"]
    assert rows["Too tall"]["height"] > 720 / 0.6 and not rows["Too tall"]["fits"]
    assert rows["Too wide"]["width"] > 1280 and rows["Too wide"]["scale"] < 1 and rows["Too wide"]["fits"]
    assert page.locator("text=only_checks").count() == 0, "a no-slide cell was shown"
    page.evaluate("Reveal.slide(4, 0)")
    assert page.locator("section.present mjx-container").count() == 2, "math was not typeset"
    assert not traffic.problems()
