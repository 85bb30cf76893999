"""Network in Network (Lin, Chen and Yan, 2013, "Network In Network").

Two ideas: (1) after every ordinary convolution put two 1x1 convolutions, a
small fully-connected network applied at every pixel across the channels
(the "mlpconv" layer); (2) drop the dense head: the last block outputs one
channel per class and global average pooling turns each channel into a score.

The ImageNet-sized layout here uses AlexNet's first three kernel sizes
(11, 5, 3) and channel counts 96-256-384, each block followed by a 3x3
max-pool with stride 2. For small images (``input_size`` < 64) the first block
uses a 3x3 kernel with stride 1 instead of an 11x11 kernel with stride 4, which
would shrink a 28x28 image to 5x5 before anything is learnt.

Read from the bottom up: helpers, the block, the network, the factory.
"""

from dataclasses import dataclass

from torch import nn

from course_utils.models.common import check_image_input, feature_map_size, scale_channels

STEM_224 = (11, 4, 0)  # kernel_size, stride, padding of the first convolution (AlexNet's)
STEM_SMALL = (3, 1, 1)  # for inputs below 64 pixels


@dataclass(frozen=True)
class NiNConfig:
    """Everything that defines a NiN network."""

    in_channels: int = 3
    num_classes: int = 1000
    input_size: int = 224
    channels: tuple = (96, 256, 384)
    width: float = 1.0
    batch_norm: bool = False
    dropout: float = 0.5


# ---------------------------------------------------------------- helpers


def stem(input_size):
    """``(kernel_size, stride, padding)`` of the first convolution for ``input_size``."""
    return STEM_224 if input_size >= 64 else STEM_SMALL


def final_size(input_size):
    """Side of the class maps for a square input of side ``input_size``; 0 if they vanish."""
    pools = [(3, 2, 0)] * 3  # the 3x3 stride-2 max-pools (the other convolutions keep the size)
    return feature_map_size(input_size, [stem(input_size)] + pools)


# ------------------------------------------------------------------ block


def nin_block(in_channels, out_channels, kernel_size, stride=1, padding=0, batch_norm=False):
    """A k x k convolution followed by two 1x1 convolutions, each with a ReLU."""
    layers = []
    for k, s, p in ((kernel_size, stride, padding), (1, 1, 0), (1, 1, 0)):
        layers.append(nn.Conv2d(in_channels, out_channels, kernel_size=k, stride=s, padding=p))
        if batch_norm:
            layers.append(nn.BatchNorm2d(out_channels))
        layers.append(nn.ReLU())
        in_channels = out_channels
    return nn.Sequential(*layers)


# ---------------------------------------------------------------- network


class NiN(nn.Module):
    """Three NiN blocks with max-pooling, a class block and global average pooling."""

    def __init__(self, config):
        super().__init__()
        self.config = config
        c1, c2, c3 = (scale_channels(c, config.width) for c in config.channels)
        bn = config.batch_norm
        self.features = nn.Sequential(
            nin_block(config.in_channels, c1, *stem(config.input_size), batch_norm=bn),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nin_block(c1, c2, kernel_size=5, padding=2, batch_norm=bn),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nin_block(c2, c3, kernel_size=3, padding=1, batch_norm=bn),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Dropout(config.dropout),
            # One output channel per class: the "class maps" of the paper.
            nin_block(c3, config.num_classes, kernel_size=3, padding=1, batch_norm=bn),
        )
        self.head = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),  # (B, num_classes, h, w) -> (B, num_classes, 1, 1)
            nn.Flatten(),  # (B, num_classes)
        )

    def forward(self, x):
        check_image_input(x, self.config.in_channels, name="NiN")
        return self.head(self.features(x))


# -------------------------------------------------------------- factory


def nin(in_channels=3, num_classes=1000, *, input_size=224, width=1.0, batch_norm=False,
        dropout=0.5):
    """Build a Network-in-Network.

    Args:
        in_channels: channels of the input images (3 for RGB, 1 for grey).
        num_classes: number of classes (= output channels of the last block).
        input_size: side of the input images; below 64 the first block uses a
            3x3 stride-1 convolution instead of 11x11 with stride 4. The global
            average pool means the parameter count does not depend on it
            otherwise.
        width: multiplier for the 96-256-384 channels of the first three blocks.
        batch_norm: add batch normalisation after every convolution (not in
            the paper; it makes a small NiN train much faster).
        dropout: dropout probability before the class block.
    """
    if input_size < 1 or width <= 0:
        raise ValueError(f"input_size and width must be positive, got {input_size}, {width}")
    if final_size(input_size) < 1:
        raise ValueError(
            f"input_size {input_size} is too small: the three 3x3 stride-2 pools need "
            f"at least 15 pixels (small stem) or 67 pixels (11x11 stride-4 stem)"
        )
    return NiN(NiNConfig(in_channels=in_channels, num_classes=num_classes,
                         input_size=input_size, width=width, batch_norm=batch_norm,
                         dropout=dropout))
