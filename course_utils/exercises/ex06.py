"""Checkers for notebook 06 (LeNet)."""

import torch
import torch.nn.functional as F
from torch import nn

from course_utils.accounting import count_params
from course_utils.exercises import ExerciseError, as_int, checker, expect, hint_function
from course_utils.models import lenet


@checker(hint=(
    "Only the first dense layer depends on the input size: follow the side of the map through the four "
    "layers before it.",
    "Follow the side through conv (n + 2p - 5 + 1), pool (halve, rounding down), conv (n - 4), pool; then "
    "(25 * C_in + 1) * C_out per conv and in * out + out per dense layer (16 * side * side -> 120 -> 84 -> "
    "num_classes).",
))
def check_lenet_params(lenet_params):
    """``lenet_params(in_channels, num_classes, input_size, padding)``: LeNet-5's parameter count."""
    for c, k, size, padding in [(1, 10, 28, 2), (1, 10, 32, 0), (3, 100, 32, 2), (3, 10, 64, 0), (2, 5, 17, 1)]:
        expected = count_params(lenet.lenet(c, k, input_size=size, padding=padding))
        got = as_int(lenet_params(c, k, size, padding), "lenet_params(...)")
        if got != expected:
            raise ExerciseError(
                f"lenet_params({c}, {k}, input_size={size}, padding={padding}): expected {expected:,} "
                f"parameters, got {got:,} (off by {got - expected:+,}); is the first dense layer sized "
                "from the real feature map?")


def _subsample_oracle(x, coefficient, bias):
    """Sum of each 2x2 window = 4 x its mean; then per-channel scale and shift, then sigmoid."""
    sums = 4 * F.avg_pool2d(x, kernel_size=2, stride=2)  # (N, C, H/2, W/2)
    return torch.sigmoid(sums * coefficient[None, :, None, None] + bias[None, :, None, None])


@checker(hint=(
    "Four steps: a sum over each 2x2 window (stride 2), a multiplication and an addition per channel, a "
    "sigmoid. Mind the broadcasting of the (C,) vectors against (N, C, H, W).",
    "Sum each non-overlapping 2x2 window (e.g. 4 * F.avg_pool2d(x, 2)), multiply channel c by "
    "coefficient[c] (coefficient.reshape(1, -1, 1, 1)), add bias[c], apply torch.sigmoid.",
))
def check_subsample(subsample):
    """``subsample(x, coefficient, bias)``: the 1998 paper's trainable subsampling layer (S2, S4)."""
    gen = torch.Generator().manual_seed(6)
    for n, c, side in [(2, 6, 28), (1, 16, 10), (3, 2, 7)]:
        x = torch.randn(n, c, side, side, generator=gen)
        coefficient, bias = torch.randn(c, generator=gen), torch.randn(c, generator=gen)
        out = subsample(x.clone(), coefficient.clone(), bias.clone())
        if out is None:
            raise NotImplementedError
        expected = _subsample_oracle(x, coefficient, bias)
        if not isinstance(out, torch.Tensor) or tuple(out.shape) != tuple(expected.shape):
            shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise ExerciseError(
                f"input {tuple(x.shape)} should give {tuple(expected.shape)} (2x2 windows, stride 2, "
                f"an odd last row is dropped), got {shape}")
        expect(out, expected, f"subsample(x) for x of shape {tuple(x.shape)}", rtol=1e-4, atol=1e-6)


@checker(hint=(
    "Start from the LeNet of this notebook with ReLU and max pooling, and put a batch norm after every layer "
    "with weights except the last, before its activation. A batch norm after a convolution normalises "
    "channels (2d), after a dense layer features (1d).",
    "In order: the two conv blocks as conv -> BatchNorm2d(channels) -> ReLU -> MaxPool2d(2) (convs 1->6 with "
    "padding 2 and 6->16, 5x5); nn.Flatten(); the hidden dense layers 400->120 and 120->84 each as Linear -> "
    "BatchNorm1d(features) -> ReLU; the last Linear(84, 10) alone.",
))
def check_lenet_bn(make_lenet_bn):
    """``make_lenet_bn()``: LeNet-5 with ReLU, max pooling and batch norm, as an ``nn.Module``."""
    model = make_lenet_bn()
    if model is None:
        raise NotImplementedError
    if not isinstance(model, nn.Module):
        raise ExerciseError(f"make_lenet_bn() should return an nn.Module, got {type(model).__name__}")
    reference = lenet.lenet_modern(batch_norm=True)
    weighted = (nn.Conv2d, nn.Linear, nn.BatchNorm2d, nn.BatchNorm1d)
    kinds = [type(m).__name__ for m in model.modules() if isinstance(m, weighted)]
    expected = [type(m).__name__ for m in reference.modules() if isinstance(m, weighted)]
    if kinds != expected:
        raise ExerciseError(f"expected the layers with weights in this order: {expected}; found {kinds}")
    if count_params(model) != count_params(reference):
        raise ExerciseError(
            f"your LeNet has {count_params(model):,} parameters, expected {count_params(reference):,}")
    torch.manual_seed(0)
    mine, theirs = list(model.state_dict().values()), list(reference.state_dict().values())
    with torch.no_grad():
        for a, b in zip(mine, theirs):
            if a.shape != b.shape:
                raise ExerciseError(f"a tensor of shape {tuple(a.shape)} where {tuple(b.shape)} was expected")
            if a.is_floating_point():
                a.copy_(torch.randn_like(a) if a.dim() > 1 else torch.rand_like(a) + 0.5)
            b.copy_(a)
    x = torch.randn(8, 1, 28, 28)
    for mode in ("train", "eval"):
        model.train(mode == "train"), reference.train(mode == "train")
        with torch.no_grad():
            out, ref = model(x), reference(x)
        if tuple(out.shape) != tuple(ref.shape):
            raise ExerciseError(f"output shape {tuple(out.shape)}, expected {tuple(ref.shape)}")
        if not torch.allclose(out, ref, rtol=1e-4, atol=1e-4):
            raise ExerciseError(
                f"same weights, different outputs in {mode} mode: check the order conv -> batch norm -> "
                "ReLU -> max-pool, and the ReLU after each hidden dense layer's batch norm")


hint = hint_function(__name__)
