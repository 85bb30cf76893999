"""Reference solutions to notebook 09's exercises."""

import torch
import torch.nn.functional as F


def inception_macs(in_channels, side, ch1x1, ch3x3_reduce, ch3x3, ch5x5_reduce, ch5x5, pool_proj):
    pixels = side * side  # every branch keeps H x W
    per_pixel = (
        in_channels * ch1x1  # branch 1: 1x1
        + in_channels * ch3x3_reduce + 9 * ch3x3_reduce * ch3x3  # branch 2: 1x1, 3x3
        + in_channels * ch5x5_reduce + 25 * ch5x5_reduce * ch5x5  # branch 3: 1x1, 5x5
        + in_channels * pool_proj  # branch 4: pool (free), 1x1
    )
    return pixels * per_pixel


def depthwise_separable(x, depthwise_weight, pointwise_weight):
    k = depthwise_weight.shape[-1]
    filtered = F.conv2d(x, depthwise_weight, padding=k // 2, groups=x.shape[1])  # (N, C_in, H, W)
    return F.conv2d(filtered, pointwise_weight)  # (N, C_out, H, W)


def compose_factorised(row_weight, column_weight):
    # row (M, C_in, 1, n), column (C_out, M, n, 1) -> kernel (C_out, C_in, n, n)
    return torch.einsum("oma,mib->oiab", column_weight[..., 0], row_weight[:, :, 0, :])


def inverted_residual_params(in_channels, out_channels, expand_ratio):
    hidden = in_channels * expand_ratio
    total = 0
    if expand_ratio != 1:
        total += in_channels * hidden + 2 * hidden  # 1x1 expand + batch norm
    total += 9 * hidden + 2 * hidden  # 3x3 depthwise + batch norm
    total += hidden * out_channels + 2 * out_channels  # 1x1 project + batch norm
    return total
