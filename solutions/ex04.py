"""Reference solutions to notebook 04's exercises."""

import torch
import torch.nn.functional as F
from torch import nn


def smoothed_target(targets, num_classes, smoothing):
    one_hot = F.one_hot(targets, num_classes).to(torch.float64)
    return (1 - smoothing) * one_hot + smoothing / num_classes  # (N, K), rows sum to 1


def smoothed_cross_entropy(logits, targets, smoothing):
    q = smoothed_target(targets, logits.shape[1], smoothing).to(logits.dtype)
    return -(q * F.log_softmax(logits, dim=1)).sum(dim=1).mean()


def smoothed_cross_entropy_grad(logits, targets, smoothing):
    q = smoothed_target(targets, logits.shape[1], smoothing).to(logits.dtype)
    return (torch.softmax(logits, dim=1) - q) / len(targets)


def bce_with_logits(z, y):
    return (z.clamp_min(0) - z * y + torch.log1p(torch.exp(-z.abs()))).mean()


class ConcatPool(nn.Module):
    """(N, C, H, W) -> (N, 2C): each channel's mean, then each channel's maximum."""

    def forward(self, x):
        return torch.cat([x.mean(dim=(2, 3)), x.amax(dim=(2, 3))], dim=1)


def make_concat_pool_head(in_channels, num_classes):
    return nn.Sequential(ConcatPool(), nn.Linear(2 * in_channels, num_classes))


concat_pool_head = make_concat_pool_head  # the answer under the exercise's name
