"""Notebook 08's checkers accept the reference solutions, reject wrong answers
and report stubs as not attempted."""

import pytest
from torch import nn

from course_utils.exercises import ExerciseError, ex08
from solutions import ex08 as sol


def stub(*args):
    raise NotImplementedError


@pytest.mark.parametrize("check,answer", [
    (ex08.check_vgg_params, sol.vgg_params),
    (ex08.check_receptive_field, sol.receptive_field),
    (ex08.check_vgg_block_bn, sol.vgg_block_bn),
])
def test_solution_accepted_and_stub_not_attempted(check, answer, capsys):
    assert check(answer) is True
    assert "correct" in capsys.readouterr().out
    assert check(stub) is False
    assert "not attempted" in capsys.readouterr().out


def params_floor_division(depth, in_channels, num_classes, input_size, width, hidden_features):
    """Right except that it rounds the pooled side down (28 px -> 0, not 1)."""
    total = sol.vgg_params(depth, in_channels, num_classes, input_size, width, hidden_features)
    side_ceil, side_floor = input_size, input_size
    for _ in range(5):
        side_ceil, side_floor = (side_ceil + 1) // 2, side_floor // 2
    c = max(1, round(512 * width))
    return total + c * hidden_features * (side_floor ** 2 - side_ceil ** 2)


def params_without_biases(depth, in_channels, num_classes, input_size, width, hidden_features):
    total = sol.vgg_params(depth, in_channels, num_classes, input_size, width, hidden_features)
    convs = sum(n for n, _ in sol._CONFIGS[depth])
    return total - convs  # a planted bug: forgets part of the biases


def receptive_field_ignores_stride(layers):
    return 1 + sum(k - 1 for k, _ in layers)


def receptive_field_multiplies_first(layers):
    r, jump = 1, 1
    for kernel, stride in layers:
        jump *= stride  # too early: the layer's own stride does not widen its own kernel
        r += (kernel - 1) * jump
    return r


def block_without_bn(num_convs, in_channels, out_channels):
    layers = []
    for _ in range(num_convs):
        layers += [nn.Conv2d(in_channels, out_channels, 3, padding=1), nn.ReLU()]
        in_channels = out_channels
    return nn.Sequential(*layers, nn.MaxPool2d(2, ceil_mode=True))


def block_relu_before_bn(num_convs, in_channels, out_channels):
    layers = []
    for _ in range(num_convs):
        layers += [nn.Conv2d(in_channels, out_channels, 3, padding=1), nn.ReLU(), nn.BatchNorm2d(out_channels)]
        in_channels = out_channels
    return nn.Sequential(*layers, nn.MaxPool2d(2, ceil_mode=True))


def block_floor_pool(num_convs, in_channels, out_channels):
    return nn.Sequential(*list(sol.vgg_block_bn(num_convs, in_channels, out_channels))[:-1], nn.MaxPool2d(2))


@pytest.mark.parametrize("check,wrong,message", [
    (ex08.check_vgg_params, params_floor_division, "input_size=28"),
    (ex08.check_vgg_params, params_without_biases, "off by"),
    (ex08.check_receptive_field, receptive_field_ignores_stride, "receptive_field"),
    (ex08.check_receptive_field, receptive_field_multiplies_first, "receptive_field"),
    (ex08.check_vgg_block_bn, block_without_bn, "conv \\+ batch-norm"),
    (ex08.check_vgg_block_bn, block_relu_before_bn, "different outputs"),
    (ex08.check_vgg_block_bn, block_floor_pool, "rounding up"),
])
def test_wrong_answers_rejected(check, wrong, message):
    with pytest.raises(ExerciseError, match=message):
        check(wrong)


def test_answer_of_wrong_type_rejected():
    with pytest.raises(ExerciseError, match="integer"):
        ex08.check_vgg_params(lambda *args: "many")
