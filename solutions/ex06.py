"""Reference solutions to notebook 06's exercises."""

import torch
from torch import nn


def lenet1998_params(table):
    c1 = (5 * 5 * 1 + 1) * 6
    s2 = 2 * 6  # a trainable coefficient and bias per map
    c3 = 5 * 5 * int(table.sum()) + 16  # one 5x5 kernel per connection, one bias per C3 map
    s4 = 2 * 16
    c5 = (5 * 5 * 16 + 1) * 120
    f6 = 120 * 84 + 84
    return c1 + s2 + c3 + s4 + c5 + f6  # the output layer's radial-basis centres are fixed, not trained


def subsample(x, coefficient, bias):
    n, c, h, w = x.shape
    x = x[:, :, : h // 2 * 2, : w // 2 * 2]  # drop an odd last row/column
    windows = x.reshape(n, c, h // 2, 2, w // 2, 2)  # (N, C, H/2, 2, W/2, 2)
    sums = windows.sum(dim=(3, 5))  # (N, C, H/2, W/2)
    return torch.sigmoid(sums * coefficient.reshape(1, c, 1, 1) + bias.reshape(1, c, 1, 1))


def lenet_bn_lean():
    """A bias right before a batch norm is removed with the batch mean: only the last layer keeps one."""
    return nn.Sequential(
        nn.Conv2d(1, 6, kernel_size=5, padding=2, bias=False), nn.BatchNorm2d(6), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, kernel_size=5, bias=False), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(),  # (B, 16, 5, 5) -> (B, 400)
        nn.Linear(400, 120, bias=False), nn.BatchNorm1d(120), nn.ReLU(),
        nn.Linear(120, 84, bias=False), nn.BatchNorm1d(84), nn.ReLU(),
        nn.Linear(84, 10),
    )
