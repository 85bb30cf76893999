"""Notebook 08's checkers reject planted wrong answers, each with a message that
says what differs (the contract every exercise keeps is tests/test_exercise_contract.py)."""

import pytest
import torch

from course_utils.exercises import ExerciseError, ex08
from solutions import ex08 as sol


def test_a_dict_of_none_is_not_attempted(capsys):
    assert ex08.check_receptive_fields(dict.fromkeys(ex08.NETWORKS)) is False


def test_the_known_answers():
    # VGG-16's pool5 units see 212x212 pixels; the context module of Yu & Koltun (2016) 67x67.
    assert sol.receptive_fields == {"vgg16_pool5": 212, "resnet_stem": 43, "context_module": 67}


def vgg_params_floor(depth, c, k, size, width, hidden):  # rounds the pooled side down
    total = sol.vgg_params(depth, c, k, size, width, hidden)
    side_up, side_down = size, size
    for _ in range(5):
        side_up, side_down = (side_up + 1) // 2, side_down // 2
    last = max(1, round(512 * width))
    return total + last * (side_down ** 2 - side_up ** 2) * hidden


def vgg_params_no_bias(depth, c, k, size, width, hidden):  # forgets the convolutions' biases
    biases = sum(max(1, round(channels * width)) * n for n, channels in sol._CONFIGS[depth])
    return sol.vgg_params(depth, c, k, size, width, hidden) - biases


def fields_ignoring_dilation():
    return {name: sol.receptive_field([(k, s, 1) for k, s, _ in layers]) for name, layers in ex08.NETWORKS.items()}


def fields_ignoring_pools():
    return {name: sol.receptive_field([layer for layer in layers if layer[:2] != (2, 2)])
            for name, layers in ex08.NETWORKS.items()}


def two_convs_transposed_kernel(kernel):
    return sol.two_convs_for(kernel.T)


def two_convs_wrong_shapes(kernel):
    w1, w2 = sol.two_convs_for(kernel)
    return w1, w2[0]


@pytest.mark.parametrize("check,wrong,match", [
    (ex08.check_vgg_params, vgg_params_floor, "off by"),
    (ex08.check_vgg_params, vgg_params_no_bias, "off by"),
    (ex08.check_receptive_fields, fields_ignoring_dilation(), "context_module"),
    (ex08.check_receptive_fields, fields_ignoring_pools(), "vgg16_pool5"),
    (ex08.check_receptive_fields, {"vgg16_pool5": 212}, "no answer for"),
    (ex08.check_receptive_fields, [212, 43, 67], "dict"),
    (ex08.check_two_3x3_as_5x5, two_convs_transposed_kernel, "vs one 5x5"),
    (ex08.check_two_3x3_as_5x5, two_convs_wrong_shapes, "w2 should have shape"),
    (ex08.check_two_3x3_as_5x5, lambda k: (torch.zeros(4, 1, 5, 5), torch.zeros(1, 4, 3, 3)), "w1 should"),
])
def test_wrong_answers_rejected(check, wrong, match):
    with pytest.raises(ExerciseError, match=match):
        check(wrong)
