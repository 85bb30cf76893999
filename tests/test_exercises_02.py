"""Notebook 02's checkers accept the reference solutions, reject planted wrong
answers and report stubs as not attempted."""

import pytest
import torch.nn.functional as F

from course_utils.exercises import ExerciseError, ex02
from solutions import ex02 as sol


def stub(*args):
    raise NotImplementedError


@pytest.mark.parametrize("check,answer", [
    (ex02.check_conv2d_stride_padding, sol.conv2d_stride_padding),
    (ex02.check_receptive_field, sol.receptive_field),
    (ex02.check_predict_shapes, sol.predict_shapes),
    (ex02.check_conv_cost, sol.conv_cost),
], ids=lambda v: getattr(v, "__name__", ""))
def test_solution_accepted_and_stub_not_attempted(check, answer, capsys):
    assert check(answer) is True
    assert "correct" in capsys.readouterr().out
    assert check(stub) is False
    out = capsys.readouterr().out
    assert "not attempted" in out and check.hints[-1] not in out


def conv_pads_one_side(x, weight, stride, padding):
    return F.conv2d(F.pad(x, (0, 2 * padding, 0, 2 * padding)), weight, stride=stride)


def conv_ignores_stride(x, weight, stride, padding):
    return sol.conv2d_stride_padding(x, weight, 1, padding)


def rf_ignores_stride(layers):
    return 1 + sum(d * (k - 1) for k, _, d in layers), 1


def rf_stride_too_early(layers):
    r, jump = 1, 1
    for k, s, d in layers:
        jump *= s
        r += d * (k - 1) * jump
    return r, jump


def rf_ignores_dilation(layers):
    return sol.receptive_field([(k, s, 1) for k, s, _ in layers])


def rf_without_jump(layers):
    return sol.receptive_field(layers)[0]


def shapes_ceil(height, width):  # rounds the output size up
    def size(n, k, s=1, p=0):
        return -(-(n + 2 * p - k) // s) + 1
    h, w = size(height, 5, 1, 2), size(width, 5, 1, 2)
    out = [(16, h, w)]
    h, w = size(h, 3, 2, 1), size(w, 3, 2, 1)
    out.append((32, h, w))
    h, w = size(h, 2, 2), size(w, 2, 2)
    out.append((32, h, w))
    h, w = size(h, 3), size(w, 3)
    return out + [(64, h, w), (10, h, w)]


def shapes_pool_changes_channels(height, width):
    shapes = sol.predict_shapes(height, width)
    shapes[2] = (64,) + shapes[2][1:]
    return shapes


def cost_without_bias(c_in, c_out, k, h, w, s, p):
    params, macs = sol.conv_cost(c_in, c_out, k, h, w, s, p)
    return params - c_out, macs


def cost_macs_on_input(c_in, c_out, k, h, w, s, p):
    params, _ = sol.conv_cost(c_in, c_out, k, h, w, s, p)
    return params, h * w * k * k * c_in * c_out


@pytest.mark.parametrize("check,wrong,message", [
    (ex02.check_conv2d_stride_padding, conv_pads_one_side, "padding"),
    (ex02.check_conv2d_stride_padding, conv_ignores_stride, "stride"),
    (ex02.check_receptive_field, rf_ignores_stride, "gradient"),
    (ex02.check_receptive_field, rf_stride_too_early, "gradient"),
    (ex02.check_receptive_field, rf_ignores_dilation, "gradient"),
    (ex02.check_receptive_field, rf_without_jump, "a pair"),
    (ex02.check_predict_shapes, shapes_ceil, "predicted"),
    (ex02.check_predict_shapes, shapes_pool_changes_channels, "predicted"),
    (ex02.check_conv_cost, cost_without_bias, "expected"),
    (ex02.check_conv_cost, cost_macs_on_input, "expected"),
])
def test_wrong_answers_rejected(check, wrong, message):
    with pytest.raises(ExerciseError, match=message):
        check(wrong)
