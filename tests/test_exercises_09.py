"""Notebook 09's checkers reject planted wrong answers, each with a message that
says what differs (the contract every exercise keeps is tests/test_exercise_contract.py)."""

import pytest
import torch
import torch.nn.functional as F

from course_utils.exercises import ExerciseError, ex09
from solutions import ex09 as sol


def macs_unstrided(in_channels, mid_channels, out_channels, side, stride, stride_in):  # ignores the stride
    return sol.bottleneck_macs(in_channels, mid_channels, out_channels, side, 1, stride_in)


def macs_stride_always_on_3x3(in_channels, mid_channels, out_channels, side, stride, stride_in):
    return sol.bottleneck_macs(in_channels, mid_channels, out_channels, side, stride, "3x3")


def macs_floor_side(in_channels, mid_channels, out_channels, side, stride, stride_in):  # side // stride
    small = side // stride
    first = small if stride_in == "1x1" else side
    return first ** 2 * in_channels * mid_channels + small ** 2 * mid_channels * (9 * mid_channels + out_channels)


def macs_3x3_as_1x1(in_channels, mid_channels, out_channels, side, stride, stride_in):  # forgets k * k
    small = (side - 1) // stride + 1
    first = small if stride_in == "1x1" else side
    return first ** 2 * in_channels * mid_channels + small ** 2 * mid_channels * (mid_channels + out_channels)


def dense_conv_instead(x, depthwise_weight, pointwise_weight):
    """Sums over the input channels in the first step: not depthwise."""
    k = depthwise_weight.shape[-1]
    c = x.shape[1]
    full = depthwise_weight.permute(1, 0, 2, 3).expand(c, c, k, k)  # (C_in, C_in, k, k)
    return F.conv2d(F.conv2d(x, full, padding=k // 2), pointwise_weight)


def no_padding(x, depthwise_weight, pointwise_weight):
    filtered = F.conv2d(x, depthwise_weight, groups=x.shape[1])
    return F.conv2d(filtered, pointwise_weight)


def compose_transposed(row_weight, column_weight):
    """Rows and columns swapped: the kernel of n x 1 followed by 1 x n."""
    return sol.compose_factorised(row_weight, column_weight).transpose(2, 3)


def compose_wrong_shape(row_weight, column_weight):
    return sol.compose_factorised(row_weight, column_weight).transpose(0, 1)


def params_without_norms(in_channels, out_channels, expand_ratio):
    hidden = in_channels * expand_ratio
    return in_channels * hidden * (expand_ratio != 1) + 9 * hidden + hidden * out_channels


def params_always_expanding(in_channels, out_channels, expand_ratio):
    hidden = in_channels * expand_ratio
    return sol.inverted_residual_params(in_channels, out_channels, expand_ratio) + (
        (in_channels * hidden + 2 * hidden) if expand_ratio == 1 else 0)


@pytest.mark.parametrize("check,wrong,message", [
    (ex09.check_bottleneck_macs, macs_unstrided, "stride 2 on the 1x1"),
    (ex09.check_bottleneck_macs, macs_stride_always_on_3x3, "stride 2 on the 1x1"),
    (ex09.check_bottleneck_macs, macs_floor_side, "15x15"),
    (ex09.check_bottleneck_macs, macs_3x3_as_1x1, "256 -> 64 -> 256 on 56x56"),
    (ex09.check_depthwise_separable, dense_conv_instead, "depthwise_separable"),
    (ex09.check_depthwise_separable, no_padding, "depthwise_separable"),
    (ex09.check_compose_factorised, compose_transposed, "1x3 then 3x1"),
    (ex09.check_compose_factorised, compose_wrong_shape, "shape"),
    (ex09.check_inverted_residual_params, params_without_norms, "torchvision"),
    (ex09.check_inverted_residual_params, params_always_expanding, "expand_ratio=1"),
])
def test_wrong_answers_rejected(check, wrong, message):
    with pytest.raises(ExerciseError, match=message):
        check(wrong)


def test_non_integer_answer_rejected():
    with pytest.raises(ExerciseError, match="integer"):
        ex09.check_inverted_residual_params(lambda *args: torch.zeros(3))
