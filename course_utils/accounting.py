"""The size and cost of a model: parameters, multiply-adds, a table of layers.

- :func:`count_params`: parameters (elements) of a model.
- :func:`count_macs`: multiply-accumulates of one forward pass, counted by
  ``torch.utils.flop_counter``.
- :func:`layer_table` / :func:`print_layer_table`: one row per layer with its
  output shape, parameters and multiply-adds.

The model is run in eval mode for counting (and left in the mode it was in).
:mod:`course_utils.layer_math` has the same counts as formulas, for planning
a network before building it.
"""

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from course_utils.modes import eval_mode


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
    with eval_mode(model), torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(x)
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
