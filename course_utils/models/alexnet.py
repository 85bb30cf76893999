"""AlexNet (Krizhevsky, Sutskever and Hinton, 2012, "ImageNet Classification
with Deep Convolutional Neural Networks").

Five convolutions and three dense layers: an 11x11 stride-4 convolution,
overlapping 3x3 stride-2 max-pools after the first, second and fifth
convolutions, ReLU everywhere, dropout in the first two dense layers, and
(in 2012) local response normalisation after the first two convolutions.

Two sets of channels exist:

- the 2012 paper: 96-256-384-384-256, trained on two GPUs, each holding half
  of every layer; the second, fourth and fifth convolutions only see the
  channels on their own GPU (``groups=2`` in PyTorch terms);
- the single-GPU "2014" variant: 64-192-384-256-256 on one GPU, no groups,
  no LRN. This is torchvision's ``alexnet`` (61,100,840 parameters at 3
  channels, 1000 classes, 224x224); with ``lrn=False`` our layers have the
  same names, so torchvision's state dict loads as is. It is often credited
  to Krizhevsky's "One weird trick for parallelizing convolutional neural
  networks" (2014), whose footnote gives 64-192-384-384-256; torchvision's
  256 for conv4 comes from the one-GPU ImageNet configuration of
  Krizhevsky's cuda-convnet2 (pytorch/vision pull requests #463 and #704).

Small images (Fashion-MNIST's 28x28) get a 3x3 stride-1 first convolution
instead of the 11x11 stride-4 one (which would shrink 28 pixels to 6 before
the first pool); the rest of the network is unchanged. The adaptive average
pool caps the last feature map at 6x6, as in torchvision.

Read from the bottom up: helpers, the convolution layer, the network, the
factories.
"""

from dataclasses import dataclass

from torch import nn

from course_utils.models.common import check_image_input, feature_map_size, scale_channels

CHANNELS_2012 = (96, 256, 384, 384, 256)
CHANNELS_2014 = (64, 192, 384, 256, 256)
GROUPS_2012 = (1, 2, 1, 2, 2)  # the two-GPU split: conv2, conv4, conv5 see only their GPU's half
STEM_224 = (11, 4, 2)  # kernel_size, stride, padding of the first convolution (ImageNet)
STEM_SMALL = (3, 1, 1)  # for 28x28 or 32x32 images
ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}


@dataclass(frozen=True)
class AlexNetConfig:
    """Everything that defines an AlexNet.

    ``channels`` are after the width multiplier; ``groups`` per convolution.
    """

    in_channels: int = 3
    num_classes: int = 1000
    input_size: int = 224
    channels: tuple = CHANNELS_2014
    groups: tuple = (1, 1, 1, 1, 1)
    stem: tuple = STEM_224
    hidden_features: int = 4096
    dropout: float = 0.5
    lrn: bool = False
    activation: str = "relu"
    max_pooled_size: int = 6


# ---------------------------------------------------------------- helpers


def feature_size(config):
    """Side of the last feature map: stem, pool, pool, pool (the other
    convolutions keep the size); 0 if the map vanishes on the way."""
    overlapping_pools = [(3, 2, 0)] * 3
    return feature_map_size(config.input_size, [config.stem] + overlapping_pools)


def local_response_norm():
    """LRN with the paper's constants (section 3.3): k=2, n=5, alpha=1e-4, beta=0.75.

    The paper's formula is ``b = a / (k + alpha * sum of a^2 over n channels) ** beta``;
    PyTorch's ``nn.LocalResponseNorm`` divides its ``alpha`` by ``n``, so the
    paper's constant is passed as ``alpha = 1e-4 * 5``. (Many reimplementations
    pass 1e-4 and so normalise five times more weakly than the paper.)"""
    return nn.LocalResponseNorm(size=5, alpha=1e-4 * 5, beta=0.75, k=2.0)


def overlapping_pool():
    """3x3 windows with stride 2: neighbouring windows overlap by one pixel (section 3.4)."""
    return nn.MaxPool2d(kernel_size=3, stride=2)


# ------------------------------------------------------------------ layer


def conv_layers(in_channels, out_channels, kernel_size, stride, padding, groups, activation):
    """Convolution and its activation, as a list (``features`` is one flat Sequential,
    as in torchvision, so that state dicts load both ways)."""
    conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=padding, groups=groups)
    return [conv, ACTIVATIONS[activation]()]


# ---------------------------------------------------------------- network


class AlexNet(nn.Module):
    """``features`` (5 convolutions, 3 pools), ``avgpool``, ``classifier`` (3 dense layers)."""

    def __init__(self, config):
        super().__init__()
        self.config = config
        c1, c2, c3, c4, c5 = config.channels
        g1, g2, g3, g4, g5 = config.groups
        act = config.activation
        layers = conv_layers(config.in_channels, c1, *config.stem, g1, act)
        if config.lrn:
            layers.append(local_response_norm())
        layers.append(overlapping_pool())
        layers += conv_layers(c1, c2, 5, 1, 2, g2, act)
        if config.lrn:
            layers.append(local_response_norm())
        layers.append(overlapping_pool())
        layers += conv_layers(c2, c3, 3, 1, 1, g3, act)
        layers += conv_layers(c3, c4, 3, 1, 1, g4, act)
        layers += conv_layers(c4, c5, 3, 1, 1, g5, act)
        layers.append(overlapping_pool())
        self.features = nn.Sequential(*layers)

        pooled = min(config.max_pooled_size, feature_size(config))
        self.avgpool = nn.AdaptiveAvgPool2d(pooled)
        hidden = config.hidden_features
        self.classifier = nn.Sequential(
            nn.Dropout(config.dropout),
            nn.Linear(c5 * pooled * pooled, hidden),
            ACTIVATIONS[act](),
            nn.Dropout(config.dropout),
            nn.Linear(hidden, hidden),
            ACTIVATIONS[act](),
            nn.Linear(hidden, config.num_classes),
        )

    def forward(self, x):
        check_image_input(x, self.config.in_channels, self.config.input_size, name="AlexNet")
        x = self.features(x)  # (B, c5, side, side)
        x = self.avgpool(x)  # (B, c5, pooled, pooled)
        x = x.flatten(1)  # (B, c5 * pooled * pooled)
        return self.classifier(x)  # (B, num_classes)



# -------------------------------------------------------------- factories


def alexnet(in_channels=3, num_classes=1000, *, input_size=224, channels=CHANNELS_2014, groups=1,
            width=1.0, stem=None, hidden_features=4096, dropout=0.5, lrn=False, activation="relu"):
    """Build an AlexNet.

    Args:
        in_channels: channels of the input images (3 for RGB, 1 for grey).
        num_classes: outputs of the last dense layer.
        input_size: side of the square input images.
        channels: output channels of the five convolutions before the width
            multiplier (``CHANNELS_2014``, torchvision's, or ``CHANNELS_2012``).
        groups: 1 (one GPU), 2 (the 2012 two-GPU connectivity: conv2, conv4
            and conv5 split into two halves), or a tuple of five.
        width: multiplier for every convolution's channels (0.25 -> 16-48-96-64-64).
        stem: ``(kernel_size, stride, padding)`` of the first convolution;
            ``None`` picks ``STEM_224`` (11, 4, 2) for inputs of 63 pixels or
            more and ``STEM_SMALL`` (3, 1, 1) below.
        hidden_features: width of the two hidden dense layers (4096 in the paper).
        dropout: dropout probability before the first two dense layers.
        lrn: local response normalisation after the first two convolutions (2012).
        activation: ``"relu"`` (the paper), ``"tanh"`` or ``"sigmoid"``, for experiments.
    """
    if len(channels) != 5:
        raise ValueError(f"channels needs five numbers (one per convolution), got {channels}")
    if isinstance(groups, int):
        groups = (1, groups, 1, groups, groups) if groups > 1 else (1,) * 5
    if len(groups) != 5 or groups[0] != 1:
        raise ValueError(f"groups must be an int or five numbers starting with 1, got {groups}")
    if width <= 0:
        raise ValueError(f"width must be positive, got {width}")
    if activation not in ACTIVATIONS:
        raise ValueError(f"unknown activation {activation!r}: choose one of {sorted(ACTIVATIONS)}")
    if stem is None:
        stem = STEM_224 if input_size >= 63 else STEM_SMALL
    # A grouped convolution needs its input and output channels divisible by
    # the groups: round each width-scaled count to a multiple of the groups on
    # both of its sides.
    multiples = [max(groups[i], groups[i + 1] if i < 4 else 1) for i in range(5)]
    scaled = tuple(scale_channels(c, width, m) for c, m in zip(channels, multiples))
    config = AlexNetConfig(
        in_channels=in_channels, num_classes=num_classes, input_size=input_size, channels=scaled,
        groups=tuple(groups), stem=tuple(stem), hidden_features=hidden_features, dropout=dropout,
        lrn=lrn, activation=activation,
    )
    if feature_size(config) < 1:
        raise ValueError(
            f"input_size={input_size} is too small for the stem {tuple(stem)}: the feature map vanishes "
            f"before the last pool; use a larger input or the small stem {STEM_SMALL}")
    return AlexNet(config)


def alexnet_2014(in_channels=3, num_classes=1000, **kwargs):
    """torchvision's AlexNet: the single-GPU variant (64-192-384-256-256, no LRN;
    cuda-convnet2's one-GPU widths, see the module docstring). Keyword arguments
    as for :func:`alexnet`."""
    return alexnet(in_channels, num_classes, channels=CHANNELS_2014, **kwargs)


def alexnet_2012(in_channels=3, num_classes=1000, *, groups=2, lrn=True, **kwargs):
    """The 2012 paper's AlexNet: 96-256-384-384-256, LRN, and the two-GPU split
    (``groups=2``; ``groups=1`` connects every channel, as d2l's version does).
    Keyword arguments as for :func:`alexnet`."""
    return alexnet(in_channels, num_classes, channels=CHANNELS_2012, groups=groups, lrn=lrn, **kwargs)
