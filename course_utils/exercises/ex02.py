"""Checkers for notebook 02 (padding and stride)."""

import random

import torch
import torch.nn.functional as F
from torch import nn

from course_utils.exercises import ExerciseError, NotAttempted, checker, expect, hint_function


def _random_configs(n, seed):
    rng = random.Random(seed)
    for _ in range(n):
        k, s, p = rng.randint(1, 5), rng.randint(1, 3), rng.randint(0, 2)
        size = max(k - 2 * p, 1) + rng.randint(0, 6)
        yield rng.randint(1, 2), rng.randint(1, 3), rng.randint(1, 3), size, size + rng.randint(0, 3), k, s, p


@checker(hint=(
    "Where does the window of output (i, j) start in the padded input? Compute only those windows.",
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


def _measured_field_and_jump(layers):
    """Receptive field and jump of a stack of ``(kernel_size, stride, dilation)`` convolutions, measured:
    the extent of the input gradient of one output pixel, and how far that extent moves for the next pixel."""
    need = 2
    for k, s, d in reversed(layers):
        need = (need - 1) * s + d * (k - 1) + 1
    x = torch.zeros(1, 1, need + 8, 1, dtype=torch.float64, requires_grad=True)  # one column is enough
    out = x
    for k, s, d in layers:
        out = F.conv2d(out, torch.ones(1, 1, k, 1, dtype=torch.float64), stride=(s, 1), dilation=(d, 1))
    rows = []
    for i in (0, 1):  # two neighbouring output pixels
        (grad,) = torch.autograd.grad(out[0, 0, i, 0], x, retain_graph=True)
        rows.append((grad[0, 0, :, 0] != 0).nonzero().flatten())
    return int(rows[0].max() - rows[0].min() + 1), int(rows[1].min() - rows[0].min())


@checker(hint=(
    "Notebook 02's recurrence with two changes: a dilated kernel spans more pixels than it has taps, and "
    "the jump (input pixels between neighbouring outputs) is an answer too.",
    "Keep r (start 1) and the jump (start 1): each layer adds (d * (k - 1) + 1 - 1) * jump to r, i.e. "
    "d * (k - 1) * jump, and only then multiplies the jump by its stride. Return (r, jump).",
))
def check_receptive_field(receptive_field):
    """``receptive_field(layers)`` for ``(kernel_size, stride, dilation)`` triples -> ``(field, jump)``."""
    cases = [[(3, 1, 1)], [(3, 1, 1)] * 2, [(3, 1, 2)], [(3, 2, 1), (3, 1, 1)], [(3, 1, 1), (3, 1, 2), (3, 1, 4)],
             [(7, 2, 1), (3, 2, 1), (3, 1, 1), (3, 1, 1)], [(1, 1, 1), (4, 3, 1), (2, 1, 3)]]
    rng = random.Random(1)
    cases += [[(rng.randint(1, 5), rng.randint(1, 3), rng.randint(1, 3)) for _ in range(rng.randint(1, 4))]
              for _ in range(8)]
    for layers in cases:
        got = receptive_field(list(layers))
        if got is None:
            raise NotAttempted()
        if not (isinstance(got, (tuple, list)) and len(got) == 2):
            raise ExerciseError(f"receptive_field should return a pair (field, jump), got {got!r}")
        expected = _measured_field_and_jump(layers)
        if tuple(int(v) for v in got) != expected:
            raise ExerciseError(f"receptive_field({layers}) should be (field, jump) = {expected} (measured from "
                                f"the gradients of two neighbouring output pixels), got {tuple(got)}")


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
    "One formula does every layer, convolutions and the pool alike; go layer by layer, height and width "
    "separately.",
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
    "Count the weights of one filter and how many filters there are; then count the outputs and the "
    "multiply-adds one output needs. The output size comes from the formula of this notebook.",
    "Parameters: (k * k * in_channels + 1) * out_channels. Multiply-adds: each of the H_out * W_out * "
    "out_channels outputs needs k * k * in_channels of them.",
))
def check_conv_cost(conv_cost):
    """``conv_cost(in_channels, out_channels, kernel_size, height, width, stride, padding)`` -> ``(params, macs)``."""
    from torch.utils.flop_counter import FlopCounterMode

    for c_in, c_out, k, h, w, s, p in [(3, 16, 3, 32, 32, 1, 1), (192, 32, 5, 28, 28, 1, 2), (1, 6, 5, 28, 28, 1, 0),
                                       (64, 128, 3, 56, 40, 2, 1), (16, 8, 1, 9, 9, 3, 0)]:
        got = conv_cost(c_in, c_out, k, h, w, s, p)
        if got is None:
            raise NotAttempted()
        layer = nn.Conv2d(c_in, c_out, k, stride=s, padding=p)
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            layer(torch.zeros(1, c_in, h, w))
        expected = (sum(q.numel() for q in layer.parameters()), counter.get_total_flops() // 2)
        if tuple(int(v) for v in got) != expected:
            raise ExerciseError(f"Conv2d({c_in}, {c_out}, {k}, stride={s}, padding={p}) on {h}x{w}: expected "
                                f"(params, macs) = {expected}, got {tuple(got)}")


hint = hint_function(__name__)
