"""Start JupyterLab for the course: what ``make lab`` runs.

    python tools/lab.py                  # JupyterLab on notebooks/, opens a browser
    python tools/lab.py --no-browser --port 8899 --token secret   # e.g. on a server

It is ``jupyter lab notebooks/`` with the course's settings:

- ``tools/jupyterlab/settings/overrides.json`` as JupyterLab's default
  settings (``--LabApp.app_settings_dir``): no "official Jupyter news?"
  question and no update check when a learner opens the lab;
- jupytext (installed with the course) pairs each ``.ipynb`` with its ``.py``,
  so saving in the lab writes both;
- the RISE extension (``jupyterlab-rise``, installed with the course) adds
  "Render as slideshow" to each notebook's toolbar for live lectures.

Other arguments go to ``jupyter lab`` unchanged; as root (a container) it
adds ``--allow-root``.
"""

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SETTINGS = ROOT / "tools" / "jupyterlab" / "settings"


def lab_command(notebook_dir=ROOT / "notebooks", port=None, token=None, open_browser=True, extra=()):
    """The ``jupyter lab`` command line that :func:`main` runs."""
    cmd = [sys.executable, "-m", "jupyterlab", str(notebook_dir), f"--LabApp.app_settings_dir={SETTINGS}"]
    if port is not None:
        cmd += [f"--ServerApp.port={port}", "--ServerApp.port_retries=0"]
    if token is not None:
        cmd.append(f"--IdentityProvider.token={token}")
    if not open_browser:
        cmd.append("--no-browser")
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")
    return cmd + list(extra)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebook_dir", nargs="?", default=str(ROOT / "notebooks"))
    parser.add_argument("--port", type=int, help="listen on this port (default: JupyterLab's, 8888 or the next free)")
    parser.add_argument("--token", help="the access token (default: a random one, printed in the log)")
    parser.add_argument("--no-browser", action="store_true", help="do not open a browser")
    args, extra = parser.parse_known_args(argv)
    cmd = lab_command(args.notebook_dir, args.port, args.token, not args.no_browser, extra)
    os.execv(cmd[0], cmd)


if __name__ == "__main__":
    main()
