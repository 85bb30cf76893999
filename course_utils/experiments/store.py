"""Where runs keep their files, and reading their results back.

Every run has two files in a runs folder, both named by its
:func:`~course_utils.experiments.config.run_id`:

- ``<run_id>.json``: its results (curves, final errors, layer responses,
  time, hardware), written once, when the run has finished. Its presence
  means "done": the run is never repeated.
- ``<run_id>.pt``: its checkpoint while it trains (and its final weights).

Runs made elsewhere (other shards, other machines) merge by copying their
JSON files into one folder: file names never collide unless the runs are the
same.
"""

import json
import os
from pathlib import Path

from course_utils.experiments.config import RunConfig, run_id
from course_utils.paths import project_folder

# Fields that depend on where and when a run was made, not on what it computed.
VOLATILE = ("seconds", "train_seconds", "examples_per_s", "hardware", "sessions", "finished_at")


def runs_dir():
    """The default runs folder: ``runs/`` in the checkpoint folder
    (``COURSE_CHECKPOINT_DIR``, else ``checkpoints/`` in a checkout). One
    folder for every scale: run ids tell the runs apart."""
    return project_folder("COURSE_CHECKPOINT_DIR", "checkpoints") / "runs"


def result_path(folder, config):
    return Path(folder) / f"{run_id(config)}.json"


def checkpoint_file(folder, config):
    return Path(folder) / f"{run_id(config)}.pt"


def write_result(path, result):
    """Write ``result`` as JSON atomically (a temporary file, then a rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(result, indent=1, sort_keys=True))
    os.replace(tmp, path)


def read_result(path):
    """The result stored at ``path``, or ``None`` if there is none."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        result = json.loads(path.read_text())
        RunConfig.from_dict(result["config"])
    except (ValueError, KeyError, TypeError) as err:
        raise ValueError(f"{path} is not a run's result ({err}): delete it to run again") from None
    return result


def result_of(config, folder=None):
    """The stored result of the run ``config`` in ``folder`` (default
    :func:`runs_dir`), or ``None`` while it is not done."""
    return read_result(result_path(folder if folder is not None else runs_dir(), config))


def load_results(*folders):
    """Every result in ``folders`` (missing folders are skipped), one per run
    id, as dicts with the run's :class:`RunConfig` under ``"run_config"``."""
    found = {}
    for folder in folders:
        folder = Path(folder)
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.json")):
            result = read_result(path)
            found.setdefault(result["run_id"], result)
    for result in found.values():
        result["run_config"] = RunConfig.from_dict(result["config"])
    return list(found.values())


def comparable(result):
    """``result`` without the fields that depend on the machine and the time."""
    return {k: v for k, v in result.items() if k not in VOLATILE and k != "run_config"}
