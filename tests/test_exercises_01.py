"""Notebook 01's checkers accept the reference solutions, reject planted wrong
answers and report stubs as not attempted."""

import pytest
import torch

from course_utils.exercises import ExerciseError, ex01
from solutions import ex01 as sol


def stub(*args):
    raise NotImplementedError


CHECKS = [
    (ex01.check_corr2d_multi_in_out, sol.corr2d_multi_in_out),
    (ex01.check_conv1x1, sol.conv1x1),
    (ex01.check_learn_kernel, sol.learn_kernel),
    (ex01.check_conv_matrix, sol.conv_matrix),
]


@pytest.mark.parametrize("check,answer", CHECKS, ids=lambda v: getattr(v, "__name__", ""))
def test_solution_accepted_and_stub_not_attempted(check, answer, capsys):
    assert check(answer) is True
    assert "correct" in capsys.readouterr().out
    assert check(stub) is False
    assert "not attempted" in capsys.readouterr().out


def multi_in_out_flipped(x, kernel):  # true convolution: kernel rotated by 180 degrees
    return sol.corr2d_multi_in_out(x, kernel.flip(2, 3))


def multi_in_out_channel_mean(x, kernel):  # averages over input channels instead of summing
    return sol.corr2d_multi_in_out(x, kernel) / x.shape[0]


def conv1x1_no_bias(x, weight, bias):
    return sol.conv1x1(x, weight, torch.zeros_like(bias))


def conv1x1_transposed_weight(x, weight, bias):  # (C_in, C_out) read as (C_out, C_in)
    c_in, h, w = x.shape
    c_out = weight.shape[0]
    mixed = weight.reshape(c_in, c_out).T @ x.reshape(c_in, h * w)  # a wrong reshape of the weight
    return (mixed + bias[:, None]).reshape(c_out, h, w)


def learn_kernel_too_few_steps(x, y, kernel_size):
    return sol.learn_kernel(x, y, kernel_size, steps=3)


def learn_kernel_transposed(x, y, kernel_size):
    k = sol.learn_kernel(x, y, kernel_size)
    return k.T.reshape(kernel_size)


def conv_matrix_flipped(kernel, input_size):  # the matrix of true convolution
    return sol.conv_matrix(kernel.flip(0, 1), input_size)


def conv_matrix_transposed(kernel, input_size):  # maps outputs to inputs instead
    return sol.conv_matrix(kernel, input_size).T


@pytest.mark.parametrize("check,wrong,message", [
    (ex01.check_corr2d_multi_in_out, multi_in_out_flipped, "corr2d_multi_in_out"),
    (ex01.check_corr2d_multi_in_out, multi_in_out_channel_mean, "tensors differ"),
    (ex01.check_conv1x1, conv1x1_no_bias, "conv1x1"),
    (ex01.check_conv1x1, conv1x1_transposed_weight, "conv1x1"),
    (ex01.check_learn_kernel, learn_kernel_too_few_steps, "kernel learned"),
    (ex01.check_learn_kernel, learn_kernel_transposed, "kernel learned"),
    (ex01.check_conv_matrix, conv_matrix_flipped, "conv_matrix"),
    (ex01.check_conv_matrix, conv_matrix_transposed, "shape mismatch"),
])
def test_wrong_answers_rejected(check, wrong, message):
    with pytest.raises(ExerciseError, match=message):
        check(wrong)


def test_crash_is_reported_as_exercise_error():
    with pytest.raises(ExerciseError, match="raised"):
        ex01.check_conv1x1(lambda x, w, b: x @ w)
