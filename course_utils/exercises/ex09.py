"""Checkers for notebook 09 (Inception, NiN and efficient blocks)."""

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models.mobilenetv2 import InvertedResidual

from course_utils.accounting import count_macs, count_params
from course_utils.exercises import ExerciseError, as_int, checker, expect, hint_function


def _strided_bottleneck(in_channels, mid_channels, out_channels, stride, stride_in):
    """1x1 reduce, 3x3 (padding 1), 1x1 expand, no bias; the stride on the first 1x1 or on the 3x3."""
    first, middle = (stride, 1) if stride_in == "1x1" else (1, stride)
    return nn.Sequential(nn.Conv2d(in_channels, mid_channels, 1, stride=first, bias=False),
                         nn.Conv2d(mid_channels, mid_channels, 3, stride=middle, padding=1, bias=False),
                         nn.Conv2d(mid_channels, out_channels, 1, bias=False))


@checker(hint=(
    "For each of the three convolutions: how large is the map on which it produces its outputs? The stride "
    "changes the side somewhere inside the block.",
    "A convolution costs (its output pixels) x k x k x C_in x C_out multiply-adds. The strided convolution and "
    "every one after it produce their outputs on the smaller side, which for these paddings is the side divided "
    "by the stride, rounded up; the ones before it on the full side.",
    "small = (side - 1) // stride + 1; sides = (small, small, small) if stride_in == '1x1' else (side, small, "
    "small); macs = sides[0]**2 * in_channels * mid_channels + sides[1]**2 * 9 * mid_channels**2 + "
    "sides[2]**2 * mid_channels * out_channels.",
))
def check_bottleneck_macs(bottleneck_macs):
    """``bottleneck_macs(in_channels, mid_channels, out_channels, side, stride, stride_in)``: multiply-adds of
    a 1x1-3x3-1x1 block on a ``side x side`` input with the stride on ``stride_in`` ("1x1" or "3x3")."""
    cases = [
        (256, 64, 256, 56, 1, "3x3"),  # ResNet-50, conv2_x
        (256, 128, 512, 56, 2, "1x1"),  # conv3_1 as the paper's implementation strides it
        (256, 128, 512, 56, 2, "3x3"),  # conv3_1 as torchvision strides it
        (1024, 512, 2048, 14, 2, "3x3"),
        (24, 144, 24, 15, 2, "3x3"),  # an odd side
        (64, 16, 64, 7, 3, "1x1"),
    ]
    for in_channels, mid, out, side, stride, stride_in in cases:
        expected = count_macs(_strided_bottleneck(in_channels, mid, out, stride, stride_in),
                              (1, in_channels, side, side))
        got = as_int(bottleneck_macs(in_channels, mid, out, side, stride, stride_in), "bottleneck_macs(...)")
        if got != expected:
            raise ExerciseError(
                f"{in_channels} -> {mid} -> {out} on {side}x{side}, stride {stride} on the {stride_in}: expected "
                f"{expected:,} multiply-adds (counted by PyTorch's FLOP counter), got {got:,}")


def _depthwise_separable_oracle(x, depthwise_weight, pointwise_weight):
    """Channel by channel, then a matrix product over channels: no ``groups``."""
    k = depthwise_weight.shape[-1]
    per_channel = [F.conv2d(x[:, c:c + 1], depthwise_weight[c:c + 1], padding=k // 2)
                   for c in range(x.shape[1])]
    filtered = torch.cat(per_channel, dim=1)  # (N, C_in, H, W)
    return torch.einsum("oi,nihw->nohw", pointwise_weight[:, :, 0, 0], filtered)  # (N, C_out, H, W)


@checker(hint=(
    "Read the two weights' shapes: which input channels can an output channel of a (C_in, 1, k, k) weight "
    "read, and what does a (C_out, C_in, 1, 1) weight do at one pixel?",
    "The first call filters every channel on its own: a convolution split into as many groups as there are "
    "input channels, one channel and one filter per group, padded so the size stays. The second mixes the "
    "channels at every pixel: an ordinary convolution with the 1x1 weight.",
    "F.conv2d(x, depthwise_weight, padding=k // 2, groups=C_in) filters each channel on its own; then "
    "F.conv2d(that, pointwise_weight) mixes the channels.",
))
def check_depthwise_separable(depthwise_separable):
    """``depthwise_separable(x, depthwise_weight, pointwise_weight)`` (no bias, no activation)."""
    gen = torch.Generator().manual_seed(9)
    for n, c_in, c_out, k, side in [(2, 3, 5, 3, 7), (1, 8, 4, 5, 9), (3, 1, 2, 3, 4)]:
        x = torch.randn(n, c_in, side, side, generator=gen)
        dw = torch.randn(c_in, 1, k, k, generator=gen)  # one k x k filter per channel
        pw = torch.randn(c_out, c_in, 1, 1, generator=gen)
        expect(depthwise_separable(x, dw, pw), _depthwise_separable_oracle(x, dw, pw),
               f"depthwise_separable for {c_in} -> {c_out} channels with a {k}x{k} kernel",
               rtol=1e-4, atol=1e-4)


@checker(hint=(
    "Follow one input pixel to one output pixel: through which middle channel, which tap of the row kernel "
    "and which tap of the column kernel? Each route multiplies two weights, and the routes add up.",
    "Kernel entry (o, i, a, b) adds up every route from input channel i to output channel o that moves a rows "
    "and b columns: through each middle channel m, the row kernel's tap b (from i to m) times the column "
    "kernel's tap a (from m to o). For each (a, b) that is a sum over m of products: a matrix product.",
    "kernel[o, i, a, b] = sum over the middle channel m of column_weight[o, m, a, 0] * row_weight[m, i, 0, b]: "
    "one torch.einsum('oma,mib->oiab', ...) over the squeezed weights.",
))
def check_compose_factorised(compose):
    """``compose(row_weight, column_weight)``: the n x n kernel of a 1 x n conv followed by an n x 1 conv."""
    gen = torch.Generator().manual_seed(10)
    for c_in, mid, c_out, n in [(2, 3, 4, 3), (3, 5, 2, 7), (1, 1, 1, 5)]:
        row = torch.randn(mid, c_in, 1, n, generator=gen)
        column = torch.randn(c_out, mid, n, 1, generator=gen)
        kernel = compose(row, column)
        if kernel is None:
            raise NotImplementedError
        if tuple(kernel.shape) != (c_out, c_in, n, n):
            raise ExerciseError(f"the kernel should have shape {(c_out, c_in, n, n)} (C_out, C_in, n, n), "
                                f"got {tuple(kernel.shape)}")
        x = torch.randn(2, c_in, 11, 10, generator=gen)
        two_convs = F.conv2d(F.conv2d(x, row, padding=(0, n // 2)), column, padding=(n // 2, 0))
        expect(F.conv2d(x, kernel, padding=n // 2), two_convs,
               f"one {n}x{n} conv with your kernel vs 1x{n} then {n}x1", rtol=1e-4, atol=1e-4)


@checker(hint=(
    "List the block's layers in order with the channels each reads and writes. Which of them have "
    "parameters, and which one is missing when expand_ratio is 1?",
    "A 1x1 convolution from c to d channels has c * d weights; a depthwise 3x3 on h channels has one 3x3 filter "
    "per channel, 9 * h weights; none has a bias. Each batch norm adds a scale and a shift per channel. The "
    "hidden width is in_channels * expand_ratio, and the expanding 1x1 and its batch norm are left out when the "
    "ratio is 1.",
    "hidden = in_channels * expand_ratio. Weights: C_in*hidden (expand, only if the ratio is not 1) + "
    "9*hidden (depthwise: one 3x3 filter per channel) + hidden*C_out (project); each batch norm adds 2 per "
    "channel it normalises.",
))
def check_inverted_residual_params(inverted_residual_params):
    """``inverted_residual_params(in_channels, out_channels, expand_ratio)``, batch norms included."""
    for c_in, c_out, t in [(16, 24, 6), (32, 32, 6), (32, 16, 1), (24, 40, 4)]:
        expected = count_params(InvertedResidual(c_in, c_out, 1, t))
        got = as_int(inverted_residual_params(c_in, c_out, t), "inverted_residual_params(...)")
        if got != expected:
            raise ExerciseError(
                f"InvertedResidual({c_in} -> {c_out}, expand_ratio={t}) has {expected:,} parameters "
                f"(torchvision's count), got {got:,}")


hint = hint_function(__name__)
