"""Expected time of each notebook's ``full`` profile on Colab's free T4 GPU.

On Colab with a GPU the ``full`` profile is picked automatically, so this is
what a learner who clicks the badge and runs everything waits for. No T4 was
available to measure, so each figure is an estimate:

- training and evaluation arithmetic: each run's multiply-adds per image
  (``course_utils.accounting.count_macs`` on the model at its full size) x
  images x epochs (x3 for training: forward and two backward products), at
  the T4 rate of ``course_utils.budget`` (8 TFLOP/s, derived from NVIDIA's
  measured T4 throughput; see its docstring), plus 3 ms per optimizer step;
- sequence models (12): the same, with the multiply-adds counted on a
  batch of one token sequence; their runs are tiny, so the step cost decides;
- notebooks that do not train on the GPU (00-03, and 05, whose network is
  NumPy on the CPU): the measured time of the committed ``standard`` run
  (2-core CPU), scaled by the ratio of training work for 05.

The other cells of a training notebook (checks, figures, a CPU timing in 07)
add seconds to a minute and are not counted.

The full settings (epochs, image size, width, training set size) are read
from each notebook's source, from its ``name = profile.pick(..., full=...)``
lines, so the table follows the notebooks. Which models each notebook trains,
and how many runs, is written out below, notebook by notebook: the notebooks
are found by name (``notebooks/NN_*.py``), and a new one that trains gets its
entry in :func:`runs` (CONTRIBUTING, "Colab time"); until then the table says
so and ``tests/test_colab_time.py`` fails naming it. A notebook that calls no
``fit(`` is taken to train nothing and gets its measured standard-run time.

    python benchmarks/colab_time.py
"""

import ast
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from course_utils import budget  # noqa: E402
from course_utils.accounting import count_macs  # noqa: E402
from course_utils.attention import MultiheadAttention, SinusoidalPositionalEncoding  # noqa: E402
from course_utils.data.text import SourceTarget  # noqa: E402
from course_utils.models import alexnet, googlenet, lenet, resnet, vgg  # noqa: E402
from course_utils.models import transformer as tr  # noqa: E402
from course_utils.modes import eval_mode  # noqa: E402
from course_utils.train import default_forward  # noqa: E402

NOTEBOOKS = ROOT / "notebooks"
FASHION_MNIST = (60_000, 10_000)
CIFAR10_VAL = 5_000  # notebook 10 holds out 5,000 training images for validation
# A notebook trains (on the GPU, with the course's loop) if its source calls fit(.
TRAINS_RE = re.compile(r"^[^#\n]*\bfit\(", re.MULTILINE)


def notebook_stems():
    """Every notebook, found by name: ``notebooks/NN_name.py``."""
    return sorted(p.stem for p in NOTEBOOKS.glob("[0-9][0-9]_*.py"))


def trains(stem):
    """Whether the notebook's source calls ``fit(`` outside a comment."""
    return bool(TRAINS_RE.search((NOTEBOOKS / f"{stem}.py").read_text()))


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
    channels: int = 1  # 1 for Fashion-MNIST, 3 for CIFAR-10

    def flops(self):
        macs = count_macs(self.model, (1, self.channels, self.input_size, self.input_size))
        return budget.training_flops(macs, self.train, self.epochs, self.eval, self.repeats)

    def steps(self):
        return -(-self.train // self.batch_size) * self.epochs * self.repeats


def forward_macs(model, example):
    """Multiply-adds of one forward pass of ``model`` on ``example`` (any
    input, e.g. token ids), counted like ``count_macs``. Attention runs on
    PyTorch's math kernel here: the flop counter does not count the fused CPU
    kernel's products (the GPU does the same products either way)."""
    with (eval_mode(model), torch.no_grad(), sdpa_kernel(SDPBackend.MATH),
          FlopCounterMode(display=False) as counter):
        default_forward(model, example)  # model(*example) for a tuple of inputs, as fit calls it
    return counter.get_total_flops() // 2


@dataclass
class SequenceRun(Run):
    """A run on token sequences: ``example`` is one input of a batch of one
    (``input_size`` unused); ``epochs`` and ``batch_size`` as the notebook
    computes them."""

    example: torch.Tensor = None

    def flops(self):
        return budget.training_flops(forward_macs(self.model, self.example), self.train, self.epochs, self.eval,
                                     self.repeats)


def _literal(node):
    """The value of a literal, or of ``dict(key=literal, ...)``; None otherwise."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "dict":
        return {k.arg: _literal(k.value) for k in node.keywords}
    try:
        return ast.literal_eval(node)
    except ValueError:
        return None


def picks(stem, profile="full"):
    """``{name: value}`` for every ``name = profile.pick(..., <profile>=value)``
    (or ``name = range(profile.pick(...))``) in the notebook."""
    tree = ast.parse((NOTEBOOKS / f"{stem}.py").read_text())
    found = {}
    for node in ast.walk(tree):
        call = getattr(node, "value", None)
        wrapped = (isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == "range"
                   and len(call.args) == 1)  # seeds = range(profile.pick(...))
        if wrapped:
            call = call.args[0]
        if not (isinstance(node, ast.Assign) and isinstance(call, ast.Call)
                and isinstance(call.func, ast.Attribute) and call.func.attr == "pick"):
            continue
        value = _literal(next(k.value for k in call.keywords if k.arg == profile))
        if wrapped:
            value = range(value)
        for target in node.targets:
            if isinstance(target, ast.Name):
                found[target.id] = value
            elif isinstance(target, ast.Tuple) and isinstance(value, tuple):
                found.update({t.id: v for t, v in zip(target.elts, value) if isinstance(t, ast.Name)})
    return found


def definitions(stem, names, namespace):
    """Run the notebook's top-level statements that define ``names`` (classes,
    functions, constants) in ``namespace``, in the notebook's order; return it."""
    tree = ast.parse((NOTEBOOKS / f"{stem}.py").read_text())
    wanted = set(names)
    for node in tree.body:
        if isinstance(node, (ast.ClassDef, ast.FunctionDef)):
            defined = {node.name}
        elif isinstance(node, ast.Assign):
            defined = {n.id for t in node.targets for n in ast.walk(t) if isinstance(n, ast.Name)}
        else:
            continue
        if defined & wanted:
            exec(compile(ast.Module([node], []), f"notebooks/{stem}.py", "exec"), namespace)  # noqa: S102
    missing = wanted - set(namespace)
    if missing:
        raise ValueError(f"notebooks/{stem}.py defines no {', '.join(sorted(missing))} at top level")
    return namespace


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


def first_cnn_runs():
    stem = "04_fully_connected_and_log_softmax"
    s = picks(stem)
    small_cnn = definitions(stem, ["conv_block", "small_cnn"], {"nn": nn})["small_cnn"]  # the notebook's own
    train, test = FASHION_MNIST
    return [Run("first CNN", small_cnn(), 28, train, s["epochs"], test)]


def lenet_runs():
    s = picks("06_lenet")["settings"]
    variants = dict_size("06_lenet", "VARIANTS")  # each trained with the same settings
    return [Run("LeNet-5 variants", lenet.lenet(1, 10, input_size=28, activation="relu", pool="max"),
                28, s["n_train"], s["epochs"], FASHION_MNIST[1], repeats=variants)]


def alexnet_runs():
    s = picks("07_alexnet")["settings"]
    return [Run("AlexNet", alexnet.alexnet(1, 10, input_size=s["input_size"], width=s["width"],
                                           hidden_features=s["hidden"]), s["input_size"],
                s["n_train"] - s["n_val"], s["epochs"], s["n_val"])]  # validated each epoch, tested once


def alexnet_experiments_runs():
    """Notebook 07, part 2: the small AlexNet of part 1 in every experiment. The
    activation race: each activation at three learning rates (seed 0), then at
    its best over the seeds; dropout 0.5 / 0 and augmentation on the small set in
    batches of 32; LRN on / off. Every run validates once per epoch (the race once
    at its end, counted as per epoch)."""
    s = picks("07_alexnet_experiments")["settings"]
    small = alexnet.alexnet(1, 10, input_size=28, width=0.25, hidden_features=512)
    seeds = len(s["seeds"])
    return [
        Run("activation learning rates", small, 28, s["n_exp"], s["grid_epochs"], s["n_val"], repeats=3 * 3),
        Run("activations (ReLU, tanh, sigmoid)", small, 28, s["n_exp"], s["exp_epochs"], s["n_val"],
            repeats=3 * seeds),
        Run("dropout 0.5 / 0, augmentation", small, 28, s["n_small"], s["small_epochs"], s["n_small_val"],
            repeats=3 * seeds, batch_size=32),
        Run("LRN on / off", small, 28, s["n_exp"], s["exp_epochs"], s["n_val"], repeats=2 * seeds),
    ]


def vgg_runs():
    s = picks("08_vgg")["settings"]
    return [Run("VGG-11", vgg.vgg11(1, 10, input_size=s["input_size"], width=s["width"],
                                    hidden_features=s["hidden"], batch_norm=True),
                s["input_size"], s["n_train"], s["epochs"], s["n_test"])]


def inception_runs():
    s = picks("09_inception")["settings"]
    return [Run("GoogLeNet", googlenet.googlenet(1, 10, input_size=s["input_size"], width=s["width"]),
                s["input_size"], s["n_train"], s["epochs"], s["n_test"])]


def resnet_runs():
    """Notebook 10: the degradation demonstration (a shallow and a deep plain
    network and the deep residual one), the CIFAR-10 training (validated every
    epoch) and the five networks compared, at the full settings. The single
    test-set passes (forward only, 10,000 images per network) are not counted."""
    stem = "10_resnet"
    found = picks(stem)
    demo, s, compare = found["demo"], found["settings"], found["compare"]
    w = compare["width"]
    cifar = dict(input_size=32, channels=3)
    out = [Run(f"{'plain' if plain else 'ResNet'}-{depth} (degradation)",
               resnet.resnet_cifar(depth, plain=plain, width=demo["width"]), train=demo["n_train"],
               epochs=demo["epochs"], **cifar)
           for depth, plain in ((demo["shallow"], True), (demo["deep"], True), (demo["deep"], False))]
    trained = resnet.resnet9(width=s["width"]) if s["model"] == "resnet9" else resnet.resnet_cifar(s["depth"],
                                                                                                 width=s["width"])
    out.append(Run(f"ResNet-{s['depth']} (width {s['width']})", trained, train=s["n_train"], epochs=s["epochs"],
                   eval=CIFAR10_VAL, **cifar))
    compared = [lenet.lenet_modern(3, 10, input_size=32),
                alexnet.alexnet(3, 10, input_size=32, width=w, hidden_features=512),
                vgg.vgg11(3, 10, input_size=32, width=w, hidden_features=256, batch_norm=True),
                googlenet.googlenet(3, 10, input_size=32, width=w), resnet.resnet_cifar(20)]
    out += [Run(f"{type(m).__name__} (comparison)", m, train=compare["n_train"], epochs=compare["epochs"],
                **cifar) for m in compared]
    return out


def resnet_paper_runs():
    """Notebook 11: its runs go through the experiment runner (no ``fit(``):
    the grid, scale and seeds of its settings, each run one pass of its
    iterations x batch with the evaluations ``grids.eval_images`` counts."""
    from course_utils.experiments import config as C
    from course_utils.experiments import grids, runner

    s = picks("11_resnet_paper")["settings"]
    return [Run(f"{'plain' if c.arch.plain else 'ResNet'}-{c.arch.depth} ({s['scale']} scale)", runner.build_model(c),
                input_size=32, channels=3, train=c.iterations * c.recipe.batch_size, epochs=1,
                eval=grids.eval_images(c), batch_size=c.recipe.batch_size)
            for c in grids.grid(s["grid"], C.SCALES[s["scale"]], s["seeds"])]


def self_attention_runs():
    """Notebook 12: the pointer sorter, and the two taggers at every training
    size over seeds (each run the same number of steps); the models are the
    notebook's own classes."""
    stem = "12_self_attention"
    s = picks(stem)
    nb = definitions(stem, ["VOCAB", "LENGTH", "NUM_TOKENS", "SEQ_LEN", "NUM_LABELS", "RULES", "PointerSorter",
                            "ConvTagger", "AttentionTagger"],
                     {"torch": torch, "nn": nn, "F": F, "MultiheadAttention": MultiheadAttention,
                      "SinusoidalPositionalEncoding": SinusoidalPositionalEncoding})
    sort_example = torch.zeros(1, 2, nb["LENGTH"], dtype=torch.long)
    out = [SequenceRun("pointer sorter", nb["PointerSorter"](nb["VOCAB"], embed_dim=32), 0, s["n_sort_train"],
                       s["epochs_sort"], 1_000, batch_size=64, example=sort_example)]
    tag_example = torch.zeros(1, nb["SEQ_LEN"], dtype=torch.long)
    for n_train in s["sizes"]:
        batches = -(-n_train // 32)
        epochs = max(1, round(s["steps"] / batches))  # as the notebook's train_tagger
        for name in ("ConvTagger", "AttentionTagger"):
            out.append(SequenceRun(f"{name} on {n_train:,}", nb[name](), 0, n_train, epochs, 0,
                                   repeats=len(s["seeds"]), batch_size=32, example=tag_example))
    return out


def transformer_runs():
    """Notebook 13: the Transformer at its full settings on every training pair.
    The vocabularies (5,436 English and 8,478 French tokens) and the training
    split (71,437 pairs) are those the notebook's standard run printed (the
    same split and min_freq on every profile); the example is a pair of
    average length: 7 source and 8 decoder-input positions (the corpus'
    means with the notebook's tokenizer, <eos> and <bos> included: 6.95 and
    7.77 over its 76,036 pairs)."""
    s = picks("13_transformer")["SETTINGS"]
    config = tr.TransformerConfig(5_436, 8_478, d_model=s["d_model"], nhead=s["nhead"],
                                  num_encoder_layers=s["layers"], num_decoder_layers=s["layers"],
                                  dim_feedforward=s["dim_feedforward"], dropout=s["dropout"])
    example = SourceTarget(torch.ones(1, 7, dtype=torch.long), torch.ones(1, 8, dtype=torch.long))
    return [SequenceRun("Transformer translation", tr.Transformer(config), 0, 71_437, s["epochs"], 3_098,
                        batch_size=s["batch_size"], example=example)]


# The one place a notebook that trains is added: its name -> a function
# returning its runs at the full settings (read from the notebook).
RUNS = {
    "04_fully_connected_and_log_softmax": first_cnn_runs,
    "06_lenet": lenet_runs,
    "07_alexnet": alexnet_runs,
    "07_alexnet_experiments": alexnet_experiments_runs,
    "08_vgg": vgg_runs,
    "09_inception": inception_runs,
    "10_resnet": resnet_runs,
    "11_resnet_paper": resnet_paper_runs,
    "12_self_attention": self_attention_runs,
    "13_transformer": transformer_runs,
}


class EntryError(RuntimeError):
    """A notebook's entry in RUNS no longer matches the notebook."""


def runs():
    """``{notebook: [Run, ...]}``: the GPU training of each notebook at its
    full settings, for the notebooks that exist and have an entry in RUNS."""
    out = {}
    for stem in notebook_stems():
        if stem not in RUNS:
            continue
        try:
            out[stem] = RUNS[stem]()
        except (KeyError, ValueError, TypeError, StopIteration) as error:
            raise EntryError(
                f"benchmarks/colab_time.py: the entry for {stem} ({RUNS[stem].__name__}) no longer matches "
                f"notebooks/{stem}.py ({type(error).__name__}: {error}); update it to the notebook's models and "
                "profile.pick settings") from error
    return out


def missing():
    """Notebooks that train but have no entry in :func:`runs` (nor an estimate
    from their measured time): each needs one (CONTRIBUTING, "Colab time")."""
    estimated = set(runs()) | set(cpu_notebooks())
    return [stem for stem in notebook_stems() if stem not in estimated]


def cpu_notebooks():
    """``{notebook: (seconds, how)}`` for the notebooks that do not train on the GPU."""
    out = {}
    for stem in notebook_stems():
        seconds = saved_seconds(stem)
        if not trains(stem) and stem not in RUNS and seconds is not None:
            out[stem] = (seconds, "measured (standard run, 2-core CPU); no training")
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
        what = "; ".join(f"{r.what}" + (f" {r.input_size}px" if r.input_size else "") + f" x{r.epochs} ep"
                         + (f" x{r.repeats}" if r.repeats > 1 else "") for r in notebook_runs)
        rows.append((stem, seconds, f"{flops / 1e12:,.1f} TFLOP, {steps:,} steps: {what}"))
    rows.sort()
    unestimated = missing()
    print(f"T4 rate {budget.T4_TRAIN_FLOPS / 1e12:.0f} TFLOP/s effective, {budget.T4_STEP_SECONDS * 1e3:.0f} ms per "
          "step (course_utils.budget); estimates, not measurements\n")
    print(f"{'notebook':<38} {'T4 time':>9}  basis")
    for stem, seconds, how in rows:
        flag = "  > 1 h: must be asked for" if seconds > 3600 else ""
        print(f"{stem:<38} {seconds / 60:>7.1f} m  {how}{flag}")
    for stem in unestimated:
        print(f"{stem:<38} {'?':>9}  no estimate: it trains; add its runs to runs() in benchmarks/colab_time.py")
    print(f"\nall notebooks{' estimated' if unestimated else ''}: {sum(r[1] for r in rows) / 60:.0f} minutes")
    return 1 if unestimated else 0


if __name__ == "__main__":
    sys.exit(main())
