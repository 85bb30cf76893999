"""Notebook 09's checkers accept the reference solutions, reject wrong answers
and report stubs as not attempted."""

import pytest
import torch
import torch.nn.functional as F

from course_utils.exercises import ExerciseError, ex09
from solutions import ex09 as sol


def stub(*args):
    raise NotImplementedError


@pytest.mark.parametrize("check,answer", [
    (ex09.check_inception_macs, sol.inception_macs),
    (ex09.check_depthwise_separable, sol.depthwise_separable),
    (ex09.check_compose_factorised, sol.compose_factorised),
    (ex09.check_inverted_residual_params, sol.inverted_residual_params),
])
def test_solution_accepted_and_stub_not_attempted(check, answer, capsys):
    assert check(answer) is True
    assert "correct" in capsys.readouterr().out
    assert check(stub) is False
    out = capsys.readouterr().out
    assert "not attempted" in out and check.hints[-1] not in out, "a stub sees the nudge, not the recipe"
    assert len(check.hints) >= 2


def macs_without_reductions(in_channels, side, ch1x1, ch3x3_reduce, ch3x3, ch5x5_reduce, ch5x5, pool_proj):
    """The naive block: 3x3 and 5x5 straight on the input."""
    return side * side * in_channels * (ch1x1 + 9 * ch3x3 + 25 * ch5x5 + pool_proj)


def macs_with_3x3_in_branch3(in_channels, side, ch1x1, ch3x3_reduce, ch3x3, ch5x5_reduce, ch5x5, pool_proj):
    """torchvision's kernel in the third branch, not the paper's 5x5."""
    full = sol.inception_macs(in_channels, side, ch1x1, ch3x3_reduce, ch3x3, ch5x5_reduce, ch5x5, pool_proj)
    return full - side * side * 16 * ch5x5_reduce * ch5x5


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
    (ex09.check_inception_macs, macs_without_reductions, "expected"),
    (ex09.check_inception_macs, macs_with_3x3_in_branch3, "expected"),
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
