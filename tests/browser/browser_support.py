"""Helpers for the browser suite (fixtures are in conftest.py)."""

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import pytest

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "build" / "browser"
SCREENSHOTS = OUT / "screenshots"
IN_CI = os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync"]
LOCAL_SCHEMES = ("file", "data", "blob", "about")
LOCAL_HOSTS = ("127.0.0.1", "localhost")
REPORT = {}  # section -> lines, written to build/browser/report.txt and printed at the end


def chromium_executable():
    candidates = [os.environ.get("COURSE_CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium"),
                  shutil.which("chromium-browser"), shutil.which("google-chrome")]
    return next((c for c in candidates if c and os.access(c, os.X_OK)), None)


def unavailable(reason):
    """Skip, or fail under CI=true, where the browser suite must run."""
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: .ci/run installs it)", pytrace=False)
    pytest.skip(reason)


def is_local(url):
    parsed = urlparse(url)
    return parsed.scheme in LOCAL_SCHEMES or (parsed.scheme in ("http", "ws") and parsed.hostname in LOCAL_HOSTS)


@dataclass
class Traffic:
    """What a page tried that a page working offline must not."""

    blocked: list = field(default_factory=list)  # requests to the network, aborted
    failed: list = field(default_factory=list)  # local requests that failed
    http_errors: list = field(default_factory=list)  # local responses with status >= 400
    console_errors: list = field(default_factory=list)  # console.error and uncaught exceptions

    def problems(self, allow_blocked=()):
        """Everything recorded, less blocked URLs that start with one of ``allow_blocked``."""
        blocked = [u for u in self.blocked if not u.startswith(tuple(allow_blocked))]
        failed = [f for f in self.failed if f[0] not in self.blocked]
        return {k: v for k, v in {"blocked": blocked, "failed": failed, "http_errors": self.http_errors,
                                  "console_errors": self.console_errors}.items() if v}


def watch(page, traffic):
    """Block every request that would leave the machine and record what goes wrong on ``page``."""

    def route(route):
        if is_local(route.request.url):
            route.continue_()
        else:
            traffic.blocked.append(route.request.url)
            route.abort("internetdisconnected")

    page.route("**/*", route)
    page.on("requestfailed", lambda r: traffic.failed.append((r.url, r.failure)))
    page.on("response", lambda r: traffic.http_errors.append((r.url, r.status)) if r.status >= 400 else None)
    page.on("console", lambda m: traffic.console_errors.append((m.text, m.location.get("url")))
            if m.type == "error" and "net::ERR_INTERNET_DISCONNECTED" not in m.text else None)
    page.on("pageerror", lambda e: traffic.console_errors.append((f"uncaught: {e}", page.url)))


def screenshot(page, *parts):
    path = SCREENSHOTS.joinpath(*parts)
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path))
    return path


def report(section, line):
    REPORT.setdefault(section, []).append(line)
