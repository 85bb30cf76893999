"""Checkers for notebook 10 (ResNet).

The error messages say what differs and where to look, without handing over
the formula; the hints come in tiers (see ``course_utils.exercises``).
"""

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models.resnet import Bottleneck as TorchvisionBottleneck

from course_utils.accounting import count_params
from course_utils.exercises import ExerciseError, NotAttempted, as_int, checker, expect, hint_function


def _torchvision_stage(in_channels, mid_channels, num_blocks, stride):
    """A stage of torchvision's ResNet-50 family: a projection (1x1 conv +
    batch norm) on the first block only, outputs 4 * mid_channels."""
    out_channels = 4 * mid_channels
    downsample = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                               nn.BatchNorm2d(out_channels))
    blocks = [TorchvisionBottleneck(in_channels, mid_channels, stride, downsample)]
    blocks += [TorchvisionBottleneck(out_channels, mid_channels) for _ in range(num_blocks - 1)]
    return nn.Sequential(*blocks)


@checker(hint=(
    "Count one bottleneck block first, layer by layer. Then: which blocks of the stage need a projection "
    "shortcut, and what does it contain?",
    "A 1x1 convolution from c to d channels has c * d weights, a 3x3 one 9 * c * d, and none has a bias; each "
    "batch norm adds a scale and a shift per channel. Only the first block reads in_channels and needs the "
    "projection (a 1x1 convolution to 4 * mid_channels and its batch norm); the others read 4 * mid_channels, "
    "which already has the output's shape.",
    "With out = 4 * mid: block(c_in) = c_in * mid + 9 * mid * mid + mid * out + 2 * (mid + mid + out); the "
    "stage has block(in_channels) + in_channels * out + 2 * out + (num_blocks - 1) * block(out) parameters.",
))
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


def _average_oracle(x, weight, stride):
    """Pixel by pixel: each output pixel averages the stride x stride patch it stands for (what lies inside the
    input of a patch at the bottom or right edge), then the 1x1 weight mixes the channels."""
    n, c, h, w = x.shape
    rows, cols = range(0, h, stride), range(0, w, stride)
    pooled = torch.zeros(n, c, len(rows), len(cols), dtype=x.dtype)
    for i, r in enumerate(rows):
        for j, s in enumerate(cols):
            pooled[:, :, i, j] = x[:, :, r:r + stride, s:s + stride].mean(dim=(2, 3))
    return torch.einsum("oc,nchw->nohw", weight[:, :, 0, 0], pooled)


@checker(hint=(
    "Which input pixels does output pixel (i, j) of the block's strided 3x3 convolution sit over? Compare the "
    "output side with the input side for an odd input side too.",
    "Let each output pixel of the shortcut summarise the stride x stride patch of input pixels it stands for by "
    "their average, rather than keep one of them and drop the rest. A patch at the bottom or right edge may be "
    "cut off: average what lies inside, so that the side comes out as the block's (the input side divided by "
    "the stride, rounded up). Then a 1x1 convolution changes the channels, as option B's does.",
    "F.conv2d(F.avg_pool2d(x, stride, stride, ceil_mode=True, count_include_pad=False), weight) when stride > 1 "
    "(without padding, an overhanging window averages only the pixels inside it), F.conv2d(x, weight) when "
    "stride == 1.",
))
def check_average_shortcut(average_shortcut):
    """``average_shortcut(x, weight, stride)``: ResNet-D's projection shortcut, average pooling then a 1x1
    convolution with ``weight`` ``(C_out, C_in, 1, 1)``."""
    gen = torch.Generator().manual_seed(10)
    for shape, out_channels, stride in [((2, 16, 8, 8), 32, 2), ((1, 3, 7, 7), 5, 2), ((2, 4, 6, 6), 4, 1),
                                        ((1, 2, 9, 9), 6, 3), ((1, 3, 5, 8), 6, 2)]:
        x = torch.randn(shape, generator=gen, dtype=torch.float64)
        weight = torch.randn(out_channels, shape[1], 1, 1, generator=gen, dtype=torch.float64)
        got = average_shortcut(x.clone(), weight.clone(), stride)
        if got is None:
            raise NotAttempted()
        block = F.conv2d(x, torch.zeros(out_channels, shape[1], 3, 3, dtype=x.dtype), stride=stride, padding=1)
        if not isinstance(got, torch.Tensor) or tuple(got.shape) != tuple(block.shape):
            found = tuple(got.shape) if isinstance(got, torch.Tensor) else type(got).__name__
            raise ExerciseError(f"for x of shape {shape} and stride {stride} the shortcut must match the block's "
                                f"output (a 3x3 convolution, padding 1, stride {stride}): shape {tuple(block.shape)}, "
                                f"got {found}")
        expect(got, _average_oracle(x, weight, stride),
               f"average_shortcut for x of shape {shape}, {out_channels} output channels, stride {stride}")


def _randomise_norm(norm, gen):
    with torch.no_grad():
        norm.weight.copy_(torch.rand(norm.weight.shape, generator=gen) + 0.5)
        norm.bias.copy_(torch.randn(norm.bias.shape, generator=gen))
        norm.running_mean.copy_(torch.randn(norm.running_mean.shape, generator=gen))
        norm.running_var.copy_(torch.rand(norm.running_var.shape, generator=gen) + 0.5)


def _preact_bottleneck_expected(block, x, stride, changes):
    """The rule, with torch.nn.functional and the block's own parameters (eval mode)."""
    def bn(t, norm):
        return F.batch_norm(t, norm.running_mean, norm.running_var, norm.weight, norm.bias, eps=norm.eps)

    pre = F.relu(bn(x, block.bn1))
    out = F.conv2d(pre, block.conv1.weight)  # 1x1
    out = F.conv2d(F.relu(bn(out, block.bn2)), block.conv2.weight, stride=stride, padding=1)  # 3x3, the stride
    out = F.conv2d(F.relu(bn(out, block.bn3)), block.conv3.weight)  # 1x1
    return out + (F.conv2d(pre, block.shortcut.weight, stride=stride) if changes else x)


@checker(hint=(
    "In the pre-activation design, what may touch the shortcut path, and so what must each convolution's input "
    "have been through?",
    "Every convolution reads a normalised and rectified input: batch norm, ReLU, then the convolution, three "
    "times over. So each batch norm normalises what its own convolution reads (the block's input for the first, "
    "the narrow channels for the other two). The sum is the block's output, nothing after it; a projection "
    "shortcut, where needed, reads the same pre-activated input as the first convolution.",
    "bn1 = BatchNorm2d(in_channels), conv1 = 1x1 in -> mid; bn2 = BatchNorm2d(mid), conv2 = 3x3 mid -> mid with "
    "the stride and padding 1; bn3 = BatchNorm2d(mid), conv3 = 1x1 mid -> 4 * mid; all bias=False; shortcut = "
    "1x1 in -> 4 * mid with the stride if stride != 1 or in_channels != 4 * mid, else None. forward: pre = "
    "relu(bn1(x)); out = conv1(pre); out = conv2(relu(bn2(out))); out = conv3(relu(bn3(out))); return out + "
    "(shortcut(pre) if shortcut is not None else x).",
))
def check_preact_bottleneck(PreActBottleneck):  # noqa: N803  (the answer is a class)
    """``PreActBottleneck(in_channels, mid_channels, stride)``: He et al. (2016)'s pre-activation rule applied
    to the bottleneck block, ``4 * mid_channels`` channels out."""
    gen = torch.Generator().manual_seed(2016)
    for in_channels, mid, stride in [(16, 4, 1), (8, 4, 2), (16, 8, 1)]:
        try:
            block = PreActBottleneck(in_channels, mid, stride)
        except NotImplementedError:
            raise NotAttempted() from None
        if block is None:
            raise NotAttempted()
        where = f"PreActBottleneck({in_channels}, {mid}, stride={stride})"
        for name, kind in (("bn1", nn.BatchNorm2d), ("conv1", nn.Conv2d), ("bn2", nn.BatchNorm2d),
                           ("conv2", nn.Conv2d), ("bn3", nn.BatchNorm2d), ("conv3", nn.Conv2d)):
            if not isinstance(getattr(block, name, None), kind):
                raise ExerciseError(f"{where} needs an attribute {name!r}, an nn.{kind.__name__} (see the task)")
        norms = [block.bn1.num_features, block.bn2.num_features, block.bn3.num_features]
        if norms != [in_channels, mid, mid]:
            raise ExerciseError(f"{where}: the batch norms normalise {norms} channels; each normalises what its "
                                "convolution reads")
        if any(c.bias is not None for c in (block.conv1, block.conv2, block.conv3)):
            raise ExerciseError("the convolutions need no bias (a batch norm follows, or the sum does)")
        changes = stride != 1 or in_channels != 4 * mid
        if changes and not isinstance(getattr(block, "shortcut", None), nn.Conv2d):
            raise ExerciseError(f"{where}: {in_channels} -> {4 * mid} channels, stride {stride}: the identity does "
                                "not fit, the shortcut is a 1x1 convolution")
        for norm in (block.bn1, block.bn2, block.bn3):
            _randomise_norm(norm, gen)
        block.eval()
        x = torch.randn(3, in_channels, 8, 8, generator=gen)
        with torch.no_grad():
            got = block(x)
            expected = _preact_bottleneck_expected(block, x, stride, changes)
        if tuple(got.shape) != tuple(expected.shape):
            raise ExerciseError(f"{where}: the output should have shape {tuple(expected.shape)}, got "
                                f"{tuple(got.shape)}")
        if (expected < 0).any() and not (got < 0).any():
            raise ExerciseError("your block's output is never negative: the pre-activation block has no ReLU "
                                "after the addition (He et al. 2016 keep the shortcut path free of it)")
        expect(got, expected, f"{where} in eval mode", rtol=1e-4, atol=1e-4)


@checker(hint=(
    "In eval mode, what does a batch norm do to the values of one channel: which of its tensors does it use, "
    "and what kind of map is it?",
    "In eval mode a batch norm is a fixed affine map per channel, y = a * x + b, with a and b made of its "
    "running statistics, its scale and shift and eps. Scaling one output channel of a convolution is scaling "
    "that channel's filter, and a shift is a bias: fold a into each output channel's kernel and the rest into "
    "the bias (a convolution without one has a bias of 0).",
    "scale = bn.weight / sqrt(bn.running_var + bn.eps); weight = conv.weight * scale[:, None, None, None]; "
    "bias = ((conv.bias if it exists, else 0) - bn.running_mean) * scale + bn.bias.",
))
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


hint = hint_function(__name__)
