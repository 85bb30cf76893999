"""course_utils.models.alexnet against torchvision, hand formulas and functional ops."""

import pytest
import torch
import torch.nn.functional as F
import torchvision
from torch import nn

from course_utils.accounting import count_params
from course_utils.models import alexnet


def formula_params(channels, groups, in_channels=3, num_classes=1000, pooled=6, hidden=4096, stem_kernel=11):
    """(k*k*C_in/groups + 1)*C_out per conv, in*out + out per dense layer."""
    kernels = (stem_kernel, 5, 3, 3, 3)
    total, c_in = 0, in_channels
    for c, g, k in zip(channels, groups, kernels):
        total += (k * k * c_in // g + 1) * c
        c_in = c
    dims = [c_in * pooled * pooled, hidden, hidden, num_classes]
    return total + sum(a * b + b for a, b in zip(dims, dims[1:]))


def test_torchvision_parameter_count():
    with torch.device("meta"):
        ours, theirs = alexnet.alexnet(), torchvision.models.alexnet()
    assert count_params(ours) == count_params(theirs) == 61_100_840
    assert count_params(ours) == formula_params((64, 192, 384, 256, 256), (1,) * 5)


def test_2012_paper_counts():
    with torch.device("meta"):
        paper = alexnet.alexnet_2012()
        ungrouped = alexnet.alexnet_2012(groups=1, lrn=False)
    assert count_params(paper) == formula_params((96, 256, 384, 384, 256), (1, 2, 1, 2, 2)) == 60_965_224
    assert count_params(ungrouped) == formula_params((96, 256, 384, 384, 256), (1,) * 5)
    convs = [m for m in paper.features if isinstance(m, nn.Conv2d)]
    assert [c.groups for c in convs] == [1, 2, 1, 2, 2]
    assert tuple(convs[1].weight.shape) == (256, 48, 5, 5)  # each half sees 48 of conv1's 96 channels
    assert sum(isinstance(m, nn.LocalResponseNorm) for m in paper.features) == 2


def test_torchvision_weights_load_and_give_the_same_output():
    torch.manual_seed(0)
    theirs = torchvision.models.alexnet().eval()
    ours = alexnet.alexnet_2014().eval()
    ours.load_state_dict(theirs.state_dict())  # strict: same names and shapes
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x))


@pytest.mark.parametrize("size,side", [(224, 6), (227, 6), (96, 2), (63, 1), (28, 2), (32, 3)])
def test_feature_map_sizes(size, side):
    model = alexnet.alexnet(1, 10, input_size=size, width=0.125, hidden_features=32)
    x = torch.randn(2, 1, size, size)
    assert model.features(x).shape[-1] == side
    assert model(x).shape == (2, 10)
    expected_stem = alexnet.STEM_224 if size >= 63 else alexnet.STEM_SMALL
    assert model.config.stem == expected_stem


def test_small_version_equals_formula():
    model = alexnet.alexnet(1, 10, input_size=28, width=0.25, hidden_features=512)
    assert model.config.channels == (16, 48, 96, 64, 64)
    assert count_params(model) == formula_params((16, 48, 96, 64, 64), (1,) * 5, 1, 10, pooled=2, hidden=512,
                                                 stem_kernel=3)


def test_width_keeps_grouped_channels_divisible():
    model = alexnet.alexnet_2012(1, 10, input_size=28, width=0.3, hidden_features=16)
    for c, g in zip(model.config.channels, model.config.groups[1:] + (1,)):
        assert c % g == 0
    assert model(torch.randn(2, 1, 28, 28)).shape == (2, 10)


def test_forward_equals_functional_ops_with_lrn():
    torch.manual_seed(0)
    model = alexnet.alexnet_2012(1, 10, input_size=28, width=0.125, hidden_features=16).eval()
    convs = [m for m in model.features if isinstance(m, nn.Conv2d)]
    dense = [m for m in model.classifier if isinstance(m, nn.Linear)]
    x = torch.randn(2, 1, 28, 28)

    def conv(h, m):
        return F.relu(F.conv2d(h, m.weight, m.bias, m.stride, m.padding, groups=m.groups))

    def lrn(h):
        return F.local_response_norm(h, size=5, alpha=5e-4, beta=0.75, k=2.0)

    h = F.max_pool2d(lrn(conv(x, convs[0])), 3, 2)
    h = F.max_pool2d(lrn(conv(h, convs[1])), 3, 2)
    h = F.max_pool2d(conv(conv(conv(h, convs[2]), convs[3]), convs[4]), 3, 2).flatten(1)  # (2, C * 2 * 2)
    h = F.relu(dense[0](h))
    h = F.relu(dense[1](h))
    with torch.no_grad():
        torch.testing.assert_close(model(x), dense[2](h))


def test_lrn_is_the_papers_formula():
    """Section 3.3: b_c = a_c / (2 + 1e-4 * sum over the 5 channels around c of a_j^2) ** 0.75,
    written out channel by channel (fewer neighbours at the edges)."""
    torch.manual_seed(0)
    a = 40 * torch.randn(2, 9, 4, 4, dtype=torch.float64)  # large enough for the sum to matter
    expected = torch.empty_like(a)
    for c in range(9):
        window = a[:, max(0, c - 2):c + 3]  # (N, <=5, H, W)
        expected[:, c] = a[:, c] / (2 + 1e-4 * (window ** 2).sum(dim=1)) ** 0.75
    torch.testing.assert_close(alexnet.local_response_norm()(a), expected)
    wrong = nn.LocalResponseNorm(size=5, alpha=1e-4, beta=0.75, k=2.0)(a)  # alpha not scaled by n
    assert (wrong - expected).abs().max() > 1e-2


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_lrn_normalises_large_activations_in_mixed_precision(dtype):
    """Under autocast (a GPU, or the CPU with COURSE_AUTOCAST) conv 1's ReLU
    outputs arrive in float16 or bfloat16. At the paper's input scale they
    reach about 250 (notebook 07 part 2): a float16 square overflows above
    256, so LRN must square in float32 or it zeroes the strongest positions
    and their neighbours. The output keeps the input's dtype, within its rounding."""
    gen = torch.Generator().manual_seed(0)
    a = torch.relu(torch.randn(4, 96, 8, 8, generator=gen)) * 300  # ReLU outputs, up to about 1000
    lrn = alexnet.local_response_norm()
    expected = lrn(a.to(dtype).float())  # float32 from the same rounded inputs
    with torch.autocast("cpu", dtype=dtype):
        got = lrn(a.to(dtype))
    assert got.dtype == dtype
    zeroed = ((got == 0) & (expected != 0)).float().mean().item()
    assert zeroed == 0, f"{zeroed:.1%} of the nonzero activations came out of LRN as zeros"
    rounding = torch.finfo(dtype).eps  # one rounding of the result to dtype
    torch.testing.assert_close(got.float(), expected, rtol=rounding, atol=0)


def test_dropout_only_in_training_mode():
    model = alexnet.alexnet(1, 10, input_size=28, width=0.125, hidden_features=64, dropout=0.5)
    x = torch.randn(4, 1, 28, 28)
    model.eval()
    torch.testing.assert_close(model(x), model(x))
    model.train()
    assert not torch.allclose(model(x), model(x))


def test_invalid_arguments_and_inputs_raise():
    with pytest.raises(ValueError, match="five numbers"):
        alexnet.alexnet(channels=(64, 192))
    with pytest.raises(ValueError, match="too small"):
        alexnet.alexnet(input_size=40, stem=alexnet.STEM_224)
    with pytest.raises(ValueError, match="unknown activation"):
        alexnet.alexnet(activation="swish")
    model = alexnet.alexnet(1, 10, input_size=28, width=0.125, hidden_features=16)
    with pytest.raises(ValueError, match="unsqueeze"):
        model(torch.randn(1, 28, 28))
    with pytest.raises(ValueError, match="in_channels=3"):
        model(torch.randn(2, 3, 28, 28))


def test_d2l_book_layout():
    """d2l's book AlexNet: 2012 channels, no groups or LRN, padding 1 in conv 1 -> 5x5 maps, 6400 features."""
    model = alexnet.alexnet_2012(1, 10, groups=1, lrn=False, stem=(11, 4, 1))
    assert model.features(torch.zeros(1, 1, 224, 224)).shape == (1, 256, 5, 5)
    assert model.classifier[1].in_features == 6400
    assert count_params(model) == formula_params((96, 256, 384, 384, 256), (1,) * 5, 1, 10, pooled=5)
