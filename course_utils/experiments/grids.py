"""Named sets of runs (the paper's Table 6, Figure 6 and shortcut
comparison; the short degradation experiment of notebook 11), split into shards, and their expected time.

``grid("table6", scale)`` lists the runs of Table 6 at a scale. Grids share
runs: Table 6's ResNet-20 is Figure 6's, so running both trains it once.
``shard(configs, "2/4")`` is the second of four disjoint parts of a list of
runs, balanced by expected cost; four processes (GPUs, machines) that each
run their shard leave, together, one result file per run of the grid.
"""

from course_utils.experiments.config import Scale, paper_config, run_id

DEPTHS = (20, 32, 44, 56)  # Figure 6's plain and residual depths
# Notebook 11 on a CPU: depth 8 against depth 32. At half width and 1,500 iterations plain-20 ended
# within a point of plain-8 in development runs, plain-32 about 15 points above it, and ResNet-32 below
# ResNet-8.
DEGRADATION_DEPTHS = (8, 32)
TABLE6_DEPTHS = (20, 32, 44, 56, 110)
TABLE6_110_SEEDS = (0, 1, 2, 3, 4)  # "we run it 5 times and show best (mean +/- std)"
SHORTCUT_DEPTH = 20


def _table6(scale, seeds):
    configs = []
    for depth in TABLE6_DEPTHS:
        for seed in seeds or (TABLE6_110_SEEDS if depth == 110 else (0,)):
            configs.append(paper_config(depth, scale=scale, seed=seed))
    return configs


def _figure6(scale, seeds):
    configs = [paper_config(d, plain=p, scale=scale, seed=s)
               for p in (True, False) for d in DEPTHS for s in seeds or (0,)]
    return configs + [paper_config(110, scale=scale, seed=s) for s in seeds or (0,)]


def _degradation(scale, seeds):
    return [paper_config(d, plain=p, scale=scale, seed=s)
            for p in (True, False) for d in DEGRADATION_DEPTHS for s in seeds or (0,)]


def _shortcuts(scale, seeds):
    return [paper_config(SHORTCUT_DEPTH, shortcut=o, scale=scale, seed=s) for o in "ABC" for s in seeds or (0,)]


def _paper(scale, seeds):
    return _table6(scale, seeds) + _figure6(scale, seeds) + _shortcuts(scale, seeds)


GRIDS = {
    "table6": (_table6, "Table 6: ResNet-20/32/44/56 once, ResNet-110 five times (option A)"),
    "figure6": (_figure6, "Figure 6: plain and residual 20/32/44/56, and ResNet-110"),
    "degradation": (_degradation, "plain and residual 8 and 32 only (Figure 6 in short, for a CPU)"),
    "shortcuts": (_shortcuts, f"options A, B and C at depth {SHORTCUT_DEPTH}"),
    "paper": (_paper, "all of the above (each run once)"),
}


def grid(name, scale=None, seeds=None):
    """The runs of grid ``name`` at ``scale`` (default: the paper's), each
    once, in a fixed order. ``seeds`` replaces the grid's seeds for every
    network (e.g. ``(0, 1, 2)`` to repeat each run three times)."""
    if name not in GRIDS:
        raise ValueError(f"unknown grid {name!r}: choose one of {', '.join(GRIDS)}")
    if seeds is not None:
        seeds = tuple(seeds)
        if not seeds:
            raise ValueError("seeds must name at least one seed")
    configs, seen = [], set()
    for config in GRIDS[name][0](scale or Scale(), seeds):
        key = run_id(config)
        if key not in seen:
            seen.add(key)
            configs.append(config)
    return configs


def cost(config):
    """Relative cost of a run: iterations x images x depth x width^2 (a
    network's multiply-adds grow with its depth and the square of its width)."""
    return config.iterations * config.recipe.batch_size * config.arch.depth * config.scale.width ** 2


def parse_shard(text):
    """``"2/4"`` -> ``(2, 4)``: the second of four shards (counted from 1)."""
    try:
        index, count = (int(part) for part in str(text).split("/"))
    except ValueError:
        raise ValueError(f"a shard is written i/n (e.g. 2/4: the second of four), got {text!r}") from None
    if not 1 <= index <= count:
        raise ValueError(f"shard {text}: i must be between 1 and n (shards count from 1)")
    return index, count


def shard(configs, spec):
    """Part ``i`` of ``n`` of ``configs`` (``spec`` is ``"i/n"``).

    Runs go, most expensive first, to whichever shard has the least work so
    far, so the shards take about equally long; the split depends only on
    the list, so every process computes the same one.
    """
    index, count = parse_shard(spec)
    order = sorted(range(len(configs)), key=lambda i: (-cost(configs[i]), run_id(configs[i])))
    loads, parts = [0] * count, [[] for _ in range(count)]
    for i in order:
        k = min(range(count), key=lambda j: (loads[j], j))
        loads[k] += cost(configs[i])
        parts[k].append(i)
    return [configs[i] for i in sorted(parts[index - 1])]


def eval_images(config):
    """Images a run evaluates (forward passes only): the curves' points, the
    final validation and test errors and the layer responses."""
    scale = config.scale
    val, test = config.recipe.val_size, 10_000
    per_point = min(val, scale.eval_size or val) + min(test, scale.eval_size or test)
    final = min(val, scale.final_eval_size or val) + min(test, scale.final_eval_size or test)
    points = -(-config.iterations // scale.eval_every)
    return points * per_point + final + scale.response_images


def estimate_seconds(configs, seconds_per_iteration):
    """Expected seconds of each run, from measured step times.

    ``seconds_per_iteration(config)`` measures one training step; it is
    called for the shallowest and the deepest network of each width and
    batch, and other depths are interpolated linearly (a step's work grows
    linearly with depth). An evaluated image costs a third of a trained one
    (a forward pass without the backward). Returns ``{run_id: seconds}``.
    """
    groups = {}
    for c in configs:
        groups.setdefault((c.scale.width, c.recipe.batch_size), []).append(c)
    estimates = {}
    for members in groups.values():
        depths = sorted({c.arch.depth for c in members})
        ends = {d: seconds_per_iteration(next(c for c in members if c.arch.depth == d and not c.arch.plain)
                                         if any(c.arch.depth == d and not c.arch.plain for c in members)
                                         else next(c for c in members if c.arch.depth == d))
                for d in {depths[0], depths[-1]}}
        lo, hi = depths[0], depths[-1]
        for c in members:
            if lo == hi:
                step = ends[lo]
            else:
                step = ends[lo] + (ends[hi] - ends[lo]) * (c.arch.depth - lo) / (hi - lo)
            per_image = step / c.recipe.batch_size
            estimates[run_id(c)] = c.iterations * step + eval_images(c) * per_image / 3
    return estimates
