"""Reference solutions to notebook 09's exercises."""

import torch
import torch.nn.functional as F


def bottleneck_macs(in_channels, mid_channels, out_channels, side, stride, stride_in):
    small = (side - 1) // stride + 1  # the side after the strided convolution (1x1 no padding, 3x3 padding 1)
    reduce_side = small if stride_in == "1x1" else side  # the first 1x1 works on the full map unless strided
    return (reduce_side ** 2 * in_channels * mid_channels  # 1x1 reduce
            + small ** 2 * 9 * mid_channels * mid_channels  # 3x3 (after the stride, wherever it was)
            + small ** 2 * mid_channels * out_channels)  # 1x1 expand


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
