"""GoogLeNet and its Inception block (Szegedy et al., 2014, "Going Deeper with
Convolutions").

An Inception block runs four branches on the same input and concatenates
their outputs along the channels:

1. a 1x1 convolution;
2. a 1x1 convolution that reduces the channels, then a 3x3 convolution;
3. a 1x1 reduction, then a 5x5 convolution;
4. a 3x3 max-pool with stride 1, then a 1x1 projection.

Every branch keeps the height and width (padding 1 for 3x3, 2 for 5x5, the
pool pads 1), so the four outputs can be stacked. GoogLeNet is a stem of
ordinary convolutions, nine Inception blocks in three stages separated by
max-pools, global average pooling and one dense layer.

Two details follow torchvision's ``googlenet`` so that, at the published
configuration (3 channels, 1000 classes, 224x224, no auxiliary classifiers),
the parameter count is exactly torchvision's 6,624,904 and the outputs agree
for the same weights:

- every convolution is ``conv (bias=False) -> BatchNorm (eps=0.001) -> ReLU``
  (torchvision's ``BasicConv2d``); the 2014 paper has biases and no batch
  norm (batch norm came in 2015). ``batch_norm=False`` gives the paper's
  convolutions with biases.
- torchvision's "5x5" branch uses a 3x3 kernel, a known slip kept for
  compatibility with its pretrained weights (pytorch/vision issue #906).
  ``ch5x5_kernel_size=5`` gives the paper's 5x5 kernel.

The auxiliary classifiers the paper attaches to inception 4a and 4d during
training are left out (torchvision drops them with ``aux_logits=False``).

Read from the bottom up: a helper, the block, the network, the factory.
"""

from dataclasses import dataclass

import torch
from torch import nn

from course_utils.models.common import check_image_input, scale_channels

# (ch1x1, ch3x3_reduce, ch3x3, ch5x5_reduce, ch5x5, pool_proj) of the nine
# Inception blocks, from the paper's Table 1, grouped by stage.
STAGES = (
    (  # 3a, 3b
        (64, 96, 128, 16, 32, 32),
        (128, 128, 192, 32, 96, 64),
    ),
    (  # 4a - 4e
        (192, 96, 208, 16, 48, 64),
        (160, 112, 224, 24, 64, 64),
        (128, 128, 256, 24, 64, 64),
        (112, 144, 288, 32, 64, 64),
        (256, 160, 320, 32, 128, 128),
    ),
    (  # 5a, 5b
        (256, 160, 320, 32, 128, 128),
        (384, 192, 384, 48, 128, 128),
    ),
)


@dataclass(frozen=True)
class GoogLeNetConfig:
    """Everything that defines a GoogLeNet."""

    in_channels: int = 3
    num_classes: int = 1000
    input_size: int = 224
    width: float = 1.0
    batch_norm: bool = True
    ch5x5_kernel_size: int = 3
    dropout: float = 0.2


# ---------------------------------------------------------------- helpers


class ConvBlock(nn.Module):
    """Convolution, [batch norm], ReLU.

    With batch norm the convolution has no bias (the norm's shift replaces
    it) and the norm uses eps=0.001, as torchvision's ``BasicConv2d``; the
    attribute names ``conv`` and ``bn`` are also its names.
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0,
                 batch_norm=True):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride,
                              padding=padding, bias=not batch_norm)
        self.bn = nn.BatchNorm2d(out_channels, eps=0.001) if batch_norm else nn.Identity()
        self.relu = nn.ReLU()

    def forward(self, x):
        return self.relu(self.bn(self.conv(x)))


# ------------------------------------------------------------------ block


class Inception(nn.Module):
    """Four parallel branches concatenated along the channels.

    Args:
        in_channels: channels of the input.
        ch1x1: output channels of the 1x1 branch.
        ch3x3_reduce, ch3x3: 1x1 reduction, then 3x3 output channels.
        ch5x5_reduce, ch5x5: 1x1 reduction, then 5x5 output channels.
        pool_proj: output channels of the 1x1 after the 3x3 max-pool.
        batch_norm: convolutions with batch norm (see :class:`ConvBlock`).
        ch5x5_kernel_size: kernel of the "5x5" branch (5 in the paper, 3 in
            torchvision).

    The output has ``ch1x1 + ch3x3 + ch5x5 + pool_proj`` channels and the
    input's height and width.
    """

    def __init__(self, in_channels, ch1x1, ch3x3_reduce, ch3x3, ch5x5_reduce, ch5x5, pool_proj,
                 *, batch_norm=True, ch5x5_kernel_size=5):
        super().__init__()
        if ch5x5_kernel_size % 2 != 1:
            raise ValueError(f"ch5x5_kernel_size must be odd to keep H x W, got {ch5x5_kernel_size}")
        bn = batch_norm
        self.in_channels = in_channels
        self.out_channels = ch1x1 + ch3x3 + ch5x5 + pool_proj
        self.branch1 = ConvBlock(in_channels, ch1x1, 1, batch_norm=bn)
        self.branch2 = nn.Sequential(
            ConvBlock(in_channels, ch3x3_reduce, 1, batch_norm=bn),
            ConvBlock(ch3x3_reduce, ch3x3, 3, padding=1, batch_norm=bn),
        )
        self.branch3 = nn.Sequential(
            ConvBlock(in_channels, ch5x5_reduce, 1, batch_norm=bn),
            ConvBlock(ch5x5_reduce, ch5x5, ch5x5_kernel_size, padding=ch5x5_kernel_size // 2,
                       batch_norm=bn),
        )
        self.branch4 = nn.Sequential(
            nn.MaxPool2d(kernel_size=3, stride=1, padding=1, ceil_mode=True),
            ConvBlock(in_channels, pool_proj, 1, batch_norm=bn),
        )

    def forward(self, x):
        check_image_input(x, self.in_channels, name="Inception block")
        branches = [self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)]
        return torch.cat(branches, dim=1)  # (B, out_channels, H, W)


# ---------------------------------------------------------------- network


class GoogLeNet(nn.Module):
    """Stem, three stages of Inception blocks, global average pooling, one dense layer.

    Attribute names follow torchvision's ``GoogLeNet``: with the default
    settings ``load_state_dict`` accepts the state dict of
    ``torchvision.models.googlenet(aux_logits=False)`` and the outputs agree.
    """

    def __init__(self, config):
        super().__init__()
        self.config = config
        w, bn = config.width, config.batch_norm
        c64, c192 = scale_channels(64, w), scale_channels(192, w)
        if config.input_size >= 64:
            # The published stem: 7x7 stride 2, pool, 1x1, 3x3, pool (224 -> 28).
            self.conv1 = ConvBlock(config.in_channels, c64, 7, stride=2, padding=3, batch_norm=bn)
        else:
            # Small images (28 or 32 px): a 3x3 stride-1 convolution instead
            # of 7x7 stride 2, so the stem divides the side by 4, not 8, and
            # the three Inception stages see 7x7, 3x3 and 2x2 maps at 28 px.
            self.conv1 = ConvBlock(config.in_channels, c64, 3, padding=1, batch_norm=bn)
        self.maxpool1 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.conv2 = ConvBlock(c64, c64, 1, batch_norm=bn)
        self.conv3 = ConvBlock(c64, c192, 3, padding=1, batch_norm=bn)
        self.maxpool2 = nn.MaxPool2d(3, stride=2, ceil_mode=True)

        blocks = []
        in_channels = c192
        for stage in STAGES:
            for channels in stage:
                block = Inception(in_channels, *(scale_channels(c, w) for c in channels), batch_norm=bn,
                                  ch5x5_kernel_size=config.ch5x5_kernel_size)
                blocks.append(block)
                in_channels = block.out_channels
        self.inception3a, self.inception3b = blocks[0:2]
        self.maxpool3 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        (self.inception4a, self.inception4b, self.inception4c, self.inception4d,
         self.inception4e) = blocks[2:7]
        self.maxpool4 = nn.MaxPool2d(2, stride=2, ceil_mode=True)
        self.inception5a, self.inception5b = blocks[7:9]
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(config.dropout)
        self.fc = nn.Linear(in_channels, config.num_classes)

    def forward(self, x):
        check_image_input(x, self.config.in_channels, name="GoogLeNet")
        x = self.maxpool1(self.conv1(x))  # 224 -> 56, 28 -> 14
        x = self.maxpool2(self.conv3(self.conv2(x)))  # 56 -> 28, 14 -> 7
        x = self.inception3b(self.inception3a(x))
        x = self.maxpool3(x)  # 28 -> 14, 7 -> 3
        x = self.inception4a(x)
        x = self.inception4b(x)
        x = self.inception4c(x)
        x = self.inception4d(x)
        x = self.inception4e(x)
        x = self.maxpool4(x)  # 14 -> 7, 3 -> 2
        x = self.inception5b(self.inception5a(x))
        x = torch.flatten(self.avgpool(x), 1)  # (B, C, 1, 1) -> (B, C)
        return self.fc(self.dropout(x))


# -------------------------------------------------------------- factory


def googlenet(in_channels=3, num_classes=1000, *, input_size=224, width=1.0, batch_norm=True,
              ch5x5_kernel_size=3, dropout=0.2):
    """Build a GoogLeNet without auxiliary classifiers.

    The defaults reproduce torchvision's ``googlenet(aux_logits=False)``
    (6,624,904 parameters at 3 channels and 1000 classes). For the paper's
    network pass ``batch_norm=False, ch5x5_kernel_size=5``.

    Args:
        in_channels: channels of the input images (3 for RGB, 1 for grey).
        num_classes: outputs of the dense layer.
        input_size: side of the input images. From 64 up the published stem
            (7x7 stride 2, then a max-pool: 224 -> 56, 96 -> 24); below 64 the
            first convolution is 3x3 with stride 1 (28 -> 28 -> 14 after the
            pool), for 28 or 32 px images. The Inception stages then run at
            28/14/7 (224 px), 12/6/3 (96 px) or 7/3/2 (28 px). The global
            average pool makes the parameter count independent of the size
            otherwise.
        width: multiplier for every convolution's channels.
        batch_norm: conv (no bias) + batch norm + ReLU (torchvision) if true,
            conv with bias + ReLU (the paper) if false.
        ch5x5_kernel_size: kernel of the third branch: 3 (torchvision) or 5
            (the paper).
        dropout: dropout probability before the dense layer (0.2 in
            torchvision; 0.4 in the paper).
    """
    if input_size < 1 or width <= 0:
        raise ValueError(f"input_size and width must be positive, got {input_size}, {width}")
    return GoogLeNet(GoogLeNetConfig(
        in_channels=in_channels, num_classes=num_classes, input_size=input_size, width=width,
        batch_norm=batch_norm, ch5x5_kernel_size=ch5x5_kernel_size, dropout=dropout,
    ))
