"""Notebook 06's checkers reject planted wrong answers, each with a message that
says what differs (the contract every exercise keeps is tests/test_exercise_contract.py)."""

import pytest
import torch
from torch import nn

from course_utils.exercises import ExerciseError, ex06
from solutions import ex06 as sol


def test_the_paper_table_gives_the_paper_total():
    """LeCun et al. (1998): 60 S2 -> C3 connections, 1,516 parameters in C3, 60,000 trainable in all."""
    assert int(ex06.LENET_1998_TABLE.sum()) == 60
    assert sol.lenet1998_params(ex06.LENET_1998_TABLE) == 60_000


def params_full_c3(table):  # the simplified LeNet's C3: every S2 map into every C3 map
    return sol.lenet1998_params(torch.ones(6, 16, dtype=torch.bool))


def params_without_subsampling(table):  # S2 and S4 as parameter-free averages
    return sol.lenet1998_params(table) - 12 - 32


def params_with_rbf_centres(table):  # the fixed output centres counted as trained
    return sol.lenet1998_params(table) + 84 * 10


def params_one_bias_per_connection(table):
    return sol.lenet1998_params(table) - 16 + int(table.sum())


def subsample_mean_not_sum(x, coefficient, bias):
    return torch.sigmoid(torch.nn.functional.avg_pool2d(x, 2) * coefficient[:, None, None] + bias[:, None, None])


def subsample_no_sigmoid(x, coefficient, bias):
    return torch.logit(sol.subsample(x, coefficient, bias))


def subsample_overlapping(x, coefficient, bias):
    sums = 4 * torch.nn.functional.avg_pool2d(x, 2, stride=1)
    return torch.sigmoid(sums * coefficient[:, None, None] + bias[:, None, None])


def lean_keeps_every_bias():
    layers = list(sol.lenet_bn_lean())
    for i, m in enumerate(layers):
        if isinstance(m, nn.Conv2d):
            layers[i] = nn.Conv2d(m.in_channels, m.out_channels, m.kernel_size, padding=m.padding)
        elif isinstance(m, nn.Linear):
            layers[i] = nn.Linear(m.in_features, m.out_features)
    return nn.Sequential(*layers)


def lean_drops_the_last_bias_too():
    layers = list(sol.lenet_bn_lean())
    layers[-1] = nn.Linear(84, 10, bias=False)
    return nn.Sequential(*layers)


def lean_drops_the_batch_norm_shift_instead():  # 226 parameters fewer too, but the wrong 226
    layers = list(lean_keeps_every_bias())
    for i, m in enumerate(layers):
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            layers[i] = type(m)(m.num_features, bias=False)
    return nn.Sequential(*layers)


def lean_without_batch_norm():
    return nn.Sequential(*[m for m in sol.lenet_bn_lean() if not isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d))])


def lean_relu_before_bn():
    layers = list(sol.lenet_bn_lean())
    layers[1], layers[2] = layers[2], layers[1]  # ReLU, then batch norm in the first block
    return nn.Sequential(*layers)


@pytest.mark.parametrize("check,wrong,message", [
    (ex06.check_lenet1998_params, params_full_c3, "the paper's Table I"),
    (ex06.check_lenet1998_params, params_without_subsampling, "off by -44"),
    (ex06.check_lenet1998_params, params_with_rbf_centres, "off by \\+840"),
    (ex06.check_lenet1998_params, params_one_bias_per_connection, "off by \\+44"),
    (ex06.check_subsample, subsample_mean_not_sum, "differ"),
    (ex06.check_subsample, subsample_no_sigmoid, "differ"),
    (ex06.check_subsample, subsample_overlapping, "should give"),
    (ex06.check_lenet_bn_lean, lean_keeps_every_bias, "226 of your network's 62,158 parameters"),
    (ex06.check_lenet_bn_lean, lean_drops_the_last_bias_too, "a parameter you removed"),
    (ex06.check_lenet_bn_lean, lean_drops_the_batch_norm_shift_instead, "a parameter you removed"),
    (ex06.check_lenet_bn_lean, lean_without_batch_norm, "in this order"),
    (ex06.check_lenet_bn_lean, lean_relu_before_bn, "computes something else"),
])
def test_wrong_answers_rejected(check, wrong, message):
    with pytest.raises(ExerciseError, match=message):
        check(wrong)


def test_answer_of_wrong_type_rejected():
    with pytest.raises(ExerciseError, match="integer"):
        ex06.check_lenet1998_params(lambda table: "many")
    with pytest.raises(ExerciseError, match="nn.Module"):
        ex06.check_lenet_bn_lean(lambda: "a network")
