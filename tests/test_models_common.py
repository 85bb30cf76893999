"""course_utils.models.common: the one input check, the width multiplier and
feature-map sizes, against PyTorch layers and brute force; every model and
block reports a bad input through the shared check."""

import random

import pytest
import torch
from torch import nn

from course_utils.models import alexnet, blocks, googlenet, lenet, nin, vgg
from course_utils.models.common import check_image_input, feature_map_size, scale_channels

# ------------------------------------------------------------ input check


def test_check_image_input_accepts_the_expected_shape():
    check_image_input(torch.zeros(2, 3, 8, 8), 3, 8)
    check_image_input(torch.zeros(1, 3, 5, 7), 3)  # any size when input_size is left out


@pytest.mark.parametrize("x, input_size, match", [
    (torch.zeros(3, 8, 8), 8, r"Net expects a 4-D input \(N, 3, 8, 8\), got shape \(3, 8, 8\): add a batch "
                              r"dimension with x.unsqueeze\(0\)"),
    (torch.zeros(8, 8), None, r"4-D input \(N, 3, H, W\), got shape \(8, 8\): pass a batch of images"),
    (torch.zeros(2, 1, 8, 8), 8, r"build it with in_channels=1 and input_size=8 \(square images\), or resize"),
    (torch.zeros(2, 3, 9, 9), 8, r"got \(2, 3, 9, 9\): build it with in_channels=3 and input_size=9 .* resize the "
                                 r"images to 8x8"),
    (torch.zeros(2, 1, 9, 9), None, r"Net expects input of shape \(N, 3, H, W\), got \(2, 1, 9, 9\): build it with "
                                    r"in_channels=1$"),
    (torch.zeros(2, 3, 8, 9), 8, "input_size=9"),
    ([[0.0]], None, "expects a tensor .* got list: convert it with torch.as_tensor"),
])
def test_check_image_input_says_what_is_wrong_and_how_to_fix_it(x, input_size, match):
    with pytest.raises(ValueError, match=match):
        check_image_input(x, 3, input_size, name="Net")


MODELS = [
    ("LeNet", lambda: lenet.lenet(1, 10), 1, 28),
    ("AlexNet", lambda: alexnet.alexnet(1, 10, input_size=28, width=0.125, hidden_features=16), 1, 28),
    ("VGG", lambda: vgg.vgg11(1, 10, input_size=28, width=0.0625, hidden_features=16), 1, 28),
    ("NiN", lambda: nin.nin(1, 10, input_size=28, width=0.125), 1, None),
    ("GoogLeNet", lambda: googlenet.googlenet(1, 10, input_size=28, width=0.125), 1, None),
    ("Inception block", lambda: googlenet.Inception(12, 4, 6, 8, 2, 3, 5), 12, None),
    ("FactorisedConv2d", lambda: blocks.FactorisedConv2d(4, 4, 3), 4, None),
    ("PlainBottleneck", lambda: blocks.PlainBottleneck(8, 3, 8), 8, None),
    ("DepthwiseSeparableConv2d", lambda: blocks.DepthwiseSeparableConv2d(4, 6), 4, None),
    ("InvertedResidual", lambda: blocks.InvertedResidual(4, 4), 4, None),
]


@pytest.mark.parametrize("name, build, in_channels, input_size", MODELS, ids=[m[0] for m in MODELS])
def test_every_model_and_block_uses_the_shared_check(name, build, in_channels, input_size):
    model = build().eval()
    side = input_size or 16
    with torch.no_grad():
        model(torch.zeros(2, in_channels, side, side))  # the right shape passes
    with pytest.raises(ValueError, match=rf"^{name} expects a 4-D input .* x\.unsqueeze\(0\)"):
        model(torch.zeros(in_channels, side, side))
    with pytest.raises(ValueError, match=rf"^{name} expects input of shape .* in_channels={in_channels + 1}"):
        model(torch.zeros(2, in_channels + 1, side, side))
    if input_size is not None:
        with pytest.raises(ValueError, match=rf"^{name} .* resize the images to {side}x{side}"):
            model(torch.zeros(2, in_channels, side + 4, side + 4))
    else:  # global average pooling or a block: any size works
        with torch.no_grad():
            model(torch.zeros(1, in_channels, 31, 31))


# ------------------------------------------------------- width multiplier


def nearest_multiple(value, multiple_of):
    """Brute force: the multiple of ``multiple_of`` closest to ``value``, at least ``multiple_of``."""
    candidates = [k * multiple_of for k in range(1, int(value / multiple_of) + 3)]
    return min(candidates, key=lambda c: abs(c - value))


def test_scale_channels_rounds_to_the_nearest_multiple():
    rng = random.Random(0)
    for _ in range(500):
        channels, width, multiple_of = rng.randint(1, 1024), rng.uniform(0.01, 2.0), rng.choice([1, 2, 4, 8])
        value = channels * width
        if abs(value / multiple_of % 1 - 0.5) < 1e-9:
            continue  # a tie: Python's round goes to the even multiple
        assert scale_channels(channels, width, multiple_of) == nearest_multiple(value, multiple_of), \
            (channels, width, multiple_of)
    assert scale_channels(64, 0.25) == 16 and scale_channels(96, 0.125, 2) == 12
    assert scale_channels(3, 0.01) == 1 and scale_channels(3, 0.01, 4) == 4  # never below one multiple
    with pytest.raises(ValueError, match="width must be positive"):
        scale_channels(64, 0)


# ------------------------------------------------------- feature-map size


def check_feature_map_size(fn, n=300):
    rng = random.Random(1)
    for _ in range(n):
        layers, modules = [], []
        for _ in range(rng.randint(1, 4)):
            k, s = rng.randint(1, 7), rng.randint(1, 4)
            p = rng.randint(0, k // 2)
            layers.append((k, s, p))
            modules.append(nn.Conv2d(1, 1, k, s, p) if rng.random() < 0.5 else nn.MaxPool2d(k, s, p))
        size = rng.randint(1, 40)
        try:
            with torch.no_grad():
                expected = nn.Sequential(*modules)(torch.zeros(1, 1, size, size)).shape[-1]
        except RuntimeError:  # PyTorch: the kernel does not fit, the map vanished
            expected = 0
        assert fn(size, layers) == expected, f"input {size}, layers {layers}: expected {expected}"


def test_feature_map_size_against_pytorch_layers():
    check_feature_map_size(feature_map_size)


def test_feature_map_size_check_catches_a_planted_bug():
    def ignores_padding(size, layers):
        for k, s, _ in layers:
            if size < k:
                return 0
            size = (size - k) // s + 1
        return size

    with pytest.raises(AssertionError):
        check_feature_map_size(ignores_padding)


def test_rename_state_dict_renames_by_the_first_match_and_refuses_unknown_keys():
    from course_utils.models.common import rename_state_dict
    renames = [(r"^fc\.", "head."), (r"^layer(\d)\.", r"stages.\1.")]
    out = rename_state_dict({"fc.weight": 1, "layer2.conv.bias": 2}, renames, "is not a key of X")
    assert list(out.items()) == [("head.weight", 1), ("stages.2.conv.bias", 2)]
    with pytest.raises(ValueError, match="'stem.w' is not a key of X"):
        rename_state_dict({"stem.w": 0}, renames, "is not a key of X")
