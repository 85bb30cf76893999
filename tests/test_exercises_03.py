"""Notebook 03's checkers accept the reference solutions, reject planted wrong
answers and report stubs as not attempted."""

import pytest
import torch
import torch.nn.functional as F

from course_utils.exercises import ExerciseError, ex03
from solutions import ex03 as sol


def stub(*args):
    raise NotImplementedError


@pytest.mark.parametrize("check,answer", [
    (ex03.check_max_pool2d_ceil, sol.max_pool2d_ceil),
    (ex03.check_lp_pool_backward, sol.lp_pool_backward),
    (ex03.check_max_pool_backward, sol.max_pool_backward),
], ids=lambda v: getattr(v, "__name__", ""))
def test_solution_accepted_and_stub_not_attempted(check, answer, capsys):
    assert check(answer) is True
    assert "correct" in capsys.readouterr().out
    assert check(stub) is False
    out = capsys.readouterr().out
    assert "not attempted" in out and check.hints[-1] not in out


def ceil_without_the_start_rule(x, k, s):  # rounds up but keeps a window that starts past the edge
    h, w = x.shape[2:]
    size_h, size_w = -(-(h - k) // s) + 1, -(-(w - k) // s) + 1
    padded = F.pad(x, (0, k + s, 0, k + s), value=float("-inf"))
    out = x.new_empty(*x.shape[:2], size_h, size_w)
    for i in range(size_h):
        for j in range(size_w):
            out[:, :, i, j] = padded[:, :, i * s:i * s + k, j * s:j * s + k].amax(dim=(2, 3))
    return out


def floor_mode(x, k, s):
    return F.max_pool2d(x, k, s)


def ceil_pads_zeros(x, k, s):  # the overhanging part counts as zeros, which can win over negatives
    h, w = x.shape[2:]
    out = sol.max_pool2d_ceil(x, k, s)
    padded = F.pad(x, (0, k, 0, k))
    for i in range(out.shape[2]):
        for j in range(out.shape[3]):
            out[:, :, i, j] = padded[:, :, i * s:i * s + k, j * s:j * s + k].amax(dim=(2, 3))
    return out


def lp_backward_like_average(x, grad_output, k, s):  # forgets the chain rule through the square root
    grad = x.new_zeros(x.shape)
    for i in range(grad_output.shape[2]):
        for j in range(grad_output.shape[3]):
            grad[:, :, i * s:i * s + k, j * s:j * s + k] += grad_output[:, :, i, j, None, None] / (k * k)
    return grad


def lp_backward_overwrites(x, grad_output, k, s):  # = instead of +=: overlapping windows lose gradient
    out = F.lp_pool2d(x, 2, k, s)
    grad = x.new_zeros(x.shape)
    for i in range(out.shape[2]):
        for j in range(out.shape[3]):
            window = x[:, :, i * s:i * s + k, j * s:j * s + k]
            grad[:, :, i * s:i * s + k, j * s:j * s + k] = (grad_output[:, :, i, j] / out[:, :, i, j])[
                :, :, None, None] * window
    return grad


def lp_backward_missing_root(x, grad_output, k, s):  # the gradient of the sum of squares, 2x
    return sol.lp_pool_backward(x, grad_output, k, s) * F.lp_pool2d(x, 2, k, s).mean() * 2


def max_backward_spreads(x, grad_output, k, s):  # treats max like average
    return lp_backward_like_average(x, grad_output, k, s)


def max_backward_to_minimum(x, grad_output, k, s):  # routes to the arg-min
    return sol.max_pool_backward(-x, grad_output, k, s)


@pytest.mark.parametrize("check,wrong,message", [
    (ex03.check_max_pool2d_ceil, ceil_without_the_start_rule, "kernel_size=1, stride=3"),
    (ex03.check_max_pool2d_ceil, floor_mode, "ceil_mode=True should give"),
    (ex03.check_max_pool2d_ceil, ceil_pads_zeros, "max_pool2d_ceil"),
    (ex03.check_lp_pool_backward, lp_backward_like_average, "autograd"),
    (ex03.check_lp_pool_backward, lp_backward_overwrites, "kernel_size=3, stride=2"),  # first overlapping case
    (ex03.check_lp_pool_backward, lp_backward_missing_root, "autograd"),
    (ex03.check_max_pool_backward, max_backward_spreads, "autograd"),
    (ex03.check_max_pool_backward, max_backward_to_minimum, "autograd"),
])
def test_wrong_answers_rejected(check, wrong, message):
    with pytest.raises(ExerciseError, match=message):
        check(wrong)


def test_the_ceil_cases_include_a_window_that_would_start_outside():
    # The checker's case (H=5, kernel 1, stride 3): rounding up gives 3 windows, the third would start at 6.
    assert F.max_pool2d(torch.zeros(1, 1, 5, 5), 1, 3, ceil_mode=True).shape[-1] == 2


def test_checker_does_not_leak_autograd_input():
    seen = []

    def spy(x, grad_output, k, s):
        seen.append(x.requires_grad)
        return sol.max_pool_backward(x, grad_output, k, s)

    ex03.check_max_pool_backward(spy)
    assert seen and not any(seen)
