"""Notebook 07's checkers reject planted wrong answers, each with a message that
says what differs (the contract every exercise keeps is tests/test_exercise_contract.py)."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course_utils.exercises import ExerciseError, ex07
from course_utils.models import alexnet
from solutions import ex07 as sol


def range_forward_formula(output_side, layers):  # the smallest input only, and from the forward formula
    lo, _ = sol.input_range(output_side, layers)
    return lo, lo


def range_without_padding(output_side, layers):
    return sol.input_range(output_side, [(k, s, 0) for k, s, _ in layers])


def range_forwards(output_side, layers):  # undoes the layers first to last instead of last to first
    lo, hi = sol.input_range(output_side, layers[::-1])
    return lo, hi


def range_hi_too_far(output_side, layers):  # s more at the top instead of s - 1
    lo, hi = sol.input_range(output_side, layers)
    return lo, hi + 1


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
    (ex07.check_input_range, range_forward_formula, "run from 227 to 258"),
    (ex07.check_input_range, range_without_padding, "run from 227 to 258"),
    (ex07.check_input_range, range_forwards, "run from"),
    (ex07.check_input_range, range_hi_too_far, "run from 227 to 258"),
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
    with pytest.raises(ExerciseError, match="two integers"):
        ex07.check_input_range(lambda *args: "many")


def test_the_layers_are_alexnets():
    """The checker's description of AlexNet maps sides as the course's model does, for both first layers."""
    for stem in ((11, 4, 0), (11, 4, 2)):
        model = alexnet.alexnet(1, 10, input_size=227, width=0.0625, hidden_features=8, stem=stem)
        sides = []
        hooks = [m.register_forward_hook(lambda m, args, out, sides=sides: sides.append(out.shape[-1]))
                 for m in model.features if isinstance(m, (nn.Conv2d, nn.MaxPool2d))]
        with torch.no_grad():
            model.features(torch.zeros(1, 1, 227, 227))
        for h in hooks:
            h.remove()
        layers = ex07.alexnet_layers(stem)
        assert len(sides) == len(layers) == 8
        assert [ex07._measured_side(227, layers[:i + 1]) for i in range(8)] == sides
