"""course_utils.models.lenet against hand formulas, functional PyTorch ops and d2l."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course_utils.accounting import count_params
from course_utils.models import lenet


def formula_params(in_channels=1, num_classes=10, side=5, batch_norm=False):
    """(k*k*C_in + 1)*C_out per conv, in*out + out per dense layer, 2 per BN channel."""
    convs = (25 * in_channels + 1) * 6 + (25 * 6 + 1) * 16
    dense = (16 * side * side * 120 + 120) + (120 * 84 + 84) + (84 * num_classes + num_classes)
    bn = 2 * (6 + 16 + 120 + 84) if batch_norm else 0
    return convs + dense + bn


def test_parameter_counts_equal_the_formula():
    assert count_params(lenet.lenet_original()) == formula_params() == 61_706
    assert count_params(lenet.lenet_modern()) == 61_706
    assert count_params(lenet.lenet_modern(batch_norm=True)) == formula_params(batch_norm=True)
    assert count_params(lenet.lenet(3, 100, input_size=32, padding=2)) == formula_params(3, 100, side=6)


@pytest.mark.parametrize("in_channels,size,padding,side", [(1, 28, 2, 5), (1, 32, 0, 5), (3, 32, 2, 6), (1, 36, 0, 6)])
def test_output_and_feature_shapes(in_channels, size, padding, side):
    model = lenet.lenet_modern(in_channels, 7, input_size=size, padding=padding)
    x = torch.randn(2, in_channels, size, size)
    assert model.features(x).shape == (2, 16, side, side)
    assert model(x).shape == (2, 7)


def test_variants_have_the_requested_layers():
    kinds = lambda m: {type(layer) for layer in m.modules()}  # noqa: E731
    original, modern, bn = lenet.lenet_original(), lenet.lenet_modern(), lenet.lenet_modern(batch_norm=True)
    assert {nn.Sigmoid, nn.AvgPool2d} <= kinds(original) and not {nn.ReLU, nn.MaxPool2d} & kinds(original)
    assert {nn.ReLU, nn.MaxPool2d} <= kinds(modern) and not {nn.Sigmoid, nn.AvgPool2d, nn.BatchNorm2d} & kinds(modern)
    assert {nn.BatchNorm2d, nn.BatchNorm1d} <= kinds(bn)


@pytest.mark.parametrize("activation,pool", [("sigmoid", "avg"), ("relu", "max"), ("tanh", "max")])
def test_forward_equals_functional_ops(activation, pool):
    torch.manual_seed(0)
    model = lenet.lenet(activation=activation, pool=pool)
    act = {"sigmoid": torch.sigmoid, "relu": F.relu, "tanh": torch.tanh}[activation]
    pooling = F.avg_pool2d if pool == "avg" else F.max_pool2d
    (w1, b1), (w2, b2) = [(m.weight, m.bias) for m in model.modules() if isinstance(m, nn.Conv2d)]
    dense = [(m.weight, m.bias) for m in model.modules() if isinstance(m, nn.Linear)]
    x = torch.randn(3, 1, 28, 28)
    h = pooling(act(F.conv2d(x, w1, b1, padding=2)), 2)
    h = pooling(act(F.conv2d(h, w2, b2)), 2).reshape(3, -1)  # (3, 400)
    h = act(F.linear(h, *dense[0]))
    h = act(F.linear(h, *dense[1]))
    torch.testing.assert_close(model(x), F.linear(h, *dense[2]))


def test_same_as_d2l_lenet_for_the_same_weights():
    d2l = pytest.importorskip("d2l.torch")
    theirs = d2l.LeNet()
    x = torch.randn(4, 1, 28, 28)
    theirs(x)  # lazy layers: a forward pass creates the weights
    ours = lenet.lenet_original()
    assert count_params(ours) == count_params(theirs) == 61_706
    with torch.no_grad():  # same layers in the same order, different names
        for (k1, a), (k2, b) in zip(ours.state_dict().items(), theirs.state_dict().items()):
            assert a.shape == b.shape, (k1, k2)
            a.copy_(b)
    torch.testing.assert_close(ours(x), theirs(x))


def test_invalid_arguments_and_inputs_raise():
    with pytest.raises(ValueError, match="unknown activation"):
        lenet.lenet(activation="gelu")
    with pytest.raises(ValueError, match="unknown pool"):
        lenet.lenet(pool="median")
    with pytest.raises(ValueError, match="too small"):
        lenet.lenet(input_size=8)
    model = lenet.lenet()
    with pytest.raises(ValueError, match="unsqueeze"):
        model(torch.randn(1, 28, 28))
    with pytest.raises(ValueError, match="input_size=32"):
        model(torch.randn(2, 1, 32, 32))
