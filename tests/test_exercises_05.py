"""Notebook 05's checkers accept the reference solutions, reject wrong answers
and report stubs as not attempted."""

import numpy as np
import pytest

from course_utils.checks import numerical_gradient
from course_utils.exercises import ExerciseError, ex05
from solutions import ex05 as sol


def stub(*args):
    raise NotImplementedError


@pytest.mark.parametrize("check,answer", [
    (ex05.check_linear_backward, sol.linear_backward),
    (ex05.check_avg_pool_backward, sol.avg_pool_backward),
    (ex05.check_which_gradient_is_wrong, sol.which_gradient_is_wrong),
    (ex05.check_fixed_conv_backward, sol.fixed_conv_backward),
])
def test_solution_accepted(check, answer, capsys):
    assert check(answer) is True
    assert "correct" in capsys.readouterr().out


@pytest.mark.parametrize("check", [ex05.check_linear_backward, ex05.check_avg_pool_backward,
                                   ex05.check_fixed_conv_backward])
def test_stub_not_attempted(check, capsys):
    assert check(stub) is False
    assert "not attempted" in capsys.readouterr().out


def test_unanswered_question_not_attempted(capsys):
    assert ex05.check_which_gradient_is_wrong(None) is False
    assert "not attempted" in capsys.readouterr().out


def linear_backward_no_transpose(x, weight, grad_output):
    gi, gw, gb = sol.linear_backward(x, weight, grad_output)
    return gi, gw, grad_output.mean(axis=0)  # mean instead of sum


def avg_pool_no_share(grad_output, input_shape, kernel_size, stride):
    return sol.avg_pool_backward(grad_output, input_shape, kernel_size, stride) * kernel_size ** 2


def avg_pool_overwrites(grad_output, input_shape, kernel_size, stride):
    """Assigns instead of adding: right for disjoint windows, wrong for overlapping ones."""
    k, s = kernel_size, stride
    grad = np.zeros(input_shape)
    for i in range(grad_output.shape[2]):
        for j in range(grad_output.shape[3]):
            grad[:, :, i * s:i * s + k, j * s:j * s + k] = grad_output[:, :, i, j, None, None] / k ** 2
    return grad


@pytest.mark.parametrize("check,wrong,match", [
    (ex05.check_linear_backward, linear_backward_no_transpose, "grad_bias"),
    (ex05.check_linear_backward, lambda x, w, g: (g @ w, g.T @ x), "tuple"),
    (ex05.check_avg_pool_backward, avg_pool_no_share, "grad_input"),
    (ex05.check_avg_pool_backward, avg_pool_overwrites, "kernel_size=3, stride=1"),
    (ex05.check_fixed_conv_backward, ex05.buggy_conv_backward, "grad_input"),
    (ex05.check_which_gradient_is_wrong, "grad_weight", "agrees"),
    (ex05.check_which_gradient_is_wrong, "the kernel", "one of"),
])
def test_wrong_answers_rejected(check, wrong, match):
    with pytest.raises(ExerciseError, match=match):
        check(wrong)


def test_the_planted_bug_is_only_in_grad_input():
    """The exercise's premise, checked by finite differences (independent of autograd)."""
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((1, 2, 5, 5)), rng.standard_normal((3, 2, 3, 3))
    b = np.zeros(3)

    def forward():
        xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
        windows = np.lib.stride_tricks.sliding_window_view(xp, (3, 3), axis=(2, 3))  # (1, 2, 5, 5, 3, 3)
        return np.einsum("ncijuv,fcuv->nfij", windows, w) + b[None, :, None, None]

    g = rng.standard_normal((1, 3, 5, 5))
    gi, gw, gb = ex05.buggy_conv_backward(x, w, g, padding=1)

    def loss():
        return float((forward() * g).sum())

    def rel(a, b):
        return np.abs(a - b).max() / np.abs(b).max()

    assert rel(gi, numerical_gradient(loss, x)) > 0.1
    assert rel(gw, numerical_gradient(loss, w)) < 1e-6
    assert rel(gb, numerical_gradient(loss, b)) < 1e-6
