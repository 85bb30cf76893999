"""Checks that turn a notebook's claims into assertions.

- :func:`assert_close`: equality up to tolerance, with a message that says how
  far off and where.
- :func:`numerical_gradient`, :func:`relative_error`, :func:`grad_check`:
  gradients by central finite differences.

The size and cost of a model (parameters, multiply-adds, a table of layers)
are in :mod:`course_utils.accounting`.
"""

import math

import numpy as np
import torch


def _to_float64_tensor(value, what):
    if isinstance(value, torch.Tensor):
        return value.detach().to("cpu", torch.float64)
    try:
        return torch.as_tensor(np.asarray(value, dtype=np.float64))
    except (TypeError, ValueError) as err:
        raise TypeError(f"{what} must be a tensor, an array or a number, got {type(value).__name__}") from err


def assert_close(actual, expected, rtol=1e-5, atol=1e-6, msg=""):
    """Assert ``|actual - expected| <= atol + rtol * |expected|`` element-wise.

    Accepts tensors (any device or dtype), NumPy arrays and numbers. On
    failure the message gives the shapes, the largest absolute and relative
    errors, the index where each occurs, and how many elements are off.
    """
    a = _to_float64_tensor(actual, "actual")
    e = _to_float64_tensor(expected, "expected")
    prefix = f"{msg}: " if msg else ""
    if a.shape != e.shape:
        raise AssertionError(
            f"{prefix}shape mismatch: actual {tuple(a.shape)} vs expected {tuple(e.shape)}"
        )
    if a.numel() == 0:
        return
    nan_a, nan_e = torch.isnan(a), torch.isnan(e)
    if not torch.equal(nan_a, nan_e):
        idx = tuple(int(i) for i in torch.nonzero(nan_a != nan_e)[0])
        raise AssertionError(f"{prefix}NaN in one tensor but not the other, first at index {idx}")
    a = torch.where(nan_a, torch.zeros_like(a), a)
    e = torch.where(nan_e, torch.zeros_like(e), e)
    same = a == e  # also covers equal infinities
    abs_err = torch.where(same, torch.zeros_like(a), (a - e).abs())
    abs_err = torch.nan_to_num(abs_err, nan=math.inf)
    bad = abs_err > atol + rtol * e.abs()
    if not bad.any():
        return
    rel_err = abs_err / e.abs().clamp_min(torch.finfo(torch.float64).tiny)

    def where(t):
        flat = int(torch.argmax(t))
        return tuple(int(i) for i in np.unravel_index(flat, tuple(a.shape)))

    i_abs, i_rel = where(abs_err), where(rel_err)
    raise AssertionError(
        f"{prefix}tensors differ: {int(bad.sum())} of {a.numel()} elements outside "
        f"atol={atol:g} + rtol={rtol:g}*|expected|. "
        f"Max abs error {abs_err[i_abs].item():.3g} at index {i_abs} "
        f"(actual {a[i_abs].item():.6g}, expected {e[i_abs].item():.6g}); "
        f"max rel error {rel_err[i_rel].item():.3g} at index {i_rel}. "
        f"Shape {tuple(a.shape)}."
    )


def numerical_gradient(f, x, eps=1e-6):
    """Gradient of the scalar function ``f`` at ``x`` by central differences.

    ``x`` may be a NumPy array or a tensor; it is perturbed in place one
    element at a time (and restored), so ``f`` should read it, e.g.
    ``numerical_gradient(lambda: loss(w), w)`` -- or take it, as in
    ``numerical_gradient(lambda x: (x ** 2).sum(), x)``. The result has
    ``x``'s kind and shape. Use float64: float32 differences are too coarse.
    """
    import inspect

    try:
        takes_x = len(inspect.signature(f).parameters) > 0
    except (TypeError, ValueError):
        takes_x = True
    call = (lambda: f(x)) if takes_x else f
    is_tensor = isinstance(x, torch.Tensor)
    if not is_tensor and not isinstance(x, np.ndarray):
        raise TypeError(f"x must be a NumPy array or a tensor, got {type(x).__name__}")
    grad = torch.zeros_like(x, dtype=torch.float64) if is_tensor else np.zeros(x.shape, dtype=np.float64)
    data = x.data if is_tensor else x
    flat_grad = grad.reshape(-1)
    with torch.no_grad():
        for i in range(data.size if not is_tensor else data.numel()):
            idx = np.unravel_index(i, tuple(data.shape))
            old = data[idx].item()
            data[idx] = old + eps
            plus = float(call())
            data[idx] = old - eps
            minus = float(call())
            data[idx] = old
            flat_grad[i] = (plus - minus) / (2 * eps)
    return grad


def relative_error(a, b):
    """``max|a - b| / max(max|a|, max|b|)``: 0 for equal inputs, 1 for unrelated ones."""
    a = _to_float64_tensor(a, "a")
    b = _to_float64_tensor(b, "b")
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {tuple(a.shape)} vs {tuple(b.shape)}")
    scale = max(a.abs().max().item(), b.abs().max().item(), 1e-300)
    return (a - b).abs().max().item() / scale


def grad_check(fn, *inputs, eps=1e-6, tol=1e-6, seed=0):
    """Compare autograd's gradients of ``fn(*inputs)`` with finite differences.

    Inputs are copied to float64. A non-scalar output is reduced with a fixed
    random projection, which checks the full vector-Jacobian product. Returns
    the largest relative error over the inputs; raises ``AssertionError``
    naming the input if it exceeds ``tol``.
    """
    if not inputs:
        raise ValueError("grad_check needs at least one input tensor")
    xs = [torch.as_tensor(x).detach().to(torch.float64).clone().requires_grad_(True) for x in inputs]
    out = fn(*xs)
    gen = torch.Generator().manual_seed(seed)
    v = torch.randn(out.shape, generator=gen, dtype=torch.float64)

    def scalar():
        return (fn(*xs) * v).sum()

    analytic = torch.autograd.grad((out * v).sum(), xs, allow_unused=True)
    worst = 0.0
    for k, (x, g) in enumerate(zip(xs, analytic)):
        g = torch.zeros_like(x) if g is None else g
        numeric = numerical_gradient(scalar, x, eps=eps)
        err = relative_error(g, numeric)
        if err > tol:
            raise AssertionError(
                f"gradient of input {k} (shape {tuple(x.shape)}) differs from finite "
                f"differences: relative error {err:.3g} > {tol:g}"
            )
        worst = max(worst, err)
    return worst

