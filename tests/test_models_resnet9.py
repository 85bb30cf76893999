"""course_utils.models.resnet9 against hand counts, its published layout and its definition."""

import pytest
import torch
from torch import nn

from course_utils.accounting import count_params
from course_utils.checks import assert_close
from course_utils.models import resnet9


def resnet9_hand_count(width=1.0, in_channels=3, num_classes=10):
    c = [round(w * width) for w in (64, 128, 256, 512)]
    convs = [(in_channels, c[0]), (c[0], c[1]), (c[1], c[1]), (c[1], c[1]), (c[1], c[2]), (c[2], c[3]),
             (c[3], c[3]), (c[3], c[3])]
    return sum(9 * i * o + 2 * o for i, o in convs) + c[3] * num_classes + num_classes


@pytest.mark.parametrize("width", [1.0, 0.5, 0.25])
def test_resnet9_parameter_count_is_the_hand_count(width):
    assert count_params(resnet9.resnet9(width=width)) == resnet9_hand_count(width)
    assert count_params(resnet9.resnet9()) == 6_573_130


def test_resnet9_layout():
    model = resnet9.resnet9(num_classes=7, in_channels=1, width=0.25).eval()
    sides = []
    hooks = [getattr(model, name).register_forward_hook(lambda m, i, o: sides.append(tuple(o.shape[1:])))
             for name in ("prep", "layer1", "layer2", "layer3")]
    assert model(torch.randn(2, 1, 32, 32)).shape == (2, 7)
    for h in hooks:
        h.remove()
    assert sides == [(16, 32, 32), (32, 16, 16), (64, 8, 8), (128, 4, 4)]
    assert sum(isinstance(m, nn.Conv2d) for m in model.modules()) == 8  # and the dense layer: nine


def test_resnet9_residual_adds_its_input():
    block = resnet9.Residual(8).eval()
    x = torch.randn(2, 8, 5, 5)
    with torch.no_grad():
        assert_close(block(x), x + block.conv2(block.conv1(x)))
        for conv in (block.conv1.conv, block.conv2.conv):
            conv.weight.zero_()
        assert_close(block(x), x + torch.relu(block.conv2.bn.bias).view(1, -1, 1, 1))


def test_resnet9_bad_inputs_raise_helpful_errors():
    model = resnet9.resnet9()
    with pytest.raises(ValueError, match="in_channels=1"):
        model(torch.randn(1, 1, 32, 32))
    with pytest.raises(ValueError, match="at least 8x8"):
        model(torch.randn(1, 3, 4, 4))
    with pytest.raises(ValueError, match="width must be positive"):
        resnet9.resnet9(width=0)
