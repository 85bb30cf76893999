"""The course site (``tools/nb.py site``), served from a local folder with the
network blocked: every page loads with nothing from outside, its math is
typeset (no raw ``$...$`` left), its images and internal links resolve, and
the navigation walks from the home page through every notebook. Screenshots
of each page go to ``build/browser/screenshots/site``."""

import re
from urllib.parse import urldefrag, urljoin, urlparse

import nbformat
import pytest
from browser_support import OUT, ROOT, report, screenshot

from tools import nb as nbtool
from tools import web

NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
PAGES = ["index.html"] + [web.page_name(p) for p in NOTEBOOKS]
RAW_MATH = re.compile(r"(?<![\\$])\$[^$\s][^$]*?\$(?!\$)|\$\$.+?\$\$", re.S)


@pytest.fixture(scope="session")
def site(timer, serve):
    out = OUT / "site"
    with timer(f"build the site: {len(PAGES)} pages and {len(NOTEBOOKS)} decks (tools/nb.py site)"):
        web.build_site(NOTEBOOKS, out)
    return serve(out)


def load(page, url):
    page.goto(url)
    page.wait_for_load_state("load")
    page.wait_for_function("window.MathJax && MathJax.startup && MathJax.startup.promise", timeout=30_000)
    page.evaluate("MathJax.startup.promise.then(() => true)")


def raw_math(page):
    """TeX left in the rendered markdown (code excluded): what MathJax did not typeset."""
    texts = page.locator(".jp-RenderedMarkdown").evaluate_all(
        "els => els.map(e => { const c = e.cloneNode(true);"
        " c.querySelectorAll('code, pre, mjx-container').forEach(x => x.remove()); return c.textContent; })")
    return [m for text in texts for m in RAW_MATH.findall(text)]


def test_raw_math_is_found_where_mathjax_did_not_run(open_page, tmp_path):
    page_file = tmp_path / "page.html"
    page_file.write_text('<div class="jp-RenderedMarkdown"><p>a cost of $k^2 C$ per pixel, $$\\sum_i x_i$$, '
                         "<code>$HOME</code>, 5$ and 6$ apart</p></div>")
    page, _ = open_page()
    page.goto(page_file.as_uri())
    assert raw_math(page) == ["$k^2 C$", "$$\\sum_i x_i$$"]


def check_links(page, base):
    """Every image loaded; every link to this site resolves (pages, decks,
    anchors); returns the external links."""
    broken = page.evaluate("Array.from(document.images).filter(i => !i.complete || !i.naturalWidth).map(i => i.src)")
    assert not broken, f"images that did not load: {broken}"
    external = []
    for href in page.evaluate("Array.from(document.querySelectorAll('a[href]')).map(a => a.href)"):
        if not href.startswith(base):
            external.append(href)
            continue
        target, fragment = urldefrag(href)
        if target != page.url.split("#")[0]:
            response = page.request.get(target)
            assert response.ok, f"{page.url}: link to {href} gives HTTP {response.status}"
        elif fragment:
            # as a browser looks it up: the fragment as written, then percent-decoded
            found = page.evaluate(
                "f => !!(document.getElementById(f) || document.getElementById(decodeURIComponent(f)))", fragment)
            assert found, f"{page.url}: no element with id {fragment!r} for the link {href}"
    return external


@pytest.mark.parametrize("name", PAGES)
def test_page_works_offline(site, open_page, name):
    page, traffic = open_page(viewport=(1280, 900))
    load(page, urljoin(site, name))
    screenshot(page, "site", name.replace(".html", ".png"))
    assert page.locator("mjx-merror").count() == 0, "MathJax reported a TeX error"
    raw = raw_math(page)
    assert not raw, f"{name}: math left as TeX: {raw[:3]}"
    external = check_links(page, site)
    if name != "index.html":
        path = ROOT / "notebooks" / name.replace(".html", ".ipynb")
        nb = nbformat.read(path, as_version=4)
        has_math = any("$" in c.source for c in nb.cells if c.cell_type == "markdown")
        typeset = page.locator("mjx-container").count()
        assert typeset > 0 or not has_math, f"{name}: the notebook has math but none was typeset"
        assert nbtool.colab_url(path) in external, f"{name}: no Colab link"
        deck = page.locator("nav.course-nav-top a.course-deck")
        assert deck.get_attribute("href") == f"slides/{web.deck_name(path)}"
        report("site", f"{name}: {typeset} formulas typeset, {len(external)} external links (not followed)")
    problems = traffic.problems()
    assert not problems, f"{name}: {problems}"


def test_navigation_walks_through_the_course(site, open_page):
    """Home -> first notebook -> "next" through every notebook -> its deck."""
    page, traffic = open_page(viewport=(1280, 900))
    load(page, site)
    titles = page.locator("main table a").evaluate_all("els => els.map(a => a.textContent)")
    expected = [web.notebook_title(nbformat.read(p, as_version=4)) for p in NOTEBOOKS]
    assert [t for t in titles if t in expected] == expected, "the home page does not list every notebook in order"
    page.click(f"main table a:text-is('{expected[0]}')")
    seen = []
    while True:
        page.wait_for_load_state("load")
        seen.append(page.locator("h1").first.text_content().replace("¶", "").strip())
        following = page.locator("nav.course-nav-top a.course-next")
        if following.count() == 0:
            break
        following.click()
    assert seen == expected
    page.locator("nav.course-nav-top a.course-prev").click()
    page.wait_for_load_state("load")
    assert page.locator("h1").first.text_content().replace("¶", "").strip() == expected[-2]
    page.locator("nav.course-nav-top a.course-deck").click()
    page.wait_for_function("window.courseDeck && window.courseDeck.ready", timeout=30_000)
    page.evaluate("courseDeck.ready.then(() => true)")
    assert page.evaluate("Reveal.isReady()") and urlparse(page.url).path.startswith("/slides/")
    assert not traffic.problems(), traffic.problems()
