"""Expected time of each notebook's ``full`` profile on Colab's free T4 GPU.

On Colab with a GPU the ``full`` profile is picked automatically, so this is
what a learner who clicks the badge and runs everything waits for. No T4 was
available to measure, so each figure is an estimate:

- training and evaluation arithmetic: each run's multiply-adds per image
  (``course_utils.accounting.count_macs`` on the model at its full size) x
  images x epochs (x3 for training: forward and two backward products), at
  the T4 rate of ``course_utils.budget`` (8 TFLOP/s, derived from NVIDIA's
  measured T4 throughput; see its docstring), plus 3 ms per optimizer step;
- notebooks that do not train on the GPU (00-03, and 05, whose network is
  NumPy on the CPU): the measured time of the committed ``standard`` run
  (2-core CPU), scaled by the ratio of training work for 05.

The other cells of a training notebook (checks, figures, a CPU timing in 07)
add seconds to a minute and are not counted.

The full settings (epochs, image size, width, training set size) are read
from each notebook's source, from its ``name = profile.pick(..., full=...)``
lines, so the table follows the notebooks. Which models each notebook trains,
and how many runs, is written out below, notebook by notebook.

    python benchmarks/colab_time.py
"""

import ast
import json
import sys
from dataclasses import dataclass
from pathlib import Path

from torch import nn

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from course_utils import budget  # noqa: E402
from course_utils.accounting import count_macs  # noqa: E402
from course_utils.models import alexnet, googlenet, lenet, vgg  # noqa: E402

NOTEBOOKS = ROOT / "notebooks"
FASHION_MNIST = (60_000, 10_000)


@dataclass
class Run:
    what: str
    model: nn.Module
    input_size: int
    train: int
    epochs: int
    eval: int = 0
    repeats: int = 1
    batch_size: int = 128

    def flops(self):
        macs = count_macs(self.model, (1, 1, self.input_size, self.input_size))
        return budget.training_flops(macs, self.train, self.epochs, self.eval, self.repeats)

    def steps(self):
        return -(-self.train // self.batch_size) * self.epochs * self.repeats


def _literal(node):
    """The value of a literal, or of ``dict(key=literal, ...)``; None otherwise."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "dict":
        return {k.arg: _literal(k.value) for k in node.keywords}
    try:
        return ast.literal_eval(node)
    except ValueError:
        return None


def picks(stem, profile="full"):
    """``{name: value}`` for every ``name = profile.pick(..., <profile>=value)`` in the notebook."""
    tree = ast.parse((NOTEBOOKS / f"{stem}.py").read_text())
    found = {}
    for node in ast.walk(tree):
        call = getattr(node, "value", None)
        if not (isinstance(node, ast.Assign) and isinstance(call, ast.Call)
                and isinstance(call.func, ast.Attribute) and call.func.attr == "pick"):
            continue
        value = _literal(next(k.value for k in call.keywords if k.arg == profile))
        for target in node.targets:
            if isinstance(target, ast.Name):
                found[target.id] = value
            elif isinstance(target, ast.Tuple) and isinstance(value, tuple):
                found.update({t.id: v for t, v in zip(target.elts, value) if isinstance(t, ast.Name)})
    return found


def dict_size(stem, name):
    """The number of entries of the dict literal assigned to ``name`` in the notebook."""
    tree = ast.parse((NOTEBOOKS / f"{stem}.py").read_text())
    for node in ast.walk(tree):
        if (isinstance(node, ast.Assign) and isinstance(node.value, ast.Dict)
                and any(isinstance(t, ast.Name) and t.id == name for t in node.targets)):
            return len(node.value.keys)
    raise ValueError(f"notebooks/{stem}.py assigns no dict literal to {name}")


def saved_seconds(stem):
    """The committed standard run's time (``tools/nb.py run`` stores it)."""
    nb = json.loads((NOTEBOOKS / f"{stem}.ipynb").read_text())
    return nb["metadata"].get("course", {}).get("seconds")


def small_cnn():
    """Notebook 04's network (its `small_cnn()`): two conv blocks 1 -> 16 -> 32, a dense head."""
    def block(cin, cout):
        return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(),
                             nn.MaxPool2d(2))
    return nn.Sequential(block(1, 16), block(16, 32), nn.Flatten(), nn.Linear(32 * 7 * 7, 10))


def runs():
    """``{notebook: [Run, ...]}``: the GPU training of each notebook at its full settings."""
    train, test = FASHION_MNIST
    out = {}
    s = picks("04_fully_connected_and_log_softmax")
    out["04_fully_connected_and_log_softmax"] = [Run("first CNN", small_cnn(), 28, train, s["epochs"], test)]
    s = picks("06_lenet")["settings"]
    variants = dict_size("06_lenet", "VARIANTS")  # each trained with the same settings
    out["06_lenet"] = [Run("LeNet-5 variants", lenet.lenet(1, 10, input_size=28, activation="relu", pool="max"),
                           28, s["n_train"], s["epochs"], test, repeats=variants)]
    s = picks("07_alexnet")["settings"]
    small = alexnet.alexnet(1, 10, input_size=28, width=0.25, hidden_features=512)  # the experiments' network
    out["07_alexnet"] = [
        Run("AlexNet", alexnet.alexnet(1, 10, input_size=s["input_size"], width=s["width"],
                                       hidden_features=s["hidden"]), s["input_size"], s["n_train"], s["epochs"], test),
        Run("activations (ReLU, tanh, sigmoid)", small, 28, s["n_exp"], s["exp_epochs"], 2_000, repeats=3),
        Run("dropout 0.5 / 0", small, 28, s["n_dropout"], s["dropout_epochs"], 2_000, repeats=2),
        Run("augmentation", small, 28, s["n_dropout"], s["dropout_epochs"], 2_000),
        Run("LRN on / off", small, 28, s["n_exp"], s["exp_epochs"], 2_000, repeats=2),
    ]
    s = picks("08_vgg")["settings"]
    out["08_vgg"] = [Run("VGG-11", vgg.vgg11(1, 10, input_size=s["input_size"], width=s["width"],
                                             hidden_features=s["hidden"], batch_norm=True),
                         s["input_size"], s["n_train"], s["epochs"], s["n_test"])]
    s = picks("09_inception")["settings"]
    out["09_inception"] = [Run("GoogLeNet", googlenet.googlenet(1, 10, input_size=s["input_size"], width=s["width"]),
                               s["input_size"], s["n_train"], s["epochs"], s["n_test"])]
    return out


def cpu_notebooks():
    """``{notebook: (seconds, how)}`` for the notebooks that do not train on the GPU."""
    out = {}
    for stem in ("00_start_here", "01_convolution", "02_padding_and_stride", "03_pooling"):
        out[stem] = (saved_seconds(stem), "measured (standard run, 2-core CPU); no training")
    stem = "05_manual_backprop"
    full, standard = picks(stem), picks(stem, "standard")
    ratio = (full["n_train"] * full["epochs"]) / (standard["n_train"] * standard["epochs"])
    out[stem] = (saved_seconds(stem) * ratio, f"NumPy on the CPU: standard run x {ratio:.0f} (training work)")
    return out


def main():
    rows = []
    for stem, (seconds, how) in cpu_notebooks().items():
        rows.append((stem, seconds, how))
    for stem, notebook_runs in runs().items():
        flops = sum(r.flops() for r in notebook_runs)
        steps = sum(r.steps() for r in notebook_runs)
        seconds = budget.t4_seconds(flops, steps)
        what = "; ".join(f"{r.what} {r.input_size}px x{r.epochs} ep" + (f" x{r.repeats}" if r.repeats > 1 else "")
                         for r in notebook_runs)
        rows.append((stem, seconds, f"{flops / 1e12:,.0f} TFLOP, {steps:,} steps: {what}"))
    rows.sort()
    print(f"T4 rate {budget.T4_TRAIN_FLOPS / 1e12:.0f} TFLOP/s effective, {budget.T4_STEP_SECONDS * 1e3:.0f} ms per "
          "step (course_utils.budget); estimates, not measurements\n")
    print(f"{'notebook':<38} {'T4 time':>9}  basis")
    for stem, seconds, how in rows:
        flag = "  > 1 h: must be asked for" if seconds > 3600 else ""
        print(f"{stem:<38} {seconds / 60:>7.1f} m  {how}{flag}")
    print(f"\nall notebooks: {sum(r[1] for r in rows) / 60:.0f} minutes")


if __name__ == "__main__":
    main()
