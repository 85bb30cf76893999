"""Reference solutions to notebook 06's exercises."""

import torch
from torch import nn


def lenet_params(in_channels, num_classes, input_size, padding):
    side = input_size + 2 * padding - 4  # first 5x5 conv
    side = side // 2 - 4  # pool, then the second 5x5 conv (no padding)
    side = side // 2  # second pool
    convs = (25 * in_channels + 1) * 6 + (25 * 6 + 1) * 16
    dims = [16 * side * side, 120, 84, num_classes]
    return convs + sum(a * b + b for a, b in zip(dims, dims[1:]))


def subsample(x, coefficient, bias):
    n, c, h, w = x.shape
    x = x[:, :, : h // 2 * 2, : w // 2 * 2]  # drop an odd last row/column
    windows = x.reshape(n, c, h // 2, 2, w // 2, 2)  # (N, C, H/2, 2, W/2, 2)
    sums = windows.sum(dim=(3, 5))  # (N, C, H/2, W/2)
    return torch.sigmoid(sums * coefficient.reshape(1, c, 1, 1) + bias.reshape(1, c, 1, 1))


def make_lenet_bn():
    return nn.Sequential(
        nn.Conv2d(1, 6, kernel_size=5, padding=2), nn.BatchNorm2d(6), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, kernel_size=5), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(),  # (B, 16, 5, 5) -> (B, 400)
        nn.Linear(400, 120), nn.BatchNorm1d(120), nn.ReLU(),
        nn.Linear(120, 84), nn.BatchNorm1d(84), nn.ReLU(),
        nn.Linear(84, 10),
    )
