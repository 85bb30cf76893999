"""Checkers for notebook 04 (fully-connected layers, log-softmax and NLL)."""

import torch
import torch.nn.functional as F
from torch import nn

from course_utils.exercises import ExerciseError, checker, expect

# Logits that overflow exp() in float32 (exp(89) is already inf) and float64.
_HUGE = torch.tensor([[1000.0, 0.0, -1000.0], [800.0, 801.0, 799.0], [-900.0, -905.0, -1000.0]])


@checker(hint="Subtract each row's maximum before exp(): log_softmax(z) = z - m - log(sum(exp(z - m))).")
def check_stable_log_softmax(log_softmax):
    """``log_softmax(z)`` for a ``(N, C)`` tensor, row-wise, without overflow."""
    gen = torch.Generator().manual_seed(4)
    z = torch.randn(5, 7, generator=gen) * 3
    expect(log_softmax(z.clone()), F.log_softmax(z, dim=1), "log_softmax on ordinary logits")
    out = log_softmax(_HUGE.clone())
    if out is not None and not torch.isfinite(torch.as_tensor(out)).all():
        raise ExerciseError(
            "log_softmax on logits like [1000, 0, -1000] gave inf or nan: exp(1000) overflows. "
            "Shift every row by its maximum first (log-sum-exp trick)")
    expect(out, F.log_softmax(_HUGE, dim=1), "log_softmax on huge logits")


@checker(hint="Pick each row's log-probability at its target with log_probs[torch.arange(N), targets], "
              "negate and average: no one-hot needed.")
def check_nll_from_indices(nll):
    """``nll(log_probs, targets)``: mean negative log-likelihood of integer targets."""
    gen = torch.Generator().manual_seed(5)
    log_probs = F.log_softmax(torch.randn(6, 4, generator=gen), dim=1)
    targets = torch.tensor([0, 3, 1, 1, 2, 3])
    expect(nll(log_probs, targets), F.nll_loss(log_probs, targets), "nll(log_probs, targets) (a mean over the batch)")
    log_probs = F.log_softmax(torch.randn(1, 10, generator=gen), dim=1)
    expect(nll(log_probs, torch.tensor([7])), F.nll_loss(log_probs, torch.tensor([7])), "nll on a batch of one")


@checker(hint="dL/dz = (softmax(z) - onehot(y)) / N for the batch-mean cross-entropy.")
def check_cross_entropy_grad(grad_fn):
    """``grad_fn(logits, targets)`` returns dL/dlogits of ``F.cross_entropy`` (mean)."""
    gen = torch.Generator().manual_seed(6)
    for n, c in [(4, 3), (9, 10)]:
        logits = torch.randn(n, c, generator=gen, dtype=torch.float64)
        targets = torch.randint(0, c, (n,), generator=gen)
        z = logits.clone().requires_grad_(True)
        F.cross_entropy(z, targets).backward()
        expect(grad_fn(logits.clone(), targets), z.grad, f"gradient for {n} examples of {c} classes")


@checker(hint="nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(in_channels, num_classes)).")
def check_gap_head(make_head):
    """``make_head(in_channels, num_classes)`` returns a global-average-pooling head."""
    torch.manual_seed(0)
    head = make_head(16, 10)
    if not isinstance(head, nn.Module):
        raise ExerciseError(f"make_head should return an nn.Module, got {type(head).__name__}")
    params = sum(p.numel() for p in head.parameters())
    if params != 16 * 10 + 10:
        raise ExerciseError(
            f"a GAP head from 16 channels to 10 classes has 16*10 + 10 = 170 parameters, yours has {params}")
    head.eval()
    for h, w in [(7, 7), (4, 9), (1, 1)]:
        x = torch.randn(3, 16, h, w)
        out = head(x)
        if tuple(out.shape) != (3, 10):
            raise ExerciseError(f"input (3, 16, {h}, {w}) should give logits (3, 10), got {tuple(out.shape)}")
        # Averaging forgets where a feature was: shuffling the pixels changes nothing.
        perm = torch.randperm(h * w)
        shuffled = x.flatten(2)[:, :, perm].reshape(x.shape)  # (3, 16, h, w)
        expect(head(shuffled), out, "the head's output after shuffling the pixels (an average ignores position)",
               rtol=1e-4, atol=1e-5)
        # Replacing every pixel by its channel's mean keeps the average, so the output.
        flat_mean = x.mean(dim=(2, 3), keepdim=True).expand_as(x)  # (3, 16, h, w)
        expect(head(flat_mean), out, "the head's output when each channel is replaced by its mean "
               "(only the average may matter)", rtol=1e-4, atol=1e-5)
