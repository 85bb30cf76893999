"""The learner's own path, in a real browser: JupyterLab started as ``make lab``
starts it (``tools/lab.py``, here with a token and a free port), a notebook
opened, *Kernel > Restart Kernel and Run All Cells* under the smoke profile,
saved with Ctrl+S, and the saved file checked. Then the lecturer's: the RISE
slideshow opened from the notebook's toolbar, a cell run inside it.

Notebooks 00, 02 and 04 are the ones tried (the issue tried them by hand):
they run in seconds under smoke and have math, figures, checks and, in 04, a
training run on Fashion-MNIST. RISE is tried on 02. The network is blocked as everywhere in this suite; the only outside
request a page may try is the Colab badge image of the title cell (shown
online). RISE uses the course's settings (tools/jupyterlab/settings: the
"white" theme, whose fonts are local) and style sheet (notebooks/rise.css).
"""

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import nbformat
import pytest
from browser_support import ROOT, report, screenshot

from tools import lab as labtool
from tools import web

NOTEBOOK = "02_padding_and_stride"  # the one RISE presents
# Restart-and-run-all in the browser: the set-up and data notebook, and one of pure computation. A
# training notebook (04) ran here too, 18 s of the 10-minute CI; nbval runs every notebook anyway.
RUN_ALL = ("00_start_here", "02_padding_and_stride")
# The notebook shown (JupyterLab keeps the other open notebooks' panels, hidden).
PANEL = ".jp-NotebookPanel:not(.lm-mod-hidden)"


def open_url(lab, notebook, workspace):
    """The notebook in a workspace of its own, as on a first start (the default
    workspace would also restore the notebooks the other tests opened)."""
    return f"{lab['base']}lab/workspaces/{workspace}/tree/{notebook}.ipynb?token={TOKEN}"
TOKEN = "course-browser-test"
EXPECTED_OUTSIDE = ("https://colab.research.google.com/assets/colab-badge.svg",)
# RISE 0.43.1 logs "RangeError: Maximum call stack size exceeded" from its
# bundled UI toolkit's colour tokens (colorContrast) on every start, with any
# notebook, also with the lab's other extensions (jupytext, mathjax3) blocked
# (jupyterlab-contrib/rise#144 reports the same error); the slideshow works.
RISE_KNOWN_ERROR = "Maximum call stack size exceeded"
# JupyterLab itself logs this when a kernel restarts under pending requests
# (e.g. its debugger's state request); the restart goes through.
RESTART_KNOWN_ERROR = "Canceled future for"


def known(traffic, text, where=""):
    """Take the console errors containing ``text`` (from a URL containing
    ``where``) out of ``traffic``; return them."""
    found = [e for e in traffic.console_errors if text in e[0] and where in (e[1] or "")]
    traffic.console_errors = [e for e in traffic.console_errors if e not in found]
    return found


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory, browser):
    """A JupyterLab server on a copy of the notebooks tried, as `make lab` starts it."""
    home = tmp_path_factory.mktemp("lab")
    notebooks = home / "notebooks"
    notebooks.mkdir()
    shutil.copy(ROOT / "notebooks" / "rise.css", notebooks)
    for stem in {NOTEBOOK, *RUN_ALL}:
        for suffix in (".py", ".ipynb"):
            shutil.copy(ROOT / "notebooks" / f"{stem}{suffix}", notebooks)
    shutil.copy(ROOT / "jupytext.toml", notebooks)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "MPLBACKEND"))}
    env.update(COURSE_PROFILE="smoke", COURSE_CHECKPOINT_DIR=str(home / "checkpoints"),
               COURSE_RESULTS_DIR=str(home / "results"),
               # a learner's first start: no user settings, workspaces or config from this machine
               JUPYTER_CONFIG_DIR=str(home / "config"), JUPYTER_RUNTIME_DIR=str(home / "runtime"),
               JUPYTERLAB_SETTINGS_DIR=str(home / "user-settings"),
               JUPYTERLAB_WORKSPACES_DIR=str(home / "workspaces"))
    port = free_port()
    log = open(home / "lab.log", "w")  # noqa: SIM115 (closed below)
    cmd = [sys.executable, str(ROOT / "tools" / "lab.py"), str(notebooks), "--no-browser",
           "--port", str(port), "--token", TOKEN]
    server = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=home)
    base = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.time() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{base}api/status?token={TOKEN}", timeout=5) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if server.poll() is not None or time.time() > deadline:
                raise RuntimeError(f"JupyterLab did not start:\n{(home / 'lab.log').read_text()[-3000:]}")
            time.sleep(0.5)
        yield {"base": base, "notebooks": notebooks, "log": home / "lab.log"}
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


def test_make_lab_runs_tools_lab():
    recipe = (ROOT / "Makefile").read_text().split("\nlab:", 1)[1].split("\n\n", 1)[0]
    assert "tools/lab.py" in recipe, "`make lab` must start JupyterLab through tools/lab.py"
    cmd = labtool.lab_command(port=1, token="t", open_browser=False)
    assert f"--LabApp.app_settings_dir={labtool.SETTINGS}" in cmd and "--no-browser" in cmd


def setting(lab, plugin, key):
    url = f"{lab['base']}lab/api/settings/{plugin}?token={TOKEN}"
    with urllib.request.urlopen(url, timeout=10) as response:
        schema = json.load(response)["schema"]
    return schema["properties"][key]["default"]


def open_menu_item(page, menu, item):
    """Click ``menu`` in the menu bar, then ``item``; retried, as the lab may
    still be laying out when the first click lands."""
    for _ in range(3):
        page.get_by_role("menubar").get_by_text(menu, exact=True).click()
        entry = page.get_by_role("menuitem", name=re.compile(re.escape(item)))
        try:
            entry.wait_for(state="visible", timeout=5_000)
        except Exception:  # noqa: BLE001 (Playwright's TimeoutError; try again)
            page.keyboard.press("Escape")
            continue
        entry.click()
        return
    raise AssertionError(f"no menu item {menu} > {item}")


def mark_outputs_stale(page):
    """Mark every output now shown in the notebook, so that a wait can tell the outputs of a run
    started after this call (JupyterLab clears a cell's outputs when it queues the cell)."""
    page.evaluate(f"""() => {{
        for (const out of document.querySelectorAll('{PANEL} .jp-CodeCell .jp-OutputArea-child')) {{
            out.dataset.courseStale = '1';
        }}
    }}""")


def wait_until_cells_ran(page, code_cells, timeout_s):
    """Wait until the run started after :func:`mark_outputs_stale` has finished every queued cell.

    The execution indicator alone cannot tell: it goes idle when the kernel has restarted and
    between two cells as well as at the end, so a wait for "busy, then idle" can return before the
    run began (a flaky failure: every execution count None in the saved file). Two marks of the
    run itself cannot race: JupyterLab queues all the cells of Run All at once, showing ``[*]`` in
    each prompt, before the first one executes; so once the set-up cell shows an output that was
    not there before (it always prints the profile), every cell of this run is queued or done, and
    when no prompt shows ``[*]`` any more, all are done (after an error JupyterLab clears the
    ``[*]`` of the cells it will not run, and the checks of the saved file report the error).
    ``code_cells``: how many the notebook has, so that a panel not fully rendered cannot pass.
    """
    page.wait_for_function(f"""(count) => {{
        const cells = document.querySelectorAll('{PANEL} .jp-CodeCell');
        if (cells.length !== count) return false;
        const started = [...cells[0].querySelectorAll('.jp-OutputArea-child')].some(o => !o.dataset.courseStale);
        const queued = [...cells].some(c => (c.querySelector('.jp-InputPrompt')?.textContent || '').includes('*'));
        return started && !queued;
    }}""", arg=code_cells, timeout=timeout_s * 1000)
    page.wait_for_function(
        f"document.querySelector('{PANEL} .jp-Notebook-ExecutionIndicator')?.dataset.status === 'idle'",
        timeout=60_000)


def count_code_cells(path):
    return sum(1 for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code")


def kernel_state(lab, notebook):
    """The execution state of the notebook's kernel as the server knows it (None: no session yet)."""
    with urllib.request.urlopen(f"{lab['base']}api/sessions?token={TOKEN}", timeout=10) as response:
        sessions = json.load(response)
    states = [s["kernel"]["execution_state"] for s in sessions
              if s.get("path", "").endswith(f"{notebook}.ipynb") and s.get("kernel")]
    return states[0] if states else None


def wait_until_notebook_open(page, lab, notebook, timeout_s=120):
    """The notebook is loaded and its kernel has started. Neither the panel nor the execution indicator
    can tell alone: while the document loads the panel shows one empty cell, and the indicator says
    idle before any kernel is there (its default). So: every code cell of the file is in the panel, and
    the server reports the notebook's kernel idle."""
    page.wait_for_function(f"(count) => document.querySelectorAll('{PANEL} .jp-CodeCell').length === count",
                           arg=count_code_cells(lab["notebooks"] / f"{notebook}.ipynb"), timeout=timeout_s * 1000)
    deadline = time.time() + timeout_s
    while (state := kernel_state(lab, notebook)) != "idle":
        if time.time() > deadline:
            raise AssertionError(f"{notebook}: its kernel is {state or 'not started'} after {timeout_s} s")
        page.wait_for_timeout(500)


@pytest.mark.parametrize("notebook", RUN_ALL)
def test_restart_and_run_all_then_save(lab, open_page, timer, notebook):
    page, traffic = open_page(viewport=(1400, 900))
    with timer(f"JupyterLab: open {notebook}, restart and run all (smoke), save"):
        page.goto(open_url(lab, notebook, workspace=notebook))
        wait_until_notebook_open(page, lab, notebook)
        page.wait_for_timeout(1500)
        screenshot(page, "lab", f"{notebook}_first_view.png")

        # first view: the set-up cell is collapsed, no question about Jupyter news
        setup = page.locator(f"{PANEL} .jp-CodeCell").first
        assert setup.locator(".jp-InputPlaceholder").is_visible(), "the set-up cell's code shows"
        assert not setup.locator(".jp-InputArea-editor").is_visible()
        assert setting(lab, "@jupyterlab/apputils-extension:notification", "fetchNews") == "false"
        assert page.get_by_text("official Jupyter news").count() == 0, "JupyterLab asks about its news"

        mark_outputs_stale(page)
        open_menu_item(page, "Kernel", "Restart Kernel and Run All Cells")
        dialog = page.locator(".jp-Dialog button.jp-mod-accept")
        dialog.wait_for(timeout=10_000)
        dialog.click()  # "Restart"
        wait_until_cells_ran(page, count_code_cells(lab["notebooks"] / f"{notebook}.ipynb"), timeout_s=600)
        saved_before = time.time()
        page.locator(f"{PANEL} .jp-Notebook").first.click()
        page.keyboard.press("Control+s")
        page.wait_for_function("!document.querySelector('.lm-TabBar-tab.jp-mod-current.jp-mod-dirty')",
                               timeout=30_000)
    screenshot(page, "lab", f"{notebook}_after_run_all.png")

    path = lab["notebooks"] / f"{notebook}.ipynb"
    assert path.stat().st_mtime > saved_before, "the notebook was not saved"
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    counts = [c.execution_count for c in code]
    assert counts == list(range(1, len(code) + 1)), f"cells did not run once each, in order: {counts}"
    for i, cell in enumerate(code, 1):
        for out in cell.outputs:
            assert out.output_type != "error", f"cell {i}: {out.get('ename')}: {out.get('evalue')}"
            if out.output_type == "stream" and out.name == "stderr":
                assert "Traceback" not in out.text, f"cell {i} printed a traceback"
    setup_text = "".join(o.get("text", "") for o in code[0].outputs)
    assert "profile: smoke" in setup_text, f"the set-up cell printed {setup_text!r}"
    assert (lab["notebooks"] / f"{notebook}.py").stat().st_mtime > saved_before, "jupytext did not save the .py"
    restart_errors = known(traffic, RESTART_KNOWN_ERROR)
    problems = traffic.problems(allow_blocked=EXPECTED_OUTSIDE)
    assert not problems, json.dumps(problems, indent=1)
    report("lab", f"{notebook}: {len(code)} code cells ran in order under smoke, saved from the browser; "
                  f"{len(restart_errors)} console errors '{RESTART_KNOWN_ERROR} ...' from the kernel restart; "
                  f"outside requests blocked: {sorted(set(traffic.blocked))}")


def copy_without_setup_output(lab, stem, name):
    """notebooks/``stem`` as ``name`` in the lab's folder, its set-up cell's
    output removed, so that output shows a run in the lab (the tests above
    save their run of ``stem`` there); the .py copied last (jupytext wants
    the text file the newer)."""
    nb = nbformat.read(ROOT / "notebooks" / f"{stem}.ipynb", as_version=4)
    setup = next(c for c in nb.cells if "setup" in c.metadata.get("tags", []))
    setup.outputs, setup.execution_count = [], None
    nbformat.write(nb, lab["notebooks"] / f"{name}.ipynb")
    shutil.copy(ROOT / "notebooks" / f"{stem}.py", lab["notebooks"] / f"{name}.py")
    return nb


def test_rise_presents_the_notebook_and_runs_a_cell(lab, open_page, timer):
    """RISE (jupyterlab-rise) with the pinned JupyterLab: the toolbar button
    opens the slideshow beside the notebook; it has the notebook's slides,
    shows the first, and runs a cell live on the notebook's kernel."""
    name = f"rise_{NOTEBOOK}"
    nb = copy_without_setup_output(lab, NOTEBOOK, name)
    n_slides, n_subslides = web.expected_slides(nb)
    title = nb.cells[0].source.splitlines()[0].lstrip("# ").strip()
    page, traffic = open_page(viewport=(1400, 900))
    page.goto(open_url(lab, name, workspace="rise"))
    wait_until_notebook_open(page, lab, name)
    with timer("RISE: open the slideshow, run the set-up and one more cell"):
        button = page.locator(f"{PANEL} .jp-NotebookPanel-toolbar [data-jp-item-name='RISE-button'] button")
        button.wait_for(timeout=30_000)
        button.click()
        # The slideshow is the frame of the panel RISE opens beside the notebook. Not "a
        # frame whose URL contains /rise/": the lab's own URL does (workspace "rise").
        iframe = page.locator(f".jp-IFrame > iframe[src^='{lab['base']}rise/{name}.ipynb']")
        iframe.wait_for(state="attached", timeout=30_000)
        rise = iframe.element_handle().content_frame()
        # reveal.js marks its root "ready" once it has built and laid out the slides
        rise.wait_for_selector(".reveal.ready", state="attached", timeout=90_000)
        horizontal = rise.locator(".reveal .slides > section").count()
        assert horizontal == n_slides, f"RISE shows {horizontal} slides, the notebook has {n_slides}"
        first = rise.locator(".reveal .slides > section.present")
        assert first.is_visible() and title in first.inner_text(), f"the first slide is not {title!r}"

        # the set-up cell is not on a slide: run it from the notebook, as a lecturer does before the talk
        setup_out = page.locator(f"{PANEL} .jp-CodeCell").first.locator(".jp-OutputArea")
        page.locator(f"{PANEL} .jp-CodeCell").first.click()
        page.keyboard.press("Shift+Enter")
        setup_out.get_by_text("profile: smoke").wait_for(timeout=120_000)

        # to the first slide with a code cell, one key press at a time (slides and sub-slides in order)
        rise.locator(".reveal").click()
        present = "section.present:not(.stack)"  # the slide shown (a stack holds a slide and its sub-slides)
        cell = None
        for _ in range(n_slides + n_subslides):
            cells = rise.locator(f"{present} .jp-CodeCell:not(.reveal-skip)")  # skipped cells stay, hidden
            if cells.count():
                # by its index in the notebook: Shift+Enter moves on to the next slide
                index = cells.first.get_attribute("data-windowed-list-index")
                cell = rise.locator(f".jp-CodeCell[data-windowed-list-index='{index}']")
                break
            where = rise.evaluate("location.hash")
            rise.locator(".reveal").press("ArrowRight")
            rise.wait_for_function("h => location.hash !== h", arg=where, timeout=10_000)
        assert cell is not None, "no slide with a code cell"
        editor = cell.locator(".cm-content")
        editor.click()
        editor.press("Control+End")
        editor.press_sequentially("\nprint('run live in RISE')")
        editor.press("Shift+Enter")
        cell.locator(".jp-OutputArea", has_text="run live in RISE").wait_for(timeout=120_000)
        errors = cell.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
        assert errors.count() == 0 or "Error" not in errors.first.text_content(), errors.first.text_content()
    screenshot(page, "lab", "rise.png")
    rise_errors = known(traffic, RISE_KNOWN_ERROR, "/static/rise/")
    # RISE probes for an optional per-notebook style sheet (NN_name.css beside the notebook; there is none)
    probe = f"/files/{name}.css"
    known(traffic, probe)
    traffic.failed = [f for f in traffic.failed if probe not in f[0]]
    problems = traffic.problems(allow_blocked=EXPECTED_OUTSIDE)
    assert not problems, json.dumps(problems, indent=1)
    report("lab", f"RISE: {horizontal} slides, a cell ran live in the slideshow; {len(rise_errors)} console errors "
                  f"'{RISE_KNOWN_ERROR}' from RISE's bundle (known, harmless); outside requests blocked: "
                  f"{sorted(set(traffic.blocked))}")
