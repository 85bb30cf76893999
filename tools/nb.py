"""Stamp, sync, execute and present the course notebooks.

Every notebook is a jupytext pair: ``notebooks/NN_name.py`` in percent format
(the source: edit it in any editor, lint it, diff it) and
``notebooks/NN_name.ipynb`` (the same cells with the saved outputs of a
standard run). ``jupytext.toml`` pairs them, so saving in JupyterLab with
jupytext installed (``make lab`` installs it) writes both files; an edit of
prose keeps the saved outputs. Every command below takes either file of a
pair and works on both.

Usage (from the repository root, inside the course environment)::

    python tools/nb.py sync notebooks/*.py              # after editing a .py elsewhere
    python tools/nb.py stamp notebooks/*.py             # badge, set-up cell, slides
    python tools/nb.py run notebooks/06_lenet.py --profile standard --inplace
    python tools/nb.py run notebooks/*.ipynb --output-dir build   # `make course`
    python tools/nb.py slides notebooks/*.ipynb --output-dir build/slides   # `make slides`
    python tools/nb.py site notebooks/*.ipynb --output-dir build/site       # `make site`

Conventions ``stamp`` applies (and ``tests/test_notebook_hygiene.py`` checks):

- The first cell is the title (``# NN Title``) with an "Open in Colab" badge
  on the line after it, whose URL comes from ``course_utils.REPO_URL`` (the
  one place it is defined).
- The first code cell is the set-up cell (tagged ``setup``, shown collapsed
  in JupyterLab and as a form on Colab): it finds ``course_utils`` in the
  parent folder of a checkout, or installs it on Colab from this repository
  at the commit that last changed ``course_utils/`` or ``pyproject.toml``
  (:func:`pinned_commit`; so a notebook gets the helpers it was written for,
  not whatever ``main`` is that day); then it runs the notebook's imports,
  reads the profile, picks the device and seeds everything. After a change to
  ``course_utils``: commit it, then stamp again (``tests/test_colab_install.py``
  fails until the pin matches).
- Every ``#``/``##`` heading starts a markdown cell of its own, which starts a
  slide; every ``###`` heading a sub-slide. Other cells continue the current
  slide; the set-up cell and code cells tagged ``no-slide`` (e.g. one that
  only checks) are skipped; a markdown cell tagged ``notes`` becomes speaker
  notes (slide type *Notes*: in the presenter's view, not on the slide).
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import jupytext
import nbformat
from jupytext.cli import jupytext as jupytext_cli

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repository, when run as a script

from course_utils import REPO_URL  # noqa: E402
from tools import web  # noqa: E402
from tools.notebook_paths import ROOT, colab_url, pair  # noqa: E402

SETUP_MARKER = "# ---- notebook imports ----"
# The set-up cell pins course_utils to the last commit that changed these.
PIN_PATHS = ("course_utils", "pyproject.toml")
# A code cell with this tag stays out of the slides (e.g. one that only checks).
NO_SLIDE_TAG = "no-slide"
# A markdown cell with this tag is speaker notes (slide type "notes").
NOTES_TAG = "notes"
PIN_RE = re.compile(r'COURSE_UTILS_SOURCE = "git\+(?P<url>\S+)@(?P<commit>[0-9a-f]{40})"')
BADGE_RE = re.compile(r"^\[!\[Open In Colab\].*$", re.MULTILINE)
HEADING_RE = re.compile(r"^(#{1,3}) \S")
TEXT_FORMAT = "py:percent"


# ----------------------------------------------------------------------------
# Pairs
# ----------------------------------------------------------------------------


def sync(path):
    """Bring both files of a pair up to date from the one edited last
    (jupytext's ``--sync``): inputs from the newer file, outputs from the
    ``.ipynb``. A missing ``.ipynb`` is created without outputs."""
    py, ipynb = pair(path)
    if not py.exists() and not ipynb.exists():
        raise FileNotFoundError(f"neither {py} nor {ipynb} exists")
    source = py if py.exists() else ipynb
    status = jupytext_cli(["--sync", "--quiet", str(source)])
    if status:
        raise RuntimeError(f"jupytext --sync {source} failed with status {status}")


def load(path):
    """The synced notebook of a pair (cells from the source, saved outputs kept)."""
    sync(path)
    return nbformat.read(pair(path)[1], as_version=4)


def save(nb, path):
    """Write ``nb`` to both files of its pair."""
    py, ipynb = pair(path)
    nb.metadata["jupytext"] = {"formats": "ipynb,py:percent"}
    nbformat.write(nb, ipynb)
    config = jupytext.config.load_jupytext_config(str(py.resolve().parent))
    text = jupytext.writes(nb, fmt=TEXT_FORMAT, config=config)
    py.write_text(text)
    os.utime(ipynb)  # the .ipynb is no older than its source, so jupytext sees the pair as synced


# ----------------------------------------------------------------------------
# Stamping
# ----------------------------------------------------------------------------


def badge(path):
    return f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]({colab_url(path)})"


def pinned_commit(root=ROOT):
    """The commit whose ``course_utils`` a notebook's set-up cell installs on
    Colab: the last commit that changed ``course_utils/`` or
    ``pyproject.toml``. ``tests/test_colab_install.py`` checks that this
    commit's helpers equal the checked-out ones."""
    done = subprocess.run(["git", "log", "-1", "--format=%H", "--", *PIN_PATHS], cwd=root,
                          capture_output=True, text=True)
    commit = done.stdout.strip()
    if done.returncode or not re.fullmatch(r"[0-9a-f]{40}", commit):
        raise RuntimeError(f"could not find the last commit of {', '.join(PIN_PATHS)} with git in {root} "
                           f"({done.stderr.strip() or 'no such commit'}); stamping needs the repository's history")
    return commit


def pin_problem(commit, root=ROOT):
    """Why ``commit`` cannot be the set-up cells' pin, or ``None`` when it can:
    it must be in the history of HEAD (so it reaches GitHub with it) and its
    ``course_utils/`` and ``pyproject.toml`` must equal HEAD's."""

    def git(*args):
        return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True)

    fix = "commit the change to course_utils, then run `python tools/nb.py stamp notebooks/*.py`"
    if git("cat-file", "-e", f"{commit}^{{commit}}").returncode:
        return (f"commit {commit[:12]} is not in this repository (in a shallow clone, run "
                f"`git fetch --unshallow`; otherwise {fix})")
    if git("merge-base", "--is-ancestor", commit, "HEAD").returncode:
        return f"commit {commit[:12]} is not in the history of HEAD (rebased away?): {fix}"
    diff = git("diff", "--stat", commit, "HEAD", "--", *PIN_PATHS).stdout.strip()
    if diff:
        return f"{', '.join(PIN_PATHS)} changed since commit {commit[:12]}:\n{diff}\n{fix}"
    return None


def pinned_in(setup_source):
    """``(url, commit)`` that a stamped set-up cell installs ``course_utils`` from."""
    m = PIN_RE.search(setup_source)
    if m is None:
        raise ValueError("no `COURSE_UTILS_SOURCE = \"git+URL@COMMIT\"` line in the set-up cell: "
                         "run `python tools/nb.py stamp` on the notebook")
    return m.group("url"), m.group("commit")


def install_source(commit):
    """What the set-up cell gives ``pip install``: the repository at ``commit``."""
    return f"git+{REPO_URL}@{commit}"


def setup_preamble(needs_d2l=False, commit=None):
    """The install logic at the top of every set-up cell. Colab shows the cell
    as a form (its ``@title`` line; ``stamp`` sets ``cellView``) and
    JupyterLab collapsed (``jupyter.source_hidden``), so a learner sees the
    title line and the output, and opens the code with a click."""
    source = install_source(commit or pinned_commit())
    lines = [
        "# @title Set-up: run this cell first (on Colab it installs the course helpers)",
        "# Makes the course helpers (course_utils) importable: from the checkout this notebook",
        "# is in, or (Colab) installed at the version this notebook was written for.",
        "import importlib.util, os, subprocess, sys",
        f'COURSE_UTILS_SOURCE = "{source}"',
        'if importlib.util.find_spec("course_utils") is None:',
        '    if os.path.isdir(os.path.join("..", "course_utils")):  # a checkout, not installed',
        '        sys.path.insert(0, os.path.abspath(".."))',
        '    elif subprocess.run([sys.executable, "-m", "pip", "install", "-q", COURSE_UTILS_SOURCE]).returncode:',
        '        raise RuntimeError("Installing the course helpers failed (pip says why above). Check that this "',
        '                           "runtime is online (Colab: Runtime > Disconnect and delete runtime, then run "',
        '                           f"again); or run in a new cell:  !pip install {COURSE_UTILS_SOURCE}")',
    ]
    if needs_d2l:
        lines += [
            'if importlib.util.find_spec("d2l") is None:  # d2l pins old numpy: install it without its pins',
            '    if subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "d2l==1.0.3"]'
            '                      ).returncode:',
            '        raise RuntimeError("Installing d2l failed (pip says why above). Check that this runtime is "',
            '                           "online; or run in a new cell:  !pip install --no-deps d2l==1.0.3")',
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


def markdown_lines(source):
    """The lines of a markdown cell, each with whether it lies inside a code fence."""
    fence = False
    for line in source.split("\n"):
        if line.lstrip().startswith(("```", "~~~")):
            fence = not fence
            yield line, True
        else:
            yield line, fence


def heading_level(line):
    """1-3 for a ``#``/``##``/``###`` heading line, else 0."""
    m = HEADING_RE.match(line)
    return len(m.group(1)) if m else 0


def split_at_headings(source):
    """A markdown cell's text cut before every heading that is not its first line."""
    parts, current = [], []
    for line, fenced in markdown_lines(source):
        if not fenced and heading_level(line) and any(s.strip() for s in current):
            while current and not current[-1].strip():
                current.pop()
            parts.append("\n".join(current))
            current = []
        current.append(line)
    parts.append("\n".join(current))
    return parts


def slide_type(cell):
    """The slide type a cell must have: ``slide``, ``subslide``, ``skip``, ``notes`` (speaker notes,
    kept where a markdown cell without a heading has it) or ``None`` (continue)."""
    tags = cell.metadata.get("tags", [])
    if "setup" in tags or NO_SLIDE_TAG in tags:
        return "skip"
    if cell.cell_type == "markdown":
        level = heading_level(cell.source.lstrip().split("\n", 1)[0])
        if level:
            return "subslide" if level == 3 else "slide"
        if NOTES_TAG in tags or cell.metadata.get("slideshow", {}).get("slide_type") == "notes":
            return "notes"  # speaker notes: tagged 'notes', or already of slide type Notes
    return None


def stamp(nb, path, needs_d2l=None, commit=None):
    """Apply the title badge, the set-up preamble (pinned to ``commit``, by
    default :func:`pinned_commit`), heading cells and slide metadata to ``nb``
    in place."""
    cells = nb.cells
    if not cells or cells[0].cell_type != "markdown" or heading_level(cells[0].source.lstrip()) != 1:
        raise ValueError(f"{path}: the first cell must be the markdown title cell, starting '# NN Title'")
    title = cells[0]
    text = BADGE_RE.sub("", title.source).strip("\n")
    head, _, rest = text.partition("\n")
    title.source = f"{head}\n\n{badge(path)}\n\n{rest.strip(chr(10))}".rstrip("\n")
    split = []
    for cell in cells:
        if cell.cell_type != "markdown":
            split.append(cell)
            continue
        parts = split_at_headings(cell.source)
        cell.source = parts[0]
        split.append(cell)
        split += [nbformat.v4.new_markdown_cell(p) for p in parts[1:]]
    nb.cells = cells = split
    setup = next((c for c in cells if c.cell_type == "code"), None)
    if setup is None:
        raise ValueError(f"{path}: no code cell for the set-up")
    setup.metadata.setdefault("tags", [])
    if "setup" not in setup.metadata.tags:
        setup.metadata.tags.append("setup")
    if needs_d2l is None:
        needs_d2l = "d2l" in setup.source.split(SETUP_MARKER, 1)[-1]
    if SETUP_MARKER in setup.source:
        body = setup.source.split(SETUP_MARKER, 1)[1]
    else:  # a new notebook: its first code cell holds the imports
        body = "\n" + setup.source.strip("\n") + "\n" + SETUP_TAIL
    setup.source = setup_preamble(needs_d2l, commit) + body
    # JupyterLab shows it collapsed, Colab shows its @title line only; keys in one
    # order, so that stamping twice changes nothing
    hidden = {"tags": setup.metadata.tags, "jupyter": {"source_hidden": True}, "cellView": "form"}
    setup.metadata = nbformat.NotebookNode({**hidden, **{k: v for k, v in setup.metadata.items() if k not in hidden}})
    for cell in cells:
        kind = slide_type(cell)
        cell.metadata.pop("slideshow", None)
        if kind:
            cell.metadata["slideshow"] = {"slide_type": kind}
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    nb.metadata.setdefault("language_info", {"name": "python"})  # execution fills in the rest
    nb.metadata.setdefault("colab", {"provenance": []})
    return nb


# ----------------------------------------------------------------------------
# Executing
# ----------------------------------------------------------------------------


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
    state; one erased on completion disappears). Also drops the execution
    timestamps nbclient writes into each cell's metadata."""
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
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
    """Execute a notebook pair from scratch under ``profile``; return (nb, seconds).

    Training checkpoints go to a fresh temporary folder, so every execution
    trains from scratch rather than resuming an earlier run.
    """
    from nbclient import NotebookClient

    nb = load(path)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    saved = {k: os.environ.get(k) for k in ("COURSE_PROFILE", "COURSE_CHECKPOINT_DIR", "MPLBACKEND")}
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="course-checkpoints-") as checkpoints:
        os.environ.update(COURSE_PROFILE=profile, COURSE_CHECKPOINT_DIR=checkpoints)  # the kernel inherits them
        # The kernel draws figures inline only without MPLBACKEND (ipykernel sets it then); an inherited
        # MPLBACKEND=Agg makes every plt.show() save nothing.
        os.environ.pop("MPLBACKEND", None)
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


# ----------------------------------------------------------------------------
# Commands
# ----------------------------------------------------------------------------


def _unique_pairs(paths):
    """One entry per pair, in order, whichever file of it was named."""
    seen, out = set(), []
    for p in paths:
        key = pair(p)[1]
        if key not in seen:
            seen.add(key)
            out.append(key)
    return out


def cmd_run(args):
    from course_utils import profile as profile_mod

    profile = args.profile or profile_mod.current()
    profile_mod.check(profile)
    failures = 0
    notebooks = _unique_pairs(args.notebooks)
    for path in notebooks:
        try:
            nb, seconds = execute(path, profile, timeout=args.timeout)
        except Exception as err:  # report and go on with the next notebook
            failures += 1
            first = str(err).strip().splitlines()
            print(f"{path.name:<44} FAILED  {type(err).__name__}: {first[-1] if first else ''}", flush=True)
            continue
        if args.inplace:
            save(nb, path)
        else:
            out = Path(args.output_dir) / path.name
            out.parent.mkdir(parents=True, exist_ok=True)
            nbformat.write(nb, out)
            if not args.no_html:
                from nbconvert import HTMLExporter

                html, _ = HTMLExporter().from_notebook_node(nb)
                out.with_suffix(".html").write_text(html)
        results = "; ".join(key_results(nb)) or "no key result recorded"
        print(f"{path.name:<44} {seconds:7.1f} s  {results}", flush=True)
    print(f"\nprofile {profile}: {len(notebooks) - failures} notebooks ran, {failures} failed")
    return 1 if failures else 0


def cmd_sync(args):
    for path in _unique_pairs(args.notebooks):
        sync(path)
        print(f"synced {pair(path)[0].name} <-> {path.name}")
    return 0


def cmd_stamp(args):
    commit = pinned_commit()
    dirty = subprocess.run(["git", "status", "--porcelain", "--", *PIN_PATHS], cwd=ROOT,
                           capture_output=True, text=True).stdout.strip()
    if dirty:
        print(f"warning: uncommitted changes in {', '.join(PIN_PATHS)}; the set-up cells install "
              f"{commit[:12]}, which lacks them: commit, then stamp again", file=sys.stderr)
    for path in _unique_pairs(args.notebooks):
        nb = stamp(load(path), path, commit=commit)
        save(nb, path)
        print(f"stamped {pair(path)[0].name} and {path.name}")
    return 0


def cmd_slides(args):
    for target in web.build_decks(_unique_pairs(args.notebooks), args.output_dir):
        print(f"wrote {target}")
    return 0


def cmd_site(args):
    written = web.build_site(_unique_pairs(args.notebooks), args.output_dir)
    print(f"wrote {len(written)} pages and their decks into {args.output_dir}/ (start at index.html)")
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="execute notebooks headless")
    run.add_argument("notebooks", nargs="+", help="either file of each pair")
    run.add_argument("--profile", choices=("smoke", "standard", "full"))
    run.add_argument("--inplace", action="store_true", help="save the outputs into the pair itself")
    run.add_argument("--output-dir", default="build")
    run.add_argument("--no-html", action="store_true")
    run.add_argument("--timeout", type=int, default=3600, help="seconds per cell")
    run.set_defaults(func=cmd_run)
    sy = sub.add_parser("sync", help="update each pair from its file edited last (outputs kept)")
    sy.add_argument("notebooks", nargs="+")
    sy.set_defaults(func=cmd_sync)
    st = sub.add_parser("stamp", help="apply badge, set-up cell, heading cells and slide metadata")
    st.add_argument("notebooks", nargs="+")
    st.set_defaults(func=cmd_stamp)
    sl = sub.add_parser("slides", help="build reveal.js slide decks that work offline")
    sl.add_argument("notebooks", nargs="+")
    sl.add_argument("--output-dir", default="build/slides")
    sl.set_defaults(func=cmd_slides)
    si = sub.add_parser("site", help="build the static course site (pages, decks, index) that works offline")
    si.add_argument("notebooks", nargs="+")
    si.add_argument("--output-dir", default="build/site")
    si.set_defaults(func=cmd_site)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
