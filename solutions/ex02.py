"""Reference solutions to notebook 02's exercises."""

import torch
import torch.nn.functional as F


def conv2d_stride_padding(x, weight, stride, padding):
    n, c_in, h, w = x.shape
    c_out, _, k, _ = weight.shape
    xp = F.pad(x, (padding, padding, padding, padding))  # (N, C_in, H + 2p, W + 2p)
    out_h, out_w = (h + 2 * padding - k) // stride + 1, (w + 2 * padding - k) // stride + 1
    out = x.new_zeros(n, c_out, out_h, out_w)
    for i in range(out_h):
        for j in range(out_w):
            window = xp[:, :, i * stride:i * stride + k, j * stride:j * stride + k]  # (N, C_in, k, k)
            out[:, :, i, j] = torch.einsum("nchw,ochw->no", window, weight)
    return out


def layers_needed(field, kernel_size, growth):
    reach, layers, dilation = 1, 0, 1  # no layers: a pixel sees itself
    while reach < field:
        reach += dilation * (kernel_size - 1)  # stride 1: a layer widens the field by d * (k - 1)
        dilation *= growth
        layers += 1
    return layers


def predict_shapes(height, width):
    def size(n, k, s=1, p=0):
        return (n + 2 * p - k) // s + 1

    shapes = []
    h, w = size(height, 5, 1, 2), size(width, 5, 1, 2)
    shapes.append((16, h, w))
    h, w = size(h, 3, 2, 1), size(w, 3, 2, 1)
    shapes.append((32, h, w))
    h, w = size(h, 2, 2), size(w, 2, 2)
    shapes.append((32, h, w))
    h, w = size(h, 3), size(w, 3)
    shapes.append((64, h, w))
    shapes.append((10, h, w))
    return shapes


def conv_transpose_cost(in_channels, out_channels, kernel_size, height, width, stride, padding):
    def side(n):  # n copies of the kernel, stride apart, cropped by the padding on both sides
        return (n - 1) * stride + kernel_size - 2 * padding

    params = in_channels * out_channels * kernel_size * kernel_size + out_channels
    macs = height * width * in_channels * out_channels * kernel_size * kernel_size  # per input pixel
    return (out_channels, side(height), side(width)), params, macs
