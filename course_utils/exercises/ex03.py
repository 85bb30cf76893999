"""Checkers for notebook 03 (pooling)."""

import torch
import torch.nn.functional as F

from course_utils.exercises import NotAttempted, checker, expect

_POOL_CASES = [  # (N, C, H, W, kernel_size, stride)
    (1, 1, 4, 4, 2, 2), (2, 3, 7, 6, 3, 2), (1, 2, 6, 9, 3, 1), (2, 1, 5, 5, 2, 3), (1, 2, 8, 8, 4, 4),
]


def _call(fn, *args):
    out = fn(*args)
    if out is None:
        raise NotAttempted()
    return out


@checker(hint="Pad with -inf (F.pad(x, (p, p, p, p), value=float('-inf'))) so that padding is never the maximum; "
              "then for each output (i, j) take the max over x_padded[:, :, i*s : i*s + k, j*s : j*s + k].")
def check_max_pool2d(max_pool2d):
    """``max_pool2d(x, kernel_size, stride, padding)`` -> like ``F.max_pool2d`` (square windows)."""
    gen = torch.Generator().manual_seed(0)
    for n, c, h, w, k, s in _POOL_CASES:
        for p in range(k // 2 + 1):
            x = torch.randn(n, c, h, w, generator=gen, dtype=torch.float64) - 1.0  # mostly negative: padding shows
            expect(_call(max_pool2d, x, k, s, p), F.max_pool2d(x, k, s, p),
                   f"max_pool2d on {tuple(x.shape)} with kernel_size={k}, stride={s}, padding={p}")


@checker(hint="Every output's gradient is shared equally by the k * k inputs of its window: add "
              "grad_output[:, :, i, j] / (k * k) to grad_input[:, :, i*s : i*s + k, j*s : j*s + k] (+=, because "
              "windows can overlap).")
def check_avg_pool_backward(avg_pool_backward):
    """``avg_pool_backward(grad_output, input_size, kernel_size, stride)`` -> dL/dx ``(N, C, H, W)``."""
    gen = torch.Generator().manual_seed(1)
    for n, c, h, w, k, s in _POOL_CASES:
        x = torch.randn(n, c, h, w, generator=gen, dtype=torch.float64, requires_grad=True)
        out = F.avg_pool2d(x, k, s)
        grad_output = torch.randn(out.shape, generator=gen, dtype=torch.float64)
        out.backward(grad_output)
        expect(_call(avg_pool_backward, grad_output, (h, w), k, s), x.grad,
               f"average-pool gradient for kernel_size={k}, stride={s} (compared with autograd)")


@checker(hint="For each window find the position of its maximum (argmax of the flattened window, then "
              "row = idx // k, column = idx % k) and add grad_output[n, c, i, j] there; every other input gets 0. "
              "Overlapping windows can pick the same input: accumulate with +=.")
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
