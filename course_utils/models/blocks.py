"""Efficient convolution blocks that followed Inception.

Each block does the job of one big convolution with fewer weights and
multiply-adds:

- :class:`FactorisedConv2d`: an n x n convolution as 1 x n then n x 1
  (Szegedy et al., 2015, "Rethinking the Inception Architecture", Inception
  v3). Per output pixel and channel pair, 2n instead of n*n multiplies: 29%
  of the cost for 7x7, 67% for 3x3.
- :class:`PlainBottleneck`: 1x1 (reduce) -> 3x3 -> 1x1 (expand) (He et al.,
  2015, "Deep Residual Learning") without the shortcut; ResNet's
  ``Bottleneck`` (notebook 10) adds it.
- :class:`DepthwiseSeparableConv2d`: one k x k filter per input channel, then
  a 1x1 convolution that mixes channels (Howard et al., 2017, MobileNets).
- :class:`InvertedResidual`: 1x1 expand -> 3x3 depthwise -> 1x1 linear
  project, with a shortcut between the narrow ends (Sandler et al., 2018,
  MobileNetV2); same structure and parameter count as torchvision's
  ``mobilenetv2.InvertedResidual``.

The first three use convolutions without bias and, by default, no batch norm,
so their parameter counts are exactly the weight formulas::

    FactorisedConv2d(C, C, n)               2 * n * C * C     (vs n * n * C * C)
    PlainBottleneck(C, M, C)                2 * C * M + 9 * M * M  (vs 9 * C * C)
    DepthwiseSeparableConv2d(C_in, C_out, k)  k * k * C_in + C_in * C_out
                                                         (vs k * k * C_in * C_out)
"""

from torch import nn

from course_utils.models.common import check_image_input


def _norm(channels, batch_norm):
    return nn.BatchNorm2d(channels) if batch_norm else nn.Identity()


class FactorisedConv2d(nn.Module):
    """An n x n convolution factorised into a 1 x n and an n x 1 convolution.

    Args:
        in_channels, out_channels: channels in and out.
        kernel_size: n (odd); the padding n // 2 keeps the height and width.
        mid_channels: channels between the two convolutions (default
            ``out_channels``).
        activation: a ReLU between the two convolutions (as Inception v3).
            Without it the pair is itself one n x n convolution, whose kernel
            is a sum of ``mid_channels`` outer products (column x row).
        batch_norm: batch norm after each convolution.
    """

    def __init__(self, in_channels, out_channels, kernel_size, *, mid_channels=None,
                 activation=True, batch_norm=False):
        super().__init__()
        if kernel_size % 2 != 1:
            raise ValueError(f"kernel_size must be odd to keep H x W, got {kernel_size}")
        mid = out_channels if mid_channels is None else mid_channels
        pad = kernel_size // 2
        self.in_channels = in_channels
        self.row = nn.Conv2d(in_channels, mid, (1, kernel_size), padding=(0, pad), bias=False)
        self.norm1 = _norm(mid, batch_norm)
        self.act = nn.ReLU() if activation else nn.Identity()
        self.column = nn.Conv2d(mid, out_channels, (kernel_size, 1), padding=(pad, 0), bias=False)
        self.norm2 = _norm(out_channels, batch_norm)

    def forward(self, x):
        check_image_input(x, self.in_channels, name="FactorisedConv2d")
        x = self.act(self.norm1(self.row(x)))
        return self.norm2(self.column(x))


class PlainBottleneck(nn.Module):
    """1x1 reduce -> 3x3 -> 1x1 expand, each followed by [batch norm and] ReLU.

    "Plain": there is no shortcut around it (ResNet's ``Bottleneck`` has one).

    Args:
        in_channels: channels in (e.g. 512).
        mid_channels: channels of the narrow 3x3 convolution (e.g. 128).
        out_channels: channels out (e.g. 512).
        stride: stride of the 3x3 convolution.
        batch_norm: batch norm after each convolution.
    """

    def __init__(self, in_channels, mid_channels, out_channels, *, stride=1, batch_norm=False):
        super().__init__()
        self.in_channels = in_channels
        self.reduce = nn.Sequential(
            nn.Conv2d(in_channels, mid_channels, 1, bias=False),
            _norm(mid_channels, batch_norm), nn.ReLU(),
        )
        self.conv = nn.Sequential(
            nn.Conv2d(mid_channels, mid_channels, 3, stride=stride, padding=1, bias=False),
            _norm(mid_channels, batch_norm), nn.ReLU(),
        )
        self.expand = nn.Sequential(
            nn.Conv2d(mid_channels, out_channels, 1, bias=False),
            _norm(out_channels, batch_norm), nn.ReLU(),
        )

    def forward(self, x):
        check_image_input(x, self.in_channels, name="PlainBottleneck")
        return self.expand(self.conv(self.reduce(x)))


class DepthwiseSeparableConv2d(nn.Module):
    """Depthwise k x k convolution (one filter per channel), then a 1x1 convolution.

    Args:
        in_channels, out_channels: channels in and out.
        kernel_size: k (odd); padding k // 2.
        stride: stride of the depthwise convolution.
        batch_norm: batch norm after each convolution (MobileNet has it).

    A ReLU follows each convolution, as in MobileNet v1.
    """

    def __init__(self, in_channels, out_channels, kernel_size=3, *, stride=1, batch_norm=False):
        super().__init__()
        if kernel_size % 2 != 1:
            raise ValueError(f"kernel_size must be odd, got {kernel_size}")
        self.in_channels = in_channels
        # groups=in_channels: each input channel gets its own k x k filter.
        self.depthwise = nn.Sequential(
            nn.Conv2d(in_channels, in_channels, kernel_size, stride=stride,
                      padding=kernel_size // 2, groups=in_channels, bias=False),
            _norm(in_channels, batch_norm), nn.ReLU(),
        )
        self.pointwise = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, 1, bias=False),
            _norm(out_channels, batch_norm), nn.ReLU(),
        )

    def forward(self, x):
        check_image_input(x, self.in_channels, name="DepthwiseSeparableConv2d")
        return self.pointwise(self.depthwise(x))


class InvertedResidual(nn.Module):
    """MobileNetV2's block: expand with 1x1, filter with 3x3 depthwise, project with 1x1.

    Wide in the middle, narrow at the ends (the reverse of :class:`PlainBottleneck`);
    the last 1x1 has no ReLU (a "linear bottleneck": a ReLU on few channels
    destroys information), and the input is added back when the shapes allow
    it (stride 1 and ``in_channels == out_channels``).

    Args:
        in_channels, out_channels: channels in and out.
        stride: stride of the depthwise convolution (1 or 2).
        expand_ratio: middle channels = ``in_channels * expand_ratio`` (6 in
            the paper); with 1 the expanding 1x1 is left out.
    """

    def __init__(self, in_channels, out_channels, *, stride=1, expand_ratio=6):
        super().__init__()
        if stride not in (1, 2):
            raise ValueError(f"stride must be 1 or 2, got {stride}")
        hidden = int(round(in_channels * expand_ratio))
        self.in_channels = in_channels
        self.use_shortcut = stride == 1 and in_channels == out_channels
        if expand_ratio != 1:
            self.expand = nn.Sequential(
                nn.Conv2d(in_channels, hidden, 1, bias=False), nn.BatchNorm2d(hidden), nn.ReLU6(),
            )
        else:
            self.expand = nn.Identity()
        self.depthwise = nn.Sequential(
            nn.Conv2d(hidden, hidden, 3, stride=stride, padding=1, groups=hidden, bias=False),
            nn.BatchNorm2d(hidden), nn.ReLU6(),
        )
        self.project = nn.Sequential(
            nn.Conv2d(hidden, out_channels, 1, bias=False), nn.BatchNorm2d(out_channels),
        )

    def forward(self, x):
        check_image_input(x, self.in_channels, name="InvertedResidual")
        out = self.project(self.depthwise(self.expand(x)))
        return x + out if self.use_shortcut else out
