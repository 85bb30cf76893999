"""Notebook 03's checkers accept the reference solutions, reject planted wrong
answers and report stubs as not attempted."""

import pytest
import torch.nn.functional as F

from course_utils.exercises import ExerciseError, ex03
from solutions import ex03 as sol


def stub(*args):
    raise NotImplementedError


@pytest.mark.parametrize("check,answer", [
    (ex03.check_max_pool2d, sol.max_pool2d),
    (ex03.check_avg_pool_backward, sol.avg_pool_backward),
    (ex03.check_max_pool_backward, sol.max_pool_backward),
], ids=lambda v: getattr(v, "__name__", ""))
def test_solution_accepted_and_stub_not_attempted(check, answer, capsys):
    assert check(answer) is True
    assert "correct" in capsys.readouterr().out
    assert check(stub) is False
    assert "not attempted" in capsys.readouterr().out


def max_pool_zero_padding(x, k, s, p):  # zero padding wins over negative inputs
    return F.max_pool2d(F.pad(x, (p, p, p, p)), k, s)


def max_pool_average(x, k, s, p):
    return F.avg_pool2d(x, k, s, p)


def avg_backward_undivided(grad_output, input_size, k, s):
    return sol.avg_pool_backward(grad_output, input_size, k, s) * (k * k)


def avg_backward_overwrites(grad_output, input_size, k, s):  # = instead of +=: overlaps lose gradient
    n, c, out_h, out_w = grad_output.shape
    g = grad_output.new_zeros(n, c, *input_size)
    for i in range(out_h):
        for j in range(out_w):
            g[:, :, i * s:i * s + k, j * s:j * s + k] = grad_output[:, :, i, j, None, None] / (k * k)
    return g


def max_backward_spreads(x, grad_output, k, s):  # treats max like average
    return sol.avg_pool_backward(grad_output, tuple(x.shape[2:]), k, s)


def max_backward_to_minimum(x, grad_output, k, s):  # routes to the arg-min
    return sol.max_pool_backward(-x, grad_output, k, s)


@pytest.mark.parametrize("check,wrong,message", [
    (ex03.check_max_pool2d, max_pool_zero_padding, "padding=1"),
    (ex03.check_max_pool2d, max_pool_average, "max_pool2d"),
    (ex03.check_avg_pool_backward, avg_backward_undivided, "autograd"),
    (ex03.check_avg_pool_backward, avg_backward_overwrites, "kernel_size=3, stride=2"),  # first overlapping case
    (ex03.check_max_pool_backward, max_backward_spreads, "autograd"),
    (ex03.check_max_pool_backward, max_backward_to_minimum, "autograd"),
])
def test_wrong_answers_rejected(check, wrong, message):
    with pytest.raises(ExerciseError, match=message):
        check(wrong)


def test_checker_does_not_leak_autograd_input():
    seen = []

    def spy(x, grad_output, k, s):
        seen.append(x.requires_grad)
        return sol.max_pool_backward(x, grad_output, k, s)

    ex03.check_max_pool_backward(spy)
    assert seen and not any(seen)
