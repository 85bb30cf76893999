"""The ResNet paper's CIFAR-10 experiments (He et al. 2015, section 4.2):
configurations, a resumable and distributed runner, named grids, and the
published numbers to compare with.

- :mod:`~course_utils.experiments.config`: ``RunConfig`` (``Architecture``,
  ``Recipe``, ``Scale``, seed), ``paper_config``, ``run_id``, ``SCALES``.
- :mod:`~course_utils.experiments.batches`: the 45k/5k split and the
  training batch of every iteration.
- :mod:`~course_utils.experiments.distributed`: torchrun's process group,
  how batch norm is spread over processes.
- :mod:`~course_utils.experiments.runner`: ``run`` (train, resume or find
  done), ``run_grid``, ``error_rate``, ``response_std``.
- :mod:`~course_utils.experiments.store`: the runs folder, result files.
- :mod:`~course_utils.experiments.grids`: ``grid``, ``shard``, ``estimate_seconds``.
- :mod:`~course_utils.experiments.report`: Table 6, measured beside published.
- :mod:`~course_utils.experiments.paper`: the published numbers.
- :mod:`~course_utils.experiments.cli`: ``python -m course_utils.experiments --help``.
"""

from course_utils.experiments.config import (
    SCALES,
    Architecture,
    Recipe,
    RunConfig,
    Scale,
    paper_config,
    run_id,
)
from course_utils.experiments.grids import GRIDS, grid, shard
from course_utils.experiments.runner import run, run_grid
from course_utils.experiments.store import load_results, runs_dir

__all__ = [
    "GRIDS", "SCALES", "Architecture", "Recipe", "RunConfig", "Scale", "grid", "load_results", "paper_config",
    "run", "run_grid", "run_id", "runs_dir", "shard",
]
