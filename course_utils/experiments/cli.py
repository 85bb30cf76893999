"""The command line: ``python -m course_utils.experiments COMMAND ...``.

Examples::

    # one run (ResNet-56 at the paper's scale on a GPU, or the profile's scale)
    python -m course_utils.experiments run --depth 56
    # the same run on the 4 GPUs of one machine (one process each, DDP)
    torchrun --nproc-per-node 4 -m course_utils.experiments run --depth 56
    # Table 6 split over 4 GPUs or machines: one shard each, then merge the JSON files
    python -m course_utils.experiments grid table6 --shard 2/4
    python -m course_utils.experiments status paper
    python -m course_utils.experiments table
    python -m course_utils.experiments estimate paper
"""

import argparse
import sys

from course_utils import checkpoint, profile
from course_utils.device import get_device
from course_utils.experiments import distributed, grids, report, runner, store
from course_utils.experiments.config import (
    SCALES,
    default_scale_name,
    paper_config,
    parse_changes,
    run_id,
    scale_named,
)


def _seeds(text):
    try:
        return tuple(int(s) for s in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"seeds are integers separated by commas (e.g. 0,1,2), got {text!r}") from None


def parser():
    p = argparse.ArgumentParser(
        prog="python -m course_utils.experiments",
        description="Train and collect the ResNet paper's CIFAR-10 experiments (He et al. 2015, section 4.2). "
                    "Every run is a configuration (network, recipe, scale, seed); its results go to "
                    "<runs>/<run id>.json and its checkpoint to <runs>/<run id>.pt. Killed at any point, the "
                    "same command resumes; a finished run is never repeated; a changed configuration is a new "
                    "run. Start any command with `torchrun --nproc-per-node N` to spread each run over N "
                    "processes (DistributedDataParallel: NCCL on GPUs, gloo on CPUs).",
        epilog="Scales: " + "; ".join(f"{n}: width {s.width:g}, {s.iterations or 64_000:,} iterations"
                                      for n, s in SCALES.items())
               + ". Default: the profile's (COURSE_PROFILE; full -> paper).",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def common(sub):
        sub.add_argument("--scale", choices=list(SCALES), help="how far to scale the runs down (default: the "
                         "profile's: smoke, standard, or paper on full)")
        sub.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                         help="change a field of every run, e.g. --set recipe.bn_batch=64 --set scale.width=0.5 "
                              "(makes different runs); may be repeated")
        sub.add_argument("--runs", metavar="DIR", help=f"runs folder (default: {store.runs_dir()})")

    def selection(sub):
        sub.add_argument("grid", choices=list(grids.GRIDS), help="; ".join(
            f"{name}: {text}" for name, (_, text) in grids.GRIDS.items()))
        sub.add_argument("--seeds", type=_seeds, help="seeds for every network, e.g. 0,1,2 (default: the grid's)")
        sub.add_argument("--shard", metavar="I/N", help="only the I-th of N disjoint, balanced parts of the grid")

    run = commands.add_parser("run", help="train one run (or resume it, or report it done)")
    run.add_argument("--depth", type=int, default=20, help="6n+2: 20, 32, 44, 56, 110... (default 20)")
    run.add_argument("--plain", action="store_true", help="the plain network (no shortcuts)")
    run.add_argument("--shortcut", choices=["A", "B", "C"], default="A", help="shortcut option (default A)")
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    common(run)

    grid = commands.add_parser("grid", help="train every run of a grid (or of one shard of it)")
    selection(grid)
    grid.add_argument("--no-progress", action="store_true", help="no progress bars")
    common(grid)

    status = commands.add_parser("status", help="which runs of a grid are done, under way or not started")
    selection(status)
    common(status)

    table = commands.add_parser("table", help="Table 6: the paper's test errors beside the measured ones")
    table.add_argument("--runs", action="append", metavar="DIR",
                       help="runs folder(s) to read (default: the default runs folder); may be repeated")

    estimate = commands.add_parser("estimate", help="the expected time of a grid on this machine, from a few "
                                   "measured training steps")
    selection(estimate)
    common(estimate)
    return p


def command_for(config):
    """The ``run`` command that trains ``config``: the arguments after
    ``python -m course_utils.experiments``, with ``--set`` for every field
    that differs from the paper's configuration at the nearest named scale."""
    arch = config.arch
    scale = next((name for name, s in SCALES.items() if s == config.scale), "paper")
    args = ["run", "--depth", str(arch.depth)] + (["--plain"] if arch.plain else [])
    args += ["--shortcut", arch.shortcut, "--seed", str(config.seed), "--scale", scale]
    base = paper_config(arch.depth, arch.plain, arch.shortcut, SCALES[scale], config.seed).to_dict()
    mine = config.to_dict()
    for group in ("recipe", "scale"):
        for name, value in mine[group].items():
            if base[group][name] != value:
                value = tuple(value) if isinstance(value, list) else value
                args += ["--set", f"{group}.{name}={value!r}"]
    return args


def _configs(args):
    scale = scale_named(args.scale or default_scale_name(profile.current()))
    if args.command == "run":
        configs = [paper_config(args.depth, args.plain, args.shortcut, scale, args.seed)]
    else:
        configs = grids.grid(args.grid, scale, args.seeds)
    changes = parse_changes(args.set)
    configs = [c.replace(**changes) for c in configs] if changes else configs
    if getattr(args, "shard", None):
        configs = grids.shard(configs, args.shard)
    return configs


def _status(configs, folder):
    for config in configs:
        result = store.result_of(config, folder)
        if result is not None:
            state = f"done: {report.summary_line(result)}"
        elif store.checkpoint_file(folder, config).exists():
            try:
                saved = checkpoint.load(store.checkpoint_file(folder, config))
                state = f"under way: iteration {saved['iteration']:,} of {config.iterations:,}"
            except checkpoint.CheckpointError as err:
                state = f"unreadable checkpoint ({err})"
        else:
            state = "not started"
        print(f"{run_id(config):<34} {state}")


def _estimate(configs):
    device = get_device()
    print(f"measuring training steps on {device} ...", flush=True)
    estimates = grids.estimate_seconds(configs, lambda c: runner.seconds_per_iteration(c, device))
    for config in configs:
        print(f"{run_id(config):<34} {report.describe_time(estimates[run_id(config)]):>9}")
    total = sum(estimates.values())
    print(f"total: {report.describe_time(total)} for {len(configs)} runs on one {device} "
          "(one process; shards on k devices take about 1/k of it)")


def main(argv=None):
    args = parser().parse_args(argv)
    try:
        if args.command == "table":
            folders = args.runs or [store.runs_dir()]
            results = store.load_results(*folders)
            if not results:
                print(f"no results in {', '.join(map(str, folders))}")
                return 1
            print(report.format_table6(*report.table6(results)))
            return 0
        configs = _configs(args)
        folder = args.runs or store.runs_dir()
        if args.command == "status":
            _status(configs, folder)
        elif args.command == "estimate":
            _estimate(configs)
        else:
            try:
                runner.run_grid(configs, folder, progress=not args.no_progress)
            finally:
                distributed.stop()
    except (ValueError, checkpoint.CheckpointError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0
