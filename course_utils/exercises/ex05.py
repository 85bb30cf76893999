"""Checkers for notebook 05 (manual backpropagation in NumPy).

Answers are NumPy functions; the checkers compare them with PyTorch autograd
in float64 on random inputs of several shapes.
"""

import numpy as np
import torch
import torch.nn.functional as F

from course_utils.exercises import ExerciseError, checker, expect

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


@checker(hint="With y = x W^T + b and g = dL/dy: dL/dx = g W, dL/dW = g^T x, dL/db = g summed over the batch.")
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


@checker(hint="Each output pixel is the mean of k*k inputs, so each of them receives grad / (k*k); "
              "with overlapping windows (stride < kernel) the contributions add up.")
def check_avg_pool_backward(avg_pool_backward):
    """``avg_pool_backward(grad_output, input_shape, kernel_size, stride)`` -> ``grad_input``."""
    rng = np.random.default_rng(51)
    for shape, k, s in [((2, 3, 4, 4), 2, 2), ((1, 2, 7, 5), 2, 2), ((2, 1, 6, 6), 3, 1), ((1, 1, 7, 7), 3, 2)]:
        xt = _t(rng.standard_normal(shape), True)
        out = F.avg_pool2d(xt, k, s)
        g = rng.standard_normal(tuple(out.shape))
        out.backward(_t(g))
        expect(avg_pool_backward(g.copy(), shape, k, s), xt.grad,
               f"grad_input for input {shape}, kernel_size={k}, stride={s}")


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


@checker(hint="Compare each of the three gradients with numerical_gradient (or autograd) on small random "
              "inputs; answer with the name of the one that disagrees, e.g. 'grad_weight'.")
def check_which_gradient_is_wrong(name):
    """Name the gradient that ``buggy_conv_backward`` gets wrong."""
    if not isinstance(name, str) or name not in _GRAD_NAMES:
        raise ExerciseError(f"answer with one of {_GRAD_NAMES}, got {name!r}")
    if name != "grad_input":
        raise ExerciseError(f"{name} agrees with the finite differences: check the other gradients")


@checker(hint="The input gradient is a full convolution: correlate the padded upstream gradient with the "
              "kernel rotated by 180 degrees, weight[:, :, ::-1, ::-1].")
def check_fixed_conv_backward(conv_backward):
    """``conv_backward(x, weight, grad_output, padding)`` with the bug fixed."""
    rng = np.random.default_rng(52)
    for (n, c, h, w, f, k, p) in [(2, 3, 6, 6, 4, 3, 1), (1, 2, 5, 7, 3, 3, 0), (2, 1, 5, 5, 2, 2, 0)]:
        x, wt_np = rng.standard_normal((n, c, h, w)), rng.standard_normal((f, c, k, k))
        xt, wt, bt = _t(x, True), _t(wt_np, True), _t(np.zeros(f), True)
        out = F.conv2d(xt, wt, bt, padding=p)
        g = rng.standard_normal(tuple(out.shape))
        out.backward(_t(g))
        result = _as_triple(conv_backward(x.copy(), wt_np.copy(), g.copy(), p), "conv_backward")
        if result is None:
            return expect(None, None, "")
        for name, mine, ref in zip(_GRAD_NAMES, result, (xt.grad, wt.grad, bt.grad)):
            expect(mine, ref, f"{name} for x {x.shape}, weight {wt_np.shape}, padding={p}")
