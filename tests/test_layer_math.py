"""course_utils.layer_math against nn.Conv2d shapes, gradients of one output
pixel, parameter counts and torch.utils.flop_counter, over random
configurations; planted wrong formulas are caught by the same checks."""

import math
import random

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from course_utils import layer_math as lm


def random_layers(n, seed=0, dilation=True):
    rng = random.Random(seed)
    for _ in range(n):
        k, s, p = rng.randint(1, 7), rng.randint(1, 4), rng.randint(0, 3)
        d = rng.randint(1, 3) if dilation else 1
        size = max(d * (k - 1) + 1 - 2 * p, 1) + rng.randint(0, 20)
        yield size, k, s, p, d


# ---------------------------------------------------------------------------
# Checks (the same ones notebook 02 asserts)
# ---------------------------------------------------------------------------


def check_output_size(fn, n=200):
    for size, k, s, p, d in random_layers(n):
        layer = nn.Conv2d(1, 1, k, stride=s, padding=p, dilation=d, bias=False)
        with torch.no_grad():
            expected = layer(torch.zeros(1, 1, size, size)).shape[-1]
        assert fn(size, k, s, p, d) == expected, f"n={size} k={k} s={s} p={p} d={d}: expected {expected}"


def check_pool_output_size(fn, n=300):
    """Against nn.MaxPool2d, with and without ceil_mode (padding at most half the kernel, as PyTorch requires)."""
    rng = random.Random(4)
    for _ in range(n):
        k, s, d = rng.randint(1, 5), rng.randint(1, 4), rng.randint(1, 2)
        p, size, ceil = rng.randint(0, k // 2), rng.randint(1, 12), rng.random() < 0.7
        pool = nn.MaxPool2d(k, stride=s, padding=p, dilation=d, ceil_mode=ceil)
        try:
            expected = pool(torch.zeros(1, 1, size, size)).shape[-1]
        except RuntimeError:  # "Output size is too small"
            expected = None
        where = f"n={size} k={k} s={s} p={p} d={d} ceil_mode={ceil}"
        if expected is None:
            with pytest.raises(ValueError):
                fn(size, k, s, p, d, ceil_mode=ceil)
        else:
            assert fn(size, k, s, p, d, ceil_mode=ceil) == expected, f"{where}: expected {expected}"


def empirical_receptive_field(layers):
    """Rows of the input that reach the centre output pixel (gradient != 0)."""
    need = 1  # grow backwards: the input side needed for one output pixel
    for k, s, d in reversed([(*layer, 1)[:3] for layer in layers]):
        need = (need - 1) * s + d * (k - 1) + 1
    size = need + 8
    x = torch.zeros(1, 1, size, size, dtype=torch.float64, requires_grad=True)
    out = x
    for k, s, d in [(*layer, 1)[:3] for layer in layers]:
        out = nn.functional.conv2d(out, torch.ones(1, 1, k, k, dtype=torch.float64), stride=s, dilation=d)
    out[0, 0, out.shape[2] // 2, out.shape[3] // 2].backward()
    rows = (x.grad[0, 0].abs().sum(dim=1) > 0).nonzero()
    return int(rows.max() - rows.min() + 1)


def random_stacks(n, seed=0):
    rng = random.Random(seed)
    for _ in range(n):
        yield [(rng.randint(1, 5), rng.randint(1, 3), rng.randint(1, 2)) for _ in range(rng.randint(1, 4))]


def check_receptive_field(fn, n=40):
    for layers in random_stacks(n):
        assert fn(layers) == empirical_receptive_field(layers), f"{layers}"


def check_conv_params(fn, n=60):
    rng = random.Random(1)
    for _ in range(n):
        c_in, c_out, k, bias = rng.randint(1, 16), rng.randint(1, 16), rng.randint(1, 7), rng.random() < 0.5
        layer = nn.Conv2d(c_in, c_out, k, bias=bias)
        assert fn(c_in, c_out, k, bias=bias) == sum(p.numel() for p in layer.parameters())


def check_conv_macs(fn, n=40):
    for size, k, s, p, _ in random_layers(n, seed=2, dilation=False):
        c_in, c_out = 1 + size % 3, 1 + k % 4
        layer = nn.Conv2d(c_in, c_out, k, stride=s, padding=p)
        with FlopCounterMode(display=False) as counter:
            out = layer(torch.zeros(1, c_in, size, size))
        assert fn(c_in, c_out, k, tuple(out.shape[2:])) == counter.get_total_flops() // 2


def check_linear(params_fn, macs_fn, n=30):
    rng = random.Random(3)
    for _ in range(n):
        i, o = rng.randint(1, 300), rng.randint(1, 300)
        layer = nn.Linear(i, o)
        with FlopCounterMode(display=False) as counter:
            layer(torch.zeros(1, i))
        assert params_fn(i, o) == sum(p.numel() for p in layer.parameters())
        assert macs_fn(i, o) == counter.get_total_flops() // 2


# ---------------------------------------------------------------------------
# Reference passes, planted bugs fail
# ---------------------------------------------------------------------------


def test_reference_formulas_pass():
    check_output_size(lm.conv_output_size)
    check_pool_output_size(lm.conv_output_size)
    check_receptive_field(lm.receptive_field)
    check_conv_params(lm.conv2d_params)
    check_conv_macs(lm.conv2d_macs)
    check_linear(lm.linear_params, lm.linear_macs)


def size_ceil(n, k, s=1, p=0, d=1):
    return math.ceil((n + 2 * p - d * (k - 1) - 1) / s) + 1


def size_no_dilation(n, k, s=1, p=0, d=1):
    return (n + 2 * p - k) // s + 1


def size_one_sided_padding(n, k, s=1, p=0, d=1):
    return (n + p - d * (k - 1) - 1) // s + 1


def pool_size_without_start_rule(n, k, s=1, p=0, d=1, ceil_mode=False):
    numerator = n + 2 * p - d * (k - 1) - 1
    return (math.ceil(numerator / s) if ceil_mode else numerator // s) + 1


def rf_ignores_stride(layers):
    return 1 + sum(d * (k - 1) for k, s, d in layers)


def rf_stride_too_early(layers):
    r, jump = 1, 1
    for k, s, d in layers:
        jump *= s
        r += d * (k - 1) * jump
    return r


def params_without_bias(c_in, c_out, k, bias=True):
    return k * k * c_in * c_out


def macs_on_input_size(c_in, c_out, k, output_size):
    h, w = output_size
    return (h + k - 1) * (w + k - 1) * k * k * c_in * c_out


@pytest.mark.parametrize("check,wrong", [
    (check_output_size, size_ceil),
    (check_output_size, size_no_dilation),
    (check_output_size, size_one_sided_padding),
    (check_pool_output_size, pool_size_without_start_rule),
    (check_receptive_field, rf_ignores_stride),
    (check_receptive_field, rf_stride_too_early),
    (check_conv_params, params_without_bias),
    (check_conv_macs, macs_on_input_size),
], ids=lambda v: getattr(v, "__name__", str(v)))
def test_checks_catch_planted_bugs(check, wrong):
    with pytest.raises(AssertionError):
        check(wrong)


def test_linear_check_catches_bias_in_macs():
    with pytest.raises(AssertionError):
        check_linear(lm.linear_params, lambda i, o: i * o + o)
    with pytest.raises(AssertionError):
        check_linear(lambda i, o: i * o, lm.linear_macs)


# ---------------------------------------------------------------------------
# Known values and input checks
# ---------------------------------------------------------------------------


def test_known_values():
    assert lm.receptive_field([(3, 1)] * 2) == 5
    assert lm.receptive_field([(3, 1)] * 3) == 7
    assert lm.receptive_field([nn.Conv2d(1, 1, 3), nn.MaxPool2d(2), nn.Conv2d(1, 1, 3)]) == 8
    assert lm.receptive_field([(3, 1, 2)]) == 5  # a dilated 3x3 spans 5
    assert lm.conv_output_size(224, 11, stride=4, padding=2) == 55  # AlexNet's first layer
    assert [lm.conv_output_size(n, 2, 2, ceil_mode=True) for n in (28, 7, 1)] == [14, 4, 1]  # VGG's pools
    assert lm.conv_output_size(5, 2, 2, padding=1, ceil_mode=True) == 3  # a 4th window would start in the padding
    assert lm.conv2d_params(192, 32, 5) == (25 * 192 + 1) * 32
    assert lm.conv2d_macs(192, 32, 5, 28) == 120_422_400  # the Inception example, about 120M
    assert lm.conv2d_params(16, 16, 3, groups=16, bias=False) == 144
    assert lm.linear_params(100 * 100, 1000) == 10_001_000
    assert lm.dense_layer_params_for_image(100, 100) == 10_000 * 10_000 + 10_000
    assert [lm.same_padding(k) for k in (1, 3, 5, 7)] == [0, 1, 2, 3]


@pytest.mark.parametrize("call,match", [
    (lambda: lm.conv_output_size(4, 7), "does not fit"),
    (lambda: lm.conv_output_size(4, 3, stride=0), "stride"),
    (lambda: lm.conv_output_size(4.0, 3), "int"),
    (lambda: lm.same_padding(4), "odd"),
    (lambda: lm.receptive_field([(3,)]), "kernel_size, stride"),
    (lambda: lm.receptive_field(["conv"]), "tuple or a conv/pool module"),
    (lambda: lm.conv2d_params(3, 4, 3, groups=2), "divisible"),
    (lambda: lm.conv2d_macs(3, 4, 3, 0), "output_size"),
])
def test_bad_input_raises_value_error(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def check_same_padding(fn):
    x = torch.zeros(1, 1, 11, 13)
    for k in (1, 3, 5, 7):
        for d in (1, 2, 3):
            layer = nn.Conv2d(1, 1, k, dilation=d, padding="same", bias=False)
            explicit = nn.Conv2d(1, 1, k, dilation=d, padding=fn(k, d), bias=False)
            explicit.weight = layer.weight
            with torch.no_grad():
                assert explicit(x).shape == x.shape, f"k={k} d={d}: padding {fn(k, d)} does not keep the size"
                assert torch.equal(explicit(x + 1), layer(x + 1)), f"k={k} d={d}: differs from padding='same'"


def test_same_padding_against_pytorch_same():
    check_same_padding(lm.same_padding)
    with pytest.raises(AssertionError):
        check_same_padding(lambda k, d: k // 2)  # forgets the dilation


def test_dense_layer_params_for_image_against_nn_linear():
    for h, w, c, out in [(100, 100, 1, None), (28, 28, 3, 10), (7, 9, 2, 5)]:
        n = h * w * c
        with torch.device("meta"):
            layer = nn.Linear(n, n if out is None else out)
        assert lm.dense_layer_params_for_image(h, w, c, out) == sum(p.numel() for p in layer.parameters())
