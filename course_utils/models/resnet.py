"""ResNet (He, Zhang, Ren and Sun, 2015, "Deep Residual Learning for Image
Recognition").

A residual block computes ``relu(F(x) + shortcut(x))``: a few convolutions
``F`` learn only what must be *added* to the input, and the input takes a
shortcut around them. The network is a stem, stages of such blocks (each
stage after the first halves the height and width and widens the channels),
global average pooling and one dense layer.

One network class builds both families of the paper:

- the ImageNet ResNets (the paper's Table 1): a 7x7 stride-2 stem and a
  max-pool, four stages of :class:`BasicBlock` (ResNet-18, -34) or
  :class:`Bottleneck` (ResNet-50, -101, -152) with 64/128/256/512 channels.
  At the published configuration the parameter counts are torchvision's, and
  :func:`from_torchvision_state_dict` maps torchvision's weights onto ours
  (same outputs). As in torchvision ("ResNet v1.5"), a bottleneck puts its
  stride on the 3x3 convolution; ``stride_in_1x1=True`` gives the paper's
  layout (stride on the first 1x1), which costs fewer multiply-adds.
- the CIFAR-10 ResNets of the paper's section 4.2 (:func:`resnet_cifar`):
  depth ``6n + 2``, one 3x3 convolution as the stem, three stages of ``n``
  basic blocks with 16/32/64 channels on 32/16/8-pixel maps.

Apart from the paper, ResNet-9 (D. Page's small network that trains CIFAR-10
fast) has a module of its own: :mod:`course_utils.models.resnet9`.

Shortcuts (the paper's section 3.3 and Table 3), chosen by ``shortcut``:

- ``"A"``: identity; where the shape changes, the input is subsampled by
  taking every ``stride``-th pixel and the new channels are zeros (no
  parameters). The paper's CIFAR networks use it.
- ``"B"``: identity, and a projection (1x1 convolution with the block's
  stride, then batch norm) where the shape changes. torchvision's choice.
- ``"C"``: a projection on every block.

``plain=True`` removes every shortcut: the "plain" networks the paper
compares against.

Every ReLU and every addition creates a new tensor (nothing is in place), so
the batch norms after the 3x3 convolutions hold the "responses" of the
paper's Figure 7 ("the outputs of each 3x3 layer, after BN and before other
nonlinearity (ReLU/addition)"): :meth:`ResNet.response_layers` lists them and
:func:`layer_responses` collects their outputs.

Read from the bottom up: helpers (shortcuts, the stem), the two blocks, the
network, the state-dict mapping, the factories.
"""

from collections import OrderedDict
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from course_utils.models.common import check_image_input, rename_state_dict, scale_channels

SHORTCUTS = ("A", "B", "C")  # the paper's options (section 3.3); experiments.config checks against these too
BLOCKS = ("basic", "bottleneck")

# Blocks per stage of the ImageNet ResNets (the paper's Table 1).
IMAGENET_LAYERS = {
    18: ("basic", (2, 2, 2, 2)),
    34: ("basic", (3, 4, 6, 3)),
    50: ("bottleneck", (3, 4, 6, 3)),
    101: ("bottleneck", (3, 4, 23, 3)),
    152: ("bottleneck", (3, 8, 36, 3)),
}
IMAGENET_WIDTHS = (64, 128, 256, 512)
CIFAR_WIDTHS = (16, 32, 64)
# Below this side the stem is one 3x3 stride-1 convolution without max-pool.
SMALL_INPUT = 64


@dataclass(frozen=True)
class ResNetConfig:
    """Everything that defines a ResNet.

    ``widths`` are the channels of each stage's 3x3 convolutions (a
    bottleneck block outputs ``4 *`` that); ``layers`` the blocks per stage;
    ``stem`` is ``"imagenet"`` (7x7 stride 2, batch norm, ReLU, 3x3 max-pool
    stride 2) or ``"small"`` (3x3 stride 1, batch norm, ReLU).
    """

    block: str = "basic"
    layers: tuple = (2, 2, 2, 2)
    widths: tuple = IMAGENET_WIDTHS
    stem: str = "imagenet"
    stem_width: int = 64
    in_channels: int = 3
    num_classes: int = 1000
    shortcut: str = "B"
    plain: bool = False
    stride_in_1x1: bool = False


# ---------------------------------------------------------------- helpers


def conv3x3(in_channels, out_channels, stride=1):
    """3x3 convolution, padding 1, no bias (the batch norm after it shifts)."""
    return nn.Conv2d(in_channels, out_channels, kernel_size=3, stride=stride, padding=1, bias=False)


def conv1x1(in_channels, out_channels, stride=1):
    """1x1 convolution without bias."""
    return nn.Conv2d(in_channels, out_channels, kernel_size=1, stride=stride, bias=False)


class ZeroPadShortcut(nn.Module):
    """Option A: keep every ``stride``-th pixel and append zero channels.

    ``(N, C_in, H, W) -> (N, C_out, ceil(H / stride), ceil(W / stride))``:
    the first ``C_in`` output channels are the subsampled input, the other
    ``C_out - C_in`` are zeros. No parameters.
    """

    def __init__(self, in_channels, out_channels, stride):
        super().__init__()
        if out_channels < in_channels:
            raise ValueError(f"a zero-padding shortcut cannot reduce channels ({in_channels} -> {out_channels}): "
                             "use shortcut='B' or 'C' (a projection)")
        self.in_channels, self.out_channels, self.stride = in_channels, out_channels, stride

    def forward(self, x):
        x = x[:, :, ::self.stride, ::self.stride]  # (N, C_in, H / stride, W / stride)
        extra = self.out_channels - self.in_channels
        return F.pad(x, (0, 0, 0, 0, 0, extra))  # (N, C_out, H / stride, W / stride): zeros appended

    def extra_repr(self):
        return f"{self.in_channels}, {self.out_channels}, stride={self.stride}"


class ProjectionShortcut(nn.Module):
    """Options B and C: a 1x1 convolution with the block's stride, then batch
    norm (torchvision's ``downsample``)."""

    def __init__(self, in_channels, out_channels, stride):
        super().__init__()
        self.conv = conv1x1(in_channels, out_channels, stride)
        self.bn = nn.BatchNorm2d(out_channels)

    def forward(self, x):
        return self.bn(self.conv(x))


def make_shortcut(option, in_channels, out_channels, stride):
    """The shortcut of a block for shortcut option ``"A"``, ``"B"`` or ``"C"``."""
    if option not in SHORTCUTS:
        raise ValueError(f"unknown shortcut option {option!r}: choose 'A' (zero padding), 'B' (projection "
                         "where the shape changes) or 'C' (projection everywhere)")
    same_shape = stride == 1 and in_channels == out_channels
    if option == "C" or (option == "B" and not same_shape):
        return ProjectionShortcut(in_channels, out_channels, stride)
    if same_shape:
        return nn.Identity()
    return ZeroPadShortcut(in_channels, out_channels, stride)


def make_stem(kind, in_channels, out_channels):
    """The layers before the first stage: ``conv``, ``bn``, ``relu``, ``pool``."""
    if kind == "imagenet":  # 224 -> 112 (conv) -> 56 (pool)
        conv = nn.Conv2d(in_channels, out_channels, kernel_size=7, stride=2, padding=3, bias=False)
        pool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
    elif kind == "small":  # 32 -> 32: small images have no pixels to spare
        conv = conv3x3(in_channels, out_channels)
        pool = nn.Identity()
    else:
        raise ValueError(f"unknown stem {kind!r}: choose 'imagenet' or 'small'")
    return nn.Sequential(OrderedDict(conv=conv, bn=nn.BatchNorm2d(out_channels), relu=nn.ReLU(), pool=pool))


# ----------------------------------------------------------------- blocks


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with batch norm, and a shortcut around them:
    ``relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x))``.

    Args:
        in_channels, out_channels: channels in and out.
        stride: stride of the first convolution (2 halves the height and width).
        shortcut: option ``"A"``, ``"B"`` or ``"C"`` (see the module docstring).
        plain: no shortcut at all.
    """

    expansion = 1
    response_norms = ("bn1", "bn2")  # the batch norms after 3x3 convolutions

    def __init__(self, in_channels, out_channels, stride=1, *, shortcut="B", plain=False):
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.conv1 = conv3x3(in_channels, out_channels, stride)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.relu1 = nn.ReLU()
        self.conv2 = conv3x3(out_channels, out_channels)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.shortcut = None if plain else make_shortcut(shortcut, in_channels, out_channels, stride)
        self.relu2 = nn.ReLU()

    def forward(self, x):
        check_image_input(x, self.in_channels, name="BasicBlock")
        out = self.relu1(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.shortcut is not None:
            out = out + self.shortcut(x)
        return self.relu2(out)


class Bottleneck(nn.Module):
    """1x1 (reduce) -> 3x3 -> 1x1 (expand), each with batch norm, and a
    shortcut around them; ReLU after the first two and after the addition.

    Args:
        in_channels: channels in (e.g. 256).
        mid_channels: channels of the 3x3 convolution (e.g. 64).
        out_channels: channels out (e.g. 256; ``4 * mid_channels`` in ResNet-50).
        stride: 2 halves the height and width.
        shortcut: option ``"A"``, ``"B"`` or ``"C"``.
        plain: no shortcut at all.
        stride_in_1x1: put the stride on the first 1x1 (the paper) instead of
            the 3x3 (torchvision, "v1.5"; more multiply-adds, a little more
            accurate).
    """

    expansion = 4
    response_norms = ("bn2",)

    def __init__(self, in_channels, mid_channels, out_channels, stride=1, *, shortcut="B", plain=False,
                 stride_in_1x1=False):
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        stride_1x1, stride_3x3 = (stride, 1) if stride_in_1x1 else (1, stride)
        self.conv1 = conv1x1(in_channels, mid_channels, stride_1x1)
        self.bn1 = nn.BatchNorm2d(mid_channels)
        self.relu1 = nn.ReLU()
        self.conv2 = conv3x3(mid_channels, mid_channels, stride_3x3)
        self.bn2 = nn.BatchNorm2d(mid_channels)
        self.relu2 = nn.ReLU()
        self.conv3 = conv1x1(mid_channels, out_channels)
        self.bn3 = nn.BatchNorm2d(out_channels)
        self.shortcut = None if plain else make_shortcut(shortcut, in_channels, out_channels, stride)
        self.relu3 = nn.ReLU()

    def forward(self, x):
        check_image_input(x, self.in_channels, name="Bottleneck")
        out = self.relu1(self.bn1(self.conv1(x)))
        out = self.relu2(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.shortcut is not None:
            out = out + self.shortcut(x)
        return self.relu3(out)


# ---------------------------------------------------------------- network


def _check_config(config):
    if config.block not in BLOCKS:
        raise ValueError(f"unknown block {config.block!r}: choose one of {BLOCKS}")
    if config.shortcut not in SHORTCUTS:
        raise ValueError(f"unknown shortcut option {config.shortcut!r}: choose one of {SHORTCUTS}")
    if len(config.layers) != len(config.widths) or not config.layers:
        raise ValueError(f"layers {config.layers} and widths {config.widths} need one entry per stage")
    if any(n < 1 for n in config.layers) or any(w < 1 for w in config.widths) or config.stem_width < 1:
        raise ValueError(f"every stage needs at least one block and one channel, got layers {config.layers}, "
                         f"widths {config.widths}, stem_width {config.stem_width}")
    if config.in_channels < 1 or config.num_classes < 1:
        raise ValueError(f"in_channels and num_classes must be positive, got {config.in_channels}, "
                         f"{config.num_classes}")


class ResNet(nn.Module):
    """Stem, stages of residual blocks, global average pooling, one dense layer.

    Module names: ``stem.conv``/``stem.bn``; ``stages[i][j]`` is block ``j``
    of stage ``i`` (the paper's ``conv{i+2}_x``) with ``conv1``, ``bn1``,
    ``conv2``, ``bn2`` (and ``conv3``, ``bn3`` in a bottleneck) and
    ``shortcut``; ``fc``.
    """

    def __init__(self, config):
        super().__init__()
        _check_config(config)
        self.config = config
        self.stem = make_stem(config.stem, config.in_channels, config.stem_width)
        stages = []
        in_channels = config.stem_width
        for i, (num_blocks, width) in enumerate(zip(config.layers, config.widths)):
            blocks = []
            for j in range(num_blocks):
                stride = 2 if i > 0 and j == 0 else 1  # each stage after the first halves H and W
                if config.block == "basic":
                    block = BasicBlock(in_channels, width, stride, shortcut=config.shortcut, plain=config.plain)
                else:
                    block = Bottleneck(in_channels, width, width * Bottleneck.expansion, stride,
                                       shortcut=config.shortcut, plain=config.plain,
                                       stride_in_1x1=config.stride_in_1x1)
                blocks.append(block)
                in_channels = block.out_channels
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(in_channels, config.num_classes)
        self.reset_parameters()

    def reset_parameters(self):
        # He et al. (2015, "Delving Deep into Rectifiers") initialisation, which
        # the ResNet paper uses; batch norms start as the identity. As torchvision.
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    def forward(self, x):
        check_image_input(x, self.config.in_channels, name="ResNet")  # any size: the pool is global
        x = self.stem(x)  # (B, stem_width, H/4, W/4) with the ImageNet stem, (B, stem_width, H, W) small
        x = self.stages(x)  # (B, C, h, w): 7x7 at 224 px, 8x8 for CIFAR
        x = self.pool(x).flatten(1)  # (B, C, 1, 1) -> (B, C)
        return self.fc(x)  # (B, num_classes)

    def response_layers(self):
        """``[(name, batch_norm), ...]``: the batch norm after every 3x3
        convolution, in forward order (stem, then block by block).

        Their outputs are the layer responses of the paper's Figure 7 ("the
        outputs of each 3x3 layer, after BN and before other nonlinearity").
        A CIFAR ResNet of depth ``6n + 2`` has ``6n + 1`` of them (the stem
        and two per block); the ImageNet stem (7x7) and the bottlenecks' 1x1
        convolutions are not 3x3 layers.
        """
        layers = []
        if self.stem.conv.kernel_size == (3, 3):
            layers.append(("stem.bn", self.stem.bn))
        for i, stage in enumerate(self.stages):
            for j, block in enumerate(stage):
                for name in block.response_norms:
                    layers.append((f"stages.{i}.{j}.{name}", getattr(block, name)))
        return layers


@torch.no_grad()
def layer_responses(model, x):
    """Run ``model(x)`` and return ``{name: output}`` of every layer of
    :meth:`ResNet.response_layers` (detached tensors, in forward order).

    The model's mode is left alone: call ``model.eval()`` first to normalise
    with the running statistics, as when measuring on a test set.
    """
    outputs, hooks = {}, []
    for name, module in model.response_layers():
        hooks.append(module.register_forward_hook(
            lambda module, args, output, name=name: outputs.__setitem__(name, output.detach())))
    try:
        model(x)
    finally:
        for hook in hooks:
            hook.remove()
    return outputs


# ------------------------------------------------ torchvision's weights


_TORCHVISION_RENAMES = (
    (r"^conv1\.", "stem.conv."),
    (r"^bn1\.", "stem.bn."),
    (r"^layer(\d)\.(\d+)\.downsample\.0\.", lambda m: f"stages.{int(m[1]) - 1}.{m[2]}.shortcut.conv."),
    (r"^layer(\d)\.(\d+)\.downsample\.1\.", lambda m: f"stages.{int(m[1]) - 1}.{m[2]}.shortcut.bn."),
    (r"^layer(\d)\.(\d+)\.((?:conv|bn)\d\.)", lambda m: f"stages.{int(m[1]) - 1}.{m[2]}.{m[3]}"),
    (r"^fc\.", "fc."),
)


def from_torchvision_state_dict(state_dict):
    """Rename the keys of a torchvision ResNet's state dict to this module's
    names (``layer2.0.downsample.0.weight`` -> ``stages.1.0.shortcut.conv.weight``).

    Load the result with ``model.load_state_dict(...)`` into the ResNet of the
    same depth built with the defaults (shortcut option B, stride on the 3x3).
    """
    return rename_state_dict(state_dict, _TORCHVISION_RENAMES, "is not a key of a torchvision ResNet state dict")


# -------------------------------------------------------------- factories


def resnet(depth, in_channels=3, num_classes=1000, *, input_size=224, width=1.0, shortcut="B", plain=False,
           stride_in_1x1=False):
    """Build the ImageNet ResNet-``depth`` of the paper's Table 1.

    Args:
        depth: 18, 34 (basic blocks), 50, 101 or 152 (bottlenecks).
        in_channels: channels of the input images (3 for RGB, 1 for grey).
        num_classes: outputs of the dense layer.
        input_size: side of the images the network is meant for; it picks
            the stem. From 64 up the published one (7x7 stride 2 and a
            max-pool: 224 -> 56); below 64 a 3x3 stride-1 convolution without
            pool, for 28 or 32 px images (the four stages then run at
            32/16/8/4 or 28/14/7/4 pixels). The network takes any size (its
            pool is global); the stem decides how much it downsamples.
        width: multiplier for every convolution's channels (0.25 -> 16 ... 128).
        shortcut: ``"A"``, ``"B"`` (torchvision, default) or ``"C"``.
        plain: no shortcuts (the paper's plain-18 and plain-34).
        stride_in_1x1: bottlenecks stride in their first 1x1 (the paper)
            rather than the 3x3 (torchvision).
    """
    if depth not in IMAGENET_LAYERS:
        raise ValueError(f"unknown ImageNet ResNet depth {depth}: choose one of {sorted(IMAGENET_LAYERS)} "
                         "(for CIFAR-style depths 6n+2 use resnet_cifar)")
    if width <= 0 or input_size < 1:
        raise ValueError(f"width and input_size must be positive, got {width}, {input_size}")
    block, layers = IMAGENET_LAYERS[depth]
    return ResNet(ResNetConfig(
        block=block, layers=layers, widths=tuple(scale_channels(c, width) for c in IMAGENET_WIDTHS),
        stem="imagenet" if input_size >= SMALL_INPUT else "small", stem_width=scale_channels(64, width),
        in_channels=in_channels, num_classes=num_classes, shortcut=shortcut, plain=plain,
        stride_in_1x1=stride_in_1x1,
    ))


def resnet18(in_channels=3, num_classes=1000, **kwargs):
    """ResNet-18 (11,689,512 parameters at 3 channels, 1000 classes). Keyword arguments as for :func:`resnet`."""
    return resnet(18, in_channels, num_classes, **kwargs)


def resnet34(in_channels=3, num_classes=1000, **kwargs):
    """ResNet-34 (21,797,672 parameters). Keyword arguments as for :func:`resnet`."""
    return resnet(34, in_channels, num_classes, **kwargs)


def resnet50(in_channels=3, num_classes=1000, **kwargs):
    """ResNet-50 (25,557,032 parameters). Keyword arguments as for :func:`resnet`."""
    return resnet(50, in_channels, num_classes, **kwargs)


def resnet101(in_channels=3, num_classes=1000, **kwargs):
    """ResNet-101 (44,549,160 parameters). Keyword arguments as for :func:`resnet`."""
    return resnet(101, in_channels, num_classes, **kwargs)


def resnet152(in_channels=3, num_classes=1000, **kwargs):
    """ResNet-152 (60,192,808 parameters). Keyword arguments as for :func:`resnet`."""
    return resnet(152, in_channels, num_classes, **kwargs)


def resnet_cifar(depth, num_classes=10, in_channels=3, *, width=1.0, shortcut="A", plain=False):
    """Build the CIFAR-10 network of depth ``6n + 2`` of the paper's section 4.2.

    A 3x3 convolution with 16 filters, then three stages of ``n`` basic
    blocks (``2n`` 3x3 layers each) with 16, 32 and 64 filters on 32x32,
    16x16 and 8x8 maps, global average pooling and a dense layer: ``6n + 2``
    weight layers. With option A ResNet-20 has 269,722 parameters (the
    paper's Table 6: 0.27M).

    Args:
        depth: 20, 32, 44, 56, 110, ... (``6n + 2``; 8 is the smallest).
        num_classes: outputs of the dense layer (10 for CIFAR-10).
        in_channels: channels of the input images.
        width: multiplier for the 16/32/64 channels.
        shortcut: ``"A"`` (the paper's choice here, default), ``"B"`` or ``"C"``.
        plain: no shortcuts (the paper's plain-20 ... plain-56).
    """
    if not isinstance(depth, int) or depth < 8 or (depth - 2) % 6:
        raise ValueError(f"a CIFAR ResNet has depth 6n+2 (20, 32, 44, 56, 110, ...), got {depth!r}")
    if width <= 0:
        raise ValueError(f"width must be positive, got {width}")
    n = (depth - 2) // 6
    widths = tuple(scale_channels(c, width) for c in CIFAR_WIDTHS)
    return ResNet(ResNetConfig(
        block="basic", layers=(n, n, n), widths=widths, stem="small", stem_width=widths[0],
        in_channels=in_channels, num_classes=num_classes, shortcut=shortcut, plain=plain,
    ))
