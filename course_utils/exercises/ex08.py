"""Checkers for notebook 08 (VGG)."""

import torch
from torch import nn

from course_utils.accounting import count_params
from course_utils.exercises import ExerciseError, NotAttempted, as_int, checker, expect, hint_function
from course_utils.models import vgg


@checker(hint=(
    "Walk the five blocks keeping two numbers, the current channels and the current side: which layers change "
    "which, and which layer is the only one that needs the side?",
    "A 3x3 convolution's parameters depend only on its input and output channels (nine weights per pair of "
    "channels, one bias per output channel), not on the side; each block's max-pool halves the side, rounding "
    "up in this model; the first dense layer reads channels x side x side features, and the dense layers after "
    "it go hidden -> hidden -> classes.",
    "Each 3x3 conv has (9 * C_in + 1) * C_out parameters, with C_out = max(1, round(channels * width)); "
    "after each block the side is halved, rounding up ((side + 1) // 2); the three dense layers (C * side * "
    "side -> hidden -> hidden -> num_classes) have in * out + out each.",
))
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


def _measured_receptive_field(layers):
    """Side of the input patch one output pixel depends on, from a gradient.

    ``layers`` are ``(kernel_size, stride, dilation)``; a pooling window has
    the receptive field of a convolution of its size and stride. Convolutions
    with all-ones kernels (and no padding): every input pixel in the receptive
    field gets a strictly positive gradient, every other zero.
    """
    need = 1
    for kernel, stride, dilation in reversed(layers):
        need = (need - 1) * stride + dilation * (kernel - 1) + 1
    x = torch.zeros(1, 1, need + 4, 1, dtype=torch.float64, requires_grad=True)  # one column is enough
    out = x
    for kernel, stride, dilation in layers:
        weight = torch.ones(1, 1, kernel, 1, dtype=torch.float64)
        out = nn.functional.conv2d(out, weight, stride=(stride, 1), dilation=(dilation, 1))
    out[0, 0, 0, 0].backward()
    rows = (x.grad[0, 0, :, 0] != 0).nonzero()
    return int(rows.max() - rows.min() + 1)


def _vgg16_to_pool5():
    layers = []
    for num_convs, _ in vgg.CONFIGS[16]:
        layers += [(3, 1, 1)] * num_convs + [(2, 2, 1)]
    return layers


# The networks of the receptive-field question, as (kernel_size, stride, dilation) per layer.
NETWORKS = {
    "vgg16_pool5": _vgg16_to_pool5(),  # VGG-16 up to its fifth max-pool
    "resnet_stem": [(7, 2, 1), (3, 2, 1)] + [(3, 1, 1)] * 4,  # 7x7/2 conv, 3x3/2 pool, four 3x3 convs
    "context_module": [(3, 1, d) for d in (1, 1, 2, 4, 8, 16, 1)],  # Yu & Koltun (2016)
}


@checker(hint=(
    "Write each network as a list of layers, each with a kernel size, a stride and a dilation. What are those "
    "three numbers for a max-pool?",
    "Notebook 02's recurrence answers all three: a pooling window counts like a convolution of its size and "
    "stride; a dilated kernel spans d * (k - 1) + 1 pixels; and each layer widens the field by its span minus "
    "one, times the product of the strides of the layers before it.",
    "r = 1, jump = 1; per layer r += d * (k - 1) * jump, then jump *= stride. VGG-16: 2, 2, 3, 3, 3 convs of "
    "(3, 1, 1), each block followed by a (2, 2, 1) pool; the ResNet stem: (7, 2, 1), (3, 2, 1), then four "
    "(3, 1, 1); the context module: (3, 1, d) for d = 1, 1, 2, 4, 8, 16, 1.",
))
def check_receptive_fields(answers):
    """``answers``: a dict with the receptive field (an int) of each network in ``NETWORKS``."""
    if answers is None:
        raise NotAttempted()
    if not isinstance(answers, dict):
        raise ExerciseError(f"answer with a dict {{name: receptive field}} for {sorted(NETWORKS)}, got "
                            f"{type(answers).__name__}")
    if all(answers.get(name) is None for name in NETWORKS):
        raise NotAttempted()
    missing = sorted(set(NETWORKS) - set(answers))
    if missing:
        raise ExerciseError(f"no answer for {missing}")
    for name, layers in NETWORKS.items():
        expected = _measured_receptive_field(layers)
        got = as_int(answers[name], f"the receptive field of {name}")
        if got != expected:
            raise ExerciseError(f"{name}: one output pixel sees {got}x{got} input pixels, you say; the gradient "
                                "measurement disagrees")


@checker(hint=(
    "Without a ReLU in between, what does a stack of two convolutions compute? And how many middle channels "
    "give you enough free weights for the 25 taps of any 5x5 kernel?",
    "The stack is itself one 5x5 convolution, whose kernel is made of the two layers' weights: you only need "
    "weights that make the kernel you want. Give each middle channel a very simple job (copy one pixel of its "
    "3x3 window); then every tap of the 5x5 kernel is reached through some (middle channel, second-layer tap) "
    "pair, and the second layer's weights can carry the kernel's values.",
    "Use 9 middle channels m = (a, b), one per position of a 3x3 window: w1[m, 0] is 1 at (a, b) and 0 "
    "elsewhere. Then the stack computes sum over (a, b, u, v) of w2[0, m, u, v] * x[i + a + u, j + b + v]; "
    "for each tap (s, t) of the 5x5 kernel pick a = max(0, s - 2), u = s - a (likewise b, v for t) and set "
    "w2[0, (a, b), u, v] = kernel[s, t], all other entries 0.",
))
def check_two_3x3_as_5x5(two_convs_for):
    """``two_convs_for(kernel)`` -> ``(w1, w2)``: ``(M, 1, 3, 3)`` and ``(1, M, 3, 3)`` weights whose stack
    (valid convolutions, no bias, no activation) equals one convolution with the ``(5, 5)`` ``kernel``."""
    gen = torch.Generator().manual_seed(8)
    for _ in range(3):
        kernel = torch.randn(5, 5, generator=gen, dtype=torch.float64)
        result = two_convs_for(kernel.clone())
        if result is None:
            raise NotAttempted()
        if not (isinstance(result, (tuple, list)) and len(result) == 2):
            raise ExerciseError(f"two_convs_for should return (w1, w2), got {type(result).__name__}")
        w1, w2 = (torch.as_tensor(w).detach().double() for w in result)
        if w1.ndim != 4 or tuple(w1.shape[1:]) != (1, 3, 3):
            raise ExerciseError(f"w1 should have shape (M, 1, 3, 3), got {tuple(w1.shape)}")
        if tuple(w2.shape) != (1, w1.shape[0], 3, 3):
            raise ExerciseError(f"w2 should have shape (1, M, 3, 3) with the same M = {w1.shape[0]}, got "
                                f"{tuple(w2.shape)}")
        x = torch.randn(2, 1, 11, 12, generator=gen, dtype=torch.float64)
        expect(nn.functional.conv2d(nn.functional.conv2d(x, w1), w2),
               nn.functional.conv2d(x, kernel[None, None]),
               f"two 3x3 convolutions with {w1.shape[0]} middle channels vs one 5x5", rtol=1e-6, atol=1e-8)


hint = hint_function(__name__)
