"""The course's Transformer against PyTorch's: layer norm, layers, stacks, parameter counts,
incremental decoding, the learning-rate schedule. Float64, dropout off."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course_utils.attention import sinusoidal_positional_encoding
from course_utils.data.text import SourceTarget
from course_utils.models import transformer as tr
from course_utils.train import default_forward

D, H, FF = 16, 4, 24
# Float64 against float64: the same arithmetic in another order agrees to about 1e-15, so 1e-12 leaves
# room for the order and none for a float32 step inside (which costs about 1e-8; see issue 20).
F64 = dict(rtol=1e-12, atol=1e-12)


def count(module):
    return sum(p.numel() for p in module.parameters())


def padding(lengths, width):
    return torch.arange(width)[None, :] < torch.tensor(lengths)[:, None]  # (B, S): True = real token


# ---------------------------------------------------------------------------
# Layer normalisation
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(4, 16), (2, 5, 16), (3, 2, 2, 16)])
def test_layer_norm_equals_nn_layer_norm(shape):
    torch.manual_seed(0)
    x = torch.randn(*shape, dtype=torch.float64) * 3 + 1
    ref = nn.LayerNorm(16, eps=1e-5).double()
    nn.init.normal_(ref.weight)
    nn.init.normal_(ref.bias)
    mine = tr.LayerNorm(16, eps=1e-5).double()
    mine.load_state_dict(ref.state_dict())
    torch.testing.assert_close(mine(x), ref(x), **F64)
    x.requires_grad_(True)
    torch.testing.assert_close(torch.autograd.grad(mine(x).pow(3).sum(), x)[0],
                               torch.autograd.grad(ref(x).pow(3).sum(), x)[0], **F64)


def test_layer_norm_is_per_example_and_batch_norm_is_not():
    torch.manual_seed(1)
    x = torch.randn(8, 16, dtype=torch.float64)
    other = x.clone()
    other[1:] = torch.randn(7, 16, dtype=torch.float64) * 5  # change every example but the first
    norm = tr.LayerNorm(16).double()
    torch.testing.assert_close(norm(x)[0], norm(other)[0], **F64)  # the first example does not notice
    batch_norm = nn.BatchNorm1d(16).double().train()
    assert not torch.allclose(batch_norm(x)[0], batch_norm(other)[0])  # batch norm does


def test_layer_norm_rejects_a_wrong_feature_size():
    with pytest.raises(ValueError, match=r"expected \(\.\.\., 16\)"):
        tr.LayerNorm(16)(torch.randn(2, 8))
    with pytest.raises(ValueError, match="positive int"):
        tr.LayerNorm((4, 4))


# ---------------------------------------------------------------------------
# Layers and stacks against PyTorch
# ---------------------------------------------------------------------------


def randomise(module):
    """Non-trivial values everywhere (PyTorch zero-initialises biases and sets norms to 1)."""
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn_like(p) * 0.3 + (1.0 if p.ndim == 1 and p.shape[0] == D else 0.0))
    return module


@pytest.mark.parametrize("norm_first", [False, True])
def test_encoder_layer_equals_pytorch(norm_first):
    torch.manual_seed(2)
    ref = randomise(nn.TransformerEncoderLayer(D, H, FF, dropout=0.0, batch_first=True, norm_first=norm_first)
                    .double().eval())
    mine = tr.EncoderLayer(D, H, FF, dropout=0.0, norm_first=norm_first).double().eval()
    mine.load_state_dict(ref.state_dict())  # the same names: the state dict moves as it is
    x = torch.randn(3, 6, D, dtype=torch.float64)
    key_mask = padding([6, 4, 1], 6)
    expected = ref(x, src_key_padding_mask=~key_mask)  # PyTorch: True = ignore
    out, weights = mine(x, key_mask, need_weights=True)
    torch.testing.assert_close(out, expected, **F64)
    assert weights.shape == (3, H, 6, 6) and (weights[1, :, :, 4:] == 0).all()
    # The other normalisation order gives another function: the check can fail.
    swapped = tr.EncoderLayer(D, H, FF, dropout=0.0, norm_first=not norm_first).double().eval()
    swapped.load_state_dict(ref.state_dict())
    assert not torch.allclose(swapped(x, key_mask)[0], expected)


@pytest.mark.parametrize("norm_first", [False, True])
def test_decoder_layer_equals_pytorch(norm_first):
    torch.manual_seed(3)
    ref = randomise(nn.TransformerDecoderLayer(D, H, FF, dropout=0.0, batch_first=True, norm_first=norm_first)
                    .double().eval())
    mine = tr.DecoderLayer(D, H, FF, dropout=0.0, norm_first=norm_first).double().eval()
    mine.load_state_dict(ref.state_dict())
    y, memory = torch.randn(3, 5, D, dtype=torch.float64), torch.randn(3, 7, D, dtype=torch.float64)
    key_mask = padding([7, 3, 5], 7)
    causal = nn.Transformer.generate_square_subsequent_mask(5, dtype=torch.float64)  # float: -inf above the diagonal
    expected = ref(y, memory, tgt_mask=causal, memory_key_padding_mask=~key_mask)
    out, weights = mine(y, memory, key_mask, need_weights=True)
    torch.testing.assert_close(out, expected, **F64)
    assert weights.shape == (3, H, 5, 7) and (weights[1, :, :, 3:] == 0).all()
    # Without the causal mask position 0 would see the future: PyTorch's layer says so.
    assert not torch.allclose(ref(y, memory, memory_key_padding_mask=~key_mask), expected)


@pytest.mark.filterwarnings("ignore:enable_nested_tensor is True")  # PyTorch's note about its fast path
@pytest.mark.parametrize("norm_first", [False, True])
def test_encoder_decoder_stacks_equal_nn_transformer(norm_first):
    torch.manual_seed(4)
    ref = randomise(nn.Transformer(D, H, 2, 3, FF, dropout=0.0, batch_first=True, norm_first=norm_first)
                    .double().eval())
    model = tr.transformer(11, 13, d_model=D, nhead=H, num_encoder_layers=2, num_decoder_layers=3,
                           dim_feedforward=FF, dropout=0.0, norm_first=norm_first).double().eval()
    missing = model.load_state_dict(ref.state_dict(), strict=False)
    assert not missing.unexpected_keys  # every weight of nn.Transformer has its place
    assert sorted(missing.missing_keys) == ["out_proj.weight", "src_embed.weight", "tgt_embed.weight"]
    src_x, tgt_x = torch.randn(2, 6, D, dtype=torch.float64), torch.randn(2, 4, D, dtype=torch.float64)
    key_mask = padding([6, 2], 6)
    expected = ref(src_x, tgt_x, tgt_mask=nn.Transformer.generate_square_subsequent_mask(4, dtype=torch.float64),
                   src_key_padding_mask=~key_mask, memory_key_padding_mask=~key_mask)
    memory, _ = model.encoder(src_x, key_mask)
    out, _ = model.decoder(tgt_x, memory, key_mask)
    torch.testing.assert_close(out, expected, **F64)


def test_full_model_embeds_scales_adds_positions_and_projects():
    """The whole forward pass, rebuilt from nn.Transformer and the paper's formulas."""
    torch.manual_seed(5)
    model = tr.transformer(11, 13, d_model=D, nhead=H, dim_feedforward=FF, dropout=0.0,
                           tie_embeddings=True).double().eval()
    ref = nn.Transformer(D, H, 2, 2, FF, dropout=0.0, batch_first=True).double().eval()
    ref.load_state_dict({k: v for k, v in model.state_dict().items() if k.startswith(("encoder.", "decoder."))})
    src = torch.tensor([[4, 5, 6, 2], [7, 2, 0, 0]])
    tgt_in = torch.tensor([[1, 8, 9], [1, 10, 0]])
    pe = sinusoidal_positional_encoding(8, D, dtype=torch.float64)
    src_x = model.src_embed.weight[src] * math.sqrt(D) + pe[:4]
    tgt_x = model.tgt_embed.weight[tgt_in] * math.sqrt(D) + pe[:3]
    h = ref(src_x, tgt_x, tgt_mask=nn.Transformer.generate_square_subsequent_mask(3, dtype=torch.float64),
            src_key_padding_mask=src == 0, memory_key_padding_mask=src == 0)
    expected = h @ model.tgt_embed.weight.T  # tied: the output layer is the target embedding
    torch.testing.assert_close(model(src, tgt_in), expected, **F64)
    torch.testing.assert_close(default_forward(model, SourceTarget(src, tgt_in)), expected, **F64)  # what fit calls


@pytest.mark.parametrize("sizes", [(16, 4, 2, 2, 24), (32, 8, 1, 3, 64), (24, 2, 3, 1, 8)])
@pytest.mark.parametrize("tie", [True, False])
def test_parameter_count_equals_nn_transformer_plus_embeddings(sizes, tie):
    d, h, n_enc, n_dec, ff = sizes
    model = tr.transformer(50, 70, d_model=d, nhead=h, num_encoder_layers=n_enc, num_decoder_layers=n_dec,
                           dim_feedforward=ff, tie_embeddings=tie)
    reference = nn.Transformer(d, h, n_enc, n_dec, ff, batch_first=True)
    embeddings = 50 * d + 70 * d + (0 if tie else 70 * d)  # source, target, untied output layer (no bias)
    assert count(model) == count(reference) + embeddings


def test_tied_output_layer_shares_the_target_embedding():
    model = tr.transformer(10, 12, d_model=D, nhead=H, dim_feedforward=FF)
    assert model.out_proj.weight is model.tgt_embed.weight
    assert tr.transformer(10, 12, d_model=D, nhead=H, tie_embeddings=False).out_proj.weight.shape == (12, D)


# ---------------------------------------------------------------------------
# Incremental decoding
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("norm_first", [False, True])
def test_cached_steps_equal_the_full_forward_pass(norm_first):
    torch.manual_seed(6)
    model = tr.transformer(20, 30, d_model=D, nhead=H, dim_feedforward=FF, norm_first=norm_first).double().eval()
    src = torch.tensor([[4, 5, 6, 7, 2], [8, 9, 2, 0, 0], [5, 2, 0, 0, 0]])
    tgt_in = torch.randint(4, 30, (3, 6))
    tgt_in[:, 0] = 1
    full = model(src, tgt_in)  # (B, T, V): every position at once
    state = model.start(src)
    steps = [model.step(state, tgt_in[:, t]) for t in range(6)]  # one position at a time, cached
    torch.testing.assert_close(torch.stack(steps, dim=1), full, **F64)
    # Reordering the state is reordering the rows.
    state = model.reorder(model.start(src), torch.tensor([2, 0, 0]))
    first = model.step(state, tgt_in[[2, 0, 0], 0])
    torch.testing.assert_close(first, full[[2, 0, 0], 0], **F64)


def test_attention_maps_shapes_and_padding():
    model = tr.transformer(20, 30, d_model=D, nhead=H, dim_feedforward=FF).train()
    src = torch.tensor([[4, 5, 6, 2], [8, 2, 0, 0]])
    maps = model.attention_maps(src, torch.tensor([[1, 5, 6], [1, 7, 8]]))
    assert model.training  # restored
    assert [m.shape for m in maps["encoder"]] == [(2, 4, 4)] * 2
    assert [m.shape for m in maps["cross"]] == [(2, 3, 4)] * 2
    for m in maps["encoder"] + maps["cross"]:
        torch.testing.assert_close(m.sum(-1), torch.ones(m.shape[:-1]))
        assert (m[1, :, 2:] == 0).all()  # nobody attends to padding
    per_head = model.attention_maps(src, torch.tensor([[1, 5, 6], [1, 7, 8]]), average_heads=False)
    assert per_head["cross"][0].shape == (2, H, 3, 4)
    torch.testing.assert_close(per_head["cross"][1].mean(1), maps["cross"][1])


def test_bad_ids_are_refused_with_a_clear_message():
    model = tr.transformer(10, 12, d_model=D, nhead=H)
    with pytest.raises(ValueError, match="outside"):
        model(torch.tensor([[3, 10]]), torch.tensor([[1, 2]]))
    with pytest.raises(ValueError, match="int64"):
        model(torch.tensor([[3.0, 4.0]]), torch.tensor([[1, 2]]))
    with pytest.raises(ValueError, match="divisible"):
        tr.transformer(10, 12, d_model=10, nhead=4)


# ---------------------------------------------------------------------------
# The learning-rate schedule
# ---------------------------------------------------------------------------


def test_warmup_schedule_is_the_papers_formula():
    d, warmup = 512, 4000
    for step in [1, 10, 3999, 4000, 4001, 100_000]:
        expected = d ** -0.5 * min(step ** -0.5, step * warmup ** -1.5)  # Vaswani et al. (2017), eq. 3
        assert tr.warmup_inverse_sqrt(step, d, warmup) == pytest.approx(expected)
    peak = tr.warmup_inverse_sqrt(warmup, d, warmup)
    assert peak == pytest.approx(1 / math.sqrt(d * warmup))
    assert tr.warmup_inverse_sqrt(warmup - 1, d, warmup) < peak > tr.warmup_inverse_sqrt(warmup + 1, d, warmup)


def test_warmup_scheduler_drives_the_optimizer():
    param = nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.Adam([param], lr=1.0)
    scheduler = tr.warmup_scheduler(optimizer, 64, 10, scale=2.0)
    seen = []
    for _ in range(30):
        seen.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert seen == pytest.approx([tr.warmup_inverse_sqrt(i + 1, 64, 10, 2.0) for i in range(30)])
    assert scheduler.state_dict()["lr_lambdas"] == [{"d_model": 64, "warmup_steps": 10, "scale": 2.0}]
    with pytest.raises(ValueError, match="positive"):
        tr.warmup_scheduler(optimizer, 64, 0)


def test_label_smoothing_loss_ignores_padding():
    """The loss the notebook uses: F.cross_entropy(..., ignore_index=pad, label_smoothing=eps)
    is the smoothed cross-entropy averaged over the real tokens only."""
    torch.manual_seed(7)
    logits, targets = torch.randn(2, 3, 5, dtype=torch.float64), torch.tensor([[1, 2, 0], [3, 0, 0]])
    eps = 0.1
    log_p = F.log_softmax(logits, -1)
    smoothed = (1 - eps) * F.one_hot(targets, 5) + eps / 5  # (B, T, V)
    per_token = -(smoothed * log_p).sum(-1)
    expected = per_token[targets != 0].mean()
    got = F.cross_entropy(logits.reshape(-1, 5), targets.reshape(-1), ignore_index=0, label_smoothing=eps)
    torch.testing.assert_close(got, expected)  # PyTorch's kernel agrees to about 5e-8 here, even in float64
