"""ResNet-9 (D. Page, "How to train your ResNet", 2018): a small residual
network built to train CIFAR-10 fast, the DAWNBench entry of its time.

Nine weight layers: eight 3x3 convolutions (each with batch norm and ReLU)
that shrink the maps early with 2x2 max-pools, two residual blocks whose
shortcut is the identity (each keeps its input's shape, so nothing is
projected or padded, unlike the paper's blocks in
:mod:`course_utils.models.resnet`), a global max-pool and one dense layer.

Read from the bottom up: the conv-BN-ReLU layer, the residual block, the
network, its factory.
"""

from collections import OrderedDict

from torch import nn

from course_utils.models.common import check_image_input, scale_channels
from course_utils.models.resnet import conv3x3


def conv_bn_relu(in_channels, out_channels):
    """3x3 convolution (padding 1, no bias), batch norm, ReLU."""
    return nn.Sequential(OrderedDict(conv=conv3x3(in_channels, out_channels), bn=nn.BatchNorm2d(out_channels),
                                     relu=nn.ReLU()))


class Residual(nn.Module):
    """``x + F(x)`` with ``F`` two :func:`conv_bn_relu` layers that keep the
    shape, so the shortcut is the identity; no ReLU after the sum."""

    def __init__(self, channels):
        super().__init__()
        self.conv1 = conv_bn_relu(channels, channels)
        self.conv2 = conv_bn_relu(channels, channels)

    def forward(self, x):
        return x + self.conv2(self.conv1(x))


RESNET9_WIDTHS = (64, 128, 256, 512)


class ResNet9(nn.Module):
    """D. Page's ResNet-9 for 32x32 images (2018, "How to train your ResNet").

    ``prep``: conv-BN-ReLU to 64 channels at full size; ``layer1``: to 128
    channels, 2x2 max-pool, a :class:`Residual`; ``layer2``: to 256, max-pool;
    ``layer3``: to 512, max-pool, a :class:`Residual`; a global max-pool and
    one dense layer. Eight 3x3 convolutions and the dense layer are its nine
    weight layers; at 32 px the maps are 32, 16, 8 and 4 pixels wide.
    ``width`` scales the channels (0.25: 16/32/64/128). Page's version also
    multiplies the logits by 0.125; here the dense layer learns its scale.
    """

    def __init__(self, in_channels=3, num_classes=10, width=1.0):
        super().__init__()
        if in_channels < 1 or num_classes < 1:
            raise ValueError(f"in_channels and num_classes must be positive, got {in_channels}, {num_classes}")
        c = [scale_channels(w, width) for w in RESNET9_WIDTHS]
        self.in_channels = in_channels
        self.prep = conv_bn_relu(in_channels, c[0])
        self.layer1 = nn.Sequential(conv_bn_relu(c[0], c[1]), nn.MaxPool2d(2), Residual(c[1]))
        self.layer2 = nn.Sequential(conv_bn_relu(c[1], c[2]), nn.MaxPool2d(2))
        self.layer3 = nn.Sequential(conv_bn_relu(c[2], c[3]), nn.MaxPool2d(2), Residual(c[3]))
        self.pool = nn.AdaptiveMaxPool2d(1)
        self.fc = nn.Linear(c[3], num_classes)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x):
        check_image_input(x, self.in_channels, name="ResNet-9")
        if min(x.shape[-2:]) < 8:
            raise ValueError(f"ResNet-9 halves its input three times and needs images of at least 8x8 pixels, "
                             f"got {tuple(x.shape[-2:])}: resize them (it is meant for 32x32)")
        x = self.prep(x)  # (B, c0, H, W)
        x = self.layer1(x)  # (B, c1, H/2, W/2)
        x = self.layer2(x)  # (B, c2, H/4, W/4)
        x = self.layer3(x)  # (B, c3, H/8, W/8)
        return self.fc(self.pool(x).flatten(1))  # (B, num_classes)


def resnet9(num_classes=10, in_channels=3, *, width=1.0):
    """:class:`ResNet9` (6,573,130 parameters at width 1, 3 channels, 10 classes)."""
    if width <= 0:
        raise ValueError(f"width must be positive, got {width}")
    return ResNet9(in_channels, num_classes, width)
