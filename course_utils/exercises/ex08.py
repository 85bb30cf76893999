"""Checkers for notebook 08 (VGG)."""

import torch
from torch import nn

from course_utils.accounting import count_params
from course_utils.exercises import ExerciseError, as_int, checker
from course_utils.models import vgg


@checker(hint="Each 3x3 conv has (9 * C_in + 1) * C_out parameters; after five blocks the side is "
              "input_size halved five times (rounding up); the dense layers have in * out + out each.")
def check_vgg_params(vgg_params):
    """``vgg_params(depth, in_channels, num_classes, input_size, width, hidden_features)``."""
    cases = [
        (11, 3, 1000, 224, 1.0, 4096),
        (16, 3, 1000, 224, 1.0, 4096),
        (13, 1, 10, 28, 0.25, 256),
        (19, 3, 100, 32, 0.5, 512),
    ]
    for depth, c, k, size, width, hidden in cases:
        with torch.device("meta"):  # shapes only: no memory needed
            model = vgg.vgg(depth, c, k, input_size=size, width=width, hidden_features=hidden)
        expected = count_params(model)
        got = as_int(vgg_params(depth, c, k, size, width, hidden), "vgg_params(...)")
        if got != expected:
            raise ExerciseError(
                f"VGG-{depth} with in_channels={c}, num_classes={k}, input_size={size}, width={width}, "
                f"hidden_features={hidden}: expected {expected:,} parameters, got {got:,} "
                f"(off by {got - expected:+,})")


def _empirical_receptive_field(layers):
    """Side of the input patch that one output pixel depends on, from a gradient.

    Convolutions with all-ones kernels (and no padding): every input pixel in
    the receptive field gets a strictly positive gradient, every other zero.
    """
    need = 1
    for kernel, stride in reversed(layers):
        need = (need - 1) * stride + kernel
    size = need + 4 * max((s for _, s in layers), default=1) + 4
    x = torch.zeros(1, 1, size, size, dtype=torch.float64, requires_grad=True)
    out = x
    for kernel, stride in layers:
        weight = torch.ones(1, 1, kernel, kernel, dtype=torch.float64)
        out = nn.functional.conv2d(out, weight, stride=stride)
    out[0, 0, out.shape[2] // 2, out.shape[3] // 2].backward()
    rows = (x.grad[0, 0].abs().sum(dim=1) > 0).nonzero()
    return int(rows.max() - rows.min() + 1)


@checker(hint="r starts at 1 and the jump (distance in input pixels between neighbouring outputs) at 1; "
              "each layer adds (kernel - 1) * jump to r, then multiplies the jump by its stride.")
def check_receptive_field(receptive_field):
    """``receptive_field(layers)`` for a list of ``(kernel_size, stride)`` pairs."""
    cases = [
        [(3, 1)],
        [(3, 1), (3, 1)],
        [(3, 1)] * 3,
        [(7, 1)],
        [(3, 1), (3, 1), (2, 2), (3, 1), (3, 1), (2, 2)],  # two VGG blocks
        [(11, 4), (3, 2), (5, 1), (3, 2)],  # AlexNet's start
        [(1, 1), (5, 2), (1, 1)],
    ]
    for layers in cases:
        expected = _empirical_receptive_field(layers)
        got = as_int(receptive_field(list(layers)), "receptive_field(layers)")
        if got != expected:
            raise ExerciseError(
                f"receptive_field({layers}) should be {expected} (measured from the gradient of one "
                f"output pixel), got {got}")


@checker(hint="Like vgg_block, with nn.BatchNorm2d(out_channels) between each nn.Conv2d and its nn.ReLU.")
def check_vgg_block_bn(make_block):
    """``make_block(num_convs, in_channels, out_channels)``: a VGG block with batch norm."""
    torch.manual_seed(0)
    for num_convs, c_in, c_out, side in [(2, 3, 8, 10), (3, 4, 6, 7), (1, 2, 5, 8)]:
        block = make_block(num_convs, c_in, c_out)
        if block is None:
            raise NotImplementedError
        if not isinstance(block, nn.Module):
            raise ExerciseError(f"make_block should return an nn.Module, got {type(block).__name__}")
        reference = vgg.vgg_block(num_convs, c_in, c_out, batch_norm=True)
        kinds = [type(m) for m in block.modules() if isinstance(m, (nn.Conv2d, nn.BatchNorm2d))]
        if kinds != [nn.Conv2d, nn.BatchNorm2d] * num_convs:
            raise ExerciseError(
                f"make_block({num_convs}, {c_in}, {c_out}) should have {num_convs} conv + batch-norm "
                f"pairs in that order, found {[k.__name__ for k in kinds]}")
        if count_params(block) != count_params(reference):
            raise ExerciseError(
                f"make_block({num_convs}, {c_in}, {c_out}) has {count_params(block):,} parameters, "
                f"expected {count_params(reference):,} (3x3 convs with bias, batch norm's scale and shift)")
        # Same weights, in the same order -> same output (training mode: batch statistics).
        with torch.no_grad():
            for p, q in zip(block.parameters(), reference.parameters()):
                p.copy_(torch.randn_like(p))
                q.copy_(p)
        x = torch.randn(4, c_in, side, side)
        out, expected = block(x), reference(x)
        if tuple(out.shape) != tuple(expected.shape):
            raise ExerciseError(
                f"input {tuple(x.shape)} should give {tuple(expected.shape)} (3x3 convs with padding 1 "
                f"keep the size, the 2x2 pool halves it, rounding up), got {tuple(out.shape)}")
        if not torch.allclose(out, expected, rtol=1e-4, atol=1e-5):
            raise ExerciseError(
                "right shapes and parameter count but different outputs: is there a ReLU after each "
                "batch norm, and a 2x2 max-pool with stride 2 (ceil_mode=True) at the end?")
