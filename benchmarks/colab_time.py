"""Expected time of each notebook's ``full`` profile on Colab's free T4 GPU.

On Colab with a GPU the ``full`` profile is picked automatically, so this is
what a learner who clicks the badge and runs everything waits for. No T4 was
available to measure, so each figure is an estimate:

- training and evaluation arithmetic: each run's multiply-adds per example
  (``course_utils.accounting.count_macs`` on the model at its full size, or
  counted on an example token sequence) x examples x epochs (x3 for
  training: forward and two backward products), at the T4 rate of
  ``course_utils.budget`` (8 TFLOP/s, derived from NVIDIA's measured T4
  throughput; see its docstring), plus 3 ms per optimizer step (small
  sequence models: the step cost decides);
- a notebook whose work runs on the CPU whatever the device (05: NumPy): the
  measured time of its committed ``standard`` run (2-core CPU), scaled by the
  ratio of the work it declares under the two profiles;
- a notebook that declares nothing and calls no ``fit(`` (00-03): the
  measured time of its committed ``standard`` run.

The other cells of a training notebook (checks, figures, a CPU timing in 07)
add seconds to a minute and are not counted, nor are the downloads (on Colab
each notebook fetches its data on a machine of its own: the README lists
them).

Each notebook declares its own estimate (CONTRIBUTING, "Colab time"), so this
script names no notebook and no notebook variable. It reads
``notebooks/NN_name.py`` and builds, under the ``full`` profile on this
machine's device:

1. the set-up cell (tagged ``setup``: the notebook's imports, ``PROFILE``,
   ``DEVICE``);
2. every top-level ``name = profile.pick(...)`` whose arguments are plain
   values (literals, ``dict(...)``, ``range(...)``): the notebook's settings,
   at their ``full`` values; a pick that uses anything else (a dataset, a
   function) is skipped, never run;
3. the cells tagged ``colab-estimate``, in order: the cell that declares the
   estimate and the cells it needs (e.g. the notebook's own model classes).
   They must be cheap: no data loading, no training.

The declaration is one of

- ``colab_runs``: a list of ``dict(what=..., model=..., train=..., epochs=...,
  input_shape=... or example=..., eval=0, repeats=1, batch_size=128)``, one
  per kind of training run of the ``full`` profile (see :class:`Run`);
- ``colab_cpu_work``: a number proportional to the notebook's CPU work.

A notebook that calls ``fit(`` without a declaration gets no estimate: the
table says so and ``tests/test_colab_time.py`` fails, naming it.

    python benchmarks/colab_time.py
"""

import ast
import contextlib
import functools
import io
import json
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import jupytext
import torch
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from course_utils import budget  # noqa: E402
from course_utils.accounting import count_macs  # noqa: E402
from course_utils.modes import eval_mode  # noqa: E402
from course_utils.train import default_forward  # noqa: E402

NOTEBOOKS = ROOT / "notebooks"
TAG = "colab-estimate"
SETUP_TAG = "setup"
RUNS_NAME, CPU_WORK_NAME = "colab_runs", "colab_cpu_work"
# A notebook trains (on the GPU, with the course's loop) if its source calls fit(.
TRAINS_RE = re.compile(r"^[^#\n]*\bfit\(", re.MULTILINE)
# The names a pick's arguments may use to count as a plain setting.
PLAIN_NAMES = {"profile", "dict", "range", "list", "tuple", "None", "True", "False"}


def notebook_stems():
    """Every notebook, found by name: ``notebooks/NN_name.py``."""
    return sorted(p.stem for p in NOTEBOOKS.glob("[0-9][0-9]_*.py"))


def trains(stem):
    """Whether the notebook's source calls ``fit(`` outside a comment."""
    return bool(TRAINS_RE.search((NOTEBOOKS / f"{stem}.py").read_text()))


def saved_seconds(stem):
    """The committed standard run's time (``tools/nb.py run`` stores it)."""
    nb = json.loads((NOTEBOOKS / f"{stem}.ipynb").read_text())
    return nb["metadata"].get("course", {}).get("seconds")


# ----------------------------------------------------------------------------
# What a notebook declares
# ----------------------------------------------------------------------------


class EntryError(RuntimeError):
    """A notebook's declared estimate cannot be read (a cell fails, a key is wrong)."""


def forward_macs(model, example):
    """Multiply-adds of one forward pass of ``model`` on ``example`` (a tensor,
    or a tuple of tensors passed as separate arguments), counted like
    ``count_macs``. Attention runs on PyTorch's math kernel here: the flop
    counter does not count the fused CPU kernel's products (the GPU does the
    same products either way)."""
    with (eval_mode(model), torch.no_grad(), sdpa_kernel(SDPBackend.MATH),
          FlopCounterMode(display=False) as counter):
        default_forward(model, example)  # model(*example) for a tuple of inputs, as fit calls it
    return counter.get_total_flops() // 2


@dataclass
class Run:
    """One kind of training run of a notebook's ``full`` profile.

    Args:
        what: a short name for the table.
        model: the network, or a function that builds it (so that the
            notebook's cell builds nothing).
        train: training examples per epoch.
        epochs: epochs of each run.
        input_shape: ``(1, C, H, W)`` of one image; or
        example: one input of a batch of one (a tensor or a tuple of tensors),
            for models that do not take images (token sequences).
        eval: examples evaluated after each epoch (forward passes only).
        repeats: how many such runs the notebook trains.
        batch_size: examples per optimizer step.
    """

    what: str
    model: object
    train: int
    epochs: int
    input_shape: tuple = None
    example: object = None
    eval: int = 0
    repeats: int = 1
    batch_size: int = 128

    def __post_init__(self):
        if (self.input_shape is None) == (self.example is None):
            raise ValueError(f"run {self.what!r}: give input_shape (images) or example (other inputs), one of them")
        if not isinstance(self.model, nn.Module):
            self.model = self._build(self.model, meta=self.input_shape is not None)

    @staticmethod
    def _build(factory, meta):
        """An image model is built on the meta device (shapes only: counting its multiply-adds needs no
        weights, nor the time to fill them); a sequence model's forward may look at its input's values,
        which meta tensors do not have, so it is built as it is. So is a factory that moves its network
        to a device (there is no copying out of a meta tensor)."""
        if meta:
            try:
                with torch.device("meta"):
                    return factory()
            except NotImplementedError:
                pass
        return factory()

    def macs(self):
        if self.input_shape is not None:
            return count_macs(self.model, tuple(self.input_shape))  # the input follows the model's device
        return forward_macs(self.model, self.example)

    def flops(self):
        return budget.training_flops(self.macs(), self.train, self.epochs, self.eval, self.repeats)

    def steps(self):
        return -(-self.train // self.batch_size) * self.epochs * self.repeats

    def describe(self):
        size = f" {self.input_shape[-1]}px" if self.input_shape is not None else ""
        return f"{self.what}{size} x{self.epochs} ep" + (f" x{self.repeats}" if self.repeats > 1 else "")


def _plain_pick(node):
    """Whether a top-level statement is ``name(s) = ...profile.pick(...)...`` over plain values only."""
    if not isinstance(node, ast.Assign):
        return False
    calls = [n for n in ast.walk(node.value) if isinstance(n, ast.Call)]
    picks = [c for c in calls if isinstance(c.func, ast.Attribute) and c.func.attr == "pick"
             and isinstance(c.func.value, ast.Name) and c.func.value.id == "profile"]
    names = {n.id for n in ast.walk(node.value) if isinstance(n, ast.Name)}
    return bool(picks) and names <= PLAIN_NAMES


@contextlib.contextmanager
def _profile(name):
    saved = os.environ.get("COURSE_PROFILE")
    os.environ["COURSE_PROFILE"] = name
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("COURSE_PROFILE", None)
        else:
            os.environ["COURSE_PROFILE"] = saved


def declared(stem, profile_name="full"):
    """The namespace a notebook's estimate sees under ``profile_name``: its
    set-up cell, its plain ``profile.pick`` settings and its cells tagged
    ``colab-estimate`` (see the module's docstring); ``{}`` if it has no such
    cell. Built once per version of the notebook's file."""
    path = NOTEBOOKS / f"{stem}.py"
    return _declared(path, path.read_text(), profile_name)


@functools.cache
def _declared(path, text, profile_name):
    stem = path.stem
    cells = [c for c in jupytext.reads(text, fmt="py:percent").cells if c.cell_type == "code"]
    tagged = [c for c in cells if TAG in c.metadata.get("tags", [])]
    if not tagged:
        return {}
    setup = [c for c in cells if SETUP_TAG in c.metadata.get("tags", [])]
    picks = [ast.get_source_segment(text, node) for node in ast.parse(text).body if _plain_pick(node)]
    namespace = {"__name__": f"colab_estimate_{stem}"}
    steps = ([("the set-up cell", c.source) for c in setup] + [("a profile.pick line", p) for p in picks]
             + [(f"the cell tagged {TAG} starting {c.source.strip().splitlines()[0][:60]!r}", c.source)
                for c in tagged])
    with _profile(profile_name), contextlib.redirect_stdout(io.StringIO()):
        for where, source in steps:
            try:
                exec(compile(source, f"notebooks/{stem}.py ({where})", "exec"), namespace)  # noqa: S102
            except Exception as error:  # the notebook's own code: report which cell, and why
                raise EntryError(f"notebooks/{stem}.py: {where} failed in the Colab estimate "
                                 f"({type(error).__name__}: {error}); the cells tagged {TAG} must run on their "
                                 "own after the set-up cell and the profile.pick settings (CONTRIBUTING, "
                                 "'Colab time')") from error
    return namespace


def notebook_runs(stem):
    """The ``Run`` list a notebook declares in ``colab_runs`` (``None`` if it declares none)."""
    namespace = declared(stem)
    if RUNS_NAME not in namespace:
        return None
    out = []
    for entry in namespace[RUNS_NAME]:
        try:
            out.append(Run(**entry))
        except (TypeError, ValueError) as error:
            raise EntryError(f"notebooks/{stem}.py: an entry of {RUNS_NAME} is not a run ({error}); keys: "
                             "what, model, train, epochs, input_shape or example, eval, repeats, batch_size") from error
    return out


def runs():
    """``{notebook: [Run, ...]}``: the GPU training each notebook declares."""
    out = {}
    for stem in notebook_stems():
        declared_runs = notebook_runs(stem)
        if declared_runs is not None:
            out[stem] = declared_runs
    return out


def cpu_notebooks():
    """``{notebook: (seconds, how)}`` for the notebooks whose estimate is their measured standard run's time."""
    out = {}
    for stem in notebook_stems():
        seconds = saved_seconds(stem)
        full = declared(stem)
        if CPU_WORK_NAME in full and seconds is not None:
            ratio = full[CPU_WORK_NAME] / declared(stem, "standard")[CPU_WORK_NAME]
            out[stem] = (seconds * ratio, f"work on the CPU: standard run x {ratio:.0f} (its declared work)")
        elif not full and not trains(stem) and seconds is not None:
            out[stem] = (seconds, "measured (standard run, 2-core CPU); no training")
    return out


def missing():
    """Notebooks with no estimate: each needs its declaration (CONTRIBUTING, "Colab time")."""
    estimated = set(runs()) | set(cpu_notebooks())
    return [stem for stem in notebook_stems() if stem not in estimated]


def estimates():
    """``{notebook: (seconds, basis)}`` for every notebook with an estimate, in name order."""
    rows = dict(cpu_notebooks())
    for stem, notebook_runs_ in runs().items():
        flops = sum(r.flops() for r in notebook_runs_)
        steps = sum(r.steps() for r in notebook_runs_)
        what = "; ".join(r.describe() for r in notebook_runs_)
        rows[stem] = (budget.t4_seconds(flops, steps), f"{flops / 1e12:,.1f} TFLOP, {steps:,} steps: {what}")
    return dict(sorted(rows.items()))


def main():
    rows = estimates()
    unestimated = missing()
    print(f"T4 rate {budget.T4_TRAIN_FLOPS / 1e12:.0f} TFLOP/s effective, {budget.T4_STEP_SECONDS * 1e3:.0f} ms per "
          "step (course_utils.budget); estimates, not measurements\n")
    print(f"{'notebook':<38} {'T4 time':>9}  basis")
    for stem, (seconds, how) in rows.items():
        flag = "  > 1 h: must be asked for" if seconds > 3600 else ""
        print(f"{stem:<38} {seconds / 60:>7.1f} m  {how}{flag}")
    for stem in unestimated:
        print(f"{stem:<38} {'?':>9}  no estimate: it trains; declare {RUNS_NAME} in a cell tagged {TAG} "
              "(CONTRIBUTING, 'Colab time')")
    print(f"\nall notebooks{' estimated' if unestimated else ''}: {sum(s for s, _ in rows.values()) / 60:.0f} minutes")
    return 1 if unestimated else 0


if __name__ == "__main__":
    sys.exit(main())
