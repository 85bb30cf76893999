"""Checkers for notebook 07 (AlexNet)."""

import torch
import torch.nn.functional as F
from torch import nn

from course_utils.exercises import ExerciseError, checker, expect, hint_function
from course_utils.models import alexnet


def _reference_sides(input_size, stem):
    """Sides after conv1, pool1, conv2, pool2, conv3, conv4, conv5, pool3, by running the reference."""
    model = alexnet.alexnet(1, 10, input_size=input_size, width=0.0625, hidden_features=8, stem=stem)
    sides = []
    hooks = [m.register_forward_hook(lambda m, args, out: sides.append(out.shape[-1]))
             for m in model.features if isinstance(m, (nn.Conv2d, nn.MaxPool2d))]
    with torch.no_grad():
        model.features(torch.zeros(1, 1, input_size, input_size))
    for h in hooks:
        h.remove()
    return sides


@checker(hint=(
    "One formula for all eight layers, notebook 02's; only the first convolution's numbers are arguments, "
    "the others are AlexNet's own (look them up in the class above).",
    "Every layer maps n to floor((n + 2p - k) / s) + 1: the stem (k, s, p) as given, the pools k=3, s=2, p=0, "
    "conv2 k=5, p=2 and conv3-5 k=3, p=1, all with stride 1.",
))
def check_feature_sides(feature_sides):
    """``feature_sides(input_size, kernel_size, stride, padding)`` -> the eight sides."""
    for size, stem in [(224, (11, 4, 2)), (227, (11, 4, 0)), (28, (3, 1, 1)), (32, (3, 1, 1)), (96, (11, 4, 2)),
                       (64, (5, 2, 2))]:
        expected = _reference_sides(size, stem)
        got = feature_sides(size, *stem)
        if got is None:
            raise NotImplementedError
        try:
            got = [int(v) for v in got]
        except (TypeError, ValueError):
            raise ExerciseError(f"feature_sides should return a list of eight integers, got {got!r}") from None
        if got != expected:
            raise ExerciseError(
                f"feature_sides({size}, *{stem}) should be {expected} (conv1, pool1, conv2, pool2, conv3, "
                f"conv4, conv5, pool3), got {got}")


@checker(hint=(
    "Each GPU held a slice of the input channels and the filters that read only that slice. Which slice of "
    "the weight (which dimension) belongs to which slice of x?",
    "Split x's channels into `groups` equal chunks (x.chunk(groups, dim=1)) and the weight's output channels "
    "(dim 0) and the bias likewise; F.conv2d chunk i with weight chunk i; torch.cat the results along dim 1.",
))
def check_grouped_conv2d(grouped_conv2d):
    """``grouped_conv2d(x, weight, bias, groups, padding)`` without ``F.conv2d``'s ``groups`` argument."""
    gen = torch.Generator().manual_seed(7)
    for n, c_in, c_out, k, groups, side, padding in [(2, 4, 6, 3, 2, 7, 1), (1, 6, 6, 5, 3, 9, 2),
                                                     (2, 3, 5, 3, 1, 6, 0), (1, 8, 4, 1, 4, 5, 0)]:
        x = torch.randn(n, c_in, side, side, generator=gen)
        weight = torch.randn(c_out, c_in // groups, k, k, generator=gen)  # each filter sees one group
        bias = torch.randn(c_out, generator=gen)
        out = grouped_conv2d(x.clone(), weight.clone(), bias.clone(), groups, padding)
        if out is None:
            raise NotImplementedError
        expected = F.conv2d(x, weight, bias, padding=padding, groups=groups)
        if not isinstance(out, torch.Tensor) or tuple(out.shape) != tuple(expected.shape):
            shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise ExerciseError(f"groups={groups}, x {tuple(x.shape)}, weight {tuple(weight.shape)}: "
                                f"expected an output of shape {tuple(expected.shape)}, got {shape}")
        expect(out, expected, f"grouped_conv2d with groups={groups}", rtol=1e-4, atol=1e-4)


@checker(hint=(
    "For each channel, a sum of squares over a window of neighbouring channels at the same pixel; mind the "
    "edges of the channel axis and how PyTorch's alpha relates to the paper's.",
    "For channel c, add up a_j^2 over the channels j from c - size // 2 to c + (size - 1) // 2 that exist, "
    "then b_c = a_c / (k + alpha / size * that sum) ** beta. PyTorch divides alpha by size; the 2012 paper "
    "does not (its alpha is PyTorch's alpha / size).",
))
def check_local_response_norm(local_response_norm):
    """``local_response_norm(x, size, alpha, beta, k)``, matching ``F.local_response_norm``."""
    gen = torch.Generator().manual_seed(12)
    for shape, size, alpha, beta, k in [((2, 8, 5, 5), 5, 1e-4, 0.75, 2.0), ((1, 7, 3, 4), 3, 0.5, 0.75, 1.0),
                                        ((2, 4, 2, 2), 5, 2.0, 0.5, 0.5)]:
        x = 3 * torch.randn(shape, generator=gen)
        out = local_response_norm(x.clone(), size, alpha, beta, k)
        if out is None:
            raise NotImplementedError
        expected = F.local_response_norm(x, size, alpha=alpha, beta=beta, k=k)
        expect(out, expected, f"local_response_norm with size={size}, alpha={alpha}, beta={beta}, k={k}",
               rtol=1e-4, atol=1e-6)


@checker(hint=(
    "A fresh random mask every call in training, nothing in evaluation; and the expected value of each "
    "element must not change.",
    "Training: keep each element with probability 1 - p (torch.rand_like(x) >= p) and divide the kept ones "
    "by 1 - p, so the expected value is unchanged. Evaluation: return x as it is.",
))
def check_dropout(dropout):
    """``dropout(x, p, training)``: inverted dropout as in ``nn.Dropout``."""
    torch.manual_seed(0)
    x = torch.rand(400, 500) + 0.5
    expect(dropout(x.clone(), 0.5, False), x, "dropout(x, 0.5, training=False) should return x unchanged")
    for p in (0.2, 0.5, 0.8):
        out = dropout(x.clone(), p, True)
        if out is None:
            raise NotImplementedError
        if not isinstance(out, torch.Tensor) or out.shape != x.shape:
            raise ExerciseError(f"dropout should return a tensor of x's shape {tuple(x.shape)}")
        zeros = (out == 0).float().mean().item()
        if abs(zeros - p) > 0.01:
            raise ExerciseError(f"with p={p} about {p:.0%} of the elements should be zero, got {zeros:.1%}")
        kept = out != 0
        expect(out[kept], x[kept] / (1 - p), f"kept elements with p={p} should be x / (1 - p)", rtol=1e-5)
        again = dropout(x.clone(), p, True)
        if torch.equal(again != 0, kept):
            raise ExerciseError("two calls dropped exactly the same elements: draw a fresh mask every call")
        ratio = out.mean().item() / x.mean().item()
        if abs(ratio - 1) > 0.02:
            raise ExerciseError(f"the mean should stay about the same (inverted dropout), it changed by "
                                f"a factor {ratio:.3f}")


hint = hint_function(__name__)
