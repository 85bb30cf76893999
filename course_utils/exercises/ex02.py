"""Checkers for notebook 02 (padding and stride)."""

import random

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from course_utils.exercises import ExerciseError, NotAttempted, as_int, checker, expect, hint_function


def _random_configs(n, seed):
    rng = random.Random(seed)
    for _ in range(n):
        k, s, p = rng.randint(1, 5), rng.randint(1, 3), rng.randint(0, 2)
        size = max(k - 2 * p, 1) + rng.randint(0, 6)
        yield rng.randint(1, 2), rng.randint(1, 3), rng.randint(1, 3), size, size + rng.randint(0, 3), k, s, p


@checker(hint=(
    "Where does the window of output (i, j) start in the padded input, and how many windows fit along each "
    "side?",
    "Pad once with zeros. Output (i, j) is the window whose corner is at (i * stride, j * stride) of the padded "
    "input, contracted with each filter over channels and kernel taps; along a side there are as many outputs "
    "as window starts that fit, (n + 2p - k) // s + 1.",
    "Pad x with zeros (F.pad(x, (p, p, p, p))), then for each output position (i, j) take the window starting "
    "at (i * stride, j * stride) and contract it with the weight: torch.einsum('nchw,ochw->no', window, "
    "weight). Output side: (n + 2p - k) // s + 1.",
))
def check_conv2d_stride_padding(conv2d):
    """``conv2d(x, weight, stride, padding)``: ``(N, C_in, H, W)``, ``(C_out, C_in, k, k)`` -> like ``F.conv2d``."""
    gen = torch.Generator().manual_seed(0)
    for batch, c_in, c_out, h, w, k, s, p in _random_configs(12, seed=0):
        x = torch.randn(batch, c_in, h, w, generator=gen, dtype=torch.float64)
        weight = torch.randn(c_out, c_in, k, k, generator=gen, dtype=torch.float64)
        out = conv2d(x, weight, s, p)
        if out is None:
            raise NotAttempted()
        expect(out, F.conv2d(x, weight, stride=s, padding=p),
               f"conv2d on x {tuple(x.shape)} with kernel_size={k}, stride={s}, padding={p}")


def _measured_field(kernel_size, dilations):
    """Receptive field of stride-1 convolutions with these dilations, measured: the extent of the
    input gradient of one output pixel (all-ones kernels, so no tap cancels another)."""
    need = 1 + sum(d * (kernel_size - 1) for d in dilations)
    x = torch.zeros(1, 1, need + 4, 1, dtype=torch.float64, requires_grad=True)  # one column is enough
    out = x
    for d in dilations:
        out = F.conv2d(out, torch.ones(1, 1, kernel_size, 1, dtype=torch.float64), dilation=(d, 1))
    (grad,) = torch.autograd.grad(out[0, 0, 0, 0], x)
    rows = (grad[0, 0, :, 0] != 0).nonzero().flatten()
    return int(rows.max() - rows.min() + 1)


def _fewest_layers(field, kernel_size, growth):
    """The smallest L whose stack (dilations 1, growth, growth**2, ...) sees ``field`` pixels, by adding
    layers; the answer and the stack one layer shorter are then measured with gradients."""
    dilations, reach = [], 1
    while reach < field:
        dilations.append(growth ** len(dilations))
        reach += dilations[-1] * (kernel_size - 1)
    if dilations:  # measured: L layers reach the field, L - 1 do not
        assert _measured_field(kernel_size, dilations) >= field > _measured_field(kernel_size, dilations[:-1])
    return len(dilations)


@checker(hint=(
    "By how many pixels does one more layer widen what a pixel sees, and how does that amount change from "
    "one layer to the next?",
    "With stride 1 each layer adds dilation * (kernel_size - 1) pixels to the field and changes nothing else. "
    "Start from a field of 1 (no layers) and add layers, the dilation growing by the factor `growth` each "
    "time, until the field reaches `field`: the count then is the answer.",
    "r, layers, d = 1, 0, 1; while r < field: r += d * (kernel_size - 1); d *= growth; layers += 1; return "
    "layers. (With growth 1 that is ceil((field - 1) / (kernel_size - 1)); with growth g > 1 the field after "
    "L layers is 1 + (kernel_size - 1) * (g**L - 1) / (g - 1).)",
))
def check_layers_needed(layers_needed):
    """``layers_needed(field, kernel_size, growth)``: the fewest stride-1 layers, dilations 1, growth,
    growth**2, ..., whose receptive field is at least ``field``."""
    cases = [(1, 3, 1), (3, 3, 1), (4, 3, 1), (100, 3, 1), (224, 7, 1), (7, 3, 2), (8, 3, 2), (16_000, 2, 2),
             (16_384, 2, 2), (16_385, 2, 2), (16_000, 3, 2), (10, 5, 3), (1_000, 3, 4), (2, 2, 5)]
    for field, kernel_size, growth in cases:
        got = layers_needed(field, kernel_size, growth)
        if got is None:
            raise NotAttempted()
        got = as_int(got, f"layers_needed({field}, {kernel_size}, {growth})")
        expected = _fewest_layers(field, kernel_size, growth)
        if got != expected:
            raise ExerciseError(
                f"layers_needed(field={field}, kernel_size={kernel_size}, growth={growth}) should be {expected} "
                f"(measured: {expected} layers see at least {field} pixels, {expected - 1} do not), got {got}")


def network(in_channels=3):
    """The network whose shapes the learner predicts."""
    return nn.Sequential(
        nn.Conv2d(in_channels, 16, kernel_size=5, padding=2),
        nn.Conv2d(16, 32, kernel_size=3, stride=2, padding=1),
        nn.MaxPool2d(kernel_size=2),
        nn.Conv2d(32, 64, kernel_size=3),
        nn.Conv2d(64, 10, kernel_size=1),
    )


@checker(hint=(
    "Go layer by layer and keep three numbers: channels, height, width. Which of a layer's settings change "
    "which of them?",
    "Every layer here, the pool included, maps a side n through the same formula with its own kernel size, "
    "stride and padding; height and width go through it separately. Only a convolution changes the channels "
    "(to its out_channels), and a pool's stride, when not given, is its kernel size.",
    "Use floor((n + 2p - k) / s) + 1 on each side, layer by layer; the channels are the out_channels of each "
    "conv, and max pooling keeps the channels (its stride defaults to its kernel size).",
))
def check_predict_shapes(predict_shapes):
    """``predict_shapes(height, width)`` -> the ``(C, H, W)`` after each of the five layers of ``network()``."""
    model = network()
    for h, w in [(32, 32), (28, 28), (45, 37), (20, 64)]:
        got = predict_shapes(h, w)
        if got is None:
            raise NotAttempted()
        got = [tuple(int(v) for v in shape) for shape in got]
        expected, out = [], torch.zeros(1, 3, h, w)
        with torch.no_grad():
            for layer in model:
                out = layer(out)
                expected.append(tuple(out.shape[1:]))
        if got != expected:
            raise ExerciseError(
                f"for a 3x{h}x{w} input the shapes after each layer are {expected}, you predicted {got}")


@checker(hint=(
    "Follow one input pixel: how much of the output does its copy of the kernel cover, and where does its "
    "neighbour's copy start? Then: how many weights does the layer hold, and how often is each used?",
    "The copies of n input pixels start stride apart, so together they cover (n - 1) * stride + kernel_size "
    "outputs, and padding crops p of them on each side: the shape map of a convolution, run backwards. Every "
    "input value meets every weight once, so the work is counted per input pixel, not per output pixel.",
    "H_out = (H - 1) * stride - 2 * padding + kernel_size (the same for W), C_out = out_channels; "
    "params = in_channels * out_channels * k * k + out_channels (the weight is (C_in, C_out, k, k), one bias "
    "per output channel); macs = H * W * in_channels * out_channels * k * k.",
))
def check_conv_transpose_cost(conv_transpose_cost):
    """``conv_transpose_cost(in_channels, out_channels, kernel_size, height, width, stride, padding)`` ->
    ``((C_out, H_out, W_out), params, macs)`` of one ``nn.ConvTranspose2d`` with bias."""
    for c_in, c_out, k, h, w, s, p in [(3, 16, 3, 8, 8, 1, 1), (64, 32, 4, 14, 14, 2, 1), (1, 6, 5, 10, 7, 1, 0),
                                       (128, 64, 2, 7, 9, 2, 0), (16, 8, 3, 5, 5, 3, 1), (8, 4, 5, 6, 4, 2, 2)]:
        got = conv_transpose_cost(c_in, c_out, k, h, w, s, p)
        if got is None:
            raise NotAttempted()
        if not (isinstance(got, (tuple, list)) and len(got) == 3):
            raise ExerciseError(f"conv_transpose_cost should return ((C_out, H_out, W_out), params, macs), got {got!r}")
        layer = nn.ConvTranspose2d(c_in, c_out, k, stride=s, padding=p)
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            out = layer(torch.zeros(1, c_in, h, w))
        shape = tuple(out.shape[1:])
        params, macs = sum(q.numel() for q in layer.parameters()), counter.get_total_flops() // 2
        what = f"ConvTranspose2d({c_in}, {c_out}, {k}, stride={s}, padding={p}) on {h}x{w}"
        try:
            got_shape = tuple(int(v) for v in got[0])
        except (TypeError, ValueError):
            raise ExerciseError(f"the first element should be the output shape (C_out, H_out, W_out), got "
                                f"{got[0]!r}") from None
        if got_shape != shape:
            raise ExerciseError(f"{what}: the output has shape {shape}, you said {got_shape}")
        got_params, got_macs = as_int(got[1], "params"), as_int(got[2], "macs")
        if got_params != params:
            raise ExerciseError(f"{what}: {params:,} parameters, you said {got_params:,}")
        if got_macs != macs:
            raise ExerciseError(f"{what}: {macs:,} multiply-adds (PyTorch's FLOP counter), you said {got_macs:,}")


hint = hint_function(__name__)
