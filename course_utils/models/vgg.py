"""VGG (Simonyan and Zisserman, 2014, "Very Deep Convolutional Networks for
Large-Scale Image Recognition").

A VGG network is a stack of *blocks*: each block is a few 3x3 convolutions
(padding 1, so the height and width are kept) followed by a 2x2 max-pool with
stride 2 (which halves them). Five blocks, then three dense layers. The
configurations A, B, D and E of the paper's Table 1 are VGG-11, -13, -16 and
-19 (the number of weight layers).

Read from the bottom up: a helper, the block, the network, the factories.

At the published configuration (3 input channels, 1000 classes, 224x224) the
parameter counts equal torchvision's ``vgg11`` ... ``vgg19`` (and ``*_bn``
with ``batch_norm=True``), and with the same weights the outputs are equal.
The same code builds a narrow network (``width`` < 1) for 28 or 32 pixel
images: the first dense layer is sized from ``input_size``.
"""

from dataclasses import dataclass

from torch import nn

from course_utils.layer_math import conv_output_size
from course_utils.models.common import check_image_input, scale_channels

# (number of 3x3 convolutions, output channels) of the five blocks, from the
# paper's Table 1 (configurations A, B, D, E).
CONFIGS = {
    11: ((1, 64), (1, 128), (2, 256), (2, 512), (2, 512)),
    13: ((2, 64), (2, 128), (2, 256), (2, 512), (2, 512)),
    16: ((2, 64), (2, 128), (3, 256), (3, 512), (3, 512)),
    19: ((2, 64), (2, 128), (4, 256), (4, 512), (4, 512)),
}


@dataclass(frozen=True)
class VGGConfig:
    """Everything that defines a VGG network.

    ``blocks`` holds ``(num_convs, out_channels)`` per block before the width
    multiplier is applied.
    """

    blocks: tuple = CONFIGS[11]
    in_channels: int = 3
    num_classes: int = 1000
    input_size: int = 224
    width: float = 1.0
    hidden_features: int = 4096
    batch_norm: bool = False
    dropout: float = 0.5


# ---------------------------------------------------------------- helpers


def pooled_size(size, num_pools):
    """Side length after ``num_pools`` 2x2 max-pools with ``ceil_mode=True``."""
    for _ in range(num_pools):
        size = conv_output_size(size, 2, stride=2, ceil_mode=True)
    return size


# ------------------------------------------------------------------ block


def vgg_block(num_convs, in_channels, out_channels, batch_norm=False):
    """``num_convs`` x (3x3 conv, [batch norm], ReLU), then a 2x2 max-pool.

    The pool uses ``ceil_mode=True``: an odd-sized map keeps its last row and
    column (7 -> 4 instead of 3), so five blocks also fit a 28x28 image
    (28 -> 14 -> 7 -> 4 -> 2 -> 1). At 224 (or 32) pixels every map is even
    and this is exactly the usual pool.
    """
    layers = []
    for _ in range(num_convs):
        layers.append(nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1))
        if batch_norm:
            layers.append(nn.BatchNorm2d(out_channels))
        layers.append(nn.ReLU())
        in_channels = out_channels
    layers.append(nn.MaxPool2d(kernel_size=2, stride=2, ceil_mode=True))
    return nn.Sequential(*layers)


# ---------------------------------------------------------------- network


class VGG(nn.Module):
    """Five VGG blocks (``features``), then three dense layers (``classifier``)."""

    def __init__(self, config):
        super().__init__()
        self.config = config
        blocks = []
        in_channels = config.in_channels
        for num_convs, channels in config.blocks:
            out_channels = scale_channels(channels, config.width)
            blocks.append(vgg_block(num_convs, in_channels, out_channels, config.batch_norm))
            in_channels = out_channels
        self.features = nn.Sequential(*blocks)

        side = pooled_size(config.input_size, len(config.blocks))
        hidden = config.hidden_features
        self.classifier = nn.Sequential(
            nn.Flatten(),  # (B, C, h, w) -> (B, C * h * w)
            nn.Linear(in_channels * side * side, hidden),
            nn.ReLU(),
            nn.Dropout(config.dropout),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            nn.Dropout(config.dropout),
            nn.Linear(hidden, config.num_classes),
        )
        self.reset_parameters()

    def reset_parameters(self):
        # He et al. (2015) initialisation for the ReLU convolutions, as in
        # torchvision; without it a deep VGG without batch norm barely trains.
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(module.bias)

    def forward(self, x):
        check_image_input(x, self.config.in_channels, self.config.input_size, name="VGG")
        x = self.features(x)  # (B, C, h, w)
        return self.classifier(x)  # (B, num_classes)



# -------------------------------------------------------------- factories


def vgg(depth, in_channels=3, num_classes=1000, *, input_size=224, width=1.0,
        hidden_features=4096, batch_norm=False, dropout=0.5):
    """Build VGG-``depth``.

    Args:
        depth: 11, 13, 16 or 19 (configurations A, B, D, E of the paper).
        in_channels: channels of the input images (3 for RGB, 1 for grey).
        num_classes: outputs of the last dense layer.
        input_size: side of the square input images; sizes the first dense
            layer (224 -> 7x7 feature maps, 32 -> 1x1, 28 -> 1x1).
        width: multiplier for every convolution's channels (0.25 -> 16 ... 128).
        hidden_features: width of the two hidden dense layers (4096 in the paper).
        batch_norm: add batch normalisation after every convolution (as
            torchvision's ``vgg*_bn``; the paper predates batch norm).
        dropout: dropout probability in the dense layers.
    """
    if depth not in CONFIGS:
        raise ValueError(f"unknown VGG depth {depth}: choose one of {sorted(CONFIGS)}")
    if input_size < 1:
        raise ValueError(f"input_size must be a positive integer, got {input_size}")
    if width <= 0:
        raise ValueError(f"width must be positive, got {width}")
    config = VGGConfig(
        blocks=CONFIGS[depth], in_channels=in_channels, num_classes=num_classes,
        input_size=input_size, width=width, hidden_features=hidden_features,
        batch_norm=batch_norm, dropout=dropout,
    )
    return VGG(config)


def vgg11(in_channels=3, num_classes=1000, **kwargs):
    """VGG-11 (configuration A). Keyword arguments as for :func:`vgg`."""
    return vgg(11, in_channels, num_classes, **kwargs)


def vgg13(in_channels=3, num_classes=1000, **kwargs):
    """VGG-13 (configuration B). Keyword arguments as for :func:`vgg`."""
    return vgg(13, in_channels, num_classes, **kwargs)


def vgg16(in_channels=3, num_classes=1000, **kwargs):
    """VGG-16 (configuration D). Keyword arguments as for :func:`vgg`."""
    return vgg(16, in_channels, num_classes, **kwargs)


def vgg19(in_channels=3, num_classes=1000, **kwargs):
    """VGG-19 (configuration E). Keyword arguments as for :func:`vgg`."""
    return vgg(19, in_channels, num_classes, **kwargs)
