"""Notebook 07's checkers accept the reference solutions, reject wrong answers
and report stubs as not attempted."""

import pytest
import torch
import torch.nn.functional as F

from course_utils.exercises import ExerciseError, ex07
from solutions import ex07 as sol


def stub(*args):
    raise NotImplementedError


@pytest.mark.parametrize("check,answer", [
    (ex07.check_feature_sides, sol.feature_sides),
    (ex07.check_grouped_conv2d, sol.grouped_conv2d),
    (ex07.check_local_response_norm, sol.local_response_norm),
    (ex07.check_dropout, sol.dropout),
])
def test_solution_accepted_and_stub_not_attempted(check, answer, capsys):
    assert check(answer) is True
    assert "correct" in capsys.readouterr().out
    assert check(stub) is False
    out = capsys.readouterr().out
    assert "not attempted" in out and check.hints[-1] not in out, "a stub sees the nudge, not the recipe"
    assert len(check.hints) >= 2


def sides_pool_padding_one(input_size, kernel_size, stride, padding):
    sides = sol.feature_sides(input_size, kernel_size, stride, padding)
    return [sides[0], (sides[0] + 2 - 3) // 2 + 1] + sides[2:]


def sides_ceil(input_size, kernel_size, stride, padding):
    import math

    first = math.ceil((input_size + 2 * padding - kernel_size) / stride) + 1
    return [first] + sol.feature_sides(input_size, kernel_size, stride, padding)[1:]


def grouped_ignores_groups(x, weight, bias, groups, padding):
    return F.conv2d(x[:, : weight.shape[1]], weight, bias, padding=padding)


def grouped_wrong_weight_split(x, weight, bias, groups, padding):
    xs, ws = x.chunk(groups, dim=1), weight.chunk(groups, dim=0)
    ws = ws[::-1]  # each half of the filters applied to the other half of the channels
    return torch.cat([F.conv2d(a, w, b, padding=padding) for a, w, b in zip(xs, ws, bias.chunk(groups))], dim=1)


def lrn_paper_alpha(x, size, alpha, beta, k):
    """The paper's convention: alpha not divided by size."""
    return sol.local_response_norm(x, size, alpha * size, beta, k)


def lrn_absolute_values(x, size, alpha, beta, k):
    """Sums |a_j| instead of a_j^2 over the neighbouring channels."""
    sums = torch.stack([x.abs()[:, max(0, c - size // 2): c + size // 2 + 1].sum(dim=1)
                        for c in range(x.shape[1])], dim=1)  # (N, C, H, W)
    return x / (k + alpha / size * sums) ** beta


def lrn_one_sided_window(x, size, alpha, beta, k):
    """Looks only at the channels after c, not those around it."""
    sums = torch.stack([(x ** 2)[:, c: c + size].sum(dim=1) for c in range(x.shape[1])], dim=1)  # (N, C, H, W)
    return x / (k + alpha / size * sums) ** beta


def dropout_not_scaled(x, p, training):
    return x * (torch.rand_like(x) >= p) if training else x


def dropout_fixed_mask(x, p, training):
    if not training:
        return x
    gen = torch.Generator().manual_seed(0)
    return x * (torch.rand(x.shape, generator=gen) >= p) / (1 - p)


def dropout_keeps_p(x, p, training):
    return x * (torch.rand_like(x) < p) / p if training else x


def dropout_also_in_eval(x, p, training):
    return sol.dropout(x, p, True)


@pytest.mark.parametrize("check,wrong,message", [
    (ex07.check_feature_sides, sides_pool_padding_one, "should be"),
    (ex07.check_feature_sides, sides_ceil, "should be"),
    (ex07.check_grouped_conv2d, grouped_ignores_groups, "differ"),
    (ex07.check_grouped_conv2d, grouped_wrong_weight_split, "differ"),
    (ex07.check_local_response_norm, lrn_paper_alpha, "differ"),
    (ex07.check_local_response_norm, lrn_absolute_values, "differ"),
    (ex07.check_local_response_norm, lrn_one_sided_window, "differ"),
    (ex07.check_dropout, dropout_not_scaled, "x / \\(1 - p\\)"),
    (ex07.check_dropout, dropout_fixed_mask, "fresh mask"),
    (ex07.check_dropout, dropout_keeps_p, "should be zero"),
    (ex07.check_dropout, dropout_also_in_eval, "unchanged"),
])
def test_wrong_answers_rejected(check, wrong, message):
    with pytest.raises(ExerciseError, match=message):
        check(wrong)


def test_answer_of_wrong_type_rejected():
    with pytest.raises(ExerciseError, match="eight integers"):
        ex07.check_feature_sides(lambda *args: "many")
