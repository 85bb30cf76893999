"""Notebook 10's checkers reject planted wrong answers, each with a message that
says what differs (the contract every exercise keeps is tests/test_exercise_contract.py)."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course_utils.exercises import ExerciseError, ex10
from solutions import ex10 as sol

# --------------------------------------------- planted wrong answers


def stage_without_norms(in_channels, mid_channels, num_blocks):
    out = 4 * mid_channels
    block = lambda c: c * mid_channels + 9 * mid_channels ** 2 + mid_channels * out  # noqa: E731
    return block(in_channels) + in_channels * out + (num_blocks - 1) * block(out)


def stage_projection_everywhere(in_channels, mid_channels, num_blocks):
    out = 4 * mid_channels
    return sol.bottleneck_stage_params(in_channels, mid_channels, num_blocks) + (num_blocks - 1) * (out * out + 2 * out)


def stage_without_projection(in_channels, mid_channels, num_blocks):
    out = 4 * mid_channels
    return sol.bottleneck_stage_params(in_channels, mid_channels, num_blocks) - (in_channels * out + 2 * out)


def stage_every_block_reads_the_input(in_channels, mid_channels, num_blocks):
    out = 4 * mid_channels
    first = sol.bottleneck_stage_params(in_channels, mid_channels, 1) - (in_channels * out + 2 * out)
    return num_blocks * first + in_channels * out + 2 * out


def shortcut_picks_pixels(x, weight, stride):  # option A's subsampling, then the projection
    return F.conv2d(x[:, :, ::stride, ::stride], weight)


def shortcut_floor_mode(x, weight, stride):  # drops an odd last row and column
    return F.conv2d(F.avg_pool2d(x, stride) if stride > 1 else x, weight)


def shortcut_counts_the_outside(x, weight, stride):  # pads with zeros and divides by stride * stride
    if stride > 1:
        h, w = x.shape[2:]
        x = F.pad(x, (0, -w % stride, 0, -h % stride))
        x = F.avg_pool2d(x, stride)
    return F.conv2d(x, weight)


def shortcut_strided_projection(x, weight, stride):  # option B itself: a 1x1 convolution with the stride
    return F.conv2d(x, weight, stride=stride)


class PostActBottleneck(sol.PreActBottleneck):
    """The original (post-activation) order's ReLU after the sum."""

    def forward(self, x):
        return F.relu(super().forward(x))


class ShortcutFromRawInput(sol.PreActBottleneck):
    """The projection reads x instead of relu(bn1(x))."""

    def forward(self, x):
        out = super().forward(x)
        if self.shortcut is None:
            return out
        return out - self.shortcut(F.relu(self.bn1(x))) + self.shortcut(x)


class StrideOnTheFirst1x1(sol.PreActBottleneck):
    def __init__(self, in_channels, mid_channels, stride=1):
        super().__init__(in_channels, mid_channels, stride)
        self.conv1.stride, self.conv2.stride = (stride, stride), (1, 1)


class NormsAfterTheConvolutions(nn.Module):
    """The original order inside the branch: each batch norm sized for its convolution's output."""

    def __init__(self, in_channels, mid_channels, stride=1):
        super().__init__()
        block = sol.PreActBottleneck(in_channels, mid_channels, stride)
        self.conv1, self.conv2, self.conv3, self.shortcut = block.conv1, block.conv2, block.conv3, block.shortcut
        self.bn1, self.bn2, self.bn3 = nn.BatchNorm2d(mid_channels), nn.BatchNorm2d(mid_channels), nn.BatchNorm2d(
            4 * mid_channels)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return F.relu(out + (self.shortcut(x) if self.shortcut is not None else x))


def fold_without_eps(conv, bn):
    scale = bn.weight / torch.sqrt(bn.running_var)
    bias = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
    return (conv.weight * scale[:, None, None, None]).detach(), ((bias - bn.running_mean) * scale + bn.bias).detach()


def fold_ignoring_conv_bias(conv, bn):
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    return (conv.weight * scale[:, None, None, None]).detach(), (bn.bias - bn.running_mean * scale).detach()


def fold_scaling_inputs(conv, bn):
    """Scales the input-channel axis: wrong shape broadcast whenever C_in != C_out."""
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    weight, bias = sol.fold_batch_norm(conv, bn)
    return (conv.weight * scale.mean()).detach(), bias


@pytest.mark.parametrize("check,wrong,message", [
    (ex10.check_bottleneck_stage_params, stage_without_norms, "batch norm"),
    (ex10.check_bottleneck_stage_params, stage_projection_everywhere, "Only the first block needs"),
    (ex10.check_bottleneck_stage_params, stage_without_projection, "no projection"),
    (ex10.check_bottleneck_stage_params, lambda *args: sol.bottleneck_stage_params(*args) + 1, "by hand"),
    (ex10.check_bottleneck_stage_params, stage_every_block_reads_the_input, "Only the first block reads"),
    (ex10.check_average_shortcut, shortcut_picks_pixels, "average_shortcut"),
    (ex10.check_average_shortcut, shortcut_floor_mode, "must match the block's output"),
    (ex10.check_average_shortcut, shortcut_counts_the_outside, "shape \\(1, 3, 7, 7\\)"),
    (ex10.check_average_shortcut, shortcut_strided_projection, "average_shortcut"),
    (ex10.check_preact_bottleneck, PostActBottleneck, "no ReLU after the addition"),
    (ex10.check_preact_bottleneck, ShortcutFromRawInput, "stride=2\\) in eval mode"),
    (ex10.check_preact_bottleneck, StrideOnTheFirst1x1, "PreActBottleneck"),
    (ex10.check_preact_bottleneck, NormsAfterTheConvolutions, "normalise \\[4, 4, 16\\] channels"),
    (ex10.check_fold_batch_norm, fold_without_eps, "eps"),
    (ex10.check_fold_batch_norm, fold_ignoring_conv_bias, "bias=True"),
    (ex10.check_fold_batch_norm, fold_scaling_inputs, "folded"),
])
def test_wrong_answers_rejected(check, wrong, message):
    with pytest.raises(ExerciseError, match=message):
        check(wrong)


def test_preact_bottleneck_needs_a_projection_when_the_shape_changes():
    class IdentityOnly(sol.PreActBottleneck):
        def __init__(self, in_channels, mid_channels, stride=1):
            super().__init__(in_channels, mid_channels, stride)
            self.shortcut = None

    with pytest.raises(ExerciseError, match="1x1 convolution"):
        ex10.check_preact_bottleneck(IdentityOnly)


def test_non_integer_answer_rejected():
    with pytest.raises(ExerciseError, match="integer"):
        ex10.check_bottleneck_stage_params(lambda *args: 1.5)
