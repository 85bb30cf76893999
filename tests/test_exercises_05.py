"""Notebook 05's checkers reject planted wrong answers, each with a message that
says what differs (the contract every exercise keeps is tests/test_exercise_contract.py)."""

import numpy as np
import pytest

from course_utils import numpy_nn
from course_utils.checks import numerical_gradient
from course_utils.exercises import ExerciseError, ex05
from solutions import ex05 as sol


def test_no_hint_names_the_culprit_of_the_bug_hunt():
    for tier in ex05.check_which_gradient_is_wrong.hints:
        assert "grad_input" not in tier.replace("suspects", ""), "a hint that names the culprit gives the hunt away"
    for check in (ex05.check_conv2d_backward, ex05.check_linear_backward):
        for tier in check.hints:
            assert "rotat" not in tier, "a hint that mentions the rotated kernel gives the bug hunt away"


def test_the_reference_layer_is_restored_after_checking():
    original = numpy_nn.Conv2d.backward
    ex05.check_conv2d_backward(sol.Conv2dWithMyBackward)
    with pytest.raises(ExerciseError):
        ex05.check_conv2d_backward(DelegatesToReference)
    assert numpy_nn.Conv2d.backward is original


def linear_backward_mean_bias(x, weight, grad_output):
    gi, gw, gb = sol.linear_backward(x, weight, grad_output)
    return gi, gw, grad_output.mean(axis=0)  # mean instead of sum


class DelegatesToReference(numpy_nn.Conv2d):
    def backward(self, grad_output):
        return super().backward(grad_output)


class NoRotation(sol.Conv2dWithMyBackward):
    """The planted bug of the bug hunt: the input gradient with the kernel unrotated."""

    def backward(self, grad_output):
        super().backward(grad_output)  # sets grad_weight and grad_bias correctly
        saved = self.weight
        self.weight = np.ascontiguousarray(saved[:, :, ::-1, ::-1])
        try:
            return sol.Conv2dWithMyBackward.backward(self, grad_output)
        finally:
            self.weight = saved


class IgnoresStride(sol.Conv2dWithMyBackward):
    def backward(self, grad_output):
        stride, self.stride = self.stride, (1, 1)
        try:
            _, _, ho, wo = grad_output.shape
            return super().backward(grad_output)
        finally:
            self.stride = stride


class KeepsPadding(sol.Conv2dWithMyBackward):
    def backward(self, grad_output):
        grad = super().backward(grad_output)
        (ph, pw) = self.padding
        return np.pad(grad, ((0, 0), (0, 0), (ph, ph), (pw, pw)))[:, :, :grad.shape[2], :grad.shape[3]]


class ForgetsToReturn(sol.Conv2dWithMyBackward):
    def backward(self, grad_output):
        super().backward(grad_output)


@pytest.mark.parametrize("check,wrong,match", [
    (ex05.check_linear_backward, linear_backward_mean_bias, "grad_bias"),
    (ex05.check_linear_backward, lambda x, w, g: (g @ w, g.T @ x), "tuple"),
    (ex05.check_which_gradient_is_wrong, "grad_weight", "agrees"),
    (ex05.check_which_gradient_is_wrong, "the kernel", "one of"),
    (ex05.check_conv2d_backward, DelegatesToReference, "calls numpy_nn.Conv2d.backward"),
    (ex05.check_conv2d_backward, NoRotation, "self.grad_weight|returned dL/dx"),
    (ex05.check_conv2d_backward, IgnoresStride, "stride=2"),
    (ex05.check_conv2d_backward, KeepsPadding, "padding=1"),
    (ex05.check_conv2d_backward, ForgetsToReturn, "returned None"),
    (ex05.check_conv2d_backward, numpy_nn.Conv2d, "does not define its own backward"),
    (ex05.check_conv2d_backward, sol.linear_backward, "subclass of numpy_nn.Conv2d"),
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
