"""Notebook 01's checkers reject planted wrong answers, each with a message that
says what differs (the contract every exercise keeps is tests/test_exercise_contract.py)."""

import pytest
import torch
import torch.nn.functional as F

from course_utils.exercises import ExerciseError, ex01
from solutions import ex01 as sol


def test_a_kernel_given_as_a_function_counts_too():
    assert ex01.check_spot_detector(lambda: sol.spot_detector) is True


def separable_swapped(x, column, row):  # the kernel outer(row, column): rows and columns mixed up
    return F.conv2d(x[None, None], (row[:, None] * column[None, :])[None, None])[0, 0]


def separable_flipped(x, column, row):  # true convolution instead of correlation
    return sol.separable_corr2d(x, column.flip(0), row.flip(0))


def fit_conv_gradient_descent(x, y, kernel_size, steps=30):  # a rough iterative fit is not exact
    weight = torch.zeros(y.shape[1], x.shape[1], kernel_size, kernel_size, dtype=x.dtype, requires_grad=True)
    bias = torch.zeros(y.shape[1], dtype=x.dtype, requires_grad=True)
    opt = torch.optim.SGD([weight, bias], lr=0.05)
    for _ in range(steps):
        opt.zero_grad()
        ((F.conv2d(x, weight, bias) - y) ** 2).mean().backward()
        opt.step()
    return weight.detach(), bias.detach()


def fit_conv_without_bias(x, y, kernel_size):
    weight, bias = sol.fit_conv(x, y, kernel_size)
    return weight, torch.zeros_like(bias)


def fit_conv_flat_weight(x, y, kernel_size):
    weight, bias = sol.fit_conv(x, y, kernel_size)
    return weight.reshape(weight.shape[0], -1), bias


@pytest.mark.parametrize("check,wrong,message", [
    (ex01.check_separable_corr2d, separable_swapped, "separable_corr2d|valid positions"),
    (ex01.check_separable_corr2d, separable_flipped, "separable_corr2d"),
    (ex01.check_spot_detector, torch.tensor([[-1.0, 0, 1], [-2, 0, 2], [-1, 0, 1]]), "ramp"),  # Sobel: an edge
    (ex01.check_spot_detector, torch.full((3, 3), 1 / 9), "ramp"),  # a blur
    (ex01.check_spot_detector, torch.tensor([[0.0, 0, 0], [1, -2, 1], [0, 0, 0]]), "rotated"),  # rows only
    (ex01.check_spot_detector, torch.zeros(3, 3), "does not see spots"),
    (ex01.check_spot_detector, torch.zeros(5, 5), "3x3"),
    (ex01.check_fit_conv, fit_conv_gradient_descent, "weight found"),
    (ex01.check_fit_conv, fit_conv_without_bias, "bias found"),
    (ex01.check_fit_conv, fit_conv_flat_weight, "should have shape"),
    (ex01.check_conv_matrix, lambda k, size: sol.conv_matrix(k.flip(0, 1), size), "conv_matrix"),
    (ex01.check_conv_matrix, lambda k, size: sol.conv_matrix(k, size).T, "shape mismatch"),
])
def test_wrong_answers_rejected(check, wrong, message):
    with pytest.raises(ExerciseError, match=message):
        check(wrong)
