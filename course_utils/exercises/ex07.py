"""Checkers for notebook 07 (AlexNet)."""

import torch
import torch.nn.functional as F

from course_utils.exercises import ExerciseError, NotAttempted, checker, expect, hint_function


def alexnet_layers(stem):
    """AlexNet's eight side-changing layers as ``(kernel_size, stride, padding)``: the first convolution
    ``stem``, then pool 1, conv 2, pool 2, conv 3-5, pool 3 (the course's ``alexnet`` model)."""
    return [tuple(stem), (3, 2, 0), (5, 1, 2), (3, 2, 0), (3, 1, 1), (3, 1, 1), (3, 1, 1), (3, 2, 0)]


def _measured_side(n, layers):
    """The side after ``layers`` for an input of side ``n``, from PyTorch's own shape arithmetic (convolutions
    on the meta device: shapes only; a pool maps sides like a convolution of its size, stride and padding)."""
    x = torch.empty(1, 1, n, n, device="meta")
    for k, s, p in layers:
        if x.shape[-1] + 2 * p < k:
            return 0  # the window no longer fits
        x = F.conv2d(x, torch.empty(1, 1, k, k, device="meta"), stride=s, padding=p)
    return x.shape[-1]


def _measured_range(output_side, layers, limit=1024):
    sides = [n for n in range(1, limit) if _measured_side(n, layers) == output_side]
    return (sides[0], sides[-1]) if sides else None


def _input_range_cases():
    yield 6, alexnet_layers((11, 4, 0)), "AlexNet, the paper's first layer, to pool 3's 6x6"
    yield 6, alexnet_layers((11, 4, 2)), "AlexNet, torchvision's first layer, to pool 3's 6x6"
    yield 1, alexnet_layers((11, 4, 2)), "AlexNet, torchvision's first layer, to a 1x1 pool 3"
    yield 7, [(3, 1, 1), (3, 1, 1), (2, 2, 0)] * 5, "a VGG-style stack to 7x7"
    yield 5, [(5, 1, 0), (2, 2, 0), (5, 1, 0), (2, 2, 0)], "LeNet's C1-S4 to 5x5"
    yield 3, [(7, 2, 3), (3, 2, 1), (3, 1, 1), (3, 2, 1)], "a ResNet-like stem to 3x3"
    yield 4, [(3, 3, 0), (1, 1, 0), (4, 2, 1)], "a stack with a stride larger than its kernel"


@checker(hint=(
    "Take a single layer first: which input sides n give it the output side m? Put a few consecutive n through "
    "the formula and watch where m changes.",
    "The floor in the formula makes each output side come from a run of `stride` consecutive input sides, the "
    "smallest being the one for which the last window ends exactly at the edge. For a stack, go backwards from "
    "the last layer: the range of outputs a layer must produce becomes the range of its inputs, the smallest "
    "output giving the smallest input and the largest the largest.",
    "lo = hi = output_side; for (k, s, p) in reversed(layers): lo = (lo - 1) * s + k - 2 * p; hi = (hi - 1) * s + "
    "k - 2 * p + s - 1; return (lo, hi).",
))
def check_input_range(input_range):
    """``input_range(output_side, layers)`` -> ``(smallest, largest)`` input side whose side after ``layers``
    (``(kernel_size, stride, padding)`` each, from the input up) is ``output_side``."""
    for output_side, layers, name in _input_range_cases():
        got = input_range(output_side, [tuple(layer) for layer in layers])
        if got is None:
            raise NotAttempted()
        try:
            got = tuple(int(v) for v in got)
        except (TypeError, ValueError):
            raise ExerciseError(f"input_range should return two integers (smallest, largest), got {got!r}") from None
        expected = _measured_range(output_side, layers)
        if got != expected:
            raise ExerciseError(f"{name}: the input sides that give {output_side}x{output_side} run from "
                                f"{expected[0]} to {expected[1]} (measured with PyTorch's shapes), you said {got}")


@checker(hint=(
    "Look at the weight's shape, (C_out, C_in / groups, k, k): which input channels can filter o read, and "
    "which group of filters does it belong to?",
    "Group g owns a contiguous slice of the input channels and the matching contiguous slice of the filters "
    "and biases (the g-th of `groups` equal parts of each): an ordinary convolution of its slice of x with its "
    "slice of the weight. The groups' outputs, side by side along the channel axis in group order, are the "
    "answer.",
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
    "For one channel c at one pixel, which channels' values enter its denominator, near the edges of the "
    "channel axis too? And how does PyTorch's alpha relate to the paper's?",
    "For each channel c, add up the squares of the channels in a window of `size` channels around c at the same "
    "pixel, keeping only channels that exist (the window is cut at both ends; for an even size it reaches one "
    "further back than forward). Divide a_c by (k + alpha / size * that sum) ** beta: PyTorch's alpha is the "
    "paper's times size.",
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
    "Over many training calls, what should an element's value be on average, compared with x? And what should "
    "evaluation return?",
    "In training keep each element independently with probability 1 - p, with a fresh random mask at every "
    "call, and scale the kept ones up so that each element's expected value is still x; in evaluation change "
    "nothing.",
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
