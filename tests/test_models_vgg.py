"""course_utils.models.vgg against torchvision and hand formulas."""

import pytest
import torch
import torchvision
from torch import nn

from course_utils.accounting import count_macs, count_params
from course_utils.models import vgg

# Channels of the paper's configurations, written out again here (not read
# from the module) so that a typo in vgg.CONFIGS fails the formula tests.
PAPER = {
    11: [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    16: [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
}


def formula_params(layers, in_channels, num_classes, side, hidden=4096, width=1.0):
    """(3*3*C_in + 1) * C_out per conv, in*out + out per dense layer."""
    total, c = 0, in_channels
    for item in layers:
        if item == "M":
            side = (side + 1) // 2
            continue
        out = max(1, round(item * width))
        total += (9 * c + 1) * out
        c = out
    dims = [c * side * side, hidden, hidden, num_classes]
    return total + sum(a * b + b for a, b in zip(dims, dims[1:]))


@pytest.mark.parametrize("depth", [11, 13, 16, 19])
@pytest.mark.parametrize("batch_norm", [False, True])
def test_parameter_count_equals_torchvision(depth, batch_norm):
    name = f"vgg{depth}" + ("_bn" if batch_norm else "")
    with torch.device("meta"):  # no memory, no time: only shapes matter
        ours = vgg.vgg(depth, batch_norm=batch_norm)
        theirs = getattr(torchvision.models, name)()
    assert count_params(ours) == count_params(theirs)


def test_published_counts():
    with torch.device("meta"):
        assert count_params(vgg.vgg11()) == 132_863_336
        assert count_params(vgg.vgg16()) == 138_357_544


@pytest.mark.parametrize("depth", [11, 16])
def test_parameter_count_equals_formula(depth):
    with torch.device("meta"):
        assert count_params(vgg.vgg(depth)) == formula_params(PAPER[depth], 3, 1000, 224)
        narrow = vgg.vgg(depth, 1, 10, input_size=28, width=0.25, hidden_features=256)
        expected = formula_params(PAPER[depth], 1, 10, 28, hidden=256, width=0.25)
        assert count_params(narrow) == expected


def test_same_outputs_as_torchvision_for_the_same_weights():
    torch.manual_seed(0)
    ours, theirs = vgg.vgg11(), torchvision.models.vgg11()
    # Our blocks nest the layers (features.0.0.weight, torchvision has
    # features.0.weight), so copy tensor by tensor in registration order.
    with torch.no_grad():
        for (k1, a), (k2, b) in zip(ours.state_dict().items(), theirs.state_dict().items()):
            assert a.shape == b.shape, (k1, k2)
            a.copy_(b)
    ours.eval(), theirs.eval()
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x))


@pytest.mark.parametrize("size", [28, 32])
def test_small_inputs_end_in_one_by_one_maps(size):
    model = vgg.vgg11(1, 10, input_size=size, width=0.25, hidden_features=64)
    sides = []
    for block in model.features:
        block.register_forward_hook(lambda m, args, out: sides.append(out.shape[-1]))
    assert model(torch.randn(2, 1, size, size)).shape == (2, 10)
    expected = [14, 7, 4, 2, 1] if size == 28 else [16, 8, 4, 2, 1]
    assert sides == expected
    assert [b[0].out_channels for b in model.features] == [16, 32, 64, 128, 128]


def test_macs_equal_formula():
    model = vgg.vgg11(1, 10, input_size=32, width=0.5, hidden_features=128)
    macs, c, side = 0, 1, 32
    for item in PAPER[11]:
        if item == "M":
            side //= 2
            continue
        macs += side * side * 9 * c * (item // 2)
        c = item // 2
    macs += c * 128 + 128 * 128 + 128 * 10
    assert count_macs(model, (1, 1, 32, 32)) == macs


def test_batch_norm_variant_has_norms_after_every_conv():
    model = vgg.vgg13(1, 10, input_size=32, width=0.125, batch_norm=True)
    kinds = [type(m) for m in model.features.modules() if isinstance(m, (nn.Conv2d, nn.BatchNorm2d))]
    assert kinds == [nn.Conv2d, nn.BatchNorm2d] * 10


def test_bad_inputs_raise_helpful_errors():
    model = vgg.vgg11(1, 10, input_size=28, width=0.125, hidden_features=16)
    with pytest.raises(ValueError, match="unsqueeze"):
        model(torch.randn(1, 28, 28))
    with pytest.raises(ValueError, match="in_channels=3"):
        model(torch.randn(1, 3, 28, 28))
    with pytest.raises(ValueError, match="input_size=32"):
        model(torch.randn(1, 1, 32, 32))
    with pytest.raises(ValueError, match="depth"):
        vgg.vgg(12)
    with pytest.raises(ValueError, match="width"):
        vgg.vgg11(width=0)
