"""Memory-layout benchmark: contiguous vs channels-last training on the CPU.

A 4-D tensor ``(B, C, H, W)`` can be stored with the channels varying slowest
(contiguous, PyTorch's default) or fastest (channels-last, strides of
``(B, H, W, C)``). oneDNN's convolutions prefer channels-last on x86 CPUs, but
other layers (batch norm, pooling, the flatten before the dense layers) may
pay for a layout conversion, so which is faster depends on the model.
``fit(..., channels_last=...)`` leaves the choice to each notebook; this
script measures it.

For every model the course trains, at the notebook's input size and batch
size, it times training steps (forward, backward, AdamW step on random
inputs) in both layouts: ``--steps`` steps per measurement, ``--repeats``
measurements per layout, interleaved (contiguous, channels-last,
channels-last, contiguous, ...) so that a busy spell on a shared machine hits
both. It prints the median examples/s of each, their ratio and a
recommendation: channels-last when it is at least ``--margin`` faster,
contiguous when it is at least that much slower, either within the margin.

Run: ``python benchmarks/memory_layout.py`` (or ``make benchmark``); on a busy
machine ``--threads 1 --clock cpu`` gives steadier ratios;
``--models lenet`` runs the models whose name contains "lenet".
"""

import argparse
import platform
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from course_utils.models import alexnet, googlenet, lenet, resnet, vgg  # noqa: E402

# ----------------------------------------------------------------------------
# Models the course has no module for (yet)
# ----------------------------------------------------------------------------


def small_cnn(width=16, num_classes=10):
    """Notebook 04's small CNN (defined in the notebook): two conv-BN-ReLU-pool blocks, a dense layer."""

    def conv_block(in_channels, out_channels):
        return nn.Sequential(nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
                             nn.BatchNorm2d(out_channels), nn.ReLU(), nn.MaxPool2d(2))

    return nn.Sequential(conv_block(1, width), conv_block(width, 2 * width), nn.Flatten(),  # (B, 2*width*7*7)
                         nn.Linear(2 * width * 7 * 7, num_classes))


# name -> (notebook, factory, input shape (C, H, W), batch size): the notebooks' standard-profile settings
MODELS = {
    "small CNN (BN)": ("04", small_cnn, (1, 28, 28), 128),
    "LeNet-5 sigmoid, avg pool": ("06", lambda: lenet.lenet(1, 10, activation="sigmoid", pool="avg"), (1, 28, 28),
                                  128),
    "LeNet-5 sigmoid, max pool": ("06", lambda: lenet.lenet(1, 10, activation="sigmoid", pool="max"), (1, 28, 28),
                                  128),
    "LeNet-5 ReLU, avg pool": ("06", lambda: lenet.lenet(1, 10, activation="relu", pool="avg"), (1, 28, 28), 128),
    "LeNet-5 ReLU, max pool": ("06", lambda: lenet.lenet(1, 10, activation="relu", pool="max"), (1, 28, 28), 128),
    "LeNet-5 ReLU, max pool, BN": ("06", lambda: lenet.lenet(1, 10, activation="relu", pool="max", batch_norm=True),
                                   (1, 28, 28), 128),
    "AlexNet w0.25": ("07", lambda: alexnet.alexnet(1, 10, input_size=28, width=0.25, hidden_features=512),
                      (1, 28, 28), 128),
    "AlexNet w0.25 + LRN": ("07", lambda: alexnet.alexnet(1, 10, input_size=28, width=0.25, hidden_features=512,
                                                          lrn=True), (1, 28, 28), 128),
    "VGG-11 w0.25 BN": ("08", lambda: vgg.vgg11(1, 10, input_size=28, width=0.25, hidden_features=256,
                                                batch_norm=True), (1, 28, 28), 128),
    "GoogLeNet w0.25": ("09", lambda: googlenet.googlenet(1, 10, input_size=28, width=0.25), (1, 28, 28), 128),
    "ResNet-20 (CIFAR)": ("10", lambda: resnet.resnet_cifar(20), (3, 32, 32), 128),
}


def make(factory, layout):
    torch.manual_seed(0)
    model = factory().to(memory_format=layout)
    return model, torch.optim.AdamW(model.parameters(), lr=1e-3)


CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}


def steps_per_second(model, optimizer, x, y, steps, clock="wall"):
    """Time ``steps`` training steps on one batch (the data pipeline is not what is measured).

    ``clock="wall"`` measures elapsed time, what a learner waits; ``"cpu"`` the
    CPU time of this process (all its threads), which on a machine shared with
    other work leaves out the time spent waiting for a core.
    """
    model.train()
    now = CLOCKS[clock]
    start = now()
    for _ in range(steps):
        loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return steps / (now() - start)


def measure(factory, input_shape, batch_size, steps, repeats, clock="wall"):
    """Median examples/s of each layout over interleaved repeats."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(batch_size, *input_shape, generator=gen)
    y = torch.randint(0, 10, (batch_size,), generator=gen)
    layouts = {"contiguous": torch.contiguous_format, "channels_last": torch.channels_last}
    runs = {name: make(factory, layout) for name, layout in layouts.items()}
    inputs = {name: x.contiguous(memory_format=layout) for name, layout in layouts.items()}
    for name, (model, opt) in runs.items():
        steps_per_second(model, opt, inputs[name], y, 2)  # warm-up: oneDNN picks and caches its kernels
    speeds = {name: [] for name in layouts}
    order = list(layouts)
    for _ in range(repeats):
        for name in order:
            model, opt = runs[name]
            speeds[name].append(batch_size * steps_per_second(model, opt, inputs[name], y, steps, clock))
        order.reverse()  # ABBA: neither layout always runs first
    return {name: statistics.median(v) for name, v in speeds.items()}, speeds


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=4, help="training steps per measurement")
    parser.add_argument("--repeats", type=int, default=5, help="measurements per layout (the median is shown)")
    parser.add_argument("--margin", type=float, default=0.10, help="speed difference that decides the layout")
    parser.add_argument("--models", default="", help="only the models whose name contains this (case-insensitive)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: PyTorch's choice)")
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="wall",
                        help="wall: elapsed time; cpu: this process's CPU time (steadier on a busy machine, "
                             "best with --threads 1)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    chosen = {k: v for k, v in MODELS.items() if args.models.lower() in k.lower()}
    if not chosen:
        parser.error(f"no model matches {args.models!r}; the models are: {', '.join(MODELS)}")
    print(f"CPU: {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, "
          f"torch {torch.__version__}; {args.steps} steps per measurement, median of {args.repeats} "
          f"interleaved measurements per layout, {args.clock} clock")
    header = (f"{'model':<28}{'nb':>3}{'batch':>6}{'input':>9}{'contiguous':>12}{'channels-last':>15}"
              f"{'ratio':>7}  recommendation")
    print(header)
    print("-" * len(header))
    for name, (notebook, factory, input_shape, batch_size) in chosen.items():
        median, speeds = measure(factory, input_shape, batch_size, args.steps, args.repeats, args.clock)
        ratio = median["channels_last"] / median["contiguous"]
        if ratio >= 1 + args.margin:
            advice = "channels_last=True"
        elif ratio <= 1 / (1 + args.margin):
            advice = "channels_last=False"
        else:
            advice = "either (within the margin)"
        size = "x".join(str(s) for s in input_shape)
        print(f"{name:<28}{notebook:>3}{batch_size:>6}{size:>9}{median['contiguous']:>12,.0f}"
              f"{median['channels_last']:>15,.0f}{ratio:>7.2f}  {advice}", flush=True)
    unit = "examples per CPU-second" if args.clock == "cpu" else "examples/s"
    print(f"{unit} of training steps (forward, backward, AdamW) on random inputs; ratio = channels-last / "
          "contiguous")


if __name__ == "__main__":
    main()
