"""Reference solutions to notebook 08's exercises."""

import torch

# (number of 3x3 convolutions, output channels) per block, from the VGG paper's Table 1.
_CONFIGS = {
    11: ((1, 64), (1, 128), (2, 256), (2, 512), (2, 512)),
    13: ((2, 64), (2, 128), (2, 256), (2, 512), (2, 512)),
    16: ((2, 64), (2, 128), (3, 256), (3, 512), (3, 512)),
    19: ((2, 64), (2, 128), (4, 256), (4, 512), (4, 512)),
}


def vgg_params(depth, in_channels, num_classes, input_size, width, hidden_features):
    total, c, side = 0, in_channels, input_size
    for num_convs, channels in _CONFIGS[depth]:
        out = max(1, round(channels * width))
        for _ in range(num_convs):
            total += (9 * c + 1) * out  # 3x3 weights and one bias per output channel
            c = out
        side = (side + 1) // 2  # the 2x2 pool, rounding up
    sizes = [c * side * side, hidden_features, hidden_features, num_classes]
    return total + sum(n_in * n_out + n_out for n_in, n_out in zip(sizes, sizes[1:]))


def receptive_field(layers):
    """(kernel_size, stride, dilation) per layer -> the side of the patch one output pixel sees."""
    r, jump = 1, 1
    for kernel, stride, dilation in layers:
        r += dilation * (kernel - 1) * jump
        jump *= stride
    return r


def _vgg16():
    layers = []
    for num_convs in (2, 2, 3, 3, 3):
        layers += [(3, 1, 1)] * num_convs + [(2, 2, 1)]
    return layers


receptive_fields = {
    "vgg16_pool5": receptive_field(_vgg16()),
    "resnet_stem": receptive_field([(7, 2, 1), (3, 2, 1)] + [(3, 1, 1)] * 4),
    "context_module": receptive_field([(3, 1, d) for d in (1, 1, 2, 4, 8, 16, 1)]),
}


def two_convs_for(kernel):
    w1 = torch.zeros(9, 1, 3, 3, dtype=kernel.dtype)
    w2 = torch.zeros(1, 9, 3, 3, dtype=kernel.dtype)
    for a in range(3):
        for b in range(3):
            w1[3 * a + b, 0, a, b] = 1.0  # middle channel (a, b) copies the pixel at offset (a, b)
    for s in range(5):
        for t in range(5):
            a, b = max(0, s - 2), max(0, t - 2)  # one route per 5x5 tap: offsets (a, b) then (s - a, t - b)
            w2[0, 3 * a + b, s - a, t - b] = kernel[s, t]
    return w1, w2


two_3x3_as_5x5 = two_convs_for  # the answer under the exercise's name
