"""Reference solutions to notebook 08's exercises."""

from torch import nn

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
    r, jump = 1, 1
    for kernel, stride in layers:
        r += (kernel - 1) * jump
        jump *= stride
    return r


def vgg_block_bn(num_convs, in_channels, out_channels):
    layers = []
    for _ in range(num_convs):
        layers += [nn.Conv2d(in_channels, out_channels, 3, padding=1), nn.BatchNorm2d(out_channels), nn.ReLU()]
        in_channels = out_channels
    layers.append(nn.MaxPool2d(2, stride=2, ceil_mode=True))
    return nn.Sequential(*layers)
