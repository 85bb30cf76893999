"""Notebook 03's checkers reject planted wrong answers, each with a message that
says what differs (the contract every exercise keeps is tests/test_exercise_contract.py)."""

import pytest
import torch
import torch.nn.functional as F

from course_utils.exercises import ExerciseError, ex03
from solutions import ex03 as sol


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


def adaptive_fixed_windows(grad_output, input_size):  # one window size n // m and stride for all
    (h, w), (m_h, m_w) = input_size, grad_output.shape[2:]
    kh, kw = h // m_h, w // m_w
    grad = grad_output.new_zeros(*grad_output.shape[:2], h, w)
    for i in range(m_h):
        for j in range(m_w):
            grad[:, :, i * kh:(i + 1) * kh, j * kw:(j + 1) * kw] += grad_output[:, :, i, j, None, None] / (kh * kw)
    return grad


def adaptive_sum_not_average(grad_output, input_size):  # forgets to divide by the window's size
    (h, w), (m_h, m_w) = input_size, grad_output.shape[2:]
    grad = grad_output.new_zeros(*grad_output.shape[:2], h, w)
    for i in range(m_h):
        h0, h1 = (i * h) // m_h, -(-((i + 1) * h) // m_h)
        for j in range(m_w):
            w0, w1 = (j * w) // m_w, -(-((j + 1) * w) // m_w)
            grad[:, :, h0:h1, w0:w1] += grad_output[:, :, i, j, None, None]
    return grad


def adaptive_floor_ends(grad_output, input_size):  # window ends rounded down: a row or column is missed
    (h, w), (m_h, m_w) = input_size, grad_output.shape[2:]
    grad = grad_output.new_zeros(*grad_output.shape[:2], h, w)
    for i in range(m_h):
        h0, h1 = (i * h) // m_h, max((i * h) // m_h + 1, ((i + 1) * h) // m_h)
        for j in range(m_w):
            w0, w1 = (j * w) // m_w, max((j * w) // m_w + 1, ((j + 1) * w) // m_w)
            grad[:, :, h0:h1, w0:w1] += grad_output[:, :, i, j, None, None] / ((h1 - h0) * (w1 - w0))
    return grad


def adaptive_overwrites(grad_output, input_size):  # = instead of +=: overlapping windows lose their shares
    (h, w), (m_h, m_w) = input_size, grad_output.shape[2:]
    grad = grad_output.new_zeros(*grad_output.shape[:2], h, w)
    for i in range(m_h):
        h0, h1 = (i * h) // m_h, -(-((i + 1) * h) // m_h)
        for j in range(m_w):
            w0, w1 = (j * w) // m_w, -(-((j + 1) * w) // m_w)
            grad[:, :, h0:h1, w0:w1] = grad_output[:, :, i, j, None, None] / ((h1 - h0) * (w1 - w0))
    return grad


def adaptive_input_shape_swapped(grad_output, input_size):
    return sol.adaptive_avg_pool_backward(grad_output, input_size[::-1])


@pytest.mark.parametrize("check,wrong,message", [
    (ex03.check_max_pool2d_ceil, ceil_without_the_start_rule, "kernel_size=1, stride=3"),
    (ex03.check_max_pool2d_ceil, floor_mode, "ceil_mode=True should give"),
    (ex03.check_max_pool2d_ceil, ceil_pads_zeros, "max_pool2d_ceil"),
    (ex03.check_lp_pool_backward, lp_backward_like_average, "autograd"),
    (ex03.check_lp_pool_backward, lp_backward_overwrites, "kernel_size=3, stride=2"),  # first overlapping case
    (ex03.check_lp_pool_backward, lp_backward_missing_root, "autograd"),
    (ex03.check_adaptive_avg_pool_backward, adaptive_fixed_windows, "7x7 -> 3x3"),
    (ex03.check_adaptive_avg_pool_backward, adaptive_sum_not_average, "autograd"),
    (ex03.check_adaptive_avg_pool_backward, adaptive_floor_ends, "autograd"),
    (ex03.check_adaptive_avg_pool_backward, adaptive_overwrites, "7x7 -> 3x3"),
    (ex03.check_adaptive_avg_pool_backward, adaptive_input_shape_swapped, "the input's shape"),
])
def test_wrong_answers_rejected(check, wrong, message):
    with pytest.raises(ExerciseError, match=message):
        check(wrong)


def test_the_ceil_cases_include_a_window_that_would_start_outside():
    # The checker's case (H=5, kernel 1, stride 3): rounding up gives 3 windows, the third would start at 6.
    assert F.max_pool2d(torch.zeros(1, 1, 5, 5), 1, 3, ceil_mode=True).shape[-1] == 2


def test_the_adaptive_cases_include_unequal_overlapping_and_growing_windows():
    sizes = [(h, m) for _, _, h, _, m, _ in ex03._ADAPTIVE_CASES]
    assert any(h % m for h, m in sizes), "windows of different sizes"
    assert any(m < h and h % m and -(-h // m) * m > h for h, m in sizes), "overlapping windows"
    assert any(m > h for h, m in sizes), "more outputs than inputs"


def test_checker_does_not_leak_autograd_input():
    seen = []

    def spy(grad_output, input_size):
        seen.append(grad_output.requires_grad)
        return sol.adaptive_avg_pool_backward(grad_output, input_size)

    ex03.check_adaptive_avg_pool_backward(spy)
    assert seen and not any(seen)
