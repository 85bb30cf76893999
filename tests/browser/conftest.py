"""A real headless Chromium, driven by Playwright, with the network blocked.

Every page opened through :func:`open_page` may load only ``file:``,
``data:``, ``blob:`` and ``http://127.0.0.1`` URLs; any other request is
aborted and recorded, as are failed requests, HTTP errors, console errors
and uncaught exceptions, so a test can assert that a page needs nothing from
outside.

Chromium is Debian's ``chromium`` package (``COURSE_CHROMIUM`` names another
executable); Playwright drives it, without ``playwright install``. Where
Chromium or Playwright is missing the suite is skipped with the reason,
except under ``CI=true``, where that is a failure: ``.ci/run`` installs both.

Artefacts for a person to look at go to ``build/browser/``: the decks and
site the tests built, ``screenshots/`` and ``report.txt`` (slides per deck,
slides that overflow the 1280x720 frame, timings).
"""

import functools
import http.server
import json
import threading
import time

import pytest
from browser_support import LAUNCH_ARGS, OUT, REPORT, Traffic, chromium_executable, report, unavailable, watch


# Module scope, not session: while Playwright's sync API is open, its event loop
# counts as running in this thread, and a later test's asyncio.run() fails
# ("cannot be called from a running event loop"; tests/test_notebook_sources.py
# runs after this folder in `make test`). A launch costs about a second.
@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("Playwright for Python is not installed (pip install playwright; no `playwright install` needed)")
    executable = chromium_executable()
    if executable is None:
        unavailable("no Chromium found (Debian/Ubuntu: sudo apt-get install chromium; or set COURSE_CHROMIUM)")
    with sync_playwright() as playwright:
        # Playwright gives each launch a fresh temporary profile (--user-data-dir).
        chromium = playwright.chromium.launch(executable_path=executable, args=LAUNCH_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def open_page(browser):
    """``open_page(viewport=(w, h))`` -> (page, traffic), closed after the test."""
    contexts = []

    def make(viewport=(1280, 720)):
        context = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]})
        contexts.append(context)
        page = context.new_page()
        traffic = Traffic()
        watch(page, traffic)
        return page, traffic

    yield make
    for context in contexts:
        context.close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="session")
def serve():
    """``serve(folder)`` -> the base URL of a local HTTP server for ``folder``."""
    servers = []

    def start(folder):
        handler = functools.partial(_QuietHandler, directory=str(folder))
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_port}/"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="session")
def timer():
    """``with timer("name"):`` adds the seconds to the report."""

    class Timer:
        def __init__(self, name):
            self.name = name

        def __enter__(self):
            self.start = time.perf_counter()

        def __exit__(self, *exc):
            report("timings", f"{self.name}: {time.perf_counter() - self.start:.1f} s")

    return Timer


def pytest_sessionfinish(session, exitstatus):
    if not REPORT:
        return
    OUT.mkdir(parents=True, exist_ok=True)
    text = "\n\n".join(f"[{k}]\n" + "\n".join(v) for k, v in REPORT.items()) + "\n"
    (OUT / "report.txt").write_text(text)
    (OUT / "report.json").write_text(json.dumps(REPORT, indent=1))


def pytest_terminal_summary(terminalreporter):
    if REPORT:
        terminalreporter.section("browser suite (build/browser/report.txt)")
        for key, lines in REPORT.items():
            terminalreporter.write_line(f"[{key}]")
            for line in lines:
                terminalreporter.write_line(f"  {line}")
