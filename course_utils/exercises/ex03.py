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
    "Get the output size right before any maximum: run F.max_pool2d(..., ceil_mode=True) on a few input sizes, "
    "a stride larger than the kernel among them, and compare its sizes with your formula's.",
    "The size rounds (n - k) / s up instead of down, so one more window may start near the end and hang over "
    "the edge; each window's maximum is taken over the part inside. PyTorch's extra rule: a window that would "
    "start at or beyond the edge (over nothing but the outside) is dropped.",
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
    "Take one window and one input in it: by how much does the window's sqrt(sum of squares) change when that "
    "input changes a little?",
    "The derivative of sqrt(S) with respect to x_ab is x_ab / sqrt(S): each input of a window gets the "
    "window's upstream gradient times its own value divided by the window's output. Overlapping windows send "
    "gradient to the same input, and those contributions add up.",
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


_ADAPTIVE_CASES = [  # (N, C, H, W, output height, output width)
    (1, 1, 7, 7, 3, 3), (2, 3, 5, 9, 3, 4), (1, 2, 6, 6, 4, 4), (1, 1, 4, 4, 4, 4), (1, 1, 3, 5, 5, 7),
    (2, 2, 8, 8, 1, 1), (1, 1, 13, 13, 6, 6),
]


@checker(hint=(
    "Which input rows does output row i of an adaptive pool average? Pool torch.arange(7.).reshape(1, 1, 1, 7) "
    "to 3 outputs with F.adaptive_avg_pool2d, and to 5, and read the windows off the numbers.",
    "Along a side of n inputs and m outputs, window i starts at floor(i * n / m) and ends before "
    "ceil((i + 1) * n / m): windows differ in size and may overlap. An average is linear, so every input of "
    "window (i, j) receives grad_output[i, j] divided by that window's own number of pixels, and overlapping "
    "windows add their shares.",
    "grad = zeros(N, C, H, W); for each output (i, j): h0, h1 = (i * H) // m_h, -(-((i + 1) * H) // m_h) "
    "(the same for w0, w1 with W and m_w); grad[:, :, h0:h1, w0:w1] += grad_output[:, :, i, j, None, None] / "
    "((h1 - h0) * (w1 - w0)).",
))
def check_adaptive_avg_pool_backward(adaptive_avg_pool_backward):
    """``adaptive_avg_pool_backward(grad_output, input_size)`` -> dL/dx ``(N, C, H, W)`` of
    ``F.adaptive_avg_pool2d(x, grad_output.shape[-2:])`` for ``x`` of height and width ``input_size``."""
    gen = torch.Generator().manual_seed(3)
    for n, c, h, w, out_h, out_w in _ADAPTIVE_CASES:
        x = torch.randn(n, c, h, w, generator=gen, dtype=torch.float64, requires_grad=True)
        out = F.adaptive_avg_pool2d(x, (out_h, out_w))
        grad_output = torch.randn(out.shape, generator=gen, dtype=torch.float64)
        out.backward(grad_output)
        got = _call(adaptive_avg_pool_backward, grad_output.clone(), (h, w))
        what = f"adaptive average pooling {h}x{w} -> {out_h}x{out_w}"
        if not isinstance(got, torch.Tensor) or tuple(got.shape) != tuple(x.shape):
            shape = tuple(got.shape) if isinstance(got, torch.Tensor) else type(got).__name__
            raise ExerciseError(f"{what}: dL/dx should have the input's shape {tuple(x.shape)}, got {shape}")
        expect(got, x.grad, f"the gradient of {what} (compared with autograd)")


hint = hint_function(__name__)
