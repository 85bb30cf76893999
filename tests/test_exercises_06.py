"""Notebook 06's checkers accept the reference solutions, reject wrong answers
and report stubs as not attempted."""

import pytest
import torch
from torch import nn

from course_utils.exercises import ExerciseError, ex06
from solutions import ex06 as sol


def stub(*args):
    raise NotImplementedError


@pytest.mark.parametrize("check,answer", [
    (ex06.check_lenet_params, sol.lenet_params),
    (ex06.check_subsample, sol.subsample),
    (ex06.check_lenet_bn, sol.make_lenet_bn),
])
def test_solution_accepted_and_stub_not_attempted(check, answer, capsys):
    assert check(answer) is True
    assert "correct" in capsys.readouterr().out
    assert check(stub) is False
    out = capsys.readouterr().out
    assert "not attempted" in out and check.hints[-1] not in out, "a stub sees the nudge, not the recipe"
    assert len(check.hints) >= 2


def params_always_400_features(in_channels, num_classes, input_size, padding):
    """Right at 28/2 and 32/0 only: hard-codes the 16 x 5 x 5 feature map."""
    return sol.lenet_params(in_channels, num_classes, 28, 2)


def params_without_biases(in_channels, num_classes, input_size, padding):
    return sol.lenet_params(in_channels, num_classes, input_size, padding) - 6 - 16


def subsample_mean_not_sum(x, coefficient, bias):
    return torch.sigmoid(torch.nn.functional.avg_pool2d(x, 2) * coefficient[:, None, None] + bias[:, None, None])


def subsample_no_sigmoid(x, coefficient, bias):
    return torch.logit(sol.subsample(x, coefficient, bias))


def subsample_overlapping(x, coefficient, bias):
    sums = 4 * torch.nn.functional.avg_pool2d(x, 2, stride=1)
    return torch.sigmoid(sums * coefficient[:, None, None] + bias[:, None, None])


def lenet_without_bn():
    return nn.Sequential(*[m for m in sol.make_lenet_bn() if not isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d))])


def lenet_relu_before_bn():
    layers = list(sol.make_lenet_bn())
    layers[1], layers[2] = layers[2], layers[1]  # ReLU, then batch norm in the first block
    return nn.Sequential(*layers)


def lenet_avg_pool():
    layers = [nn.AvgPool2d(2) if isinstance(m, nn.MaxPool2d) else m for m in sol.make_lenet_bn()]
    return nn.Sequential(*layers)


@pytest.mark.parametrize("check,wrong,message", [
    (ex06.check_lenet_params, params_always_400_features, "off by"),
    (ex06.check_lenet_params, params_without_biases, "off by -22"),
    (ex06.check_subsample, subsample_mean_not_sum, "differ"),
    (ex06.check_subsample, subsample_no_sigmoid, "differ"),
    (ex06.check_subsample, subsample_overlapping, "should give"),
    (ex06.check_lenet_bn, lenet_without_bn, "in this order"),
    (ex06.check_lenet_bn, lenet_relu_before_bn, "different outputs"),
    (ex06.check_lenet_bn, lenet_avg_pool, "different outputs"),
])
def test_wrong_answers_rejected(check, wrong, message):
    with pytest.raises(ExerciseError, match=message):
        check(wrong)


def test_answer_of_wrong_type_rejected():
    with pytest.raises(ExerciseError, match="integer"):
        ex06.check_lenet_params(lambda *args: "many")
    with pytest.raises(ExerciseError, match="nn.Module"):
        ex06.check_lenet_bn(lambda: "a network")
