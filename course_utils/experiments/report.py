"""Results in words: one run's summary line, durations, and Table 6 beside the paper's.

Results are grouped by *setting*: everything in a run's configuration but
the network and the seed (the recipe and the scale). Runs of one setting
and one network over several seeds give a best, a mean and a spread.
"""

import json
import statistics

from course_utils.experiments.config import SCALES, RunConfig
from course_utils.experiments.paper import TABLE6


def describe_time(seconds):
    """A duration in words: ``"45 s"``, ``"12.5 min"``, ``"3.2 h"``."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def summary_line(result):
    """One line for a finished run: its errors, iterations, epochs over the
    images it really trained on (``train_images``), time and throughput."""
    config = RunConfig.from_dict(result["config"])
    val = result.get("val_error")
    hw = result["hardware"]
    where = f"{hw['device']} x {hw['processes']}" if hw["processes"] > 1 else hw["device"]
    epochs = config.iterations * config.recipe.batch_size / result["train_images"]
    return (f"{config.arch.name} seed {config.seed}: test error {result['test_error']:.2%}"
            + (f" (val {val:.2%})" if val is not None else "")
            + f" after {config.iterations:,} iterations ({epochs:.1f} epochs), "
            f"{describe_time(result['seconds'])} on {where}, {result['examples_per_s']:,.0f} images/s")


def setting_of(config):
    """What a run shares with the other runs of its table column."""
    data = config.to_dict()
    return json_key({"recipe": data["recipe"], "scale": data["scale"]})


def json_key(data):
    return json.dumps(data, sort_keys=True)


def setting_label(config):
    """A short name for a run's setting: its scale's name (``"paper"``,
    ``"standard"``...) or ``"custom"``, and the scale in words."""
    name = next((n for n, s in SCALES.items() if s == config.scale), "custom")
    scale = config.scale
    parts = []
    if scale.width != 1:
        parts.append(f"width {scale.width:g} ({', '.join(str(max(1, round(c * scale.width))) for c in (16, 32, 64))}"
                     " filters)")
    parts.append(f"{config.iterations:,} iterations ({config.epochs:.1f} epochs)")
    if scale.train_size is not None:
        parts.append(f"{scale.train_size:,} training images")
    paper_recipe = RunConfig(arch=config.arch).recipe
    changed = [f"{k}={v}" for k, v in vars(config.recipe).items()
               if k not in ("warmup_lr",) and getattr(paper_recipe, k) != v]
    if changed:
        parts.append("recipe: " + ", ".join(changed))
    return name, ", ".join(parts)


def group(results):
    """``{(setting, network name): [results over seeds]}``."""
    groups = {}
    for r in results:
        config = r["run_config"]
        groups.setdefault((setting_of(config), config.arch.name), []).append(r)
    return groups


def stats(runs):
    """Best, mean and sample standard deviation of the test error (in %)
    over the runs of one network and setting, with their labels."""
    errors = [100 * r["test_error"] for r in runs]
    hardware = sorted({f"{r['hardware']['device']}" + (f" x {r['hardware']['processes']}"
                                                       if r["hardware"]["processes"] > 1 else "") for r in runs})
    return {
        "best": min(errors), "mean": statistics.fmean(errors),
        "std": statistics.stdev(errors) if len(errors) > 1 else None, "seeds": len(errors),
        "seconds": statistics.fmean(r["seconds"] for r in runs), "hardware": hardware,
    }


def table6(results):
    """Rows of Table 6 (ResNets with option A), paper beside each measured setting.

    Returns ``(rows, settings)``: ``settings`` lists ``(key, name, description)``
    of every setting that has at least one Table 6 network; each row is
    ``{"depth", "params", "paper", "paper_note", setting key: stats or None}``.
    """
    groups = group(r for r in results if not r["run_config"].arch.plain and r["run_config"].arch.shortcut == "A")
    settings = {}
    for (setting, _), runs in groups.items():
        if setting not in settings:
            name, text = setting_label(runs[0]["run_config"])
            settings[setting] = (setting, name, text)
    rows = []
    for depth, paper in TABLE6.items():
        row = {"depth": depth, "params": paper["params"], "paper": paper["error"],
               "paper_note": f"best of {paper['runs']}, mean {paper['mean']} +/- {paper['std']}"
               if "runs" in paper else "one run"}
        found = False
        for setting in settings:
            runs = groups.get((setting, f"resnet{depth}"))
            row[setting] = stats(runs) if runs else None
            found = found or bool(runs)
        rows.append(row)  # every row of the paper's table, measured or not (ResNet-1202 too)
    measured = [key for key in settings if any(row[key] is not None for row in rows)]
    for row in rows:
        for key in settings:
            if key not in measured:
                del row[key]
    return rows, [settings[key] for key in measured]


def format_table6(rows, settings):
    """Table 6 as text: the paper's column, then one column per setting."""
    def cell(s):
        if s is None:
            return "-"
        if s["seeds"] == 1:
            return f"{s['best']:.2f}%"
        return f"{s['best']:.2f}% ({s['mean']:.2f}+/-{s['std']:.2f}, {s['seeds']})"

    columns = []  # (header, cells) of each setting, right-aligned at least two spaces apart
    for i, (key, name, _) in enumerate(settings, 1):
        cells = [cell(row[key]) for row in rows]
        columns.append((f"[{i}] {name}", cells, 2 + max(len(f"[{i}] {name}"), *map(len, cells))))
    lines = [f"{'network':<11}{'params':>7}{'paper':>8}" + "".join(f"{h:>{w}}" for h, _, w in columns)]
    for r, row in enumerate(rows):
        line = f"{'ResNet-' + str(row['depth']):<11}{row['params']:>7}{row['paper']:>7.2f}%"
        lines.append(line + "".join(f"{cells[r]:>{w}}" for _, cells, w in columns))
    lines.append("paper: He et al. (2015), Table 6, CIFAR-10 test error; ResNet-110 best of 5 runs "
                 "(mean 6.61 +/- 0.16); measured cells: best test error (mean +/- std, runs) over seeds")
    for i, (key, name, text) in enumerate(settings, 1):
        measured = [row[key] for row in rows if row[key] is not None]
        seeds = sorted({s["seeds"] for s in measured})
        hardware = sorted({h for s in measured for h in s["hardware"]})
        time = ", ".join(f"ResNet-{row['depth']} {describe_time(row[key]['seconds'])}" for row in rows
                         if row[key] is not None)
        lines.append(f"[{i}] {name}: {text}; {'/'.join(map(str, seeds))} seed(s) per network; "
                     f"{'; '.join(hardware)}; time per run: {time}")
    return "\n".join(lines)
