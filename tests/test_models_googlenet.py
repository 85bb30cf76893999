"""course_utils.models.googlenet, .nin and .blocks against torchvision,
functional re-computations and hand formulas (syllabus 09's numbers)."""

import pytest
import torch
import torch.nn.functional as F
import torchvision
from torch import nn
from torchvision.models.mobilenetv2 import InvertedResidual as TorchvisionInvertedResidual

from course_utils.accounting import count_macs, count_params
from course_utils.models import blocks, googlenet, nin

# The paper's Table 1 (Szegedy et al., 2014), written out again here:
# (in, #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj).
TABLE1 = [
    (192, 64, 96, 128, 16, 32, 32), (256, 128, 128, 192, 32, 96, 64),
    (480, 192, 96, 208, 16, 48, 64), (512, 160, 112, 224, 24, 64, 64),
    (512, 128, 128, 256, 24, 64, 64), (512, 112, 144, 288, 32, 64, 64),
    (528, 256, 160, 320, 32, 128, 128), (832, 256, 160, 320, 32, 128, 128),
    (832, 384, 192, 384, 48, 128, 128),
]


def conv_params(c_in, c_out, k, batch_norm):
    # conv weights, plus either a bias or the norm's scale and shift
    return k * k * c_in * c_out + (2 * c_out if batch_norm else c_out)


def googlenet_formula(in_channels, num_classes, batch_norm, k5):
    total = conv_params(in_channels, 64, 7, batch_norm) + conv_params(64, 64, 1, batch_norm)
    total += conv_params(64, 192, 3, batch_norm)
    for c_in, c1, r3, c3, r5, c5, pp in TABLE1:
        total += conv_params(c_in, c1, 1, batch_norm)
        total += conv_params(c_in, r3, 1, batch_norm) + conv_params(r3, c3, 3, batch_norm)
        total += conv_params(c_in, r5, 1, batch_norm) + conv_params(r5, c5, k5, batch_norm)
        total += conv_params(c_in, pp, 1, batch_norm)
    return total + 1024 * num_classes + num_classes


# ------------------------------------------------------------- GoogLeNet


def test_googlenet_parameter_count_equals_torchvision():
    with torch.device("meta"):
        theirs = torchvision.models.googlenet(aux_logits=False, init_weights=False)
        ours = googlenet.googlenet()
    assert count_params(ours) == count_params(theirs) == 6_624_904


def test_googlenet_loads_torchvision_weights_and_gives_the_same_outputs():
    torch.manual_seed(0)
    theirs = torchvision.models.googlenet(aux_logits=False, init_weights=True).eval()
    ours = googlenet.googlenet().eval()
    ours.load_state_dict(theirs.state_dict())  # strict: same names, same shapes
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x))


@pytest.mark.parametrize("batch_norm", [False, True])
@pytest.mark.parametrize("k5", [3, 5])
def test_googlenet_parameter_count_equals_table1_formula(batch_norm, k5):
    with torch.device("meta"):
        model = googlenet.googlenet(1, 10, batch_norm=batch_norm, ch5x5_kernel_size=k5)
    assert count_params(model) == googlenet_formula(1, 10, batch_norm, k5)


@pytest.mark.parametrize("size, sides", [(224, [28, 14, 7]), (96, [12, 6, 3]), (28, [7, 3, 2])])
def test_googlenet_stage_sizes(size, sides):
    model = googlenet.googlenet(1, 10, input_size=size, width=0.125).eval()
    seen = []
    for name in ("inception3b", "inception4e", "inception5b"):
        getattr(model, name).register_forward_hook(lambda m, a, out: seen.append(out.shape[-1]))
    with torch.no_grad():
        assert model(torch.randn(1, 1, size, size)).shape == (1, 10)
    assert seen == sides


def test_googlenet_width_scales_every_branch():
    model = googlenet.googlenet(1, 10, input_size=28, width=0.25)
    assert model.inception3a.out_channels == 16 + 32 + 8 + 8
    assert model.inception5b.out_channels == 256
    assert model.fc.in_features == 256


def inception_by_hand(block, x):
    """The four branches with F.conv2d / F.max_pool2d on the block's weights."""
    def conv(seq_or_block, x, padding=0):
        w, b = seq_or_block.conv.weight, seq_or_block.conv.bias
        return F.relu(F.conv2d(x, w, b, padding=padding))
    b1 = conv(block.branch1, x)
    b2 = conv(block.branch2[1], conv(block.branch2[0], x), padding=1)
    k = block.branch3[1].conv.kernel_size[0]
    b3 = conv(block.branch3[1], conv(block.branch3[0], x), padding=k // 2)
    b4 = conv(block.branch4[1], F.max_pool2d(x, 3, stride=1, padding=1))
    return torch.cat([b1, b2, b3, b4], dim=1)


@pytest.mark.parametrize("size", [7, 10])
def test_inception_block_equals_concatenated_branches(size):
    torch.manual_seed(0)
    block = googlenet.Inception(12, 4, 6, 8, 2, 3, 5, batch_norm=False, ch5x5_kernel_size=5)
    x = torch.randn(2, 12, size, size)
    out = block(x)
    assert out.shape == (2, 4 + 8 + 3 + 5, size, size)
    torch.testing.assert_close(out, inception_by_hand(block, x))


def test_inception_rejects_bad_input():
    block = googlenet.Inception(12, 4, 6, 8, 2, 3, 5)
    with pytest.raises(ValueError, match="12"):
        block(torch.randn(1, 11, 8, 8))
    with pytest.raises(ValueError, match="odd"):
        googlenet.Inception(12, 4, 6, 8, 2, 3, 5, ch5x5_kernel_size=4)
    with pytest.raises(ValueError, match="unsqueeze"):
        googlenet.googlenet(1, 10, input_size=28)(torch.randn(1, 28, 28))


# ------------------------------------------------------------------- NiN


def nin_formula(in_channels, num_classes, first_kernel, channels=(96, 256, 384)):
    def block(c_in, c_out, k):
        return (k * k * c_in + 1) * c_out + 2 * (c_out * c_out + c_out)
    c1, c2, c3 = channels
    return (block(in_channels, c1, first_kernel) + block(c1, c2, 5) + block(c2, c3, 3)
            + block(c3, num_classes, 3))


@pytest.mark.parametrize("size, first_kernel", [(224, 11), (28, 3)])
def test_nin_parameter_count_equals_formula(size, first_kernel):
    model = nin.nin(1, 10, input_size=size)
    assert count_params(model) == nin_formula(1, 10, first_kernel)
    assert count_params(nin.nin(1, 10, input_size=224)) == 1_992_166


def test_nin_head_is_global_average_of_class_maps():
    torch.manual_seed(0)
    model = nin.nin(1, 10, input_size=28, width=0.125).eval()
    x = torch.randn(3, 1, 28, 28)
    with torch.no_grad():
        maps = model.features(x)
        assert maps.shape[1] == 10 and maps.shape[-1] == 2  # 28 -> 13 -> 6 -> 2
        torch.testing.assert_close(model(x), maps.mean(dim=(2, 3)))


def test_nin_rejects_bad_input():
    with pytest.raises(ValueError, match="too small"):
        nin.nin(1, 10, input_size=14)
    with pytest.raises(ValueError, match="too small"):
        nin.nin(1, 10, input_size=66)
    with pytest.raises(ValueError, match="unsqueeze"):
        nin.nin(1, 10, input_size=28)(torch.randn(1, 28, 28))


# -------------------------------------------------------- efficient blocks


def test_one_by_one_reduction_arithmetic():
    # 28x28x192 input, 32 filters of 5x5 (padding 2): 28*28*32*5*5*192 multiplies.
    direct = nn.Conv2d(192, 32, 5, padding=2, bias=False)
    reduced = nn.Sequential(nn.Conv2d(192, 16, 1, bias=False),
                            nn.Conv2d(16, 32, 5, padding=2, bias=False))
    assert count_macs(direct, (1, 192, 28, 28)) == 28 * 28 * 32 * 25 * 192 == 120_422_400
    expected = 28 * 28 * 16 * 192 + 28 * 28 * 32 * 25 * 16
    assert count_macs(reduced, (1, 192, 28, 28)) == expected == 12_443_648


def test_bottleneck_arithmetic():
    assert count_params(nn.Conv2d(512, 512, 3, padding=1, bias=False)) == 2_359_296
    assert count_params(blocks.PlainBottleneck(512, 128, 512)) == 278_528
    assert 512 * 128 + 9 * 128 * 128 + 128 * 512 == 278_528


def test_depthwise_separable_arithmetic():
    assert count_params(nn.Conv2d(16, 32, 3, padding=1, bias=False)) == 4_608
    assert count_params(blocks.DepthwiseSeparableConv2d(16, 32)) == 656 == 9 * 16 + 16 * 32
    # multiply-adds fall by the same factor (every weight is used once per pixel)
    assert count_macs(blocks.DepthwiseSeparableConv2d(16, 32), (1, 16, 10, 10)) == 656 * 100


@pytest.mark.parametrize("k, fraction", [(7, 14 / 49), (3, 6 / 9)])
def test_factorised_conv_cost(k, fraction):
    c, side = 32, 12
    full = nn.Conv2d(c, c, k, padding=k // 2, bias=False)
    fact = blocks.FactorisedConv2d(c, c, k)
    assert count_params(fact) == 2 * k * c * c
    ratio = count_macs(fact, (1, c, side, side)) / count_macs(full, (1, c, side, side))
    assert ratio == pytest.approx(fraction)
    assert round(100 * ratio) == {7: 29, 3: 67}[k]


def test_factorised_conv_without_activation_is_one_big_conv():
    torch.manual_seed(0)
    fact = blocks.FactorisedConv2d(3, 5, 5, mid_channels=4, activation=False)
    row, col = fact.row.weight, fact.column.weight  # (4, 3, 1, 5), (5, 4, 5, 1)
    # composed kernel W[o, i, a, b] = sum_m col[o, m, a] * row[m, i, b]
    kernel = torch.einsum("oma,mib->oiab", col[..., 0], row[:, :, 0, :])  # (5, 3, 5, 5)
    x = torch.randn(2, 3, 9, 11)
    torch.testing.assert_close(fact(x), F.conv2d(x, kernel, padding=2))


def test_bottleneck_and_depthwise_separable_equal_functional_chain():
    torch.manual_seed(0)
    x = torch.randn(2, 8, 6, 6)
    b = blocks.PlainBottleneck(8, 3, 8)
    h = F.relu(F.conv2d(x, b.reduce[0].weight))
    h = F.relu(F.conv2d(h, b.conv[0].weight, padding=1))
    torch.testing.assert_close(b(x), F.relu(F.conv2d(h, b.expand[0].weight)))

    d = blocks.DepthwiseSeparableConv2d(8, 5)
    h = F.relu(F.conv2d(x, d.depthwise[0].weight, padding=1, groups=8))
    torch.testing.assert_close(d(x), F.relu(F.conv2d(h, d.pointwise[0].weight)))


@pytest.mark.parametrize("c_in, c_out, stride, t", [(16, 16, 1, 6), (16, 24, 2, 6), (32, 16, 1, 1)])
def test_inverted_residual_equals_torchvision(c_in, c_out, stride, t):
    torch.manual_seed(0)
    ours = blocks.InvertedResidual(c_in, c_out, stride=stride, expand_ratio=t)
    theirs = TorchvisionInvertedResidual(c_in, c_out, stride, t)
    assert count_params(ours) == count_params(theirs)
    with torch.no_grad():
        for p in theirs.parameters():
            p.normal_()
        for a, b in zip(ours.state_dict().values(), theirs.state_dict().values()):
            a.copy_(b)
    ours.eval(), theirs.eval()
    x = torch.randn(2, c_in, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x))
    assert ours.use_shortcut == (stride == 1 and c_in == c_out)


def test_blocks_reject_bad_input():
    with pytest.raises(ValueError, match="in_channels=4"):
        blocks.PlainBottleneck(8, 3, 8)(torch.randn(1, 4, 5, 5))
    with pytest.raises(ValueError, match="unsqueeze"):
        blocks.DepthwiseSeparableConv2d(8, 4)(torch.randn(8, 5, 5))
    with pytest.raises(ValueError, match="odd"):
        blocks.FactorisedConv2d(8, 8, 4)
    with pytest.raises(ValueError, match="stride"):
        blocks.InvertedResidual(8, 8, stride=3)
