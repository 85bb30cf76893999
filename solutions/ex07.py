"""Reference solutions to notebook 07's exercises."""

import torch
import torch.nn.functional as F


def input_range(output_side, layers):
    lo = hi = output_side
    for k, s, p in reversed(layers):  # a layer gives side m for the inputs (m - 1) s + k - 2p ... that + s - 1
        lo = (lo - 1) * s + k - 2 * p
        hi = (hi - 1) * s + k - 2 * p + s - 1
    return lo, hi


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
