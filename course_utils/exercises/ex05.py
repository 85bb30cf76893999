"""Checkers for notebook 05 (manual backpropagation in NumPy).

Answers are NumPy functions; the checkers compare them with PyTorch autograd
in float64 on random inputs of several shapes.
"""

import numpy as np
import torch
import torch.nn.functional as F

from course_utils import numpy_nn
from course_utils.exercises import ExerciseError, checker, expect, hint_function

_GRAD_NAMES = ("grad_input", "grad_weight", "grad_bias")


def _t(a, grad=False):
    return torch.tensor(a, dtype=torch.float64, requires_grad=grad)


def _as_triple(result, what):
    if result is None:
        return None
    if not (isinstance(result, (tuple, list)) and len(result) == 3):
        raise ExerciseError(f"{what} should return a tuple (grad_input, grad_weight, grad_bias), got "
                            f"{type(result).__name__}")
    return result


@checker(hint=(
    "Write one output y[n, i] as a sum over j and ask, for each of x[n, j], W[i, j] and b[i]: in which outputs "
    "does it appear, and with which factor?",
    "Each gradient adds up, over every output a quantity touched, the upstream gradient there times the "
    "quantity's factor: x[n, j] reaches the outputs of example n through the column W[:, j]; W[i, j] reaches "
    "output i of every example through x[n, j]; b[i] reaches output i of every example with factor 1. Each "
    "result has the shape of what it differentiates.",
    "With y = x W^T + b and g = dL/dy: dL/dx = g W, dL/dW = g^T x, dL/db = g summed over the batch.",
))
def check_linear_backward(linear_backward):
    """``linear_backward(x, weight, grad_output)`` -> ``(grad_input, grad_weight, grad_bias)``."""
    rng = np.random.default_rng(50)
    for n, fin, fout in [(4, 6, 3), (1, 5, 5), (7, 2, 9)]:
        x, w = rng.standard_normal((n, fin)), rng.standard_normal((fout, fin))
        b, g = rng.standard_normal(fout), rng.standard_normal((n, fout))
        xt, wt, bt = _t(x, True), _t(w, True), _t(b, True)
        F.linear(xt, wt, bt).backward(_t(g))
        result = _as_triple(linear_backward(x.copy(), w.copy(), g.copy()), "linear_backward")
        if result is None:
            return expect(None, None, "")
        for name, mine, ref in zip(_GRAD_NAMES, result, (xt.grad, wt.grad, bt.grad)):
            expect(mine, ref, f"{name} for x of shape {x.shape} and weight {w.shape}")


def buggy_conv_backward(x, weight, grad_output, padding=0):
    """Backward pass of a stride-1 convolution, with ONE planted bug.

    Args:
        x: the layer's input, ``(N, C, H, W)``.
        weight: ``(F, C, k, k)``.
        grad_output: the upstream gradient dL/dy, ``(N, F, H_out, W_out)``.
        padding: the zero padding used in the forward pass.

    Returns:
        ``(grad_input, grad_weight, grad_bias)``; one of them is wrong.
    """
    n, c, h, w = x.shape
    k = weight.shape[2]
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))  # (N, C, Hp, Wp)
    hp, wp = xp.shape[2:]
    ho, wo = grad_output.shape[2:]

    grad_bias = grad_output.sum(axis=(0, 2, 3))

    grad_weight = np.zeros_like(weight)
    for u in range(k):
        for v in range(k):
            patch = xp[:, :, u:u + ho, v:v + wo]  # (N, C, H_out, W_out)
            grad_weight[:, :, u, v] = np.einsum("nfij,ncij->fc", grad_output, patch)

    g_full = np.pad(grad_output, ((0, 0), (0, 0), (k - 1, k - 1), (k - 1, k - 1)))  # (N, F, Hp+k-1, Wp+k-1)
    kernel = weight
    grad_xp = np.zeros_like(xp)
    for u in range(k):
        for v in range(k):
            grad_xp += np.einsum("nfij,fc->ncij", g_full[:, :, u:u + hp, v:v + wp], kernel[:, :, u, v])
    grad_input = grad_xp[:, :, padding:padding + h, padding:padding + w]
    return grad_input, grad_weight, grad_bias


@checker(hint=(
    "You need not understand buggy_conv_backward at all. What do you know, independently of its code, that "
    "each of the three gradients must agree with?",
    "A gradient entry is how much the loss changes per unit change of one input, and a finite difference of "
    "the loss measures exactly that, knowing nothing of the backward code. Measure all three and compare each "
    "with its suspect by relative error: the right ones agree to many digits, the wrong one does not.",
    "suspects[k] against numerical_gradient(loss, x), numerical_gradient(loss, conv.weight) and "
    "numerical_gradient(loss, conv.bias) for k = 0, 1, 2: relative_error(a, b) is about 1e-9 for a right "
    "gradient and near 1 for the wrong one.",
))
def check_which_gradient_is_wrong(name):
    """Name the gradient that ``buggy_conv_backward`` gets wrong."""
    if not isinstance(name, str) or name not in _GRAD_NAMES:
        raise ExerciseError(f"answer with one of {_GRAD_NAMES}, got {name!r}")
    if name != "grad_input":
        raise ExerciseError(f"{name} agrees with the finite differences: check the other gradients")


class _ReferenceCalled(Exception):
    pass


def _refuse(self, grad_output):
    raise _ReferenceCalled()


@checker(hint=(
    "Three jobs: the bias gradient, the weight gradient and the input gradient, which the notebook derived for "
    "stride 1 without padding. With a stride, which input pixels did output (i, j) read, and through which "
    "weights?",
    "See the forward pass as meetings: kernel offset (u, v) met padded-input pixel (i * s + u, j * s + v) in "
    "output (i, j). Each meeting sends grad_output[i, j] times that pixel to the weight's gradient, and times "
    "that weight to the pixel's gradient. Work on the padded input the forward pass kept, then cut the padding "
    "off: its zeros are constants.",
    "grad_bias = g.sum over (N, H_out, W_out). For each kernel offset (u, v): rows = slice(u, u + s * (H_out - 1) "
    "+ 1, s), cols likewise; patch = x_pad[:, :, rows, cols] (N, C, H_out, W_out); grad_weight[:, :, u, v] = "
    "np.einsum('nfij,ncij->fc', g, patch); grad_x_pad[:, :, rows, cols] += np.einsum('nfij,fc->ncij', g, "
    "weight[:, :, u, v]). Return grad_x_pad[:, :, p:p + H, p:p + W].",
))
def check_conv2d_backward(conv_class):
    """``conv_class``: a subclass of ``numpy_nn.Conv2d`` whose ``backward`` is the learner's."""
    if not (isinstance(conv_class, type) and issubclass(conv_class, numpy_nn.Conv2d)):
        raise ExerciseError(f"pass the class itself, a subclass of numpy_nn.Conv2d; got {conv_class!r}")
    if conv_class.backward is numpy_nn.Conv2d.backward:
        raise ExerciseError("the class does not define its own backward: write it in the class body")
    rng = np.random.default_rng(53)
    reference_backward = numpy_nn.Conv2d.backward
    numpy_nn.Conv2d.backward = _refuse  # the learner's backward must not delegate to the reference
    try:
        for (n, c, h, w, f, k, stride, pad) in [(2, 3, 6, 6, 4, 3, 1, 0), (1, 2, 5, 7, 3, 3, 1, 1),
                                               (2, 2, 7, 7, 3, 3, 2, 1), (1, 1, 8, 9, 2, 2, 3, 0),
                                               (2, 3, 9, 8, 2, 5, 2, 2)]:
            layer = conv_class(c, f, k, stride=stride, padding=pad, dtype=np.float64, rng=rng)
            layer.bias[...] = rng.standard_normal(f)
            x = rng.standard_normal((n, c, h, w))
            out = layer.forward(x.copy())
            g = rng.standard_normal(out.shape)
            grad_input = layer.backward(g.copy())
            if grad_input is None:
                raise ExerciseError("backward returned None: return dL/dx (and set self.grad_weight and "
                                    "self.grad_bias)")
            xt, wt, bt = _t(x, True), _t(layer.weight, True), _t(layer.bias, True)
            F.conv2d(xt, wt, bt, stride=stride, padding=pad).backward(_t(g))
            what = f"x {x.shape}, weight {layer.weight.shape}, stride={stride}, padding={pad}"
            expect(layer.grad_bias, bt.grad, f"self.grad_bias for {what}")
            expect(layer.grad_weight, wt.grad, f"self.grad_weight for {what}")
            expect(grad_input, xt.grad, f"the returned dL/dx for {what}")
    except _ReferenceCalled:
        raise ExerciseError("your backward calls numpy_nn.Conv2d.backward (e.g. through super()): write it "
                            "yourself") from None
    finally:
        numpy_nn.Conv2d.backward = reference_backward


hint = hint_function(__name__)
