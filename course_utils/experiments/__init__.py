"""The ResNet paper's CIFAR-10 experiments (He et al. 2015, section 4.2):
configurations, a resumable and distributed runner, named grids, and the
published numbers to compare with.

Everything a notebook needs is exported here (``from course_utils import
experiments``; ``experiments.run(experiments.paper_config(20))``); the
submodules hold one concern each:

- :mod:`~course_utils.experiments.config`: ``RunConfig`` (``Architecture``,
  ``Recipe``, ``Scale``, seed), ``paper_config``, ``run_id``, ``SCALES``.
- :mod:`~course_utils.experiments.batches`: the 45k/5k ``split`` and the
  training batch of every iteration (``IterationBatches``).
- :mod:`~course_utils.experiments.distributed`: torchrun's process group,
  how batch norm is spread over processes (``batch_norm_plan``).
- :mod:`~course_utils.experiments.runner`: ``run`` (train, resume or find
  done), ``run_grid``, ``build_model`` (a run's untrained network),
  ``load_model``, ``seconds_per_iteration``, ``error_rate``, ``response_std``.
- :mod:`~course_utils.experiments.store`: the runs folder and its result
  files (``runs_dir``, ``result_of``, ``load_results``).
- :mod:`~course_utils.experiments.grids`: ``grid``, ``shard``,
  ``estimate_seconds``, ``eval_images`` (the images a run evaluates), the
  depths of Figure 6 and of the degradation grid.
- :mod:`~course_utils.experiments.report`: results in words
  (``summary_line``, ``describe_time``) and Table 6 beside the paper's
  (``table6``, ``format_table6``).
- :mod:`~course_utils.experiments.paper`: the published numbers (``TABLE6``, ``TABLE3``).
- :mod:`~course_utils.experiments.cli`: ``python -m course_utils.experiments --help``
  (``command_line_parser``, ``command_for``).
"""

from course_utils.experiments.batches import IterationBatches, split
from course_utils.experiments.cli import command_for
from course_utils.experiments.cli import parser as command_line_parser
from course_utils.experiments.config import (
    SCALES,
    Architecture,
    Recipe,
    RunConfig,
    Scale,
    paper_config,
    run_id,
)
from course_utils.experiments.distributed import batch_norm_plan
from course_utils.experiments.grids import (
    DEGRADATION_DEPTHS,
    DEPTHS,
    GRIDS,
    SHORTCUT_DEPTH,
    estimate_seconds,
    eval_images,
    grid,
    shard,
)
from course_utils.experiments.paper import TABLE3, TABLE6
from course_utils.experiments.report import describe_time, format_table6, summary_line, table6
from course_utils.experiments.runner import (
    build_model,
    error_rate,
    load_model,
    response_std,
    run,
    run_grid,
    seconds_per_iteration,
)
from course_utils.experiments.store import load_results, result_of, runs_dir

__all__ = [
    "DEGRADATION_DEPTHS", "DEPTHS", "GRIDS", "SCALES", "SHORTCUT_DEPTH", "TABLE3", "TABLE6", "Architecture",
    "IterationBatches",
    "Recipe", "RunConfig", "Scale", "batch_norm_plan", "build_model", "command_for", "command_line_parser",
    "describe_time", "error_rate", "estimate_seconds", "eval_images", "format_table6", "grid", "load_model",
    "load_results", "paper_config", "response_std", "result_of", "run", "run_grid", "run_id", "runs_dir",
    "seconds_per_iteration", "shard", "split", "summary_line", "table6",
]
