"""Notebook 02's checkers reject planted wrong answers, each with a message that
says what differs (the contract every exercise keeps is tests/test_exercise_contract.py)."""

import math

import pytest
import torch.nn.functional as F

from course_utils.exercises import ExerciseError, ex02
from solutions import ex02 as sol


def conv_pads_one_side(x, weight, stride, padding):
    return F.conv2d(F.pad(x, (0, 2 * padding, 0, 2 * padding)), weight, stride=stride)


def conv_ignores_stride(x, weight, stride, padding):
    return sol.conv2d_stride_padding(x, weight, 1, padding)


def layers_strictly_beyond(field, kernel_size, growth):  # stops only when the field exceeds the target
    return sol.layers_needed(field + 1, kernel_size, growth)


def layers_ignore_growth(field, kernel_size, growth):
    return sol.layers_needed(field, kernel_size, 1)


def layers_forget_the_kernel(field, kernel_size, growth):  # each layer adds its dilation, not d * (k - 1)
    return sol.layers_needed(field, 2, growth)


def layers_by_logarithm(field, kernel_size, growth):  # the closed form for doubling, used for every growth
    return max(0, math.ceil(math.log2((field - 1) / (kernel_size - 1) + 1)))


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


def transpose_shape_of_a_convolution(c_in, c_out, k, h, w, s, p):  # the forward formula, not its reverse
    _, params, macs = sol.conv_transpose_cost(c_in, c_out, k, h, w, s, p)
    return (c_out, (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1), params, macs


def transpose_macs_per_output_pixel(c_in, c_out, k, h, w, s, p):  # a convolution's count, on the output
    shape, params, _ = sol.conv_transpose_cost(c_in, c_out, k, h, w, s, p)
    return shape, params, shape[1] * shape[2] * k * k * c_in * c_out


def transpose_without_bias(c_in, c_out, k, h, w, s, p):
    shape, params, macs = sol.conv_transpose_cost(c_in, c_out, k, h, w, s, p)
    return shape, params - c_out, macs


def transpose_padding_added(c_in, c_out, k, h, w, s, p):  # padding grows the output, as it does a convolution's
    (c, hh, ww), params, macs = sol.conv_transpose_cost(c_in, c_out, k, h, w, s, p)
    return (c, hh + 4 * p, ww + 4 * p), params, macs


@pytest.mark.parametrize("check,wrong,message", [
    (ex02.check_conv2d_stride_padding, conv_pads_one_side, "padding"),
    (ex02.check_conv2d_stride_padding, conv_ignores_stride, "stride"),
    (ex02.check_layers_needed, layers_strictly_beyond, "should be"),
    (ex02.check_layers_needed, layers_ignore_growth, "should be"),
    (ex02.check_layers_needed, layers_forget_the_kernel, "should be"),
    (ex02.check_layers_needed, layers_by_logarithm, "should be"),
    (ex02.check_predict_shapes, shapes_ceil, "predicted"),
    (ex02.check_predict_shapes, shapes_pool_changes_channels, "predicted"),
    (ex02.check_conv_transpose_cost, transpose_shape_of_a_convolution, "the output has shape"),
    (ex02.check_conv_transpose_cost, transpose_padding_added, "the output has shape"),
    (ex02.check_conv_transpose_cost, transpose_macs_per_output_pixel, "multiply-adds"),
    (ex02.check_conv_transpose_cost, transpose_without_bias, "parameters"),
])
def test_wrong_answers_rejected(check, wrong, message):
    with pytest.raises(ExerciseError, match=message):
        check(wrong)
