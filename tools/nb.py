"""Build, stamp, execute and present the course notebooks.

Usage (from the repository root, inside the course environment)::

    python tools/nb.py stamp notebooks/*.ipynb        # badge, set-up cell, slide metadata
    python tools/nb.py run notebooks/01_*.ipynb --profile standard --inplace
    python tools/nb.py run notebooks/*.ipynb --output-dir build   # `make course`
    python tools/nb.py slides notebooks/*.ipynb --output-dir build/slides

Writing a notebook from Python::

    from tools.nb import md, code, build
    build("notebooks/01_convolution.ipynb", "Convolution", [
        md("## Why not a dense layer?\\n..."),
        code("x = torch.randn(1, 1, 28, 28)"),
    ], imports="import torch\\nimport torch.nn.functional as F")

Conventions the tool enforces:

- The first cell is the title with an "Open in Colab" badge whose URL comes
  from ``course_utils.REPO_URL`` (the one place it is defined).
- The first code cell is the set-up cell (tagged ``setup``): it installs
  ``course_utils`` on Colab when it is missing (or finds it in the parent
  folder of a checkout), then runs the notebook's imports, reads the profile,
  picks the device and seeds everything.
- Slide metadata: ``#``/``##`` headings start a slide, ``###`` a sub-slide,
  everything else continues the current slide; the set-up cell is skipped.
"""

import argparse
import json
import os
import re
import sys
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from course_utils import REPO_URL  # noqa: E402

SETUP_MARKER = "# ---- notebook imports ----"
BADGE_RE = re.compile(r"^\[!\[Open In Colab\].*$", re.MULTILINE)


def colab_url(path):
    repo = REPO_URL.removeprefix("https://github.com/")
    return f"https://colab.research.google.com/github/{repo}/blob/main/notebooks/{Path(path).name}"


def badge(path):
    return f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]({colab_url(path)})"


def setup_preamble(needs_d2l=False):
    lines = [
        "# Set-up: run this cell first. On Colab it installs the course helpers.",
        "import importlib.util, os, subprocess, sys",
        'if importlib.util.find_spec("course_utils") is None:',
        '    if os.path.isdir(os.path.join("..", "course_utils")):  # a checkout, not installed',
        '        sys.path.insert(0, os.path.abspath(".."))',
        "    else:  # e.g. Colab",
        f'        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "git+{REPO_URL}"], check=True)',
    ]
    if needs_d2l:
        lines += [
            'if importlib.util.find_spec("d2l") is None:  # d2l pins old numpy: install it without its pins',
            '    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "d2l==1.0.3"], check=True)',
        ]
    lines += ["importlib.invalidate_caches()  # so that packages installed just now can be imported", SETUP_MARKER]
    return "\n".join(lines)


SETUP_TAIL = """
from course_utils import profile
from course_utils.device import get_device, seed_everything

PROFILE = profile.current()
DEVICE = get_device()
seed_everything(0)
print(f"profile: {PROFILE}   device: {DEVICE}")"""


def md(source, slide=None):
    cell = nbformat.v4.new_markdown_cell(source.strip("\n"))
    if slide:
        cell.metadata["slideshow"] = {"slide_type": slide}
    return cell


def code(source, slide=None):
    cell = nbformat.v4.new_code_cell(source.strip("\n"))
    if slide:
        cell.metadata["slideshow"] = {"slide_type": slide}
    return cell


def _slide_type(cell):
    if cell.get("metadata", {}).get("tags") and "setup" in cell.metadata.tags:
        return "skip"
    if cell.cell_type == "markdown":
        first = cell.source.lstrip().split("\n", 1)[0]
        if first.startswith("### "):
            return "subslide"
        if first.startswith("# ") or first.startswith("## ") or BADGE_RE.match(first):
            return "slide"
    return "-"


def stamp(nb, path, needs_d2l=None):
    """Apply the badge, set-up preamble and slide metadata to ``nb`` in place."""
    cells = nb.cells
    if not cells or cells[0].cell_type != "markdown":
        raise ValueError(f"{path}: the first cell must be the markdown title cell")
    title = cells[0]
    if BADGE_RE.search(title.source):
        title.source = BADGE_RE.sub(badge(path), title.source)
    else:
        title.source = badge(path) + "\n\n" + title.source
    setup = next((c for c in cells if c.cell_type == "code"), None)
    if setup is None:
        raise ValueError(f"{path}: no code cell for the set-up")
    setup.metadata.setdefault("tags", [])
    if "setup" not in setup.metadata.tags:
        setup.metadata.tags.append("setup")
    if needs_d2l is None:
        needs_d2l = "d2l" in setup.source.split(SETUP_MARKER, 1)[-1]
    body = setup.source.split(SETUP_MARKER, 1)[1] if SETUP_MARKER in setup.source else "\n" + setup.source
    setup.source = setup_preamble(needs_d2l) + body
    for cell in cells:
        cell.metadata["slideshow"] = {"slide_type": cell.metadata.get("slideshow", {}).get("slide_type")
                                      or _slide_type(cell)}
    for cell in cells:  # headings always start slides, whatever was stored
        if cell.cell_type == "markdown" and _slide_type(cell) in ("slide", "subslide"):
            cell.metadata["slideshow"]["slide_type"] = _slide_type(cell)
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    nb.metadata.setdefault("language_info", {"name": "python"})  # execution fills in the rest
    nb.metadata.setdefault("colab", {"provenance": []})
    return nb


def build(path, title, cells, imports="import torch", intro="", needs_d2l=False):
    """Write a notebook: title + badge, set-up cell with ``imports``, then ``cells``.

    The notebook is written without outputs. A builder script takes no
    options, so ``python tools/build_nb06.py --help`` stops here instead of
    wiping the committed outputs by surprise.
    """
    path = Path(path)
    script = Path(sys.argv[0]).name
    if script.startswith("build_nb") and len(sys.argv) > 1:
        sys.exit(f"{script} takes no arguments: it rewrites {path.name} from source, without outputs.\n"
                 f"Run it bare, then execute the notebook: python tools/nb.py run {path.relative_to(ROOT) if path.is_absolute() else path} "
                 "--profile standard --inplace")
    head = md(f"# {title}\n\n{intro}".rstrip())
    setup = code(setup_preamble(needs_d2l) + "\n" + imports.strip("\n") + "\n" + SETUP_TAIL)
    nb = nbformat.v4.new_notebook()
    nb.cells = [head, setup] + list(cells)
    stamp(nb, path, needs_d2l)
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


def key_results(nb):
    """The ``Key result:`` lines printed by ``course_utils.results.record``."""
    found = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            text = out.get("text", "") if out.get("output_type") == "stream" else ""
            found += [line.split("Key result:", 1)[1].strip() for line in text.splitlines()
                      if line.startswith("Key result:")]
    return found


def tidy_streams(nb):
    """Store printed output as a reader sees it: consecutive stream outputs
    merged, and carriage returns applied (a progress bar keeps only its last
    state; one erased on completion disappears)."""
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        merged = []
        for out in cell.outputs:
            if out.output_type == "stream" and merged and merged[-1].output_type == "stream" \
                    and merged[-1].name == out.name:
                merged[-1].text += out.text
            else:
                merged.append(out)
        for out in merged:
            if out.output_type == "stream" and "\r" in out.text:
                lines = []
                for line in out.text.split("\n"):
                    if "\r" in line:
                        line = line.rsplit("\r", 1)[1]
                        if not line.strip():
                            continue
                    lines.append(line)
                out.text = "\n".join(lines)
        cell.outputs = [o for o in merged if o.output_type != "stream" or o.text]
    return nb


def execute(path, profile, timeout=1800):
    """Execute a notebook from scratch under ``profile``; return (nb, seconds).

    Training checkpoints go to a fresh temporary folder, so every execution
    trains from scratch rather than resuming an earlier run.
    """
    import tempfile

    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    saved = {k: os.environ.get(k) for k in ("COURSE_PROFILE", "COURSE_CHECKPOINT_DIR")}
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="course-checkpoints-") as checkpoints:
        os.environ.update(COURSE_PROFILE=profile, COURSE_CHECKPOINT_DIR=checkpoints)  # the kernel inherits them
        try:
            NotebookClient(nb, timeout=timeout, kernel_name="python3",
                           resources={"metadata": {"path": str(Path(path).parent)}}).execute()
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
    seconds = time.perf_counter() - start
    tidy_streams(nb)
    nb.metadata["course"] = {"profile": profile, "seconds": round(seconds, 1),
                             "executed": time.strftime("%Y-%m-%d")}
    return nb, seconds


def cmd_run(args):
    from course_utils import profile as profile_mod

    profile = args.profile or profile_mod.current()
    profile_mod._check(profile)
    failures = 0
    summary = []
    for path in args.notebooks:
        path = Path(path)
        try:
            nb, seconds = execute(path, profile, timeout=args.timeout)
        except Exception as err:  # report and go on with the next notebook
            failures += 1
            first = str(err).strip().splitlines()
            summary.append(f"{path.name:<44} FAILED  {type(err).__name__}: {first[-1] if first else ''}")
            print(summary[-1], flush=True)
            continue
        if args.inplace:
            out = path
        else:
            out = Path(args.output_dir) / path.name
            out.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, out)
        if not args.inplace and not args.no_html:
            from nbconvert import HTMLExporter

            html, _ = HTMLExporter().from_notebook_node(nb)
            out.with_suffix(".html").write_text(html)
        results = "; ".join(key_results(nb)) or "no key result recorded"
        summary.append(f"{path.name:<44} {seconds:7.1f} s  {results}")
        print(summary[-1], flush=True)
    print(f"\nprofile {profile}: {len(args.notebooks) - failures} notebooks ran, {failures} failed")
    return 1 if failures else 0


def cmd_stamp(args):
    for path in args.notebooks:
        nb = nbformat.read(path, as_version=4)
        stamp(nb, path)
        nbformat.write(nb, path)
        print(f"stamped {path}")
    return 0


def cmd_slides(args):
    from nbconvert import SlidesExporter

    out_dir = Path(args.output_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for path in args.notebooks:
        nb = nbformat.read(path, as_version=4)
        body, _ = SlidesExporter().from_notebook_node(nb)
        target = out_dir / (Path(path).stem + ".slides.html")
        target.write_text(body)
        print(f"wrote {target}")
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="execute notebooks headless")
    run.add_argument("notebooks", nargs="+")
    run.add_argument("--profile", choices=("smoke", "standard", "full"))
    run.add_argument("--inplace", action="store_true", help="save outputs into the notebook itself")
    run.add_argument("--output-dir", default="build")
    run.add_argument("--no-html", action="store_true")
    run.add_argument("--timeout", type=int, default=3600, help="seconds per cell")
    run.set_defaults(func=cmd_run)
    st = sub.add_parser("stamp", help="apply badge, set-up cell and slide metadata")
    st.add_argument("notebooks", nargs="+")
    st.set_defaults(func=cmd_stamp)
    sl = sub.add_parser("slides", help="build reveal.js slide decks")
    sl.add_argument("notebooks", nargs="+")
    sl.add_argument("--output-dir", default="build/slides")
    sl.set_defaults(func=cmd_slides)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
