"""The course's Vision Transformer against torchvision's, formulas and its own error messages.

Numeric parity uses small configurations (the same key mapping as the full
models); the full ViT-B/16, B/32 and L/16 are checked on the meta device
(parameter counts, and that torchvision's state dict maps onto ours key for
key and shape for shape), which costs no memory and no arithmetic.
"""

import math

import pytest
import torch
import torch.nn.functional as F
import torchvision
from torch import nn
from torchvision.models.vision_transformer import VisionTransformer as TorchvisionViT
from torchvision.models.vision_transformer import interpolate_embeddings

from course_utils.attention import sinusoidal_positional_encoding
from course_utils.models import transformer as tr
from course_utils.models import vit

TORCHVISION_COUNTS = {"vit_b_16": 86_567_656, "vit_b_32": 88_224_232, "vit_l_16": 304_326_632,
                      "vit_l_32": 306_535_400, "vit_h_14": 632_045_800}


def randomise(module, seed=0):
    """Every parameter random (torchvision zeroes the head and the class token: a zero head
    would make any two models agree)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=p.dtype) * 0.2)
    return module


def small_torchvision(dtype=torch.float32, image_size=32, patch_size=8, **kwargs):
    sizes = dict(num_layers=3, num_heads=4, hidden_dim=32, mlp_dim=48, num_classes=7) | kwargs
    torch.manual_seed(0)
    return randomise(TorchvisionViT(image_size, patch_size, **sizes)).to(dtype).eval()


# ---------------------------------------------------------------------------
# Patches
# ---------------------------------------------------------------------------


def test_patchify_is_row_major_and_channel_by_channel():
    x = torch.arange(2 * 3 * 8 * 12, dtype=torch.float64).reshape(2, 3, 8, 12)
    patches = vit.patchify(x, 4)  # 2 x 3 grid
    assert patches.shape == (2, 6, 3 * 16)
    for b in range(2):
        for row in range(2):
            for col in range(3):
                expected = x[b, :, 4 * row:4 * row + 4, 4 * col:4 * col + 4].reshape(-1)  # (C, P, P) flattened
                assert torch.equal(patches[b, row * 3 + col], expected)


def test_patch_embedding_equals_patchify_and_one_linear_map():
    torch.manual_seed(1)
    embed = vit.PatchEmbedding(3, 4, 10).double()
    x = torch.randn(2, 3, 16, 12, dtype=torch.float64)
    weight = embed.proj.weight.reshape(10, -1)  # (D, C * P * P)
    expected = F.linear(vit.patchify(x, 4), weight, embed.proj.bias)  # (B, N, D)
    torch.testing.assert_close(embed(x), expected, rtol=1e-12, atol=1e-12)


def test_patchify_rejects_sizes_that_do_not_split():
    with pytest.raises(ValueError, match=r"30x32 pixels.*4x4 patches.*28x32"):
        vit.patchify(torch.zeros(1, 3, 30, 32), 4)


# ---------------------------------------------------------------------------
# Parameter counts and torchvision's weights
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(TORCHVISION_COUNTS))
def test_parameter_counts_equal_torchvision(name):
    with torch.device("meta"):
        ours, theirs = getattr(vit, name)(), getattr(torchvision.models, name)()
    count = sum(p.numel() for p in ours.parameters())
    assert count == sum(p.numel() for p in theirs.parameters()) == TORCHVISION_COUNTS[name]


@pytest.mark.parametrize("name", ["vit_b_16", "vit_b_32", "vit_l_16"])
def test_full_size_state_dicts_map_key_for_key(name):
    with torch.device("meta"):
        ours, theirs = getattr(vit, name)(), getattr(torchvision.models, name)()
    mapped = vit.from_torchvision_state_dict(theirs.state_dict())
    expected = ours.state_dict()
    assert sorted(mapped) == sorted(expected)
    assert all(mapped[k].shape == expected[k].shape for k in expected)
    config = vit.config_of_torchvision(theirs)
    assert config == ours.config


@pytest.mark.parametrize("dtype,tol", [(torch.float32, 1e-5), (torch.float64, 1e-10)])
def test_outputs_equal_torchvision_with_its_weights(dtype, tol):
    theirs = small_torchvision(dtype)
    ours = vit.from_torchvision(theirs).eval()
    assert ours.config == vit.ViTConfig(image_size=32, patch_size=8, num_layers=3, num_heads=4, hidden_dim=32,
                                        mlp_dim=48, num_classes=7)
    x = torch.randn(3, 3, 32, 32, dtype=dtype, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x), rtol=tol, atol=tol)


def test_weights_load_through_the_state_dict_of_a_factory_model():
    theirs = small_torchvision(image_size=48, patch_size=16, num_layers=2, hidden_dim=24, mlp_dim=40, num_heads=3)
    ours = vit.vision_transformer(image_size=48, patch_size=16, num_layers=2, hidden_dim=24, mlp_dim=40,
                                  num_heads=3, num_classes=7).eval()
    ours.load_state_dict(vit.from_torchvision_state_dict(theirs.state_dict()))
    x = torch.randn(2, 3, 48, 48)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x), rtol=1e-5, atol=1e-5)


def test_legacy_mlp_names_and_unknown_keys():
    theirs = small_torchvision()
    state = theirs.state_dict()
    legacy = {k.replace("mlp.0.", "mlp.linear_1.").replace("mlp.3.", "mlp.linear_2."): v for k, v in state.items()}
    assert vit.from_torchvision_state_dict(legacy).keys() == vit.from_torchvision_state_dict(state).keys()
    with pytest.raises(ValueError, match="not a key of a torchvision VisionTransformer"):
        vit.from_torchvision_state_dict({"encoder.something.weight": torch.zeros(1)})
    with pytest.raises(ValueError, match="pre-logits"):
        vit.from_torchvision_state_dict({"heads.pre_logits.weight": torch.zeros(1)})


def test_initialisation_is_torchvisions():
    torch.manual_seed(3)
    model = vit.vit_cifar()
    assert torch.count_nonzero(model.head.weight) == 0 and torch.count_nonzero(model.class_token) == 0
    assert abs(model.pos_embedding.std().item() - 0.02) < 0.002
    std = model.patch_embed.proj.weight.std().item()
    assert abs(std - math.sqrt(1 / 48)) < 0.01  # truncated at +-2, far out at this std
    assert model.encoder.layers[0].linear1.bias.abs().max() < 1e-4


# ---------------------------------------------------------------------------
# The encoder: pre-LN with a GELU MLP is notebook 13's layer with activation="gelu"
# ---------------------------------------------------------------------------


def test_gelu_encoder_layer_equals_pytorchs():
    torch.manual_seed(4)
    ours = tr.EncoderLayer(16, 4, 24, dropout=0.0, norm_first=True, activation="gelu").double().eval()
    theirs = nn.TransformerEncoderLayer(16, 4, 24, dropout=0.0, activation="gelu", batch_first=True,
                                        norm_first=True).double().eval()
    theirs.load_state_dict(randomise(ours).state_dict())
    x = torch.randn(2, 5, 16, dtype=torch.float64)
    torch.testing.assert_close(ours(x)[0], theirs(x), rtol=1e-10, atol=1e-12)
    with pytest.raises(ValueError, match="activation must be one of"):
        tr.EncoderLayer(16, 4, 24, activation="swish")


def test_model_is_built_from_the_course_encoder():
    model = vit.vit_cifar()
    assert isinstance(model.encoder, tr.Encoder)
    assert all(layer.norm_first and layer.activation is F.gelu for layer in model.encoder.layers)


# ---------------------------------------------------------------------------
# Pooling and position embeddings
# ---------------------------------------------------------------------------


def test_gap_head_reads_the_mean_of_the_patch_tokens():
    torch.manual_seed(5)
    model = randomise(vit.vit_cifar(pool="gap", num_layers=1)).eval()
    assert model.class_token is None and model.pos_embedding.shape == (1, 64, 96)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        tokens, _ = model.encoder(model.tokens(x))
        assert tokens.shape == (2, 64, 96)
        torch.testing.assert_close(model(x), model.head(tokens.mean(1)))
        torch.testing.assert_close(model.features(x), tokens.mean(1))


def test_sincos_table_is_row_then_column_encoding():
    table = vit.sincos_2d_position_embedding((3, 5), 8)  # (15, 8)
    one_d = sinusoidal_positional_encoding(5, 4)
    for row in range(3):
        for col in range(5):
            torch.testing.assert_close(table[row * 5 + col, :4], one_d[row])
            torch.testing.assert_close(table[row * 5 + col, 4:], one_d[col])
    # an independent formula for one entry: column 2's first cosine at frequency 10000^(-2/4)
    assert abs(table[7, 7].item() - math.cos(2 * 10000 ** (-2 / 4))) < 1e-6
    with pytest.raises(ValueError, match="multiple of 4"):
        vit.sincos_2d_position_embedding(4, 6)


def test_position_variants():
    x = torch.randn(2, 3, 32, 32)
    fixed = vit.vit_cifar(position="sincos")
    assert fixed.pos_embedding is None and "sincos_table" not in fixed.state_dict()
    assert torch.count_nonzero(fixed.sincos_table[0, 0]) == 0  # the class token has no position
    bag = randomise(vit.vit_cifar(position="none")).eval()
    assert bag.pos_embedding is None and bag.sincos_table is None
    # without positions the model cannot tell where a patch is: permuting the patches changes nothing
    order = torch.randperm(64, generator=torch.Generator().manual_seed(6))
    patches = vit.patchify(x, 4)[:, order]  # (B, 64, 48)
    shuffled = patches.reshape(2, 8, 8, 3, 4, 4).permute(0, 3, 1, 4, 2, 5).reshape(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(bag(shuffled), bag(x), rtol=1e-4, atol=1e-5)
        learned = randomise(vit.vit_cifar()).eval()
        assert (learned(shuffled) - learned(x)).abs().max() > 1e-3


def test_resize_equals_torchvisions_interpolation():
    theirs = small_torchvision()  # a 4x4 grid
    state = interpolate_embeddings(64, 8, theirs.state_dict())  # torchvision: bicubic, align_corners=True
    expected = state["encoder.pos_embedding"]
    got = vit.resize_position_embedding(theirs.encoder.pos_embedding.detach(), 8, align_corners=True)
    torch.testing.assert_close(got, expected, rtol=1e-6, atol=1e-6)


def test_resize_keeps_linear_embeddings_linear_and_the_class_token():
    # an embedding that is a linear function of (row, col) stays one under bilinear interpolation
    rows, cols = torch.meshgrid(torch.arange(4.0), torch.arange(4.0), indexing="ij")
    a, b = torch.randn(6, dtype=torch.float64), torch.randn(6, dtype=torch.float64)
    linear = (rows.reshape(-1, 1).double() * a + cols.reshape(-1, 1).double() * b)  # (16, 6)
    cls = torch.randn(1, 6, dtype=torch.float64)
    pos = torch.cat([cls, linear])[None]  # (1, 17, 6)
    out = vit.resize_position_embedding(pos, (7, 10), mode="bilinear", align_corners=True)
    assert out.shape == (1, 1 + 70, 6)
    assert torch.equal(out[0, 0], cls[0])
    new_rows, new_cols = torch.meshgrid(torch.linspace(0, 3, 7, dtype=torch.float64),
                                        torch.linspace(0, 3, 10, dtype=torch.float64), indexing="ij")
    expected = new_rows.reshape(-1, 1) * a + new_cols.reshape(-1, 1) * b
    torch.testing.assert_close(out[0, 1:], expected, rtol=1e-10, atol=1e-10)
    same = vit.resize_position_embedding(pos, 4)
    torch.testing.assert_close(same, pos, rtol=1e-12, atol=1e-12)


def test_model_resize_positions():
    torch.manual_seed(7)
    model = vit.vit_cifar()
    before = model.pos_embedding.detach().clone()
    model.resize_positions(48)
    assert model.config.image_size == 48 and model.pos_embedding.shape == (1, 1 + 144, 96)
    torch.testing.assert_close(model.pos_embedding, vit.resize_position_embedding(before, 12))
    assert model(torch.randn(2, 3, 48, 48)).shape == (2, 10)
    assert isinstance(model.pos_embedding, nn.Parameter) and model.pos_embedding.requires_grad
    fixed = vit.vit_cifar(position="sincos").resize_positions(64)
    torch.testing.assert_close(fixed.sincos_table, vit.vit_cifar(image_size=64, position="sincos").sincos_table)
    with pytest.raises(ValueError, match="image_size=50 is not divisible by patch_size=4"):
        vit.vit_cifar().resize_positions(50)


def test_resize_position_embedding_errors():
    with pytest.raises(ValueError, match="not a square grid"):
        vit.resize_position_embedding(torch.zeros(1, 1 + 12, 4), 4)
    with pytest.raises(ValueError, match="old_grid 3x3 has 9 patches"):
        vit.resize_position_embedding(torch.zeros(1, 1 + 12, 4), 4, old_grid=3)
    with pytest.raises(ValueError, match=r"\(1, tokens, hidden_dim\)"):
        vit.resize_position_embedding(torch.zeros(13, 4), 4)


# ---------------------------------------------------------------------------
# Bad input, and attention maps
# ---------------------------------------------------------------------------


def test_config_errors_name_what_is_wrong():
    with pytest.raises(ValueError, match=r"image_size=30 is not divisible by patch_size=4.*28 or 32"):
        vit.ViTConfig(image_size=30, patch_size=4)
    with pytest.raises(ValueError, match="hidden_dim=96 is not divisible by num_heads=5"):
        vit.vit_cifar(num_heads=5)
    with pytest.raises(ValueError, match="pool must be one of"):
        vit.vit_cifar(pool="max")
    with pytest.raises(ValueError, match="position must be one of"):
        vit.vit_cifar(position="rotary")


def test_input_errors_say_how_to_fix_them():
    model = vit.vit_cifar()
    with pytest.raises(ValueError, match=r"expects input of shape \(N, 3, H, W\), got \(2, 1, 32, 32\)"):
        model(torch.zeros(2, 1, 32, 32))
    with pytest.raises(ValueError, match="unsqueeze"):
        model(torch.zeros(3, 32, 32))
    with pytest.raises(ValueError, match=r"30x30 pixels.*4x4 patches.*patch_size=4"):
        model(torch.zeros(1, 3, 30, 30))
    with pytest.raises(ValueError, match=r"cover a 8x8 grid.*12x12 grid.*resize_positions\(48\)"):
        model(torch.zeros(1, 3, 48, 48))
    with pytest.raises(ValueError, match="square images"):
        model(torch.zeros(1, 3, 32, 48))
    bag = vit.vit_cifar(position="none")  # no positions: any grid will do
    assert bag(torch.zeros(1, 3, 48, 40)).shape == (1, 10)


def test_attention_maps():
    model = randomise(vit.vit_cifar(num_layers=2)).train()
    maps = model.attention_maps(torch.randn(2, 3, 32, 32))
    assert model.training, "attention_maps should restore the training mode"
    assert len(maps) == 2 and maps[0].shape == (2, 4, 65, 65)
    torch.testing.assert_close(maps[1].sum(-1), torch.ones(2, 4, 65))
