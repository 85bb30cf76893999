"""Checkers for notebook 03 (pooling)."""

import torch
import torch.nn.functional as F

from course_utils.exercises import ExerciseError, NotAttempted, checker, expect, hint_function

_POOL_CASES = [  # (N, C, H, W, kernel_size, stride)
    (1, 1, 4, 4, 2, 2), (2, 3, 7, 6, 3, 2), (1, 2, 6, 9, 3, 1), (2, 1, 5, 5, 2, 3), (1, 2, 8, 8, 4, 4),
]


def _call(fn, *args):
    out = fn(*args)
    if out is None:
        raise NotAttempted()
    return out


@checker(hint=(
    "With ceil_mode the output size rounds up instead of down, so the last window may hang over the edge: "
    "it takes the maximum of the part that lies inside. Compare your output sizes with PyTorch's on the case "
    "with stride 3 and kernel 1.",
    "out = ceil((n - k) / s) + 1, minus one if the last window would start at or beyond n, i.e. if "
    "(out - 1) * s >= n. Output (i, j) is the max of x[:, :, i*s : i*s + k, j*s : j*s + k] (slicing stops at "
    "the edge by itself).",
))
def check_max_pool2d_ceil(max_pool2d_ceil):
    """``max_pool2d_ceil(x, kernel_size, stride)`` -> like ``F.max_pool2d(..., ceil_mode=True)``."""
    gen = torch.Generator().manual_seed(0)
    cases = _POOL_CASES + [(1, 1, 7, 7, 2, 2), (1, 2, 5, 6, 1, 3), (2, 1, 9, 4, 3, 3), (1, 1, 6, 6, 2, 5)]
    for n, c, h, w, k, s in cases:
        x = torch.randn(n, c, h, w, generator=gen, dtype=torch.float64)
        expected = F.max_pool2d(x, k, s, ceil_mode=True)
        out = _call(max_pool2d_ceil, x.clone(), k, s)
        if not isinstance(out, torch.Tensor) or tuple(out.shape) != tuple(expected.shape):
            shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise ExerciseError(f"input {tuple(x.shape)} with kernel_size={k}, stride={s}, ceil_mode=True should "
                                f"give {tuple(expected.shape)}, got {shape}")
        expect(out, expected, f"max_pool2d_ceil on {tuple(x.shape)} with kernel_size={k}, stride={s}")


@checker(hint=(
    "Each output is sqrt(sum of the squares in its window): differentiate it with respect to one input of "
    "the window, then route grad_output[i, j] back the way max and average pooling do (overlapping windows "
    "add up).",
    "d out / d x_ab = x_ab / out for every input of the window, so add grad_output[:, :, i, j] * x_window / "
    "out[:, :, i, j] to grad_input[:, :, i*s : i*s + k, j*s : j*s + k] (with +=), where out is the forward "
    "result, e.g. F.lp_pool2d(x, 2, k, s).",
))
def check_lp_pool_backward(lp_pool_backward):
    """``lp_pool_backward(x, grad_output, kernel_size, stride)`` -> dL/dx of ``F.lp_pool2d(x, 2, k, s)``."""
    gen = torch.Generator().manual_seed(1)
    for n, c, h, w, k, s in _POOL_CASES:
        x = torch.randn(n, c, h, w, generator=gen, dtype=torch.float64, requires_grad=True)
        out = F.lp_pool2d(x, 2, k, s)
        grad_output = torch.randn(out.shape, generator=gen, dtype=torch.float64)
        out.backward(grad_output)
        expect(_call(lp_pool_backward, x.detach().clone(), grad_output, k, s), x.grad,
               f"L2-pool gradient for kernel_size={k}, stride={s} (compared with autograd)")


@checker(hint=(
    "The forward pass of the notebook remembered where each maximum was; here you must find it again from "
    "x, window by window.",
    "For each window find the position of its maximum (argmax of the flattened window, then row = idx // k, "
    "column = idx % k) and add grad_output[n, c, i, j] there; every other input gets 0. Overlapping windows "
    "can pick the same input: accumulate with +=.",
))
def check_max_pool_backward(max_pool_backward):
    """``max_pool_backward(x, grad_output, kernel_size, stride)`` -> dL/dx ``(N, C, H, W)``."""
    gen = torch.Generator().manual_seed(2)
    for n, c, h, w, k, s in _POOL_CASES:
        x = torch.randn(n, c, h, w, generator=gen, dtype=torch.float64, requires_grad=True)
        out = F.max_pool2d(x, k, s)
        grad_output = torch.randn(out.shape, generator=gen, dtype=torch.float64)
        out.backward(grad_output)
        expect(_call(max_pool_backward, x.detach().clone(), grad_output, k, s), x.grad,
               f"max-pool gradient for kernel_size={k}, stride={s} (compared with autograd)")


hint = hint_function(__name__)
