"""Checkers for notebook 09 (Inception, NiN and efficient blocks)."""

import torch
import torch.nn.functional as F
from torchvision.models.mobilenetv2 import InvertedResidual

from course_utils.accounting import count_macs, count_params
from course_utils.exercises import ExerciseError, as_int, checker, expect, hint_function
from course_utils.models import googlenet


@checker(hint=(
    "Six convolutions in four branches, every one of them on a side x side map (the padding sees to that); "
    "the pool multiplies nothing.",
    "Add up H*W*k*k*C_in*C_out for the six convolutions: 1x1 (in -> ch1x1); 1x1 (in -> ch3x3_reduce) then "
    "3x3 (-> ch3x3); 1x1 (in -> ch5x5_reduce) then 5x5 (-> ch5x5); the 1x1 after the pool (in -> pool_proj).",
))
def check_inception_macs(inception_macs):
    """``inception_macs(in_channels, side, ch1x1, ch3x3_reduce, ch3x3, ch5x5_reduce, ch5x5, pool_proj)``."""
    cases = [
        (192, 28, 64, 96, 128, 16, 32, 32),  # inception 3a
        (832, 7, 384, 192, 384, 48, 128, 128),  # inception 5b
        (5, 9, 1, 2, 3, 4, 5, 6),
    ]
    for in_channels, side, *channels in cases:
        block = googlenet.Inception(in_channels, *channels, ch5x5_kernel_size=5)
        expected = count_macs(block, (1, in_channels, side, side))
        got = as_int(inception_macs(in_channels, side, *channels), "inception_macs(...)")
        if got != expected:
            raise ExerciseError(
                f"Inception{(in_channels, *channels)} on a {side}x{side} map: expected {expected:,} "
                f"multiply-adds (counted by PyTorch's FLOP counter), got {got:,}")


def _depthwise_separable_oracle(x, depthwise_weight, pointwise_weight):
    """Channel by channel, then a matrix product over channels: no ``groups``."""
    k = depthwise_weight.shape[-1]
    per_channel = [F.conv2d(x[:, c:c + 1], depthwise_weight[c:c + 1], padding=k // 2)
                   for c in range(x.shape[1])]
    filtered = torch.cat(per_channel, dim=1)  # (N, C_in, H, W)
    return torch.einsum("oi,nihw->nohw", pointwise_weight[:, :, 0, 0], filtered)  # (N, C_out, H, W)


@checker(hint=(
    "Two calls: the first filters each channel on its own (which argument of F.conv2d does that?), the "
    "second mixes the channels at every pixel.",
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
    "Three convolutions (expand 1x1, depthwise 3x3, project 1x1), each with a batch norm and no bias; the "
    "expansion is left out when the ratio is 1. Count each.",
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
