"""How long a training run takes on Colab's free GPU, and runs that must be asked for.

On Colab the ``full`` profile is picked automatically (a GPU is present), so
a notebook's default ``full`` run must finish on the free T4 in about an
hour. Where a paper's complete setting needs longer (notebook 11's grid of
ResNet runs), the notebook runs it only when asked, and says first how long
it will take, as notebook 11 does with the time it measured on its device::

    from course_utils import budget

    if budget.long_run("11-paper-grid", hours, "the paper's grid", where=f"here ({DEVICE.type})"):
        runner.run_grid(paper_grid, ...)  # the whole grid
    # else: the default, what fits in the hour, has run above

A learner asks with the environment variable ``COURSE_LONG_RUNS`` (names
separated by commas, or ``all``), set before the notebook starts or in a
cell: ``os.environ["COURSE_LONG_RUNS"] = "11-paper-grid"``.

The T4 figures are estimates, not measurements on a T4 (see
``benchmarks/colab_time.py``, which tabulates every notebook):

- ``T4_TRAIN_FLOPS``, 8e12 FLOP/s: what mixed-precision training of a
  convolutional network sustains on a T4. NVIDIA measured ResNet-50 v1.5
  (4.1 GMACs = 8.2 GFLOP per 224x224 image forward) at 1,190 images/s of
  mixed-precision inference on a T4 (batch 128): 9.8 TFLOP/s, 15% of the
  T4's 65 TFLOP/s float16 tensor-core peak. Training costs about three
  forward passes per image; on the V100 the same measurements give training
  at 37% of inference throughput (1,200 against 3,249 images/s), so about
  the same FLOP rate (1.1x). 8e12 stays below that for the T4's 70 W power
  cap under sustained load and for our networks, smaller than ResNet-50.
  (NVIDIA DeepLearningExamples, PyTorch/Classification/ConvNets/resnet50v1.5,
  README, "Performance".) Expect the estimates to hold within a factor of two.
- ``T4_STEP_SECONDS``, 3 ms: the fixed cost of one optimizer step of a small
  network (kernel launches and Python for the forward and backward passes
  and the update), which dominates for LeNet-sized models on 28x28 images
  whose arithmetic takes microseconds.
"""

import os

ENV_VAR = "COURSE_LONG_RUNS"
T4_TRAIN_FLOPS = 8e12
T4_STEP_SECONDS = 3e-3
FLOPS_PER_MAC = 2
TRAIN_PASSES = 3  # a training step costs about three forward passes: forward, and backward for inputs and weights


def training_flops(macs_per_example, examples, epochs=1, eval_examples=0, repeats=1):
    """Floating-point operations of ``repeats`` training runs of ``epochs``
    over ``examples``, each epoch followed by an evaluation of
    ``eval_examples`` (forward passes only).

    ``macs_per_example``: multiply-accumulates of one forward pass, e.g.
    ``course_utils.accounting.count_macs(model, input_shape)``.
    """
    for name, value in (("macs_per_example", macs_per_example), ("examples", examples), ("epochs", epochs),
                        ("eval_examples", eval_examples), ("repeats", repeats)):
        if value < 0:
            raise ValueError(f"{name} must be >= 0, got {value}")
    per_epoch = TRAIN_PASSES * examples + eval_examples
    return FLOPS_PER_MAC * macs_per_example * per_epoch * epochs * repeats


def t4_seconds(flops, steps=0):
    """Estimated seconds on a Colab T4 for ``flops`` of mixed-precision
    training in ``steps`` optimizer steps (see the module's note)."""
    if flops < 0 or steps < 0:
        raise ValueError(f"flops and steps must be >= 0, got flops={flops}, steps={steps}")
    return flops / T4_TRAIN_FLOPS + steps * T4_STEP_SECONDS


def _requested():
    """The run names in ``COURSE_LONG_RUNS`` (``{"all"}`` for every run)."""
    return {name.strip() for name in os.environ.get(ENV_VAR, "").split(",") if name.strip()}


def _duration(hours):
    return f"{hours:.1f} h" if hours >= 1 else f"{60 * hours:.0f} min"


def long_run(name, hours, what, where="on a Colab T4"):
    """Whether to do the long run ``name``, expected to take ``hours``
    ``where`` (a T4 estimate by default; notebook 11 passes the time it
    measured on its own device): only when ``COURSE_LONG_RUNS`` names it or
    says ``all``. Prints either way what it is, how long it takes and how to
    ask for it."""
    if not name or "," in name:
        raise ValueError(f"a long run needs a name without commas, got {name!r}")
    if hours < 0:
        raise ValueError(f"hours must be >= 0, got {hours}")
    requested = _requested()
    if name in requested or "all" in requested:
        print(f"{name}: running {what}; expect about {_duration(hours)} {where}.")
        return True
    print(f"{name}: not running {what}, which takes about {_duration(hours)} {where}. To run it, set "
          f"{ENV_VAR}={name} (in a cell: os.environ[\"{ENV_VAR}\"] = \"{name}\") and run this cell again.")
    return False
