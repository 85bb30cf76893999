"""Lecture decks and the course site, both usable without a network.

``python tools/nb.py slides`` and ``python tools/nb.py site`` (``make slides``,
``make site``) call :func:`build_decks` and :func:`build_site`. Everything a
page loads at view time lies beside it in a ``_static`` folder and is
referenced by a relative path:

- reveal.js and MathJax come from their npm packages, pinned in
  ``tools/web_assets/package.json`` and ``package-lock.json`` and installed
  with ``npm ci`` into ``build/npm`` at build time (once; reused while the
  lock file is unchanged);
- the course's own style sheets, the deck script (``deck.js``: starts
  reveal.js and fits each slide into its frame) and an "Open in Colab" badge
  come from ``tools/web_assets/static``;
- the nbconvert templates in ``tools/web_assets/templates`` are nbconvert's
  own ``reveal`` and ``lab`` templates with the CDN scripts taken out.

A deck is ``NN_name.slides.html``: ``#`` and ``##`` headings start slides,
``###`` headings sub-slides (``tools/nb.py stamp`` writes that into the cell
metadata), the set-up cell and code cells tagged ``no-slide`` are left out.

The site is one page per notebook (nbconvert's HTML with the committed
outputs) plus ``index.html``, whose course map is the notebook table of the
README. Each page links home, to the previous and next notebook, to its deck
(under ``slides/``) and to Colab. Links between notebooks point at pages (in
the site) or decks (in the decks); links to other files of the repository
point at GitHub.
"""

import hashlib
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
from nbconvert import HTMLExporter, SlidesExporter

from course_utils import REPO_URL
from tools.notebook_paths import ROOT, colab_url, pair

ASSETS = ROOT / "tools" / "web_assets"
TEMPLATES = ASSETS / "templates"
NPM_DIR = ROOT / "build" / "npm"
STATIC = "_static"
DECK_SIZE = (1280, 720)
MIN_FIT_SCALE = 0.6  # a slide shrinks at most to this scale to fit its frame, then scrolls
DECK_OUTPUT_LINES = 24  # longer printed output (a training log) is shown by its head and tail in a deck
COURSE_TITLE = "From convolution to the Transformer"
BADGE_IMAGE = "https://colab.research.google.com/assets/colab-badge.svg"
# A markdown link (not an image) with a relative target: group 1 is the target.
NOTEBOOK_LINK_RE = re.compile(r"(?<!!)\[[^\]]*\]\((?!https?:|#|mailto:)([^)\s]+)\)")


# ----------------------------------------------------------------------------
# Browser files from the npm registry
# ----------------------------------------------------------------------------


def npm_modules(npm_dir=NPM_DIR):
    """``node_modules`` with the pinned reveal.js and MathJax, installed by
    ``npm ci`` if missing or installed from another lock file."""
    npm_dir = Path(npm_dir)
    lock = (ASSETS / "package-lock.json").read_bytes()
    stamp = npm_dir / "node_modules" / ".course-lock-sha256"
    digest = hashlib.sha256(lock).hexdigest()
    if stamp.exists() and stamp.read_text() == digest:
        return npm_dir / "node_modules"
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("building decks or the site needs npm (Node.js) to fetch reveal.js and MathJax: "
                           "install it (Debian/Ubuntu: `sudo apt-get install npm`) and run the command again")
    npm_dir.mkdir(parents=True, exist_ok=True)
    for name in ("package.json", "package-lock.json"):
        shutil.copy(ASSETS / name, npm_dir / name)
    done = subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=npm_dir,
                          capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"`npm ci` in {npm_dir} failed (is the npm registry reachable?):\n{done.stderr.strip()}")
    stamp.write_text(digest)
    return npm_dir / "node_modules"


def copy_static(out_dir, npm_dir=NPM_DIR):
    """Fill ``out_dir/_static`` with what the pages load; return its path."""
    modules = npm_modules(npm_dir)
    static = Path(out_dir) / STATIC
    copies = {
        modules / "reveal.js" / "dist": static / "reveal.js" / "dist",
        modules / "mathjax": static / "mathjax",
        modules / "@mathjax" / "mathjax-newcm-font" / "chtml": static / "@mathjax" / "mathjax-newcm-font" / "chtml",
        ASSETS / "static": static / "course",
    }
    for source, target in copies.items():
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(source, target)
    font = modules / "@mathjax" / "mathjax-newcm-font"
    for name in ("chtml.js", "package.json", "LICENSE"):
        if (font / name).exists():
            shutil.copy(font / name, static / "@mathjax" / "mathjax-newcm-font" / name)
    for name in ("LICENSE",):
        if (modules / "reveal.js" / name).exists():
            shutil.copy(modules / "reveal.js" / name, static / "reveal.js" / name)
    return static


# ----------------------------------------------------------------------------
# Preparing a notebook for the browser
# ----------------------------------------------------------------------------


def deck_name(path):
    return Path(path).stem + ".slides.html"


def page_name(path):
    return Path(path).stem + ".html"


def relink(source, notebook_target, repo_prefix):
    """Markdown links to ``NN_name.ipynb`` become ``notebook_target(stem)``;
    other relative links (files of the repository, seen from ``notebooks/``)
    become GitHub links, since neither a deck nor the site carries them."""

    def replace(match):
        target = match.group(1)
        text = match.group(0)[:match.start(1) - match.start(0)]  # '[text]('

        def link(new_target):
            return f"{text}{new_target})"

        path, _, anchor = target.partition("#")
        if path.endswith(".ipynb") and "/" not in path:
            return link(f"{notebook_target(Path(path).stem)}{'#' + anchor if anchor else ''}")
        if not path:
            return match.group(0)
        resolved = (Path("notebooks") / path).as_posix()
        parts = []
        for part in resolved.split("/"):
            if part == "..":
                parts.pop() if parts else None
            elif part != ".":
                parts.append(part)
        return link(f"{repo_prefix}{'/'.join(parts)}{'#' + anchor if anchor else ''}")

    return NOTEBOOK_LINK_RE.sub(replace, source)


def prepare(nb, static, notebook_target):
    """A copy of ``nb`` for the browser: the Colab badge image served from
    ``static``, links between notebooks pointing at ``notebook_target(stem)``,
    cells tagged ``no-slide`` marked to skip (the slide exporter drops them)."""
    nb = nbformat.from_dict(json.loads(json.dumps(nb)))
    repo_prefix = f"{REPO_URL}/blob/main/"
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            cell.source = relink(cell.source, notebook_target, repo_prefix)
            cell.source = cell.source.replace(BADGE_IMAGE, f"{static}/course/colab-badge.svg")
    return nb


# ----------------------------------------------------------------------------
# Decks
# ----------------------------------------------------------------------------


def shorten_outputs(nb, max_lines=DECK_OUTPUT_LINES):
    """Printed output longer than ``max_lines`` keeps its first and last lines
    around a line that says how many were left out (the site and the notebook
    keep all of them)."""
    keep = max(max_lines - 1, 2)
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.get("output_type") != "stream":
                continue
            lines = out.text.split("\n")
            trailing = lines and lines[-1] == ""
            body = lines[:-1] if trailing else lines
            if len(body) <= max_lines:
                continue
            head, tail = body[:keep // 2], body[-(keep - keep // 2):]
            skipped = len(body) - len(head) - len(tail)
            out.text = "\n".join(head + [f"... {skipped} more lines (see the notebook) ..."] + tail) + (
                "\n" if trailing else "")
    return nb


def deck_exporter():
    exporter = SlidesExporter(template_name="course_reveal", extra_template_basedirs=[str(TEMPLATES)],
                            extra_template_paths=[str(TEMPLATES)])
    exporter.reveal_url_prefix = "reveal.js"  # replaced per deck below (relative to its _static)
    exporter.reveal_theme = "white"
    exporter.reveal_width, exporter.reveal_height = (str(v) for v in DECK_SIZE)
    return exporter


def export_deck(nb, target, static):
    """Write one deck; ``static`` is the ``_static`` folder relative to ``target``."""
    exporter = deck_exporter()
    exporter.reveal_url_prefix = f"{static}/reveal.js"
    prepared = shorten_outputs(prepare(nb, static, deck_name))
    resources = {"course": {"static": static, "min_fit_scale": MIN_FIT_SCALE},
                 "metadata": {"name": Path(target).name.removesuffix(".slides.html")}}
    body, _ = exporter.from_notebook_node(prepared, resources=resources)
    Path(target).write_text(body)
    return target


def expected_slides(nb):
    """(slides, sub-slides) a deck of ``nb`` must have: its cells of slide
    type ``slide`` (``#``/``##`` headings) and ``subslide`` (``###``)."""
    types = [c.metadata.get("slideshow", {}).get("slide_type") for c in nb.cells]
    return types.count("slide"), types.count("subslide")


def build_decks(notebooks, out_dir, npm_dir=NPM_DIR):
    """One deck per notebook into ``out_dir``, with its ``_static`` folder."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    copy_static(out_dir, npm_dir)
    written = []
    for path in notebooks:
        nb = nbformat.read(pair(path)[1], as_version=4)
        written.append(export_deck(nb, out_dir / deck_name(path), STATIC))
    return written


# ----------------------------------------------------------------------------
# Site
# ----------------------------------------------------------------------------


def readme_course_map(readme=ROOT / "README.md"):
    """The rows of the README's notebook table: ``[(number, stem, summary)]``."""
    rows = []
    for line in Path(readme).read_text().splitlines():
        m = re.match(r"\|\s*(\d\d)\s*\|\s*`(\d\d_[a-z0-9_]+)`\s*\|\s*(.+?)\s*\|\s*$", line)
        if m:
            rows.append(m.groups())
    if not rows:
        raise ValueError(f"{readme}: found no notebook table (rows like '| 01 | `01_convolution` | ... |')")
    return rows


def notebook_title(nb):
    """The title cell's heading without its ``#``."""
    return nb.cells[0].source.split("\n", 1)[0].lstrip("#").strip()


def site_exporter():
    return HTMLExporter(template_name="course_html", extra_template_basedirs=[str(TEMPLATES)],
                            extra_template_paths=[str(TEMPLATES)])


def index_notebook(entries):
    """The home page as a one-cell notebook: the course map with a link to
    each notebook's page, its deck and Colab."""
    badge = f"![Open In Colab]({STATIC}/course/colab-badge.svg)"
    lines = [
        f"# {COURSE_TITLE}",
        "",
        "A notebook course that builds deep learning for images and sequences from the ground up: every "
        "operation is derived from scratch, checked against PyTorch by an assertion, and then used for real "
        "on real data. Each notebook below is shown with the outputs of its committed run; the slides are "
        "the same notebook as a lecture deck.",
        "",
        "| # | notebook | what you build and check | slides | Colab |",
        "| --- | --- | --- | --- | --- |",
    ]
    for entry in entries:
        lines.append(f"| {entry['number']} | [{entry['title']}]({entry['page']}) | {entry['summary']} | "
                     f"[slides]({entry['deck']}) | [{badge}]({entry['colab']}) |")
    lines += ["", f"Source, set-up and tests: [{REPO_URL.removeprefix('https://')}]({REPO_URL})."]
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("\n".join(lines))]
    nb.metadata["title"] = COURSE_TITLE
    return nb


def build_site(notebooks, out_dir, readme=ROOT / "README.md", npm_dir=NPM_DIR):
    """The course site into ``out_dir``: ``index.html``, one page per
    notebook, the decks under ``slides/`` and one shared ``_static``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    copy_static(out_dir, npm_dir)
    (out_dir / "slides").mkdir(exist_ok=True)
    summaries = {stem: summary for _, stem, summary in readme_course_map(readme)}
    paths = [pair(p)[1] for p in notebooks]
    for path in paths:
        if path.stem not in summaries:
            print(f"warning: the README's notebook table has no row for {path.stem}; its line on the home page "
                  f"has no summary (add '| {path.stem[:2]} | `{path.stem}` | what you build and check |')",
                  file=sys.stderr)
    notebooks_read = [nbformat.read(p, as_version=4) for p in paths]
    entries = []
    for path, nb in zip(paths, notebooks_read):
        entries.append({
            "number": path.stem[:2], "stem": path.stem, "title": notebook_title(nb),
            "summary": summaries.get(path.stem, ""), "page": page_name(path),
            "deck": f"slides/{deck_name(path)}", "colab": colab_url(path),
        })
    exporter = site_exporter()
    home = {"course": {"static": STATIC, "nav": {"home": "index.html", "course_title": COURSE_TITLE}},
            "metadata": {"name": "index"}}
    body, _ = exporter.from_notebook_node(index_notebook(entries), resources=home)
    written = [out_dir / "index.html"]
    written[0].write_text(body.replace("<main>", '<main class="course-index">', 1))
    for i, (nb, entry) in enumerate(zip(notebooks_read, entries)):
        nav = {"home": "index.html", "course_title": COURSE_TITLE, "deck": entry["deck"], "colab": entry["colab"]}
        if i > 0:
            nav["prev"] = {"href": entries[i - 1]["page"], "title": entries[i - 1]["title"]}
        if i + 1 < len(entries):
            nav["next"] = {"href": entries[i + 1]["page"], "title": entries[i + 1]["title"]}
        resources = {"course": {"static": STATIC, "nav": nav}, "metadata": {"name": entry["title"]}}
        body, _ = exporter.from_notebook_node(prepare(nb, STATIC, page_name), resources=resources)
        target = out_dir / entry["page"]
        target.write_text(body)
        written.append(target)
        export_deck(nb, out_dir / entry["deck"], f"../{STATIC}")
    return written
