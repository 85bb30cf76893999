"""Notebook 10's checkers accept the reference solutions, reject wrong answers
and report stubs as not attempted."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course_utils.exercises import ExerciseError, ex10
from solutions import ex10 as sol


def stub(*args):
    raise NotImplementedError


class StubBlock(nn.Module):
    def __init__(self, in_channels, out_channels, stride=1):
        super().__init__()
        raise NotImplementedError


@pytest.mark.parametrize("check,answer,not_attempted", [
    (ex10.check_bottleneck_stage_params, sol.bottleneck_stage_params, stub),
    (ex10.check_zero_pad_shortcut, sol.zero_pad_shortcut, stub),
    (ex10.check_preact_block, sol.PreActBlock, StubBlock),
    (ex10.check_fold_batch_norm, sol.fold_batch_norm, stub),
])
def test_solution_accepted_and_stub_not_attempted(check, answer, not_attempted, capsys):
    assert check(answer) is True
    assert "correct" in capsys.readouterr().out
    assert check(not_attempted) is False
    out = capsys.readouterr().out
    assert "not attempted" in out and check.hint in out


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


def pad_before(x, out_channels, stride):
    x = x[:, :, ::stride, ::stride]
    return F.pad(x, (0, 0, 0, 0, out_channels - x.shape[1], 0))


def pool_instead(x, out_channels, stride):
    x = F.avg_pool2d(x, stride, ceil_mode=True) if stride > 1 else x
    return F.pad(x, (0, 0, 0, 0, 0, out_channels - x.shape[1]))


def pad_by_repeating(x, out_channels, stride):
    x = x[:, :, ::stride, ::stride]
    return torch.cat([x, x[:, : out_channels - x.shape[1]]], dim=1)


class PostActBlock(sol.PreActBlock):
    """The original (post-activation) order's ReLU after the sum."""

    def forward(self, x):
        return F.relu(super().forward(x))


class ShortcutFromRawInput(sol.PreActBlock):
    """The projection reads x instead of relu(bn1(x))."""

    def forward(self, x):
        pre = F.relu(self.bn1(x))
        out = self.conv2(F.relu(self.bn2(self.conv1(pre))))
        return out + (self.shortcut(x) if self.shortcut is not None else x)


class NoShortcut(sol.PreActBlock):
    def forward(self, x):
        return self.conv2(F.relu(self.bn2(self.conv1(F.relu(self.bn1(x))))))


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
    (ex10.check_zero_pad_shortcut, pad_before, "after the input's channels"),
    (ex10.check_zero_pad_shortcut, pool_instead, "zero_pad_shortcut"),
    (ex10.check_zero_pad_shortcut, pad_by_repeating, "zero_pad_shortcut"),
    (ex10.check_preact_block, PostActBlock, "no ReLU after the addition"),
    (ex10.check_preact_block, ShortcutFromRawInput, "PreActBlock"),
    (ex10.check_preact_block, NoShortcut, "PreActBlock"),
    (ex10.check_fold_batch_norm, fold_without_eps, "eps"),
    (ex10.check_fold_batch_norm, fold_ignoring_conv_bias, "bias=True"),
    (ex10.check_fold_batch_norm, fold_scaling_inputs, "folded"),
])
def test_wrong_answers_rejected(check, wrong, message):
    with pytest.raises(ExerciseError, match=message):
        check(wrong)


def test_preact_block_needs_a_projection_when_the_shape_changes():
    class IdentityOnly(nn.Module):
        def __init__(self, in_channels, out_channels, stride=1):
            super().__init__()
            self.bn1, self.bn2 = nn.BatchNorm2d(in_channels), nn.BatchNorm2d(out_channels)
            self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False)
            self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False)

        def forward(self, x):
            return self.conv2(F.relu(self.bn2(self.conv1(F.relu(self.bn1(x)))))) + x

    with pytest.raises(ExerciseError, match="1x1 convolution"):
        ex10.check_preact_block(IdentityOnly)


def test_non_integer_answer_rejected():
    with pytest.raises(ExerciseError, match="integer"):
        ex10.check_bottleneck_stage_params(lambda *args: 1.5)
