"""course_utils.attention against PyTorch (F.scaled_dot_product_attention,
nn.MultiheadAttention), the formulas of the papers, and explicit loops.

Each comparison is a function that returns an error; the reference passes it
and planted wrong implementations (the bugs a learner writes) fail it, so
every check is shown able to fail.
"""

import math
import random

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course_utils import attention
from course_utils.attention import (
    AdditiveAttention,
    KVCache,
    LearnedPositionalEncoding,
    MultiheadAttention,
    SinusoidalPositionalEncoding,
    additive_mask,
    causal_mask,
    masked_softmax,
    merge_heads,
    padding_mask,
    relative_position_map,
    scaled_dot_product_attention,
    sinusoidal_positional_encoding,
    split_heads,
    to_torch_mha_masks,
)
from course_utils.checks import assert_close

DT = torch.float64
# PyTorch warns when a boolean key_padding_mask meets a float attn_mask; the tests use both on purpose.
pytestmark = pytest.mark.filterwarnings("ignore:Support for mismatched key_padding_mask")
MASK_KINDS = ("none", "bool", "bool_2d", "key_padding", "float", "causal", "causal_and_padding", "fully_masked")


def _error(a, b):
    """Max absolute error; NaN anywhere counts as infinitely wrong."""
    if a.shape != b.shape:
        return math.inf
    diff = (a.detach() - b.detach()).abs()
    return math.inf if torch.isnan(diff).any() else float(diff.max()) if diff.numel() else 0.0


# ---------------------------------------------------------------------------
# Scaled dot-product attention vs F.scaled_dot_product_attention
# ---------------------------------------------------------------------------


def random_sdpa_configs(n, seed=0):
    """Random (q, k, v, mask for our function, mask for PyTorch's, is_causal, kind) in float64."""
    rng = random.Random(seed)
    gen = torch.Generator().manual_seed(seed)
    for i in range(n):
        kind = MASK_KINDS[i % len(MASK_KINDS)]
        b, h, t, s = rng.randint(1, 3), rng.randint(1, 4), rng.randint(1, 7), rng.randint(1, 7)
        d, dv = rng.randint(1, 16), rng.randint(1, 9)
        q = torch.randn(b, h, t, d, generator=gen, dtype=DT) * rng.choice([0.5, 1.0, 3.0])
        k = torch.randn(b, h, s, d, generator=gen, dtype=DT)
        v = torch.randn(b, h, s, dv, generator=gen, dtype=DT)
        mask, is_causal = None, False
        if kind == "bool":
            mask = torch.rand(b, h, t, s, generator=gen) < 0.7
        elif kind == "bool_2d":
            mask = torch.rand(t, s, generator=gen) < 0.6
        elif kind == "key_padding":
            lengths = torch.randint(1, s + 1, (b,), generator=gen)
            mask = padding_mask(lengths, s)[:, None, None, :]  # (B, 1, 1, S)
        elif kind == "float":
            mask = torch.randn(b, 1, t, s, generator=gen, dtype=DT)
            mask = mask.masked_fill(torch.rand(b, 1, t, s, generator=gen) < 0.3, float("-inf"))
        elif kind == "causal":
            is_causal = True
        elif kind == "causal_and_padding":
            lengths = torch.randint(1, s + 1, (b,), generator=gen)
            mask = padding_mask(lengths, s)[:, None, None, :] & causal_mask(t, s)  # (B, 1, T, S)
        elif kind == "fully_masked":
            mask = torch.rand(b, h, t, s, generator=gen) < 0.5
            mask[0, 0, 0] = False  # query 0 of the first head may look at nothing
            mask[-1, :, -1] = False
        yield q, k, v, mask, is_causal, kind


def sdpa_errors(fn, n=240, seed=0):
    """Max errors of ``fn``'s output (vs F.scaled_dot_product_attention) and weights (vs the same
    function with the identity as values, whose output *is* the weight matrix)."""
    worst_out = worst_w = 0.0
    kinds, fully_masked_rows = set(), 0
    for q, k, v, mask, is_causal, kind in random_sdpa_configs(n, seed):
        out, weights = fn(q, k, v, attn_mask=mask, is_causal=is_causal)
        expected = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=is_causal)
        eye = torch.eye(k.shape[-2], dtype=DT).expand(*k.shape[:-1], k.shape[-2])  # (B, H, S, S)
        expected_w = F.scaled_dot_product_attention(q, k, eye, attn_mask=mask, is_causal=is_causal)
        worst_out = max(worst_out, _error(out, expected))
        worst_w = max(worst_w, _error(weights, expected_w))
        kinds.add(kind)
        if mask is not None and mask.dtype == torch.bool:
            fully_masked_rows += int((~mask.expand(*q.shape[:-1], k.shape[-2])).all(-1).sum())
    return worst_out, worst_w, kinds, fully_masked_rows


def test_sdpa_equals_pytorch_over_random_configurations():
    worst_out, worst_w, kinds, fully_masked_rows = sdpa_errors(scaled_dot_product_attention, n=240)
    assert kinds == set(MASK_KINDS)
    assert fully_masked_rows >= 30, "the configurations should include queries with no key to attend to"
    assert worst_out < 1e-10, f"output differs from F.scaled_dot_product_attention by {worst_out:.3g}"
    assert worst_w < 1e-10, f"weights differ by {worst_w:.3g}"


def test_fully_masked_row_gives_zero_weights_output_and_gradient():
    gen = torch.Generator().manual_seed(1)
    q = torch.randn(1, 2, 3, 4, generator=gen, dtype=DT, requires_grad=True)
    k = torch.randn(1, 2, 5, 4, generator=gen, dtype=DT, requires_grad=True)
    v = torch.randn(1, 2, 5, 4, generator=gen, dtype=DT, requires_grad=True)
    mask = torch.ones(3, 5, dtype=torch.bool)
    mask[1] = False  # query 1 may look at nothing
    out, weights = scaled_dot_product_attention(q, k, v, attn_mask=mask)
    assert torch.equal(weights[..., 1, :], torch.zeros(1, 2, 5, dtype=DT))
    assert torch.equal(out[..., 1, :], torch.zeros(1, 2, 4, dtype=DT))
    assert_close(out, F.scaled_dot_product_attention(q, k, v, attn_mask=mask), rtol=0, atol=1e-12)
    out.sum().backward()
    for name, t in (("query", q), ("key", k), ("value", v)):
        assert torch.isfinite(t.grad).all(), f"NaN or inf in the gradient of the {name}"
    assert torch.equal(q.grad[..., 1, :], torch.zeros(1, 2, 4, dtype=DT))
    # The same row as a float mask of -inf.
    out_f, _ = scaled_dot_product_attention(q, k, v, attn_mask=additive_mask(mask, DT))
    assert_close(out_f, out, rtol=0, atol=1e-14)


def test_sdpa_gradients_equal_pytorch():
    for q, k, v, mask, is_causal, _ in random_sdpa_configs(24, seed=3):
        ours = [t.clone().requires_grad_(True) for t in (q, k, v)]
        theirs = [t.clone().requires_grad_(True) for t in (q, k, v)]
        grad_out = torch.randn(*q.shape[:-1], v.shape[-1], dtype=DT)
        (scaled_dot_product_attention(*ours, attn_mask=mask, is_causal=is_causal)[0] * grad_out).sum().backward()
        (F.scaled_dot_product_attention(*theirs, attn_mask=mask, is_causal=is_causal) * grad_out).sum().backward()
        for a, b in zip(ours, theirs):
            assert_close(a.grad, b.grad, rtol=1e-9, atol=1e-10, msg="gradient vs F.scaled_dot_product_attention")


def test_sdpa_scale_causal_and_mask_together():
    gen = torch.Generator().manual_seed(2)
    q, k, v = (torch.randn(2, 3, 6, 5, generator=gen, dtype=DT) for _ in range(3))
    out, _ = scaled_dot_product_attention(q, k, v, scale=0.3)
    assert_close(out, F.scaled_dot_product_attention(q, k, v, scale=0.3), rtol=0, atol=1e-12)
    keep = padding_mask(torch.tensor([6, 3]), 6)[:, None, None, :]  # (B, 1, 1, S)
    out, _ = scaled_dot_product_attention(q, k, v, attn_mask=keep, is_causal=True)
    expected = F.scaled_dot_product_attention(q, k, v, attn_mask=keep & causal_mask(6))
    assert_close(out, expected, rtol=0, atol=1e-12, msg="is_causal combined with a mask")


def _wrong_scale(q, k, v, attn_mask=None, is_causal=False):
    return scaled_dot_product_attention(q, k, v, attn_mask, is_causal, scale=1.0 / q.shape[-1])


def _inverted_mask(q, k, v, attn_mask=None, is_causal=False):
    if attn_mask is not None and attn_mask.dtype == torch.bool:
        attn_mask = ~attn_mask  # PyTorch's nn.MultiheadAttention convention used by mistake
    return scaled_dot_product_attention(q, k, v, attn_mask, is_causal)


def _causal_without_diagonal(q, k, v, attn_mask=None, is_causal=False):
    if is_causal:
        strict = torch.ones(q.shape[-2], k.shape[-2], dtype=torch.bool).tril(-1)
        return scaled_dot_product_attention(q, k, v, attn_mask=strict)
    return scaled_dot_product_attention(q, k, v, attn_mask)


def _softmax_over_queries(q, k, v, attn_mask=None, is_causal=False):
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if is_causal:
        scores = scores.masked_fill(~causal_mask(q.shape[-2], k.shape[-2]), float("-inf"))
    if attn_mask is not None:
        scores = scores.masked_fill(~attn_mask, float("-inf")) if attn_mask.dtype == torch.bool else scores + attn_mask
    weights = torch.nan_to_num(torch.softmax(scores, dim=-2))
    return weights @ v, weights


def _large_negative_fill(q, k, v, attn_mask=None, is_causal=False):
    """-1e9 instead of -inf: a fully masked row becomes uniform instead of zero."""
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if is_causal:
        scores = scores.masked_fill(~causal_mask(q.shape[-2], k.shape[-2]), -1e9)
    if attn_mask is not None:
        scores = scores.masked_fill(~attn_mask, -1e9) if attn_mask.dtype == torch.bool else scores + attn_mask
    weights = torch.softmax(scores, dim=-1)
    return weights @ v, weights


def _naive_softmax(q, k, v, attn_mask=None, is_causal=False):
    """torch.softmax straight on the masked scores: NaN for a row with no key."""
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if is_causal:
        scores = scores.masked_fill(~causal_mask(q.shape[-2], k.shape[-2]), float("-inf"))
    if attn_mask is not None:
        scores = scores.masked_fill(~attn_mask, float("-inf")) if attn_mask.dtype == torch.bool else scores + attn_mask
    weights = torch.softmax(scores, dim=-1)
    return weights @ v, weights


@pytest.mark.parametrize("wrong", [_wrong_scale, _inverted_mask, _causal_without_diagonal, _softmax_over_queries,
                                   _large_negative_fill, _naive_softmax])
def test_sdpa_check_catches_planted_bugs(wrong):
    worst_out, worst_w, _, _ = sdpa_errors(wrong, n=80)
    assert max(worst_out, worst_w) > 1e-3, f"{wrong.__name__} was not caught"


def test_masked_softmax_against_torch_softmax():
    gen = torch.Generator().manual_seed(4)
    scores = torch.randn(4, 6, 7, generator=gen, dtype=DT)
    mask = torch.rand(4, 6, 7, generator=gen) < 0.6
    mask[0, 0] = False
    rows = mask.any(-1)
    expected = torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1)
    weights = masked_softmax(scores, mask)
    assert_close(weights[rows], expected[rows], rtol=0, atol=1e-14)
    assert torch.equal(weights[~rows], torch.zeros_like(weights[~rows]))
    assert_close(weights.sum(-1)[rows], torch.ones(int(rows.sum()), dtype=DT), rtol=0, atol=1e-12)
    assert torch.equal(weights[~mask], torch.zeros_like(weights[~mask])), "a forbidden key must get weight 0"
    float_mask = torch.randn(7, dtype=DT)
    assert_close(masked_softmax(scores, float_mask), torch.softmax(scores + float_mask, -1), rtol=0, atol=1e-14)


# ---------------------------------------------------------------------------
# Masks
# ---------------------------------------------------------------------------


def test_causal_mask_matches_loop():
    for t, s, offset in [(4, 4, 0), (3, 6, 0), (3, 6, 3), (5, 2, 0), (1, 5, 4), (0, 3, 0)]:
        expected = torch.tensor([[j <= i + offset for j in range(s)] for i in range(t)], dtype=torch.bool)
        assert torch.equal(causal_mask(t, s, offset=offset), expected.reshape(t, s))


def test_padding_mask_matches_loop():
    lengths = [3, 0, 5, 1]
    expected = torch.tensor([[j < n for j in range(6)] for n in lengths])
    assert torch.equal(padding_mask(torch.tensor(lengths), 6), expected)
    assert padding_mask(torch.tensor(lengths)).shape == (4, 5)
    with pytest.raises(ValueError, match="exceeds max_len"):
        padding_mask(torch.tensor([7]), 6)
    with pytest.raises(ValueError, match="integer"):
        padding_mask(torch.tensor([1.5]))


def test_additive_mask_gives_same_attention_as_boolean():
    mask = torch.tensor([[True, False, True], [False, False, False]])
    am = additive_mask(mask, DT)
    assert am.dtype == DT
    assert torch.equal(am, torch.tensor([[0.0, -math.inf, 0.0], [-math.inf, -math.inf, -math.inf]], dtype=DT))
    q, k, v = torch.randn(2, 4, dtype=DT), torch.randn(3, 4, dtype=DT), torch.randn(3, 2, dtype=DT)
    assert_close(scaled_dot_product_attention(q, k, v, am)[0], scaled_dot_product_attention(q, k, v, mask)[0],
                 rtol=0, atol=1e-15)


# ---------------------------------------------------------------------------
# Multi-head attention vs nn.MultiheadAttention
# ---------------------------------------------------------------------------


def _pair(embed_dim=12, num_heads=3, bias=True, seed=0):
    torch.manual_seed(seed)
    ref = nn.MultiheadAttention(embed_dim, num_heads, bias=bias, batch_first=True, dtype=DT).eval()
    with torch.no_grad():  # non-zero biases, so a missing bias would show
        for p in ref.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    return MultiheadAttention.from_torch(ref).eval(), ref


def random_mha_cases(n, seed=0):
    """Random (query, key, value, key_mask, attn_mask, is_causal) for a 12-wide, 3-head layer;
    key=value=None means self-attention. No query is left without a key (PyTorch's module
    returns NaN for those; a separate test covers them)."""
    rng = random.Random(seed)
    gen = torch.Generator().manual_seed(seed)
    for i in range(n):
        b, t = rng.randint(1, 3), rng.randint(1, 6)
        cross = i % 2 == 1
        s = rng.randint(1, 7) if cross else t
        query = torch.randn(b, t, 12, generator=gen, dtype=DT)
        key = torch.randn(b, s, 12, generator=gen, dtype=DT) if cross else None
        value = (key if rng.random() < 0.5 else torch.randn(b, s, 12, generator=gen, dtype=DT)) if cross else None
        lengths = torch.randint(1, s + 1, (b,), generator=gen)
        lengths[0] = s
        key_mask = padding_mask(lengths, s) if rng.random() < 0.5 else None
        attn_mask, is_causal = None, False
        choice = rng.choice(["none", "causal", "bool_2d", "bool_3d", "float"])
        if choice == "causal" and s == t:
            is_causal = True
            key_mask = None if key_mask is None else key_mask | causal_mask(s)[0]  # keep key 0 for every query
        elif choice == "bool_2d":
            attn_mask = torch.rand(t, s, generator=gen) < 0.6
            attn_mask[:, 0] = True
        elif choice == "bool_3d":
            attn_mask = torch.rand(b, t, s, generator=gen) < 0.6
            attn_mask[..., 0] = True
        elif choice == "float":
            attn_mask = torch.randn(t, s, generator=gen, dtype=DT)
        if key_mask is not None:
            key_mask[:, 0] = True
        yield query, key, value, key_mask, attn_mask, is_causal


def _torch_forward(ref, query, key, value, key_mask, attn_mask, is_causal, average=True):
    key = query if key is None else key
    value = query if value is None else value
    masks = to_torch_mha_masks(key_mask, attn_mask, ref.num_heads)
    if is_causal:
        masks["attn_mask"] = ~causal_mask(query.shape[1])  # PyTorch: True = not allowed
    return ref(query, key, value, need_weights=True, average_attn_weights=average, **masks)


def mha_errors(mine, ref, n=60, seed=0):
    worst = 0.0
    for query, key, value, key_mask, attn_mask, is_causal in random_mha_cases(n, seed):
        for average in (True, False):
            out, w = mine(query, key, value, key_mask=key_mask, attn_mask=attn_mask, is_causal=is_causal,
                          need_weights=True, average_attn_weights=average)
            out_ref, w_ref = _torch_forward(ref, query, key, value, key_mask, attn_mask, is_causal, average)
            worst = max(worst, _error(out, out_ref), _error(w, w_ref))
        fused, none = mine(query, key, value, key_mask=key_mask, attn_mask=attn_mask, is_causal=is_causal,
                           need_weights=False)
        assert none is None
        worst = max(worst, _error(fused, out_ref))
    return worst


@pytest.mark.parametrize("bias", [True, False])
def test_mha_equals_torch_with_copied_weights(bias):
    mine, ref = _pair(bias=bias)
    assert sorted(mine.state_dict()) == sorted(ref.state_dict())
    assert sum(p.numel() for p in mine.parameters()) == sum(p.numel() for p in ref.parameters())
    worst = mha_errors(mine, ref, n=60)
    assert worst < 1e-10, f"outputs or weights differ from nn.MultiheadAttention by {worst:.3g}"


def test_mha_copies_back_to_torch():
    torch.manual_seed(5)
    mine = MultiheadAttention(12, 3).to(DT).eval()
    with torch.no_grad():
        mine.in_proj_bias.normal_()
        mine.out_proj.bias.normal_()
    ref = mine.to_torch().eval()
    assert isinstance(ref, nn.MultiheadAttention) and ref.batch_first
    assert mha_errors(mine, ref, n=20, seed=1) < 1e-10


def test_mha_init_matches_torch_statistics():
    torch.manual_seed(0)
    mine, ref = MultiheadAttention(64, 4), nn.MultiheadAttention(64, 4)
    for name in ("in_proj_bias", "out_proj.bias"):
        assert torch.equal(mine.state_dict()[name], torch.zeros_like(ref.state_dict()[name]))
    bound = math.sqrt(6 / (64 + 192))  # Xavier-uniform of a (192, 64) matrix
    assert mine.in_proj_weight.abs().max() <= bound
    assert abs(mine.in_proj_weight.std().item() - ref.in_proj_weight.std().item()) < 0.01


def test_fully_masked_query_in_mha():
    """PyTorch's module returns NaN where a query has no key; ours returns the output bias
    (zero attention) and zero weights, and matches PyTorch on every other row."""
    mine, ref = _pair()
    gen = torch.Generator().manual_seed(6)
    x = torch.randn(2, 4, 12, generator=gen, dtype=DT)
    key_mask = torch.tensor([[True, True, False, False], [False, False, False, False]])  # batch row 1: all padding
    out, w = mine(x, key_mask=key_mask)
    out_ref, w_ref = ref(x, x, x, **to_torch_mha_masks(key_mask))
    assert_close(out[0], out_ref[0], rtol=0, atol=1e-10)
    assert_close(w[0], w_ref[0], rtol=0, atol=1e-10)
    assert torch.equal(w[1], torch.zeros(4, 4, dtype=DT))
    assert_close(out[1], mine.out_proj.bias.expand(4, 12), rtol=0, atol=1e-15)
    fused, _ = mine(x, key_mask=key_mask, need_weights=False)
    assert_close(fused, out, rtol=0, atol=1e-12)


def test_to_torch_mha_masks_converts_the_convention():
    key_mask = torch.tensor([[True, False]])
    attn = torch.tensor([[True, False], [True, True]])
    masks = to_torch_mha_masks(key_mask, attn)
    assert torch.equal(masks["key_padding_mask"], torch.tensor([[False, True]]))
    assert torch.equal(masks["attn_mask"], torch.tensor([[False, True], [False, False]]))
    per_example = torch.rand(2, 3, 4) < 0.5
    converted = to_torch_mha_masks(attn_mask=per_example, num_heads=3)["attn_mask"]
    assert converted.shape == (6, 3, 4)
    assert torch.equal(converted[4], ~per_example[1])  # batch-major: rows 3..5 are example 1
    fm = torch.randn(3, 4)
    assert torch.equal(to_torch_mha_masks(attn_mask=fm)["attn_mask"], fm)
    with pytest.raises(ValueError, match="integer 0/1 mask is ambiguous"):
        to_torch_mha_masks(key_mask=torch.ones(1, 2, dtype=torch.long))


def _view_without_transpose(x, num_heads):
    """The classic bug: view (B, T, E) as (B, H, T, D) directly, mixing positions and heads."""
    b, t, e = x.shape
    return x.reshape(b, num_heads, t, e // num_heads)


def _merge_without_transpose(x):
    b, h, t, d = x.shape
    return x.reshape(b, t, h * d)


@pytest.mark.parametrize("name,wrong", [
    ("split_heads", _view_without_transpose),
    ("merge_heads", _merge_without_transpose),
    ("masked_softmax", lambda scores, mask=None: torch.softmax(scores, -1)),  # masks ignored
])
def test_mha_check_catches_planted_bugs(monkeypatch, name, wrong):
    mine, ref = _pair()
    monkeypatch.setattr(attention, name, wrong)
    assert mha_errors(mine, ref, n=20) > 1e-3, f"a wrong {name} was not caught"


class _SummedWeights(MultiheadAttention):
    """Planted: the heads' weights summed instead of averaged."""

    def forward(self, *args, average_attn_weights=True, **kwargs):
        out, w = super().forward(*args, average_attn_weights=False, **kwargs)
        return out, (w.sum(dim=1) if average_attn_weights and w is not None else w)


def test_mha_check_catches_summed_weights():
    _, ref = _pair()
    assert mha_errors(_SummedWeights.from_torch(ref).eval(), ref, n=10) > 1e-3


def test_mha_check_catches_wrong_scale(monkeypatch):
    mine, ref = _pair()
    real = attention.scaled_dot_product_attention

    def scale_by_embed_dim(q, k, v, attn_mask=None, dropout_p=0.0):
        return real(q, k, v, attn_mask=attn_mask, scale=1 / math.sqrt(12), dropout_p=dropout_p)

    monkeypatch.setattr(attention, "scaled_dot_product_attention", scale_by_embed_dim)
    assert mha_errors(MultiheadAttention.from_torch(ref, fused=False).eval(), ref, n=20) > 1e-3


def test_split_and_merge_heads_against_slicing():
    x = torch.randn(2, 5, 12, dtype=DT)
    heads = split_heads(x, 3)
    assert heads.shape == (2, 3, 5, 4)
    for h in range(3):
        assert torch.equal(heads[:, h], x[..., 4 * h:4 * (h + 1)])
    assert torch.equal(merge_heads(heads), x)
    with pytest.raises(ValueError, match="divisible"):
        split_heads(x, 5)


def test_mha_dropout_only_in_training():
    torch.manual_seed(0)
    mha = MultiheadAttention(8, 2, dropout=0.5).to(DT)
    x = torch.randn(2, 6, 8, dtype=DT)
    mha.train()
    a, _ = mha(x, need_weights=False)
    b, _ = mha(x, need_weights=True)
    mha.eval()
    c, _ = mha(x, need_weights=False)
    d, _ = mha(x, need_weights=True)
    assert _error(a, c) > 1e-3 and _error(b, d) > 1e-3, "dropout should change the output while training"
    assert_close(c, d, rtol=0, atol=1e-12, msg="no dropout in eval mode")


# ---------------------------------------------------------------------------
# Incremental decoding with a key/value cache
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("fused", [True, False])
@pytest.mark.parametrize("chunk", [1, 2])
def test_cached_self_attention_equals_full_causal(fused, chunk):
    mine, _ = _pair()
    mine.fused = fused
    x = torch.randn(2, 7, 12, dtype=DT)
    full, _ = mine(x, is_causal=True, need_weights=False)
    cache, steps = KVCache(), []
    for start in range(0, 7, chunk):
        out, _ = mine(x[:, start:start + chunk], is_causal=True, cache=cache, need_weights=not fused)
        steps.append(out)
    assert len(cache) == 7
    assert_close(torch.cat(steps, dim=1), full, rtol=0, atol=1e-12, msg=f"decoding {chunk} at a time")


def test_static_cache_for_cross_attention_and_reorder():
    mine, _ = _pair()
    memory = torch.randn(3, 5, 12, dtype=DT)
    key_mask = padding_mask(torch.tensor([5, 2, 4]), 5)
    y = torch.randn(3, 4, 12, dtype=DT)
    full, w_full = mine(y, memory, memory, key_mask=key_mask)
    cache = KVCache(static=True)
    first, _ = mine(y[:, :1], memory, memory, key_mask=key_mask, cache=cache)
    later, w_later = mine(y[:, 1:], key_mask=key_mask, cache=cache)  # key and value come from the cache
    assert_close(torch.cat([first, later], 1), full, rtol=0, atol=1e-12)
    assert_close(w_later, w_full[:, 1:], rtol=0, atol=1e-12)
    order = torch.tensor([2, 2, 0])
    cache.reorder(order)
    again, _ = mine(y[order, 1:], key_mask=key_mask[order], cache=cache)
    assert_close(again, full[order, 1:], rtol=0, atol=1e-12, msg="after reorder")
    with pytest.raises(ValueError, match="static"):
        mine(y, cache=KVCache(static=True))


def test_cache_with_wrong_offset_is_caught():
    """Top-left causal alignment (offset 0) inside a cache is wrong for chunks: the test sees it."""
    mine, _ = _pair()
    x = torch.randn(1, 6, 12, dtype=DT)
    full, _ = mine(x, is_causal=True)
    cache = KVCache()
    mine(x[:, :3], is_causal=True, cache=cache)
    k, v = cache.key, cache.value
    q_new = split_heads(F.linear(x[:, 3:], mine.in_proj_weight[:12], mine.in_proj_bias[:12]), 3)
    k_new = split_heads(F.linear(x[:, 3:], mine.in_proj_weight[12:24], mine.in_proj_bias[12:24]), 3)
    v_new = split_heads(F.linear(x[:, 3:], mine.in_proj_weight[24:], mine.in_proj_bias[24:]), 3)
    keys, values = torch.cat([k, k_new], -2), torch.cat([v, v_new], -2)
    wrong, _ = scaled_dot_product_attention(q_new, keys, values, is_causal=True)  # offset 0: too strict
    assert _error(mine.out_proj(merge_heads(wrong)), full[:, 3:]) > 1e-3


# ---------------------------------------------------------------------------
# Bad inputs
# ---------------------------------------------------------------------------


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match=r"not divisible by num_heads=5.*for 12: \[1, 2, 3, 4, 6, 12\]"):
        MultiheadAttention(12, 5)
    mha = MultiheadAttention(12, 3)
    x = torch.randn(2, 4, 12)
    with pytest.raises(ValueError, match=r"query must be \(B, T, embed_dim=12\)"):
        mha(torch.randn(2, 4, 10))
    with pytest.raises(ValueError, match=r"query must be \(B, T, embed_dim=12\) \(batch first\), got \(4, 12\)"):
        mha(torch.randn(4, 12))
    with pytest.raises(ValueError, match=r"key must be \(B, S, embed_dim=12\)"):
        mha(x, torch.randn(2, 5, 8), torch.randn(2, 5, 8))
    with pytest.raises(ValueError, match="same B and S"):
        mha(x, torch.randn(2, 5, 12), torch.randn(2, 6, 12))
    with pytest.raises(ValueError, match="both key and value"):
        mha(x, torch.randn(2, 5, 12))
    with pytest.raises(ValueError, match=r"key_mask must be \(B, S\) = \(2, 4\)"):
        mha(x, key_mask=torch.ones(2, 5, dtype=torch.bool))
    with pytest.raises(ValueError, match="key_mask must be boolean"):
        mha(x, key_mask=torch.ones(2, 4))
    with pytest.raises(ValueError, match="does not broadcast"):
        mha(x, attn_mask=torch.ones(4, 5, dtype=torch.bool))
    with pytest.raises(ValueError, match="ambiguous"):
        mha(x, attn_mask=torch.ones(4, 4, dtype=torch.int64))
    with pytest.raises(TypeError):  # PyTorch's inverted convention is not silently accepted
        mha(x, x, x, key_padding_mask=torch.zeros(2, 4, dtype=torch.bool))
    q = torch.randn(2, 3, 8)
    with pytest.raises(ValueError, match="same feature size"):
        scaled_dot_product_attention(q, torch.randn(2, 5, 7), torch.randn(2, 5, 7))
    with pytest.raises(ValueError, match="same length"):
        scaled_dot_product_attention(q, torch.randn(2, 5, 8), torch.randn(2, 4, 8))
    with pytest.raises(ValueError, match="share a dtype"):
        scaled_dot_product_attention(q, torch.randn(2, 5, 8, dtype=DT), torch.randn(2, 5, 8))
    with pytest.raises(ValueError, match=r"does not broadcast to the scores' shape \(2, 3, 5\)"):
        scaled_dot_product_attention(q, torch.randn(2, 5, 8), torch.randn(2, 5, 8), attn_mask=torch.ones(5, 3) > 0)
    with pytest.raises(ValueError, match="batch dimensions"):
        scaled_dot_product_attention(q, torch.randn(3, 5, 8), torch.randn(3, 5, 8))
    with pytest.raises(ValueError, match="even"):
        sinusoidal_positional_encoding(10, 7)
    with pytest.raises(ValueError, match="exceed max_len=8"):
        SinusoidalPositionalEncoding(4, max_len=8)(torch.zeros(1, 9, 4))
    with pytest.raises(ValueError, match="exceed max_len=8"):
        LearnedPositionalEncoding(8, 4)(torch.zeros(1, 5, 4), start=4)
    with pytest.raises(ValueError, match="embed_dim=4"):
        LearnedPositionalEncoding(8, 4)(torch.zeros(1, 5, 6))
    with pytest.raises(ValueError, match="nn.MultiheadAttention"):
        MultiheadAttention.from_torch(nn.Linear(3, 3))
    with pytest.raises(ValueError, match="kdim = vdim"):
        MultiheadAttention.from_torch(nn.MultiheadAttention(8, 2, kdim=4, vdim=4))


# ---------------------------------------------------------------------------
# Additive attention vs the formula, with loops
# ---------------------------------------------------------------------------


def additive_attention_by_loops(module, query, key, value, allowed):
    """Bahdanau's eq. 6 one pair at a time: e_ts = w . tanh(W_q q_t + W_k k_s), softmax over allowed s."""
    wq, wk, w = module.query_proj.weight, module.key_proj.weight, module.score_proj.weight[0]
    b_, t_, s_ = query.shape[0], query.shape[1], key.shape[1]
    out = torch.zeros(b_, t_, value.shape[-1], dtype=DT)
    weights = torch.zeros(b_, t_, s_, dtype=DT)
    for b in range(b_):
        for t in range(t_):
            scores = []
            for s in range(s_):
                hidden = (wq @ query[b, t] + wk @ key[b, s]).tolist()
                scores.append(sum(wi * math.tanh(z) for wi, z in zip(w.tolist(), hidden)))
            keep = [s for s in range(s_) if allowed[b, t, s]]
            if not keep:
                continue
            top = max(scores[s] for s in keep)
            z = sum(math.exp(scores[s] - top) for s in keep)
            for s in keep:
                weights[b, t, s] = math.exp(scores[s] - top) / z
                out[b, t] += weights[b, t, s] * value[b, s]
    return out, weights


def additive_errors(module, n=8, seed=0):
    gen = torch.Generator().manual_seed(seed)
    worst = 0.0
    for i in range(n):
        b, t, s = 2, 1 + i % 4, 2 + i % 5
        query, key = torch.randn(b, t, 5, generator=gen, dtype=DT), torch.randn(b, s, 3, generator=gen, dtype=DT)
        value = torch.randn(b, s, 4, generator=gen, dtype=DT)
        key_mask = padding_mask(torch.tensor([s, 1 + i % s]), s)
        attn_mask = (torch.rand(t, s, generator=gen) < 0.7) if i % 2 else None
        allowed = key_mask[:, None, :] & (True if attn_mask is None else attn_mask)
        out, w = module(query, key, value, key_mask=key_mask, attn_mask=attn_mask)
        out_loop, w_loop = additive_attention_by_loops(module, query, key, value, allowed.expand(b, t, s))
        worst = max(worst, _error(out, out_loop), _error(w, w_loop))
    return worst


def test_additive_attention_equals_the_formula():
    torch.manual_seed(0)
    module = AdditiveAttention(query_dim=5, key_dim=3, hidden_dim=6).to(DT)
    assert additive_errors(module) < 1e-12


class _DotProductScores(AdditiveAttention):
    """Planted: scores q' . k' of the projections, with no tanh layer."""

    def forward(self, query, key, value, key_mask=None, attn_mask=None):
        scores = self.query_proj(query) @ self.key_proj(key).transpose(1, 2)  # (B, T, S)
        mask = key_mask[:, None, :] if attn_mask is None else key_mask[:, None, :] & attn_mask
        weights = masked_softmax(scores, mask)
        return weights @ value, weights


def test_additive_attention_check_catches_planted_bugs(monkeypatch):
    torch.manual_seed(0)
    module = _DotProductScores(query_dim=5, key_dim=3, hidden_dim=6).to(DT)
    assert additive_errors(module) > 1e-3
    torch.manual_seed(0)
    module = AdditiveAttention(query_dim=5, key_dim=3, hidden_dim=6).to(DT)
    monkeypatch.setattr(attention, "masked_softmax", lambda scores, mask=None: torch.softmax(scores, -1))
    assert additive_errors(module) > 1e-3


def test_additive_attention_bad_inputs():
    module = AdditiveAttention(5, 3, 6)
    with pytest.raises(ValueError, match=r"key must be \(B, length, 3\)"):
        module(torch.randn(2, 4, 5), torch.randn(2, 3, 5), torch.randn(2, 3, 4))
    with pytest.raises(ValueError, match="value must be"):
        module(torch.randn(2, 4, 5), torch.randn(2, 3, 3), torch.randn(2, 2, 4))


# ---------------------------------------------------------------------------
# Positional encodings
# ---------------------------------------------------------------------------


def paper_formula(num_positions, embed_dim, base=10000.0):
    """PE(pos, 2i) = sin(pos / 10000^(2i/d_model)), PE(pos, 2i+1) = cos(...), with math.sin and loops."""
    pe = torch.zeros(num_positions, embed_dim, dtype=DT)
    for pos in range(num_positions):
        for i in range(embed_dim // 2):
            angle = pos / base ** (2 * i / embed_dim)
            pe[pos, 2 * i], pe[pos, 2 * i + 1] = math.sin(angle), math.cos(angle)
    return pe


def _concatenated(num_positions, embed_dim, dtype=DT):
    """sin block then cos block (a common variant, not the paper's interleaving)."""
    pe = sinusoidal_positional_encoding(num_positions, embed_dim, dtype=dtype)
    return torch.cat([pe[:, 0::2], pe[:, 1::2]], dim=1)


def _exponent_i_over_d(num_positions, embed_dim, dtype=DT):
    pe = torch.zeros(num_positions, embed_dim, dtype=dtype)
    for pos in range(num_positions):
        for i in range(embed_dim // 2):
            angle = pos / 10000 ** (i / embed_dim)
            pe[pos, 2 * i], pe[pos, 2 * i + 1] = math.sin(angle), math.cos(angle)
    return pe


def sinusoid_error(fn):
    return max(_error(fn(p, e, dtype=DT), paper_formula(p, e)) for p, e in [(50, 16), (7, 2), (128, 64)])


@pytest.mark.parametrize("fn,ok", [(sinusoidal_positional_encoding, True), (_concatenated, False),
                                   (_exponent_i_over_d, False)])
def test_sinusoidal_encoding_is_the_papers_formula(fn, ok):
    err = sinusoid_error(fn)
    assert (err < 1e-12) if ok else (err > 1e-3), f"{fn.__name__}: error {err:.3g}"


@pytest.mark.parametrize("convert", [lambda m: m, lambda m: m.double(), lambda m: m.float().double(),
                                     lambda m: m.to(torch.bfloat16).double()], ids=["as built", "double",
                                                                                   "float-double", "bf16-double"])
def test_a_float64_model_adds_a_float64_accurate_encoding(convert):
    """However the module was converted on the way, float64 inputs get the table to float64
    precision (a table stored in float32 and widened is off by about 3e-8)."""
    x = torch.zeros(1, 128, 64, dtype=DT)
    encoding = convert(SinusoidalPositionalEncoding(64, max_len=128))
    assert_close(encoding(x)[0], paper_formula(128, 64), rtol=0, atol=1e-12)


def test_relative_position_property():
    pe = sinusoidal_positional_encoding(200, 32, dtype=DT)  # (P, E)
    for k in [1, 3, 17, 50]:
        m = relative_position_map(k, 32, dtype=DT)  # (E, E), independent of the position
        shifted = pe[:-k] @ m.T  # row p becomes M_k PE(p)
        assert_close(shifted, pe[k:], rtol=0, atol=1e-10, msg=f"PE(p + {k}) = M_{k} PE(p)")
        assert_close(m @ m.T, torch.eye(32, dtype=DT), rtol=0, atol=1e-12, msg="M_k is a rotation")
    assert_close(relative_position_map(3, 32, dtype=DT) @ relative_position_map(4, 32, dtype=DT),
                 relative_position_map(7, 32, dtype=DT), rtol=0, atol=1e-12)
    # A planted wrong map (rotation in the other direction) fails the same check.
    wrong = relative_position_map(-3, 32, dtype=DT)
    assert _error(pe[:-3] @ wrong.T, pe[3:]) > 1e-2


def test_positional_encoding_modules():
    x = torch.randn(2, 5, 8, dtype=DT)
    sin = SinusoidalPositionalEncoding(8, max_len=20)
    assert_close(sin(x), x + paper_formula(5, 8), rtol=0, atol=1e-15)  # a float64 input: a float64 table
    assert_close(sin(x, start=7), x + paper_formula(12, 8)[7:], rtol=0, atol=1e-15)
    assert "pe" not in sin.state_dict(), "a fixed table need not be saved"
    x32 = x.float()
    assert_close(sin(x32), x32 + paper_formula(5, 8).float(), rtol=0, atol=1e-6)  # float32 in, float32 out
    assert sin(x32).dtype == torch.float32
    learned = LearnedPositionalEncoding(20, 8).to(DT)
    assert_close(learned(x, start=3), x + learned.embedding.weight[3:8], rtol=0, atol=1e-15)
    (learned(x) ** 2).sum().backward()
    grad = learned.embedding.weight.grad
    assert grad[:5].abs().sum() > 0 and torch.equal(grad[5:], torch.zeros_like(grad[5:])), \
        "only the positions used are trained"
