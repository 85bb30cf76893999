"""Checkers for notebook 12 (self-attention).

A wrong answer gets a diagnosis of what looks wrong, then the next hint tier
(see ``course_utils.exercises``: a nudge, the key idea, the recipe last, shown
when asked for, ``ex12.hint("attention_by_hand", level=3)``, or after the
third wrong attempt).
"""

import math

import torch
from torch import nn

from course_utils.attention import causal_mask, padding_mask, sinusoidal_positional_encoding
from course_utils.exercises import ExerciseError, as_int, checker, expect, hint_function

# ---------------------------------------------------------------------------
# 1. Attention by hand
# ---------------------------------------------------------------------------

EXAMPLE_Q = torch.tensor([[1.0, 0.0, 1.0, 0.0], [0.0, 2.0, 0.0, 0.0], [1.0, 1.0, 1.0, 1.0]])
EXAMPLE_K = torch.tensor([[1.0, 0.0, 0.0, 1.0], [0.0, 1.0, 1.0, 0.0], [2.0, 0.0, 2.0, 0.0]])
EXAMPLE_V = torch.tensor([[1.0, 0.0], [0.0, 1.0], [3.0, 3.0]])


def _reference(q, k, v, scale=True):
    scores = q @ k.T / (math.sqrt(q.shape[-1]) if scale else 1.0)  # (T, S)
    weights = torch.softmax(scores, dim=-1)
    return weights @ v, weights


def _as_pair(result, what):
    if result is None:
        return None, None
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        raise ExerciseError(f"{what} should return two tensors (output, weights), got {type(result).__name__}")
    return tuple(torch.as_tensor(r, dtype=torch.float64) for r in result)


@checker(hint=(
    "Three queries, three keys: each query gets one score per key, and its weights must be positive and add up "
    "to 1. Which size sets the scale of the scores?",
    "Score every query against every key with a dot product divided by the square root of their dimension; turn "
    "each query's row of scores into weights with a softmax over the keys (subtract the row's largest score "
    "before exponentiating, so that nothing overflows); a query's output is its weights times the values.",
    "scores = Q @ K.T / sqrt(d), with d = Q.shape[-1] (one row per query, one column per key); "
    "weights = exp(scores - row max) / (sum of that row); output = weights @ V.",
))
def check_attention_by_hand(attend):
    """``attend(Q, K, V) -> (output (T, D_v), weights (T, S))``: scaled dot-product attention of 2-D tensors."""
    cases = [(EXAMPLE_Q, EXAMPLE_K, EXAMPLE_V)]
    gen = torch.Generator().manual_seed(12)
    cases += [(torch.randn(t, d, generator=gen, dtype=torch.float64), torch.randn(s, d, generator=gen,
               dtype=torch.float64), torch.randn(s, dv, generator=gen, dtype=torch.float64))
              for t, s, d, dv in [(2, 5, 3, 4), (4, 1, 8, 2), (6, 6, 16, 5)]]
    for q, k, v in cases:
        out, weights = _as_pair(attend(q.clone(), k.clone(), v.clone()), "attend(Q, K, V)")
        if out is None:
            raise NotImplementedError
        where = f"for Q {tuple(q.shape)}, K {tuple(k.shape)}, V {tuple(v.shape)}"
        want_out, want_w = _reference(q.double(), k.double(), v.double())
        if weights.shape != want_w.shape:
            raise ExerciseError(f"the weights {where} should have shape {tuple(want_w.shape)} "
                                f"(queries, keys), got {tuple(weights.shape)}")
        if torch.allclose(weights.sum(0), torch.ones(weights.shape[1], dtype=torch.float64), atol=1e-6) and \
                not torch.allclose(weights.sum(1), torch.ones(weights.shape[0], dtype=torch.float64), atol=1e-6):
            raise ExerciseError("your weights' columns add up to 1, not their rows: the softmax "
                                "must run over the keys, separately for each query")
        unscaled = _reference(q.double(), k.double(), v.double(), scale=False)[1]
        if not torch.allclose(want_w, unscaled, atol=1e-4) and torch.allclose(weights, unscaled, atol=1e-6):
            raise ExerciseError(f"these are the weights of unscaled scores {where}: something "
                                "is missing before the softmax")
        expect(weights, want_w, f"the weights {where}", rtol=1e-4, atol=1e-6)
        expect(out, want_out, f"the output {where}", rtol=1e-4, atol=1e-6)


# ---------------------------------------------------------------------------
# 2. The mask of a padded batch
# ---------------------------------------------------------------------------


def _expected_mask(lengths, max_len, causal):
    mask = padding_mask(lengths, max_len)[:, None, :].expand(len(lengths), max_len, max_len)  # (B, T, T)
    return mask & causal_mask(max_len) if causal else mask


@checker(hint=(
    "A query may look at a key only if the key is a real token (and, when causal, not in the future). Of the "
    "three dimensions (batch, query, key), which ones does the padding depend on? In the course, True means "
    "'may attend'.",
    "Whether key j is a real token depends only on the sequence (its length) and on j, not on the query: build "
    "that (B, T) fact once and repeat it along the query axis. With causal=True, combine it with the (T, T) "
    "rule 'key j is not after query i', which is the same for every sequence.",
    "real = arange(T)[None, :] < lengths[:, None] gives (B, T), True for real keys; "
    "mask = real[:, None, :].expand(B, T, T); with causal=True also & the lower triangle "
    "ones(T, T).tril() (key j <= query i).",
))
def check_padded_batch_mask(make_mask):
    """``make_mask(lengths, max_len, causal) -> (B, T, T)`` bool: the course's convention."""
    for lengths, max_len in [([3, 5, 1], 5), ([2, 2], 4), ([6], 6), ([1, 4, 2, 3], 4)]:
        for causal in (False, True):
            got = make_mask(torch.tensor(lengths), max_len, causal)
            if got is None:
                raise NotImplementedError
            got = torch.as_tensor(got)
            what = f"lengths {lengths}, max_len {max_len}, causal={causal}"
            want = _expected_mask(torch.tensor(lengths), max_len, causal)
            if got.dtype != torch.bool:
                raise ExerciseError(f"the mask should be boolean (True = may attend), got "
                                    f"{got.dtype} for {what}")
            if tuple(got.shape) != tuple(want.shape):
                raise ExerciseError(f"for {what} the mask should be (B, T, T) = "
                                    f"{tuple(want.shape)} (batch, queries, keys), got {tuple(got.shape)}")
            if torch.equal(got, ~want):
                raise ExerciseError(f"for {what} your mask is exactly inverted: that is "
                                    "nn.MultiheadAttention's convention (True = ignore). The course's masks are True "
                                    "where attention is allowed")
            if causal and torch.equal(got, want & causal_mask(max_len, offset=-1)):
                raise ExerciseError(f"for {what} each query is forbidden to see itself: the "
                                    "causal mask lets position i attend to keys j <= i, the diagonal included")
            if causal and torch.equal(got, _expected_mask(torch.tensor(lengths), max_len, False)):
                raise ExerciseError(f"for {what} the future is not masked")
            if not torch.equal(got, want):
                bad = (got != want).nonzero()[0].tolist()
                raise ExerciseError(f"for {what} entry (b, query, key) = {tuple(bad)} should be "
                                    f"{bool(want[tuple(bad)])}")


# ---------------------------------------------------------------------------
# 3. Parameters of multi-head attention
# ---------------------------------------------------------------------------


@checker(hint=(
    "List the projections of multi-head attention with the shape of each weight matrix (and bias). Then ask "
    "what changes if you split the same embed_dim into more heads.",
    "Four projections: queries, keys and values, each into embed_dim features, reading embed_dim, kdim and vdim "
    "features; and the output projection from embed_dim back to embed_dim. With bias=True each adds embed_dim "
    "biases. The heads only cut embed_dim into num_heads pieces: cutting adds no weights.",
    "Q projection: embed_dim x embed_dim; K projection: embed_dim x kdim; V projection: embed_dim x vdim; "
    "output projection: embed_dim x embed_dim; with bias=True add embed_dim per projection (4 * embed_dim). "
    "num_heads only splits embed_dim into pieces: it adds nothing.",
))
def check_mha_params(mha_params):
    """``mha_params(embed_dim, num_heads, kdim, vdim, bias) -> int``: as ``nn.MultiheadAttention`` counts."""
    cases = [(512, 8, 512, 512, True), (512, 1, 512, 512, True), (64, 4, 32, 16, True), (64, 16, 32, 16, True),
             (30, 5, 30, 7, False), (12, 3, 12, 12, False)]
    for embed_dim, num_heads, kdim, vdim, bias in cases:
        module = nn.MultiheadAttention(embed_dim, num_heads, kdim=kdim, vdim=vdim, bias=bias, device="meta")
        want = sum(p.numel() for p in module.parameters())
        got = as_int(mha_params(embed_dim, num_heads, kdim, vdim, bias), "mha_params(...)")
        if got == want:
            continue
        what = f"embed_dim={embed_dim}, num_heads={num_heads}, kdim={kdim}, vdim={vdim}, bias={bias}"
        others = [as_int(mha_params(embed_dim, h, kdim, vdim, bias), "mha_params(...)") for h in (1, 2)]
        if others[0] != others[1]:
            raise ExerciseError(f"your count changes with num_heads ({others[0]:,} for 1 head, "
                                f"{others[1]:,} for 2): more heads of the same embed_dim means smaller heads, not more "
                                "weights")
        diagnosis = f"nn.MultiheadAttention({what}) has {want:,} parameters, you counted {got:,}"
        if bias and got == want - 4 * embed_dim:
            diagnosis += ": the biases are missing"
        raise ExerciseError(diagnosis)


# ---------------------------------------------------------------------------
# 4. Relative position from the sinusoidal encoding
# ---------------------------------------------------------------------------


@checker(hint=(
    "Each (sin, cos) pair of the encoding is a point on a circle that turns at its own speed as the position "
    "grows. What can the angle between two such points tell you, and what can it not?",
    "On one pair's circle, the angle from p's point to q's point is the offset times that pair's frequency, but "
    "only up to whole turns. The slowest circle (the last pair) never completes a turn over 4,096 positions, so "
    "its angle difference, divided by its frequency, is the offset itself.",
    "Take the last (sin, cos) pair, columns E-2 and E-1, whose frequency is omega = 10000 ** (-(E - 2) / E); "
    "angle = atan2(sin, cos) for each vector; delta = angle_q - angle_p wrapped into (-pi, pi]; "
    "offset = round(delta / omega).",
))
def check_relative_offset(offset):
    """``offset(pe_p, pe_q) -> int``: ``q - p`` from two rows of the sinusoidal table (positions unknown)."""
    for embed_dim, positions in [(64, [(3, 10), (10, 3), (0, 0), (500, 2047), (1999, 1)]),
                                 (16, [(7, 8), (40, 30)]), (128, [(4000, 1234)])]:
        pe = sinusoidal_positional_encoding(4096, embed_dim)  # float32, as a model would hold it
        for p, q in positions:
            got = as_int(offset(pe[p].clone(), pe[q].clone()), "offset(pe_p, pe_q)")
            if got == q - p:
                continue
            hint = ""
            if got == p - q:
                hint = ": the sign is reversed (the offset is q - p, from the first vector to the second)"
            raise ExerciseError(f"with embed_dim {embed_dim}, from position {p} to {q} the offset is "
                                f"{q - p}, you returned {got}{hint}")


hint = hint_function(__name__)
