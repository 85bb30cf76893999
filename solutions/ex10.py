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


def zero_pad_shortcut(x, out_channels, stride):
    x = x[:, :, ::stride, ::stride]  # (N, C_in, H / stride, W / stride)
    return F.pad(x, (0, 0, 0, 0, 0, out_channels - x.shape[1]))  # (N, C_out, ...): zeros after the input


class PreActBlock(nn.Module):
    def __init__(self, in_channels, out_channels, stride=1):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_channels)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False)
        else:
            self.shortcut = None

    def forward(self, x):
        pre = F.relu(self.bn1(x))
        out = self.conv2(F.relu(self.bn2(self.conv1(pre))))
        return out + (self.shortcut(pre) if self.shortcut is not None else x)  # no ReLU after the sum


def fold_batch_norm(conv, bn):
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)  # (C_out,)
    weight = conv.weight * scale[:, None, None, None]  # scale each output channel's kernel
    bias = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
    return weight.detach(), ((bias - bn.running_mean) * scale + bn.bias).detach()
