"""Checks that turn a notebook's claims into assertions.

- :func:`assert_close`: equality up to tolerance, with a message that says how
  far off and where.
- :func:`numerical_gradient`, :func:`relative_error`, :func:`grad_check`:
  gradients by central finite differences.
- :func:`count_params`, :func:`count_macs`, :func:`layer_table`: the size and
  cost of a model.
"""

import math

import numpy as np
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


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


def count_params(model, trainable_only=False):
    """Number of parameters (elements) of ``model``."""
    total = 0
    for p in model.parameters():
        if isinstance(p, nn.parameter.UninitializedParameter):
            raise ValueError(
                "the model has lazy layers that are not initialised yet: run one "
                "forward pass, e.g. model(torch.zeros(1, C, H, W)), before counting"
            )
        if p.requires_grad or not trainable_only:
            total += p.numel()
    return total


def _input(input_shape, model):
    shape = tuple(int(s) for s in input_shape)
    if len(shape) == 3:  # (C, H, W): add a batch of one
        shape = (1,) + shape
    try:
        p = next(model.parameters())
        device, dtype = p.device, p.dtype
    except StopIteration:
        device, dtype = torch.device("cpu"), torch.float32
    return torch.zeros(shape, device=device, dtype=dtype)


def _count(model, input_shape):
    """Run one forward pass under the FLOP counter; return (counter, outputs by module)."""
    x = _input(input_shape, model)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(x)
    finally:
        model.train(was_training)
    return counter


def count_macs(model, input_shape):
    """Multiply-accumulates of one forward pass for an input of ``input_shape``.

    ``input_shape`` is ``(N, C, H, W)`` (or ``(C, H, W)`` for one example).
    Counted by ``torch.utils.flop_counter``, which counts the matrix products
    and convolutions (2 FLOPs per multiply-add) and, by convention, not
    biases, activations, pooling or normalisation.
    """
    return _count(model, input_shape).get_total_flops() // 2


def layer_table(model, input_shape, depth=None):
    """One row per layer: name, type, output shape, parameters, multiply-adds.

    ``depth=None`` lists the leaf modules; ``depth=1`` the model's direct
    children, and so on (a block is then one row). Rows come in execution
    order; the output shape leaves out the batch dimension.
    """
    root = type(model).__name__
    chosen = {}
    for name, module in model.named_modules():
        if not name:
            continue
        level = name.count(".") + 1
        is_leaf = not any(True for _ in module.children())
        if (depth is None and is_leaf) or (depth is not None and (level == depth or (is_leaf and level < depth))):
            chosen[name] = module
    order, shapes, hooks = [], {}, []

    def hook_for(name):
        def hook(module, args, output):
            if name not in shapes:
                order.append(name)
            out = output[0] if isinstance(output, (tuple, list)) else output
            shapes[name] = tuple(out.shape[1:]) if isinstance(out, torch.Tensor) else None
        return hook

    for name, module in chosen.items():
        hooks.append(module.register_forward_hook(hook_for(name)))
    try:
        counter = _count(model, input_shape)
    finally:
        for h in hooks:
            h.remove()
    flops = {k: sum(v.values()) for k, v in counter.get_flop_counts().items()}
    rows = []
    for name in order:
        module = chosen[name]
        rows.append({
            "name": name,
            "type": type(module).__name__,
            "output_shape": shapes[name],
            "params": sum(p.numel() for p in module.parameters()),
            "macs": flops.get(f"{root}.{name}", 0) // 2,
        })
    return rows


def print_layer_table(model, input_shape, depth=None):
    """Print :func:`layer_table` with totals; return the rows."""
    rows = layer_table(model, input_shape, depth)
    header = f"{'layer':<28}{'type':<18}{'output shape':<20}{'params':>14}{'mult-adds':>16}"
    print(header)
    print("-" * len(header))
    for r in rows:
        shape = "x".join(str(s) for s in r["output_shape"]) if r["output_shape"] else "-"
        print(f"{r['name']:<28}{r['type']:<18}{shape:<20}{r['params']:>14,}{r['macs']:>16,}")
    print("-" * len(header))
    print(f"{'total':<66}{count_params(model):>14,}{count_macs(model, input_shape):>16,}")
    return rows
