"""Checkers for notebook 04 (fully-connected layers, log-softmax and NLL)."""

import torch
import torch.nn.functional as F
from torch import nn

from course_utils.exercises import ExerciseError, NotAttempted, checker, expect, hint_function

# Logits that overflow exp() in float32 (exp(89) is already inf) and float64.
_HUGE = torch.tensor([[1000.0, 0.0, -1000.0], [800.0, 801.0, 799.0], [-900.0, -905.0, -1000.0]])


def _finite(out, what):
    if out is None:
        raise NotAttempted()
    if not torch.isfinite(torch.as_tensor(out)).all():
        raise ExerciseError(f"{what} gave inf or nan: somewhere exp() overflowed or log() met a zero. "
                            "Work in log space (log_softmax, logsumexp) rather than with probabilities")
    return out


@checker(hint=(
    "Write one example's smoothed target as a vector of K probabilities and check that it adds up to 1. Which "
    "quantity of this notebook stays finite for logits like [1000, 0, -1000]?",
    "The loss is still a cross-entropy, -sum_k q_k log p_k averaged over the batch, only with the soft target "
    "q in place of the one-hot one; and log p must come from a stable log-softmax (the log-sum-exp trick), "
    "never from the log of a softmax that has already underflowed to 0.",
    "With K classes and smoothing e, q = (1 - e) * onehot(y) + e / K (the uniform part includes the true "
    "class, as in PyTorch). Loss = -(q * F.log_softmax(logits, dim=1)).sum(dim=1).mean().",
))
def check_smoothed_cross_entropy(smoothed_cross_entropy):
    """``smoothed_cross_entropy(logits, targets, smoothing)`` == ``F.cross_entropy(..., label_smoothing=)``."""
    gen = torch.Generator().manual_seed(4)
    for n, k, eps in [(5, 4, 0.1), (8, 10, 0.0), (3, 3, 0.5), (6, 7, 1.0)]:
        logits = torch.randn(n, k, generator=gen, dtype=torch.float64) * 3
        targets = torch.randint(0, k, (n,), generator=gen)
        expect(smoothed_cross_entropy(logits.clone(), targets, eps),
               F.cross_entropy(logits, targets, label_smoothing=eps),
               f"the loss for {n} examples of {k} classes with smoothing={eps}")
    targets = torch.tensor([0, 1, 2])
    out = _finite(smoothed_cross_entropy(_HUGE.clone(), targets, 0.1), "the loss of logits like [1000, 0, -1000]")
    expect(out, F.cross_entropy(_HUGE, targets, label_smoothing=0.1), "the loss of huge logits")


@checker(hint=(
    "Go back to this notebook's derivation of (softmax(z) - onehot(y)) / N: at which step did it use that the "
    "target is one-hot?",
    "The derivation needs only that the target's entries add up to 1: for any such target q, the gradient of "
    "-sum_k q_k log softmax(z)_k with respect to z is softmax(z) - q. Only the target changes; the 1 / N comes "
    "from the batch mean.",
    "Only the target: dL/dz = (softmax(z) - q) / N with q = (1 - e) * onehot(y) + e / K.",
))
def check_smoothed_cross_entropy_grad(grad_fn):
    """``grad_fn(logits, targets, smoothing)``: dL/dlogits of the label-smoothed cross-entropy (mean)."""
    gen = torch.Generator().manual_seed(6)
    for n, k, eps in [(4, 3, 0.1), (9, 10, 0.2), (2, 5, 0.0)]:
        logits = torch.randn(n, k, generator=gen, dtype=torch.float64)
        targets = torch.randint(0, k, (n,), generator=gen)
        z = logits.clone().requires_grad_(True)
        F.cross_entropy(z, targets, label_smoothing=eps).backward()
        expect(grad_fn(logits.clone(), targets, eps), z.grad,
               f"the gradient for {n} examples of {k} classes with smoothing={eps}")


@checker(hint=(
    "For which logits does the literal formula overflow or take log(0)? Evaluate it term by term at z = 1000 "
    "and at z = -1000.",
    "Both logs can be written with log(1 + exp(something)). Rewrite each so that the something is never large "
    "and positive, as the log-sum-exp trick did for softmax: which form is safe depends on the sign of z, and "
    "one expression in -|z| is safe for both.",
    "log sigmoid(z) = -log(1 + exp(-z)) and log(1 - sigmoid(z)) = -z - log(1 + exp(-z)), so the loss is "
    "max(z, 0) - z * y + log(1 + exp(-|z|)) (torch.log1p(torch.exp(-z.abs()))), averaged over all elements.",
))
def check_bce_with_logits(bce_with_logits):
    """``bce_with_logits(z, y)``: mean binary cross-entropy from logits, stable for any z."""
    gen = torch.Generator().manual_seed(7)
    z = torch.randn(6, 5, generator=gen, dtype=torch.float64) * 4
    hard = torch.randint(0, 2, (6, 5), generator=gen).double()
    soft = torch.rand(6, 5, generator=gen, dtype=torch.float64)
    for y, what in ((hard, "the loss on ordinary logits"), (soft, "the loss on ordinary logits with soft targets")):
        expect(bce_with_logits(z.clone(), y), F.binary_cross_entropy_with_logits(z, y), what)
    z = torch.tensor([1000.0, -1000.0, 800.0, -50.0, 0.0])
    y = torch.tensor([1.0, 0.0, 0.0, 1.0, 0.5])
    out = _finite(bce_with_logits(z.clone(), y), "the loss of logits like 1000 and -1000")
    expect(out, F.binary_cross_entropy_with_logits(z, y), "the loss of huge logits", rtol=1e-5, atol=1e-4)


def _linear_layers(head):
    return [m for m in head.modules() if isinstance(m, nn.Linear)]


@checker(hint=(
    "What shape does each summary of the feature map have, and what shape must the input of one dense layer "
    "have to read both?",
    "Reduce every channel over all its pixels twice, once by its mean and once by its maximum: two (N, C) "
    "tensors. Put them side by side as one (N, 2C) tensor and let a single Linear(2C, num_classes) read it. "
    "The pooling needs a small nn.Module of its own (or built-in adaptive pools) so that the head is one module.",
    "nn.Sequential of a module that returns torch.cat([x.mean(dim=(2, 3)), x.amax(dim=(2, 3))], dim=1) "
    "(shape (N, 2C)) and nn.Linear(2 * in_channels, num_classes); nn.AdaptiveAvgPool2d(1) and "
    "nn.AdaptiveMaxPool2d(1) followed by flattening give the two halves too.",
))
def check_concat_pool_head(make_head):
    """``make_head(in_channels, num_classes)``: global average and max pooling, concatenated, then one dense layer."""
    torch.manual_seed(0)
    head = make_head(16, 10)
    if head is None:
        raise NotAttempted()
    if not isinstance(head, nn.Module):
        raise ExerciseError(f"make_head should return an nn.Module, got {type(head).__name__}")
    params = sum(p.numel() for p in head.parameters())
    if params != 2 * 16 * 10 + 10:
        raise ExerciseError(f"from 16 channels (a mean and a max each) to 10 classes the head has 32*10 + 10 = "
                            f"330 parameters, yours has {params}")
    linears = _linear_layers(head)
    if len(linears) != 1:
        raise ExerciseError(f"the head should have exactly one nn.Linear, found {len(linears)}")
    fc = linears[0]
    head.eval()
    for h, w in [(7, 7), (4, 9), (1, 1)]:
        x = torch.randn(3, 16, h, w)
        with torch.no_grad():
            out = head(x)
            if tuple(out.shape) != (3, 10):
                raise ExerciseError(f"input (3, 16, {h}, {w}) should give logits (3, 10), got {tuple(out.shape)}")
            mean, top = x.mean(dim=(2, 3)), x.amax(dim=(2, 3))  # (3, 16) each
            orders = {"[mean, max]": torch.cat([mean, top], 1), "[max, mean]": torch.cat([top, mean], 1)}
            matches = [name for name, features in orders.items()
                       if torch.allclose(out, fc(features), rtol=1e-4, atol=1e-5)]
        if not matches:
            raise ExerciseError(f"on a (3, 16, {h}, {w}) input the output is not the dense layer applied to each "
                                "channel's mean and maximum, concatenated")


hint = hint_function(__name__)
