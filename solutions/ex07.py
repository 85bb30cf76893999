"""Reference solutions to notebook 07's exercises."""

import torch
import torch.nn.functional as F


def feature_sides(input_size, kernel_size, stride, padding):
    def out(n, k, s=1, p=0):
        return (n + 2 * p - k) // s + 1

    sides = [out(input_size, kernel_size, stride, padding)]  # conv1
    sides.append(out(sides[-1], 3, 2))  # pool1
    sides.append(out(sides[-1], 5, 1, 2))  # conv2
    sides.append(out(sides[-1], 3, 2))  # pool2
    for _ in range(3):  # conv3-5
        sides.append(out(sides[-1], 3, 1, 1))
    sides.append(out(sides[-1], 3, 2))  # pool3
    return sides


def grouped_conv2d(x, weight, bias, groups, padding):
    xs = x.chunk(groups, dim=1)  # groups x (N, C_in / groups, H, W)
    ws = weight.chunk(groups, dim=0)  # groups x (C_out / groups, C_in / groups, k, k)
    bs = bias.chunk(groups, dim=0)
    return torch.cat([F.conv2d(xi, wi, bi, padding=padding) for xi, wi, bi in zip(xs, ws, bs)], dim=1)


def local_response_norm(x, size, alpha, beta, k):
    squares = x ** 2  # (N, C, H, W)
    channels = x.shape[1]
    sums = torch.stack([squares[:, max(0, c - size // 2): c + (size - 1) // 2 + 1].sum(dim=1)
                        for c in range(channels)], dim=1)  # (N, C, H, W)
    return x / (k + alpha / size * sums) ** beta


def dropout(x, p, training):
    if not training or p == 0:
        return x
    mask = torch.rand_like(x) >= p
    return x * mask / (1 - p)
