"""Checkers for notebook 10 (ResNet).

The hints nudge; the error messages say what differs and where to look,
without handing over the formula.
"""

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models.resnet import Bottleneck as TorchvisionBottleneck

from course_utils.accounting import count_params
from course_utils.exercises import ExerciseError, NotAttempted, as_int, checker, expect


def _torchvision_stage(in_channels, mid_channels, num_blocks, stride):
    """A stage of torchvision's ResNet-50 family: a projection (1x1 conv +
    batch norm) on the first block only, outputs 4 * mid_channels."""
    out_channels = 4 * mid_channels
    downsample = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                               nn.BatchNorm2d(out_channels))
    blocks = [TorchvisionBottleneck(in_channels, mid_channels, stride, downsample)]
    blocks += [TorchvisionBottleneck(out_channels, mid_channels) for _ in range(num_blocks - 1)]
    return nn.Sequential(*blocks)


@checker(hint="Count one bottleneck block first: three convolutions without bias, each followed by a batch "
              "norm. Then ask which blocks of the stage need a projection shortcut, and what it contains.")
def check_bottleneck_stage_params(bottleneck_stage_params):
    """``bottleneck_stage_params(in_channels, mid_channels, num_blocks)``: parameters of a stage of
    bottleneck blocks with a projection (1x1 conv + batch norm) on its first block (option B)."""
    cases = [(64, 64, 3), (256, 128, 4), (1024, 512, 3), (512, 256, 23), (8, 2, 1)]
    for in_channels, mid, num_blocks in cases:
        with torch.device("meta"):
            expected = count_params(_torchvision_stage(in_channels, mid, num_blocks, 2))
        got = as_int(bottleneck_stage_params(in_channels, mid, num_blocks), "bottleneck_stage_params(...)")
        if got == expected:
            continue
        out = 4 * mid
        projection = in_channels * out + 2 * out
        known_slips = {  # the count each common slip gives -> what to look at
            expected - 2 * (2 * mid + out) * num_blocks - 2 * out:
                "Your count leaves out the batch norms (a scale and a shift per channel).",
            expected - projection: "Your count has no projection shortcut.",
            expected - 2 * out: "The projection shortcut has a batch norm too.",
            expected + (num_blocks - 1) * (out * out + 2 * out):
                "Only the first block needs a projection: the others' input already has the output's shape.",
            expected + (num_blocks - 1) * (in_channels - out) * mid:
                "Only the first block reads in_channels; the others read the stage's output channels.",
        }
        why = known_slips.get(got, "Count one block by hand and compare.")
        raise ExerciseError(f"a stage of {num_blocks} bottleneck block(s), {in_channels} -> {mid} -> {out} "
                            f"channels: your count is off by {got - expected:+,}. {why}")


def _zero_pad_oracle(x, out_channels, stride):
    """Pixel by pixel: every stride-th row and column, the input's channels first, zeros after."""
    n, c, h, w = x.shape
    rows, cols = range(0, h, stride), range(0, w, stride)
    out = torch.zeros(n, out_channels, len(rows), len(cols), dtype=x.dtype)
    for i, r in enumerate(rows):
        for j, s in enumerate(cols):
            out[:, :c, i, j] = x[:, :, r, s]
    return out


@checker(hint="Two steps: make the map smaller the way a stride-2 convolution would (which pixels does it "
              "look at first?), then make room for the new channels without adding any parameters.")
def check_zero_pad_shortcut(zero_pad_shortcut):
    """``zero_pad_shortcut(x, out_channels, stride)``: option A's shortcut."""
    gen = torch.Generator().manual_seed(10)
    for shape, out_channels, stride in [((2, 16, 8, 8), 32, 2), ((1, 3, 7, 7), 5, 2), ((2, 4, 6, 6), 4, 1),
                                        ((1, 2, 9, 9), 6, 3)]:
        x = torch.randn(shape, generator=gen)
        got = zero_pad_shortcut(x, out_channels, stride)
        if got is None:
            raise NotAttempted()
        expected = _zero_pad_oracle(x, out_channels, stride)
        if tuple(got.shape) != tuple(expected.shape):
            raise ExerciseError(f"for x of shape {shape}, out_channels={out_channels}, stride={stride} the "
                                f"shortcut must match the block's output shape {tuple(expected.shape)}, got "
                                f"{tuple(got.shape)}")
        if torch.count_nonzero(got[:, shape[1]:]) and not torch.count_nonzero(got[:, :out_channels - shape[1]]):
            raise ExerciseError("the new (zero) channels should come after the input's channels, not before")
        expect(got, expected, f"zero_pad_shortcut for x of shape {shape}, out_channels={out_channels}, "
                              f"stride={stride}", rtol=0, atol=0)


def _randomise_norm(norm, gen):
    with torch.no_grad():
        norm.weight.copy_(torch.rand(norm.weight.shape, generator=gen) + 0.5)
        norm.bias.copy_(torch.randn(norm.bias.shape, generator=gen))
        norm.running_mean.copy_(torch.randn(norm.running_mean.shape, generator=gen))
        norm.running_var.copy_(torch.rand(norm.running_var.shape, generator=gen) + 0.5)


def _preact_expected(block, x):
    """The description, with torch.nn.functional and the block's own parameters (eval mode)."""
    def bn(t, norm):
        return F.batch_norm(t, norm.running_mean, norm.running_var, norm.weight, norm.bias, eps=norm.eps)

    pre = F.relu(bn(x, block.bn1))
    stride = block.conv1.stride
    out = F.conv2d(pre, block.conv1.weight, stride=stride, padding=1)
    out = F.conv2d(F.relu(bn(out, block.bn2)), block.conv2.weight, padding=1)
    shortcut = getattr(block, "shortcut", None)
    if isinstance(shortcut, nn.Conv2d):
        return out + F.conv2d(pre, shortcut.weight, stride=stride)
    return out + x


@checker(hint="Same layers as the basic block, in another order: each convolution now comes *after* its "
              "batch norm and ReLU. Then ask what is left to do after the addition.")
def check_preact_block(PreActBlock):  # noqa: N803  (the answer is a class)
    """``PreActBlock(in_channels, out_channels, stride)``: He et al. (2016)'s pre-activation block."""
    gen = torch.Generator().manual_seed(2016)
    for in_channels, out_channels, stride in [(8, 8, 1), (8, 16, 2)]:
        try:
            block = PreActBlock(in_channels, out_channels, stride)
        except NotImplementedError:
            raise NotAttempted() from None
        if block is None:
            raise NotAttempted()
        for name in ("bn1", "conv1", "bn2", "conv2"):
            if not isinstance(getattr(block, name, None), (nn.BatchNorm2d, nn.Conv2d)):
                raise ExerciseError(f"the block needs an attribute {name!r} (see the description)")
        if block.bn1.num_features != in_channels:
            raise ExerciseError("bn1 normalises the block's *input*: it has in_channels features")
        if block.conv1.bias is not None or block.conv2.bias is not None:
            raise ExerciseError("the convolutions need no bias (a batch norm follows, or the sum does)")
        changes = stride != 1 or in_channels != out_channels
        shortcut = getattr(block, "shortcut", None)
        if changes and not isinstance(shortcut, nn.Conv2d):
            raise ExerciseError(f"with {in_channels} -> {out_channels} channels and stride {stride} the identity "
                                "does not fit: the description's shortcut is a 1x1 convolution")
        for norm in (block.bn1, block.bn2):
            _randomise_norm(norm, gen)
        block.eval()
        x = torch.randn(3, in_channels, 8, 8, generator=gen)
        with torch.no_grad():
            got, expected = block(x), _preact_expected(block, x)
        if (expected < 0).any() and not (got < 0).any():
            raise ExerciseError("your block's output is never negative: the pre-activation block has no ReLU "
                                "after the addition (He et al. 2016 keep the shortcut path free of it)")
        expect(got, expected, f"PreActBlock({in_channels}, {out_channels}, stride={stride}) in eval mode",
               rtol=1e-4, atol=1e-4)


@checker(hint="In eval mode a batch norm is a fixed affine map per channel: y = a * x + b. Work out a and b "
              "from its four tensors and eps, then push them into the convolution before it.")
def check_fold_batch_norm(fold_batch_norm):
    """``fold_batch_norm(conv, bn)`` -> ``(weight, bias)``: one convolution equal to ``bn(conv(x))`` in eval mode."""
    gen = torch.Generator().manual_seed(7)
    for c_in, c_out, k, bias in [(3, 8, 3, False), (4, 2, 1, True), (2, 5, 5, False)]:
        conv = nn.Conv2d(c_in, c_out, k, padding=k // 2, bias=bias)
        bn = nn.BatchNorm2d(c_out, eps=1e-3)
        _randomise_norm(bn, gen)
        conv.eval(), bn.eval()
        result = fold_batch_norm(conv, bn)
        if result is None:
            raise NotAttempted()
        weight, folded_bias = result
        if tuple(weight.shape) != tuple(conv.weight.shape) or tuple(folded_bias.shape) != (c_out,):
            raise ExerciseError(f"return the convolution's weight {tuple(conv.weight.shape)} and a bias "
                                f"({c_out},); got {tuple(weight.shape)} and {tuple(folded_bias.shape)}")
        x = torch.randn(2, c_in, 6, 6, generator=gen)
        with torch.no_grad():
            expected = bn(conv(x))
            got = F.conv2d(x, weight, folded_bias, padding=k // 2)
        what = f"conv({c_in} -> {c_out}, {k}x{k}, bias={bias}) folded with its batch norm (eps={bn.eps})"
        expect(got, expected, what, rtol=1e-4, atol=1e-4)
