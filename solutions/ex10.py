"""Reference solutions to notebook 10's exercises."""

import torch
import torch.nn.functional as F
from torch import nn


def bottleneck_stage_params(in_channels, mid_channels, num_blocks):
    out = 4 * mid_channels

    def block(c_in):
        weights = c_in * mid_channels + 9 * mid_channels * mid_channels + mid_channels * out  # 1x1, 3x3, 1x1
        norms = 2 * (mid_channels + mid_channels + out)  # a scale and a shift per channel
        return weights + norms

    projection = in_channels * out + 2 * out  # 1x1 conv + batch norm, first block only
    return block(in_channels) + projection + (num_blocks - 1) * block(out)


def average_shortcut(x, weight, stride):
    if stride > 1:  # average each stride x stride patch; an overhanging patch averages what lies inside
        x = F.avg_pool2d(x, stride, stride, ceil_mode=True, count_include_pad=False)  # (N, C_in, ceil(H/s), ...)
    return F.conv2d(x, weight)  # 1x1: C_in -> C_out


class PreActBottleneck(nn.Module):
    """He et al. (2016)'s rule on the bottleneck: batch norm and ReLU before each convolution, nothing after the
    sum; a projection, where the shape changes, reads the pre-activated input."""

    def __init__(self, in_channels, mid_channels, stride=1):
        super().__init__()
        out_channels = 4 * mid_channels
        self.bn1 = nn.BatchNorm2d(in_channels)
        self.conv1 = nn.Conv2d(in_channels, mid_channels, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(mid_channels)
        self.conv2 = nn.Conv2d(mid_channels, mid_channels, 3, stride=stride, padding=1, bias=False)
        self.bn3 = nn.BatchNorm2d(mid_channels)
        self.conv3 = nn.Conv2d(mid_channels, out_channels, 1, bias=False)
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False)
        else:
            self.shortcut = None

    def forward(self, x):
        pre = F.relu(self.bn1(x))
        out = self.conv1(pre)
        out = self.conv2(F.relu(self.bn2(out)))
        out = self.conv3(F.relu(self.bn3(out)))
        return out + (self.shortcut(pre) if self.shortcut is not None else x)  # no ReLU after the sum


preact_bottleneck = PreActBottleneck  # the answer under the exercise's name


def fold_batch_norm(conv, bn):
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)  # (C_out,)
    weight = conv.weight * scale[:, None, None, None]  # scale each output channel's kernel
    bias = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
    return weight.detach(), ((bias - bn.running_mean) * scale + bn.bias).detach()
