"""LeNet-5 (LeCun, Bottou, Bengio and Haffner, 1998, "Gradient-Based Learning
Applied to Document Recognition").

Two 5x5 convolutions (6 and 16 channels), each followed by a non-linearity
and a 2x2 pooling with stride 2, then three dense layers (120, 84, classes).
The 1998 network read 32x32 images; Fashion-MNIST's are 28x28, so, like
*Dive into Deep Learning*'s simplified LeNet, the first convolution pads by 2
and the first feature map is 28x28 either way.

Two families of choices, one configuration:

- ``lenet_original``: sigmoid and average pooling, as in 1998 (the paper's
  scaled tanh, trainable subsampling, partial C3 connections and RBF output
  layer are simplified away, as in d2l);
- ``lenet_modern``: ReLU and max pooling, optionally with batch norm after
  every convolution and hidden dense layer (Ioffe and Szegedy, 2015).

Read from the bottom up: helpers, the two blocks, the network, the factories.
At ``in_channels=1, num_classes=10, input_size=28`` every variant without
batch norm has 61,706 parameters, the count of d2l's ``LeNet``.
"""

from dataclasses import dataclass

from torch import nn

from course_utils.models.common import check_image_input, feature_map_size

ACTIVATIONS = {"sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "relu": nn.ReLU}
POOLS = {"avg": nn.AvgPool2d, "max": nn.MaxPool2d}


@dataclass(frozen=True)
class LeNetConfig:
    """Everything that defines a LeNet-5 variant."""

    in_channels: int = 1
    num_classes: int = 10
    input_size: int = 28
    channels: tuple = (6, 16)
    hidden_features: tuple = (120, 84)
    kernel_size: int = 5
    padding: int = 2  # of the first convolution only: 28x28 in -> 28x28 out
    activation: str = "sigmoid"
    pool: str = "avg"
    batch_norm: bool = False


# ---------------------------------------------------------------- helpers


def feature_size(config):
    """Side of the last feature map (before flattening); 0 if it vanishes."""
    k = config.kernel_size
    pool = (2, 2, 0)
    return feature_map_size(config.input_size, [(k, 1, config.padding), pool, (k, 1, 0), pool])


# ----------------------------------------------------------------- blocks


def conv_block(in_channels, out_channels, config, padding=0):
    """Convolution, [batch norm], activation, 2x2 pooling with stride 2."""
    layers = [nn.Conv2d(in_channels, out_channels, kernel_size=config.kernel_size, padding=padding)]
    if config.batch_norm:
        layers.append(nn.BatchNorm2d(out_channels))
    layers += [ACTIVATIONS[config.activation](), POOLS[config.pool](kernel_size=2, stride=2)]
    return nn.Sequential(*layers)


def dense_block(in_features, out_features, config):
    """Dense layer, [batch norm], activation."""
    layers = [nn.Linear(in_features, out_features)]
    if config.batch_norm:
        layers.append(nn.BatchNorm1d(out_features))
    layers.append(ACTIVATIONS[config.activation]())
    return nn.Sequential(*layers)


# ---------------------------------------------------------------- network


class LeNet(nn.Module):
    """Two convolution blocks (``features``), then three dense layers (``classifier``)."""

    def __init__(self, config):
        super().__init__()
        self.config = config
        c1, c2 = config.channels
        h1, h2 = config.hidden_features
        self.features = nn.Sequential(
            conv_block(config.in_channels, c1, config, padding=config.padding),
            conv_block(c1, c2, config),
        )
        side = feature_size(config)
        self.classifier = nn.Sequential(
            nn.Flatten(),  # (B, c2, side, side) -> (B, c2 * side * side)
            dense_block(c2 * side * side, h1, config),
            dense_block(h1, h2, config),
            nn.Linear(h2, config.num_classes),
        )

    def forward(self, x):
        check_image_input(x, self.config.in_channels, self.config.input_size, name="LeNet")
        x = self.features(x)  # (B, c2, side, side)
        return self.classifier(x)  # (B, num_classes)



# -------------------------------------------------------------- factories


def lenet(in_channels=1, num_classes=10, *, input_size=28, activation="sigmoid", pool="avg",
          batch_norm=False, padding=2, channels=(6, 16), hidden_features=(120, 84)):
    """Build a LeNet-5 variant.

    Args:
        in_channels: channels of the input images (1 for grey, 3 for RGB).
        num_classes: outputs of the last dense layer.
        input_size: side of the square input images; sizes the first dense
            layer (28 with ``padding=2``, or 32 with ``padding=0``, give the
            paper's 16 x 5 x 5 = 400 features).
        activation: ``"sigmoid"`` (d2l's stand-in for 1998's scaled tanh),
            ``"tanh"`` or ``"relu"``.
        pool: ``"avg"`` (1998's subsampling) or ``"max"``.
        batch_norm: batch norm before every hidden activation.
        padding: padding of the first convolution.
        channels: output channels of the two convolutions.
        hidden_features: widths of the two hidden dense layers.
    """
    if activation not in ACTIVATIONS:
        raise ValueError(f"unknown activation {activation!r}: choose one of {sorted(ACTIVATIONS)}")
    if pool not in POOLS:
        raise ValueError(f"unknown pool {pool!r}: choose one of {sorted(POOLS)}")
    config = LeNetConfig(
        in_channels=in_channels, num_classes=num_classes, input_size=input_size,
        channels=tuple(channels), hidden_features=tuple(hidden_features), padding=padding,
        activation=activation, pool=pool, batch_norm=batch_norm,
    )
    if feature_size(config) < 1:
        raise ValueError(
            f"input_size={input_size} is too small for LeNet with padding={padding}: the second "
            f"pooling has nothing left to pool; use at least {16 - 2 * padding} pixels")
    return LeNet(config)


def lenet_original(in_channels=1, num_classes=10, *, input_size=28, **kwargs):
    """LeNet-5 as in 1998 (simplified as in d2l): sigmoid and average pooling.

    Keyword arguments as for :func:`lenet`.
    """
    kwargs.setdefault("activation", "sigmoid")
    kwargs.setdefault("pool", "avg")
    return lenet(in_channels, num_classes, input_size=input_size, **kwargs)


def lenet_modern(in_channels=1, num_classes=10, *, input_size=28, batch_norm=False, **kwargs):
    """LeNet-5 with ReLU and max pooling, optionally with batch norm.

    Keyword arguments as for :func:`lenet`.
    """
    kwargs.setdefault("activation", "relu")
    kwargs.setdefault("pool", "max")
    return lenet(in_channels, num_classes, input_size=input_size, batch_norm=batch_norm, **kwargs)
