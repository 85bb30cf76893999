"""course_utils.models.resnet against torchvision, the paper's tables and hand counts."""

import pytest
import torch
import torch.nn.functional as F
import torchvision
from torch import nn
from torchvision.models.resnet import BasicBlock as TorchvisionBasicBlock
from torchvision.models.resnet import Bottleneck as TorchvisionBottleneck

from course_utils.accounting import count_macs, count_params
from course_utils.checks import assert_close
from course_utils.models import resnet

# torchvision's documented parameter counts (written out, not computed).
TORCHVISION_COUNTS = {18: 11_689_512, 34: 21_797_672, 50: 25_557_032, 101: 44_549_160, 152: 60_192_808}
# The paper's Table 6 ("# params" of the CIFAR-10 ResNets, option A).
TABLE_6 = {20: "0.27M", 32: "0.46M", 44: "0.66M", 56: "0.85M", 110: "1.7M"}
# The paper's Table 1 ("FLOPs", in fact multiply-adds, of the ImageNet ResNets).
TABLE_1_GMACS = {18: 1.8, 34: 3.6, 50: 3.8, 101: 7.6, 152: 11.3}


def randomise(model, x, seed=0):
    """Random batch-norm scales and shifts, and running statistics measured on
    ``x``: at initialisation every batch norm is the identity, so swapped norms
    would go unnoticed. Measuring the statistics (one pass in training mode)
    keeps the activations of a deep network at a sensible scale."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.weight.copy_(torch.rand(module.weight.shape, generator=gen) + 0.5)
                module.bias.copy_(torch.randn(module.bias.shape, generator=gen) * 0.2)
                module.reset_running_stats()
                module.momentum = None  # running statistics = the mean over the passes so far
            elif isinstance(module, nn.Linear):
                module.weight.copy_(torch.randn(module.weight.shape, generator=gen) * 0.05)
                module.bias.copy_(torch.randn(module.bias.shape, generator=gen))
        model.train()
        model(x)
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.momentum = 0.1
    return model


def cifar_hand_count(depth, num_classes=10, option="A", in_channels=3):
    """The parameters of a CIFAR ResNet counted layer by layer from the
    paper's description: 3x3 convs without bias, batch norm (2 per channel)
    after each, projections (1x1 conv + batch norm) per option, a dense layer."""
    n = (depth - 2) // 6
    total = 9 * in_channels * 16 + 2 * 16  # first 3x3 conv + its batch norm
    c_in = 16
    for c in (16, 32, 64):
        for _ in range(n):
            total += 9 * c_in * c + 2 * c + 9 * c * c + 2 * c
            changes = c_in != c
            if option == "C" or (option == "B" and changes):
                total += c_in * c + 2 * c
            c_in = c
    return total + 64 * num_classes + num_classes


# ------------------------------------------------------------ ImageNet


@pytest.mark.parametrize("depth", sorted(TORCHVISION_COUNTS))
def test_parameter_count_equals_torchvision(depth):
    with torch.device("meta"):  # shapes only: no memory, no time
        ours = resnet.resnet(depth)
        theirs = getattr(torchvision.models, f"resnet{depth}")()
    assert count_params(ours) == count_params(theirs) == TORCHVISION_COUNTS[depth]
    assert count_params(getattr(resnet, f"resnet{depth}")()) == TORCHVISION_COUNTS[depth]


@pytest.mark.parametrize("depth", sorted(TORCHVISION_COUNTS))
def test_torchvision_weights_give_the_same_outputs(depth):
    """On 64x64 images (the same layers as at 224x224, on maps of 16 down to 2 pixels: a twelfth of the
    arithmetic), torchvision's weights give the same outputs in our network."""
    gen = torch.Generator().manual_seed(depth)
    theirs = randomise(getattr(torchvision.models, f"resnet{depth}")(), torch.randn(4, 3, 64, 64, generator=gen))
    ours = resnet.resnet(depth).eval()
    ours.load_state_dict(resnet.from_torchvision_state_dict(theirs.state_dict()))  # strict: every key used
    theirs.eval()
    x = torch.randn(2, 3, 64, 64, generator=gen)  # not the batch the statistics came from
    with torch.no_grad():
        expected = theirs(x)
        assert expected.std() > 1e-3  # a real signal, not zeros
        assert_close(ours(x), expected, rtol=1e-4, atol=1e-4, msg=f"ResNet-{depth} vs torchvision")


def test_state_dict_mapping_names():
    mapping = resnet.from_torchvision_state_dict({
        "conv1.weight": 1, "bn1.running_mean": 2, "layer1.0.conv1.weight": 3, "layer1.0.bn1.bias": 4,
        "layer3.5.bn3.weight": 5, "layer2.0.downsample.0.weight": 6, "layer4.0.downsample.1.running_var": 7,
        "fc.bias": 8,
    })
    assert list(mapping) == [
        "stem.conv.weight", "stem.bn.running_mean", "stages.0.0.conv1.weight", "stages.0.0.bn1.bias",
        "stages.2.5.bn3.weight", "stages.1.0.shortcut.conv.weight", "stages.3.0.shortcut.bn.running_var",
        "fc.bias",
    ]
    assert list(mapping.values()) == list(range(1, 9))
    with pytest.raises(ValueError, match="features.0.weight"):
        resnet.from_torchvision_state_dict({"features.0.weight": 0})


@pytest.mark.parametrize("depth", sorted(TABLE_1_GMACS))
def test_multiply_adds_match_table_1_with_the_papers_stride(depth):
    with torch.device("meta"):  # counting needs shapes only
        model = resnet.resnet(depth, stride_in_1x1=True)
    gmacs = count_macs(model, (1, 3, 224, 224)) / 1e9
    assert abs(gmacs - TABLE_1_GMACS[depth]) < 0.07, f"ResNet-{depth}: {gmacs:.3f} G vs {TABLE_1_GMACS[depth]} G"


def test_stride_in_1x1_moves_only_the_stride():
    # Same weights either way; the 3x3 runs on the halved map instead of the full one.
    v1, v15 = resnet.Bottleneck(256, 128, 512, 2, stride_in_1x1=True), resnet.Bottleneck(256, 128, 512, 2)
    assert count_params(v1) == count_params(v15)
    side = 28
    common = (side // 2) ** 2 * (128 * 512 + 256 * 512)  # last 1x1, projection
    assert count_macs(v1, (1, 256, side, side)) == (side // 2) ** 2 * (256 * 128 + 9 * 128 * 128) + common
    assert count_macs(v15, (1, 256, side, side)) == side ** 2 * 256 * 128 + (side // 2) ** 2 * 9 * 128 * 128 + common


@pytest.mark.parametrize("ours_cls,theirs_cls,args", [
    (resnet.BasicBlock, TorchvisionBasicBlock, (64, 64, 1)),
    (resnet.BasicBlock, TorchvisionBasicBlock, (64, 128, 2)),
    (resnet.Bottleneck, TorchvisionBottleneck, (256, 64, 256, 1)),
    (resnet.Bottleneck, TorchvisionBottleneck, (256, 128, 512, 2)),
])
@pytest.mark.parametrize("train", [False, True])
def test_blocks_equal_torchvisions(ours_cls, theirs_cls, args, train):
    in_c, out_c, stride = args[0], args[-2], args[-1]
    downsample = None
    if stride != 1 or in_c != out_c:
        downsample = nn.Sequential(nn.Conv2d(in_c, out_c, 1, stride=stride, bias=False), nn.BatchNorm2d(out_c))
    planes = out_c if ours_cls is resnet.BasicBlock else args[1]
    x = torch.randn(4, in_c, 12, 12)
    theirs = randomise(theirs_cls(in_c, planes, stride, downsample), x)
    ours = ours_cls(*args)
    ours.load_state_dict({k.replace("downsample.0", "shortcut.conv").replace("downsample.1", "shortcut.bn"): v
                          for k, v in theirs.state_dict().items()})
    ours.train(train), theirs.train(train)
    x = torch.randn(4, in_c, 12, 12)  # a new batch
    assert_close(ours(x), theirs(x), rtol=1e-4, atol=1e-5, msg=f"{ours_cls.__name__}{args}")


def test_basic_block_by_hand():
    """relu(bn2(conv2(relu(bn1(conv1 x)))) + x) written with torch.nn.functional; plain without + x."""
    for plain in (False, True):
        block = randomise(resnet.BasicBlock(8, 8, plain=plain), torch.randn(4, 8, 6, 6), seed=3).eval()
        x = torch.randn(2, 8, 6, 6)

        def bn(t, norm):
            return F.batch_norm(t, norm.running_mean, norm.running_var, norm.weight, norm.bias, eps=norm.eps)

        out = F.relu(bn(F.conv2d(x, block.conv1.weight, padding=1), block.bn1))
        out = bn(F.conv2d(out, block.conv2.weight, padding=1), block.bn2)
        expected = F.relu(out if plain else out + x)
        with torch.no_grad():
            assert_close(block(x), expected, rtol=1e-5, atol=1e-5, msg=f"plain={plain}")


@pytest.mark.parametrize("size,sides", [(28, [28, 14, 7, 4]), (32, [32, 16, 8, 4]), (224, [56, 28, 14, 7])])
def test_stem_follows_the_input_size(size, sides):
    model = resnet.resnet18(1, 10, input_size=size, width=0.25)
    seen = []
    for stage in model.stages:
        stage.register_forward_hook(lambda m, args, out: seen.append(tuple(out.shape[1:])))
    assert model(torch.randn(2, 1, size, size)).shape == (2, 10)
    assert seen == [(c, s, s) for c, s in zip([16, 32, 64, 128], sides)]
    assert (model.stem.conv.kernel_size == (3, 3)) == (size < 64)


def test_plain_imagenet_network_has_no_shortcuts():
    plain = resnet.resnet34(plain=True)
    projections = sum(count_params(m) for m in plain.modules() if isinstance(m, resnet.ProjectionShortcut))
    assert projections == 0
    with_shortcuts = resnet.resnet34()
    # option B's three projections: 1x1 conv + batch norm into 128, 256, 512 channels
    extra = sum(c_in * c + 2 * c for c_in, c in [(64, 128), (128, 256), (256, 512)])
    assert count_params(with_shortcuts) - count_params(plain) == extra
    assert all(block.shortcut is None for stage in plain.stages for block in stage)


# ------------------------------------------------------------ CIFAR


@pytest.mark.parametrize("depth", sorted(TABLE_6))
def test_cifar_counts_match_hand_count_and_table_6(depth):
    model = resnet.resnet_cifar(depth)
    count = count_params(model)
    assert count == cifar_hand_count(depth)
    digits = 1 if depth == 110 else 2
    assert f"{round(count / 1e6, digits)}M" == TABLE_6[depth]
    # plain networks have the same parameters: option A's shortcuts have none
    assert count_params(resnet.resnet_cifar(depth, plain=True)) == count


def test_resnet20_has_269722_parameters():
    assert count_params(resnet.resnet_cifar(20)) == 269_722


@pytest.mark.parametrize("option", ["B", "C"])
@pytest.mark.parametrize("depth", [20, 56])
def test_cifar_projection_options_match_hand_count(option, depth):
    assert count_params(resnet.resnet_cifar(depth, shortcut=option)) == cifar_hand_count(depth, option=option)


def test_cifar_layout_is_the_papers():
    model = resnet.resnet_cifar(32, num_classes=100)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert len(convs) + len(linears) == 32  # 6n + 2 weight layers, n = 5
    assert all(c.kernel_size == (3, 3) for c in convs)
    seen = []
    for stage in model.stages:
        stage.register_forward_hook(lambda m, args, out: seen.append(tuple(out.shape[1:])))
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 100)
    assert seen == [(16, 32, 32), (32, 16, 16), (64, 8, 8)]


def test_option_a_shortcut_subsamples_and_pads_with_zeros():
    shortcut = resnet.ZeroPadShortcut(16, 32, stride=2)
    x = torch.randn(2, 16, 8, 8)
    out = shortcut(x)
    assert out.shape == (2, 32, 4, 4)
    for i in range(4):
        for j in range(4):
            assert torch.equal(out[:, :16, i, j], x[:, :, 2 * i, 2 * j])
    assert torch.count_nonzero(out[:, 16:]) == 0
    # works on odd sides like a stride-2 3x3 convolution with padding 1: 7 -> 4
    assert shortcut(torch.randn(1, 16, 7, 7)).shape == (1, 32, 4, 4)
    assert count_params(shortcut) == 0


def test_shortcut_choice_per_option():
    kinds = {option: [type(resnet.make_shortcut(option, c_in, c, s)).__name__
                      for c_in, c, s in [(16, 16, 1), (16, 32, 2)]] for option in "ABC"}
    assert kinds == {
        "A": ["Identity", "ZeroPadShortcut"],
        "B": ["Identity", "ProjectionShortcut"],
        "C": ["ProjectionShortcut", "ProjectionShortcut"],
    }


def test_residual_block_output_is_relu_of_response_plus_shortcut():
    model = randomise(resnet.resnet_cifar(20), torch.randn(8, 3, 32, 32), seed=5).eval()
    block = model.stages[1][0]  # 16 -> 32 channels, stride 2: the zero-padding shortcut
    x = torch.randn(2, 16, 32, 32)
    with torch.no_grad():
        response = block.bn2(block.conv2(block.relu1(block.bn1(block.conv1(x)))))
        expected = F.relu(response + F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, 0, 16)))
        assert_close(block(x), expected, msg="option A block")


# ----------------------------------------------- responses (Figure 7)


@pytest.mark.parametrize("plain", [False, True])
@pytest.mark.parametrize("depth", [20, 32])
def test_cifar_response_layers(depth, plain):
    model = resnet.resnet_cifar(depth, plain=plain)
    layers = model.response_layers()
    n = (depth - 2) // 6
    assert len(layers) == 6 * n + 1  # every 3x3 layer: the stem and two per block
    names = [name for name, _ in layers]
    assert names[:4] == ["stem.bn", "stages.0.0.bn1", "stages.0.0.bn2", "stages.0.1.bn1"]
    assert names[-1] == f"stages.2.{n - 1}.bn2"
    modules = dict(model.named_modules())
    assert all(modules[name] is module and isinstance(module, nn.BatchNorm2d) for name, module in layers)
    # each follows a 3x3 convolution: its conv has as many output channels as it has features
    assert all(modules[name.replace("bn", "conv")].kernel_size == (3, 3) for name in names)


def test_imagenet_response_layers_are_the_3x3_ones():
    assert len(resnet.resnet18().response_layers()) == 16  # 8 blocks x 2; the stem is 7x7
    layers = resnet.resnet50().response_layers()
    assert len(layers) == 16 and all(name.endswith("bn2") for name, _ in layers)  # one 3x3 per bottleneck


@pytest.mark.parametrize("plain", [False, True])
def test_layer_responses_are_after_bn_and_before_relu_and_addition(plain):
    model = randomise(resnet.resnet_cifar(20, plain=plain), torch.randn(8, 3, 32, 32), seed=7).eval()
    x = torch.randn(3, 3, 32, 32)
    responses = resnet.layer_responses(model, x)
    assert list(responses) == [name for name, _ in model.response_layers()]
    # recompute three of them by hand from the block's input
    with torch.no_grad():
        stem_out = model.stem(x)
        assert_close(responses["stem.bn"], model.stem.bn(model.stem.conv(x)))
        block = model.stages[0][0]
        first = block.bn1(block.conv1(stem_out))
        assert_close(responses["stages.0.0.bn1"], first)
        assert_close(responses["stages.0.0.bn2"], block.bn2(block.conv2(F.relu(first))))
    # before the ReLU: negative values survive (an in-place ReLU would have zeroed them)
    assert all((r < 0).any() for r in responses.values())
    # no hooks are left behind
    assert all(not m._forward_hooks for _, m in model.response_layers())


# ----------------------------------------------------- bad inputs


def test_any_input_size_goes_through_the_global_pool():
    model = resnet.resnet_cifar(8)
    for side in (16, 28, 32, 40):
        assert model(torch.randn(2, 3, side, side)).shape == (2, 10)
    assert resnet.resnet18(num_classes=7)(torch.randn(1, 3, 96, 128)).shape == (1, 7)


def test_bad_inputs_raise_helpful_errors():
    model = resnet.resnet_cifar(8)
    with pytest.raises(ValueError, match="ResNet.*unsqueeze"):
        model(torch.randn(3, 32, 32))
    with pytest.raises(ValueError, match="in_channels=1"):
        model(torch.randn(2, 1, 32, 32))
    for depth in (21, 2, 0, 20.0):
        with pytest.raises(ValueError, match="6n\\+2"):
            resnet.resnet_cifar(depth)
    with pytest.raises(ValueError, match="choose one of"):
        resnet.resnet(20)
    with pytest.raises(ValueError, match="shortcut"):
        resnet.resnet_cifar(20, shortcut="D")
    with pytest.raises(ValueError, match="width"):
        resnet.resnet18(width=0)
    with pytest.raises(ValueError, match="width"):
        resnet.resnet_cifar(20, width=-1)
    with pytest.raises(ValueError, match="BasicBlock expects"):
        resnet.BasicBlock(16, 16)(torch.randn(1, 8, 4, 4))
    with pytest.raises(ValueError, match="cannot reduce"):
        resnet.ZeroPadShortcut(32, 16, 2)
    with pytest.raises(ValueError, match="layers"):
        resnet.ResNet(resnet.ResNetConfig(layers=(2, 2), widths=(16, 32, 64)))
