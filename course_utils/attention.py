"""Attention, from scratch: the reference pieces of notebook 12 (notebook 13 builds on them).

Shapes (PyTorch's names): ``B`` batch, ``T`` query length, ``S`` key length,
``E = embed_dim``, ``H = num_heads``, ``D = head_dim = E // H``. A batch of
sequences is ``(B, T, E)`` (batch first, always); inside attention it is
``(B, H, T, D)``.

The course's mask convention (one, everywhere in the course)
------------------------------------------------------------
* A **boolean** mask is ``True`` where attention is **allowed** (the query may
  look at the key) and ``False`` where it is forbidden. This is the convention
  of ``F.scaled_dot_product_attention``.
* A **float** mask is **added** to the scores: ``0`` allowed, ``-inf``
  forbidden (other values bias the scores).
* ``key_mask`` ``(B, S)`` marks the real tokens of a padded batch: ``True`` for
  a token, ``False`` for padding (:func:`padding_mask` builds it from lengths).
* A query that may attend to **no** key gets all-zero weights and a zero
  output (and zero gradients). ``F.scaled_dot_product_attention`` does the
  same in this PyTorch (2.14; earlier versions' math backend gave NaN);
  ``nn.MultiheadAttention`` returns NaN for such rows when it computes the
  weights, so the tests compare those rows with the formula instead.

``nn.MultiheadAttention`` uses the **opposite** boolean convention for both of
its masks (``key_padding_mask`` and ``attn_mask`` are ``True`` where a key is
ignored). Convert at the boundary with :func:`to_torch_mha_masks`; our
:class:`MultiheadAttention` deliberately has no ``key_padding_mask`` argument,
so code written for PyTorch's module fails loudly instead of silently using
the inverted meaning.

Contents, bottom up: masks (:func:`causal_mask`, :func:`padding_mask`,
:func:`additive_mask`, :func:`to_torch_mha_masks`), :func:`masked_softmax`,
:func:`scaled_dot_product_attention`, :class:`AdditiveAttention` (Bahdanau),
:func:`split_heads` / :func:`merge_heads`, :class:`KVCache`,
:class:`MultiheadAttention`, positional encodings
(:func:`sinusoidal_positional_encoding`, :func:`relative_position_map`,
:class:`SinusoidalPositionalEncoding`, :class:`LearnedPositionalEncoding`).
"""

import math

import torch
import torch.nn.functional as F
from torch import nn

# ---------------------------------------------------------------------------
# Masks
# ---------------------------------------------------------------------------


def _shape(x):
    return tuple(x.shape)


def causal_mask(num_queries, num_keys=None, offset=0, device=None):
    """Boolean ``(T, S)`` mask, ``True`` where key ``j`` may be seen by query ``i``: ``j <= i + offset``.

    ``offset=0`` is ``F.scaled_dot_product_attention``'s ``is_causal`` (aligned
    at the top left). When the queries are the *last* ``T`` of ``S`` positions
    (incremental decoding with a key/value cache), pass ``offset=S - T``.
    """
    num_keys = num_queries if num_keys is None else num_keys
    for name, n in (("num_queries", num_queries), ("num_keys", num_keys)):
        if not isinstance(n, int) or n < 0:
            raise ValueError(f"{name} must be a non-negative int, got {n!r}")
    return torch.ones(num_queries, num_keys, dtype=torch.bool, device=device).tril(diagonal=offset)


def padding_mask(lengths, max_len=None):
    """``key_mask`` ``(B, S)`` of a padded batch: ``True`` for the first ``lengths[b]`` positions (real tokens)."""
    lengths = torch.as_tensor(lengths)
    if lengths.ndim != 1 or lengths.dtype.is_floating_point or lengths.dtype == torch.bool:
        raise ValueError(f"lengths must be a 1-D integer tensor (one length per sequence), got dtype "
                         f"{lengths.dtype} and shape {_shape(lengths)}")
    if len(lengths) and lengths.min() < 0:
        raise ValueError(f"lengths must be >= 0, got {lengths.tolist()}")
    max_len = int(lengths.max()) if max_len is None and len(lengths) else (max_len or 0)
    if len(lengths) and lengths.max() > max_len:
        raise ValueError(f"a length ({int(lengths.max())}) exceeds max_len={max_len}")
    positions = torch.arange(max_len, device=lengths.device)  # (S,)
    return positions[None, :] < lengths[:, None]  # (B, S)


def additive_mask(mask, dtype=torch.float32):
    """A boolean mask (course convention) as a float mask to add to the scores: ``0`` allowed, ``-inf`` not."""
    _check_mask_dtype(mask, "mask", allow_float=False)
    return torch.zeros(mask.shape, dtype=dtype, device=mask.device).masked_fill(~mask, float("-inf"))


def to_torch_mha_masks(key_mask=None, attn_mask=None, num_heads=1):
    """Convert the course's masks to keyword arguments of ``nn.MultiheadAttention``.

    PyTorch's module ignores a key where its boolean masks are ``True``; the
    course allows attention where a mask is ``True``. Float masks mean the same
    in both and pass through. A per-example ``attn_mask`` ``(B, T, S)`` or
    ``(B, H, T, S)`` becomes PyTorch's ``(B * num_heads, T, S)``.
    Returns ``{"key_padding_mask": ..., "attn_mask": ...}``.
    """
    out = {"key_padding_mask": None, "attn_mask": None}
    if key_mask is not None:
        _check_mask_dtype(key_mask, "key_mask", allow_float=False)
        out["key_padding_mask"] = ~key_mask
    if attn_mask is not None:
        _check_mask_dtype(attn_mask, "attn_mask", allow_float=True)
        mask = ~attn_mask if attn_mask.dtype == torch.bool else attn_mask
        if mask.ndim == 3:  # (B, T, S) -> (B * H, T, S), batch-major as PyTorch expects
            mask = mask.repeat_interleave(num_heads, dim=0)
        elif mask.ndim == 4:  # (B, H, T, S) -> (B * H, T, S)
            mask = mask.expand(mask.shape[0], num_heads, *mask.shape[2:]).reshape(-1, *mask.shape[2:])
        out["attn_mask"] = mask
    return out


def _check_mask_dtype(mask, name, allow_float):
    if not isinstance(mask, torch.Tensor):
        raise ValueError(f"{name} must be a tensor, got {type(mask).__name__}")
    if mask.dtype == torch.bool or (allow_float and mask.dtype.is_floating_point):
        return
    kinds = "boolean (True = may attend) or float (added to the scores)" if allow_float else "boolean"
    fix = "mask.bool()" if mask.dtype != torch.bool else ""
    raise ValueError(
        f"{name} must be {kinds}, got dtype {mask.dtype}. An integer 0/1 mask is ambiguous: convert it with "
        f"{fix or 'mask == 1'} after checking that 1 means 'may attend' (the course's convention)")


def _broadcast_mask(mask, name, target_shape):
    """Check that ``mask`` broadcasts to ``target_shape`` (..., T, S); say what would fix it."""
    try:
        shape = torch.broadcast_shapes(mask.shape, target_shape)
    except RuntimeError:
        shape = None
    if shape != torch.Size(target_shape):
        raise ValueError(
            f"{name} of shape {_shape(mask)} does not broadcast to the scores' shape {tuple(target_shape)} "
            f"(..., queries, keys): its last two dimensions must be (queries, keys) = {tuple(target_shape[-2:])} "
            f"or 1, e.g. a causal mask of shape ({target_shape[-2]}, {target_shape[-1]})")


# ---------------------------------------------------------------------------
# Scaled dot-product attention
# ---------------------------------------------------------------------------


def masked_softmax(scores, attn_mask=None):
    """Softmax over the last dimension (the keys) with the course's mask.

    A boolean ``attn_mask`` forbids the keys where it is ``False``; a float one
    is added. A row with no allowed key (every score ``-inf``) gets zero
    weights instead of ``0/0 = NaN``, and a zero gradient.
    """
    if attn_mask is not None:
        _check_mask_dtype(attn_mask, "attn_mask", allow_float=True)
        _broadcast_mask(attn_mask, "attn_mask", scores.shape)
        if attn_mask.dtype == torch.bool:
            scores = scores.masked_fill(~attn_mask, float("-inf"))
        else:
            scores = scores + attn_mask
    no_key = (scores == float("-inf")).all(dim=-1, keepdim=True)  # (..., T, 1): nothing to attend to
    # Softmax of a row of zeros is finite; the fill then zeroes it, and a fill has zero gradient.
    weights = torch.softmax(scores.masked_fill(no_key, 0.0), dim=-1)
    return weights.masked_fill(no_key, 0.0)


def _check_qkv(query, key, value):
    for name, t in (("query", query), ("key", key), ("value", value)):
        if not isinstance(t, torch.Tensor):
            raise ValueError(f"{name} must be a tensor, got {type(t).__name__}")
        if t.ndim < 2:
            raise ValueError(f"{name} must have shape (..., length, features), got {_shape(t)}")
        if not t.dtype.is_floating_point:
            raise ValueError(f"{name} must be a float tensor, got {t.dtype}")
    if not (query.dtype == key.dtype == value.dtype):
        raise ValueError(f"query, key and value must share a dtype, got {query.dtype}, {key.dtype}, {value.dtype}")
    if query.shape[-1] != key.shape[-1]:
        raise ValueError(
            f"query and key must have the same feature size to take dot products: query {_shape(query)} has "
            f"{query.shape[-1]}, key {_shape(key)} has {key.shape[-1]}")
    if key.shape[-2] != value.shape[-2]:
        raise ValueError(f"key and value must have the same length (one value per key): key {_shape(key)}, "
                         f"value {_shape(value)}")
    try:
        torch.broadcast_shapes(query.shape[:-2], key.shape[:-2], value.shape[:-2])
    except RuntimeError:
        raise ValueError(f"the batch dimensions of query {_shape(query)}, key {_shape(key)} and value "
                         f"{_shape(value)} do not match") from None


def scaled_dot_product_attention(query, key, value, attn_mask=None, is_causal=False, scale=None, dropout_p=0.0):
    """``softmax(query @ key^T * scale + mask) @ value`` and the weights (Vaswani et al., 2017, eq. 1).

    Args:
        query: ``(..., T, D)``, e.g. ``(B, H, T, D)``.
        key: ``(..., S, D)``.
        value: ``(..., S, D_v)``.
        attn_mask: boolean (``True`` = may attend, the course's convention)
            or float (added to the scores), broadcastable to ``(..., T, S)``.
        is_causal: also forbid query ``i`` to see keys ``j > i`` (as
            ``F.scaled_dot_product_attention``, aligned at the top left; may
            be combined with ``attn_mask``, which PyTorch's function refuses).
        scale: defaults to ``1 / sqrt(D)``: it keeps the scores' variance near
            1 whatever ``D`` is, so the softmax does not saturate.
        dropout_p: dropout on the weights (pass 0 in evaluation).

    Returns:
        ``(output (..., T, D_v), weights (..., T, S))``. A query with no
        allowed key gets zero weights and a zero output, like
        ``F.scaled_dot_product_attention`` in this PyTorch.
    """
    _check_qkv(query, key, value)
    scale = 1.0 / math.sqrt(query.shape[-1]) if scale is None else scale
    # Scaling the (T, D) queries rather than the (T, S) scores saves one (T, S) tensor.
    scores = (query * scale) @ key.transpose(-2, -1)  # (..., T, D) @ (..., D, S) -> (..., T, S)
    if is_causal:
        causal = causal_mask(query.shape[-2], key.shape[-2], device=query.device)  # (T, S)
        scores = scores.masked_fill(~causal, float("-inf"))
    if attn_mask is None and not is_causal:
        weights = torch.softmax(scores, dim=-1)  # (..., T, S): no key can be forbidden
    else:
        weights = masked_softmax(scores, attn_mask)  # (..., T, S)
    attended = F.dropout(weights, dropout_p) if dropout_p > 0 else weights
    return attended @ value, weights  # (..., T, S) @ (..., S, D_v) -> (..., T, D_v)


# ---------------------------------------------------------------------------
# Additive (Bahdanau) attention
# ---------------------------------------------------------------------------


class AdditiveAttention(nn.Module):
    """Additive attention (Bahdanau, Cho & Bengio, 2015, eq. 6 and appendix A.1.2):
    ``score(q, k) = w^T tanh(W_q q + W_k k)``.

    A one-hidden-layer network scores every (query, key) pair, so queries and
    keys may have different sizes. It costs ``T * S * hidden_dim`` tanh's,
    where a dot product costs one multiply-add per feature.

    Args:
        query_dim, key_dim: feature sizes of the queries and keys.
        hidden_dim: width of the scoring network.
        dropout: dropout on the attention weights.
    """

    def __init__(self, query_dim, key_dim, hidden_dim, dropout=0.0):
        super().__init__()
        self.query_proj = nn.Linear(query_dim, hidden_dim, bias=False)  # W_q
        self.key_proj = nn.Linear(key_dim, hidden_dim, bias=False)  # W_k
        self.score_proj = nn.Linear(hidden_dim, 1, bias=False)  # w
        self.dropout = nn.Dropout(dropout)

    def forward(self, query, key, value, key_mask=None, attn_mask=None):
        """``query (B, T, query_dim)``, ``key (B, S, key_dim)``, ``value (B, S, D_v)`` ->
        ``(output (B, T, D_v), weights (B, T, S))``; masks as in :class:`MultiheadAttention`."""
        for name, t, size in (("query", query, self.query_proj.in_features),
                              ("key", key, self.key_proj.in_features)):
            if t.ndim != 3 or t.shape[-1] != size:
                raise ValueError(f"{name} must be (B, length, {size}), got {_shape(t)}")
        if value.ndim != 3 or value.shape[:2] != key.shape[:2] or query.shape[0] != key.shape[0]:
            raise ValueError(f"value must be (B, S, D_v) with the key's (B, S) = {_shape(key)[:2]}; query "
                             f"{_shape(query)}, value {_shape(value)}")
        q = self.query_proj(query)  # (B, T, hidden)
        k = self.key_proj(key)  # (B, S, hidden)
        features = torch.tanh(q.unsqueeze(2) + k.unsqueeze(1))  # (B, T, 1, h) + (B, 1, S, h) -> (B, T, S, h)
        scores = self.score_proj(features).squeeze(-1)  # (B, T, S, 1) -> (B, T, S)
        mask = _combine_masks(key_mask, attn_mask, scores.shape[0], None, scores.shape[-2], scores.shape[-1])
        weights = masked_softmax(scores, mask)  # (B, T, S)
        return self.dropout(weights) @ value, weights  # (B, T, S) @ (B, S, D_v) -> (B, T, D_v)


# ---------------------------------------------------------------------------
# Multi-head attention
# ---------------------------------------------------------------------------


def split_heads(x, num_heads):
    """``(B, T, E)`` -> ``(B, H, T, E // H)``: head ``h`` gets features ``h*D .. (h+1)*D - 1``."""
    if x.ndim != 3 or x.shape[-1] % num_heads:
        raise ValueError(f"expected (B, T, E) with E divisible by num_heads={num_heads}, got {_shape(x)}")
    batch, length, embed_dim = x.shape
    x = x.view(batch, length, num_heads, embed_dim // num_heads)  # (B, T, H, D)
    return x.transpose(1, 2)  # (B, H, T, D)


def merge_heads(x):
    """``(B, H, T, D)`` -> ``(B, T, H * D)``, the inverse of :func:`split_heads`."""
    if x.ndim != 4:
        raise ValueError(f"expected (B, H, T, D), got {_shape(x)}")
    batch, num_heads, length, head_dim = x.shape
    x = x.transpose(1, 2)  # (B, T, H, D)
    return x.reshape(batch, length, num_heads * head_dim)  # (B, T, E): reshape copies the transposed view


def _combine_masks(key_mask, attn_mask, batch, num_heads, num_queries, num_keys, causal_offset=None,
                   device=None):
    """One mask broadcastable to ``(B, H, T, S)`` (``(B, T, S)`` when ``num_heads`` is None), or None.

    Boolean masks are combined with ``and``; a float ``attn_mask`` gets the
    boolean ones added as ``-inf``.
    """
    lead = (batch,) if num_heads is None else (batch, num_heads)
    parts = []
    if key_mask is not None:
        _check_mask_dtype(key_mask, "key_mask", allow_float=False)
        if _shape(key_mask) != (batch, num_keys):
            raise ValueError(f"key_mask must be (B, S) = ({batch}, {num_keys}) (True for real tokens), got "
                             f"{_shape(key_mask)}")
        parts.append(key_mask.view(batch, *([1] * (len(lead) - 1)), 1, num_keys))  # (B, [1,] 1, S)
    if causal_offset is not None:
        parts.append(causal_mask(num_queries, num_keys, offset=causal_offset, device=device))  # (T, S)
    float_mask = None
    if attn_mask is not None:
        _check_mask_dtype(attn_mask, "attn_mask", allow_float=True)
        if attn_mask.ndim == 3 and num_heads is not None:  # (B, T, S): the same for every head
            attn_mask = attn_mask.unsqueeze(1)  # (B, 1, T, S)
        if attn_mask.ndim not in (2, len(lead) + 2):
            shapes = "(T, S) or (B, T, S)" + ("" if num_heads is None else " or (B, H, T, S)")
            raise ValueError(f"attn_mask must be {shapes}, got {_shape(attn_mask)}")
        _broadcast_mask(attn_mask, "attn_mask", (*lead, num_queries, num_keys))
        if attn_mask.dtype == torch.bool:
            parts.append(attn_mask)
        else:
            float_mask = attn_mask
    if not parts:
        return float_mask
    allowed = parts[0]
    for p in parts[1:]:
        allowed = allowed & p
    if float_mask is None:
        return allowed
    return float_mask + additive_mask(allowed, float_mask.dtype)


class KVCache:
    """Keys and values kept between decoding steps of one attention layer (incremental decoding).

    * ``KVCache()`` for self-attention: each call of
      :meth:`MultiheadAttention.forward` with ``cache=`` appends the new
      positions' projected keys and values, so step ``t`` projects only the
      new token and attends to all ``t`` positions (``O(t)`` work per step
      instead of ``O(t^2)`` for re-running the prefix).
    * ``KVCache(static=True)`` for cross-attention: the first call projects
      the encoder output; later calls reuse it and ignore ``key`` / ``value``.

    ``key`` and ``value`` are ``(B, H, S, D)``; :meth:`reorder` selects batch
    rows (beam search keeps the hypotheses it extends).
    """

    def __init__(self, static=False):
        self.static = static
        self.key = None
        self.value = None

    def __len__(self):
        return 0 if self.key is None else self.key.shape[-2]

    def update(self, key, value):
        """Append (or, for a static cache, set once) keys and values ``(B, H, S_new, D)``; return all."""
        if self.key is None or self.static:
            if self.key is None:
                self.key, self.value = key, value
            return self.key, self.value
        self.key = torch.cat([self.key, key], dim=-2)  # (B, H, S_past + S_new, D)
        self.value = torch.cat([self.value, value], dim=-2)  # (B, H, S_past + S_new, D)
        return self.key, self.value

    def reorder(self, index):
        """Keep batch rows ``index`` (a 1-D long tensor), e.g. the beams that survive a step."""
        if self.key is not None:
            self.key = self.key.index_select(0, index)  # (len(index), H, S, D)
            self.value = self.value.index_select(0, index)  # (len(index), H, S, D)


class MultiheadAttention(nn.Module):
    """Multi-head attention (Vaswani et al., 2017, section 3.2.2), batch first.

    ``MultiHead(Q, K, V) = Concat(head_1, ..., head_H) W_O`` with
    ``head_h = Attention(Q W_Q^h, K W_K^h, V W_V^h)``. The parameters have
    ``nn.MultiheadAttention``'s names and shapes (``in_proj_weight`` ``(3E, E)``
    stacking ``W_Q; W_K; W_V``, ``in_proj_bias`` ``(3E,)``, ``out_proj``), so
    state dicts move between the two: :meth:`from_torch`, :meth:`to_torch`.

    Masks follow the course's convention (module docstring: ``True`` = may
    attend), **not** ``nn.MultiheadAttention``'s; :func:`to_torch_mha_masks`
    converts. Only ``kdim = vdim = embed_dim`` (what the Transformer uses);
    no ``add_bias_kv`` / ``add_zero_attn``.

    Incremental decoding: pass a :class:`KVCache` per layer as ``cache=``
    (``KVCache()`` for self-attention, ``KVCache(static=True)`` for
    cross-attention to the encoder output). With ``is_causal=True`` and a
    cache, the new queries are the last positions, so the causal mask is
    aligned at the bottom right (``causal_mask(T, S, offset=S - T)``).

    Args:
        embed_dim: model width ``E`` (queries, keys, values and output).
        num_heads: ``H``; must divide ``embed_dim``.
        dropout: dropout on the attention weights while training.
        bias: biases in the input and output projections.
        fused: when the weights are not needed, compute attention with
            ``F.scaled_dot_product_attention`` (fused kernels, less memory);
            the tests prove it equal to the course's
            :func:`scaled_dot_product_attention`, which runs otherwise.
    """

    def __init__(self, embed_dim, num_heads, dropout=0.0, bias=True, fused=True):
        super().__init__()
        if not isinstance(embed_dim, int) or not isinstance(num_heads, int) or embed_dim <= 0 or num_heads <= 0:
            raise ValueError(f"embed_dim and num_heads must be positive ints, got {embed_dim!r}, {num_heads!r}")
        if embed_dim % num_heads:
            divisors = [h for h in range(1, embed_dim + 1) if embed_dim % h == 0]
            raise ValueError(f"embed_dim={embed_dim} is not divisible by num_heads={num_heads}: each head gets "
                             f"embed_dim // num_heads features. Valid num_heads for {embed_dim}: {divisors}")
        self.embed_dim = embed_dim
        self.num_heads = num_heads
        self.head_dim = embed_dim // num_heads
        self.dropout = dropout
        self.fused = fused
        self.in_proj_weight = nn.Parameter(torch.empty(3 * embed_dim, embed_dim))  # [W_Q; W_K; W_V]
        self.in_proj_bias = nn.Parameter(torch.empty(3 * embed_dim)) if bias else None
        self.out_proj = nn.Linear(embed_dim, embed_dim, bias=bias)  # W_O
        self.reset_parameters()

    def reset_parameters(self):
        """``nn.MultiheadAttention``'s initialisation: Xavier-uniform input projection, zero biases."""
        nn.init.xavier_uniform_(self.in_proj_weight)
        self.out_proj.reset_parameters()
        if self.in_proj_bias is not None:
            nn.init.zeros_(self.in_proj_bias)
            nn.init.zeros_(self.out_proj.bias)

    # -- conversion to and from PyTorch's module --------------------------------------------------

    @classmethod
    def from_torch(cls, module, fused=True):
        """A copy of an ``nn.MultiheadAttention`` (its weights; call it batch first)."""
        if not isinstance(module, nn.MultiheadAttention):
            raise ValueError(f"expected nn.MultiheadAttention, got {type(module).__name__}")
        if not module._qkv_same_embed_dim or module.bias_k is not None or module.add_zero_attn:
            raise ValueError("only nn.MultiheadAttention with kdim = vdim = embed_dim, no add_bias_kv and no "
                             "add_zero_attn can be copied")
        p = module.in_proj_weight
        copy = cls(module.embed_dim, module.num_heads, dropout=module.dropout,
                   bias=module.in_proj_bias is not None, fused=fused).to(device=p.device, dtype=p.dtype)
        copy.load_state_dict(module.state_dict())
        return copy

    def to_torch(self):
        """An ``nn.MultiheadAttention(batch_first=True)`` with these weights."""
        p = self.in_proj_weight
        module = nn.MultiheadAttention(self.embed_dim, self.num_heads, dropout=self.dropout,
                                       bias=self.in_proj_bias is not None, batch_first=True,
                                       device=p.device, dtype=p.dtype)
        module.load_state_dict(self.state_dict())
        return module

    # -- forward ----------------------------------------------------------------------------------

    def _project(self, x, part):
        """``x @ W^T + b`` with rows ``part`` (a slice) of the packed input projection."""
        bias = None if self.in_proj_bias is None else self.in_proj_bias[part]
        return F.linear(x, self.in_proj_weight[part], bias)

    def _check_inputs(self, query, key, value, cache):
        e = self.embed_dim
        if not isinstance(query, torch.Tensor) or query.ndim != 3 or query.shape[-1] != e:
            got = _shape(query) if isinstance(query, torch.Tensor) else type(query).__name__
            raise ValueError(f"query must be (B, T, embed_dim={e}) (batch first), got {got}")
        if cache is not None and cache.static and len(cache):
            return
        if cache is not None and cache.static and key is None:
            raise ValueError("a static (cross-attention) cache is filled by the first call: pass the encoder "
                             "output as key and value")
        if (key is None) != (value is None):
            raise ValueError("pass both key and value (cross-attention) or neither (self-attention)")
        if key is None:
            return
        for name, t in (("key", key), ("value", value)):
            if not isinstance(t, torch.Tensor) or t.ndim != 3 or t.shape[-1] != e:
                got = _shape(t) if isinstance(t, torch.Tensor) else type(t).__name__
                raise ValueError(f"{name} must be (B, S, embed_dim={e}), got {got}: every input of this "
                                 "module has embed_dim features (project it first if it has not)")
        if key.shape[:2] != value.shape[:2] or key.shape[0] != query.shape[0]:
            raise ValueError(f"key and value must be (B, S, E) with the same B and S, and B must match the "
                             f"query's: query {_shape(query)}, key {_shape(key)}, value {_shape(value)}")

    def forward(self, query, key=None, value=None, key_mask=None, attn_mask=None, is_causal=False,
                need_weights=True, average_attn_weights=True, cache=None):
        """Attend from ``query`` to ``key`` / ``value``.

        Args:
            query: ``(B, T, E)``.
            key, value: ``(B, S, E)``; omit both for self-attention
                (``key = value = query``).
            key_mask: ``(B, S)`` bool, ``True`` for real tokens (course's
                convention; PyTorch's ``key_padding_mask`` is its negation).
            attn_mask: bool (``True`` = may attend) or float (added),
                ``(T, S)``, ``(B, T, S)`` or ``(B, H, T, S)``.
            is_causal: query ``i`` may not see keys after it.
            need_weights: also return the attention weights (computed by
                the course's from-scratch function; before dropout, unlike
                ``nn.MultiheadAttention``, which returns them after).
            average_attn_weights: average the weights over the heads
                (``(B, T, S)``) instead of ``(B, H, T, S)``.
            cache: a :class:`KVCache` for incremental decoding.

        Returns:
            ``(output (B, T, E), weights or None)``, like ``nn.MultiheadAttention``.
        """
        self._check_inputs(query, key, value, cache)
        e = self.embed_dim
        batch, num_queries, _ = query.shape
        if key is None and (cache is None or not cache.static):  # self-attention: one packed projection
            q, k, v = self._project(query, slice(0, 3 * e)).chunk(3, dim=-1)  # 3 x (B, T, E)
        else:
            q = self._project(query, slice(0, e))  # (B, T, E)
            if cache is not None and cache.static and len(cache):
                k = v = None  # the encoder's keys and values are in the cache already
            elif key is value:
                k, v = self._project(key, slice(e, 3 * e)).chunk(2, dim=-1)  # 2 x (B, S, E)
            else:
                k, v = self._project(key, slice(e, 2 * e)), self._project(value, slice(2 * e, 3 * e))
        q = split_heads(q, self.num_heads)  # (B, H, T, D)
        if k is not None:
            k = split_heads(k, self.num_heads)  # (B, H, S_new, D)
            v = split_heads(v, self.num_heads)  # (B, H, S_new, D)
        if cache is not None:
            k, v = cache.update(k, v)  # (B, H, S, D): the past positions and the new ones
            if k.shape[0] != batch:
                raise ValueError(f"the cache holds {k.shape[0]} sequences but the query has {batch}: "
                                 "reorder the cache (cache.reorder) when the batch changes")
        num_keys = k.shape[-2]
        if is_causal and num_keys < num_queries:
            raise ValueError(f"is_causal needs at least as many keys as queries, got {num_queries} queries and "
                             f"{num_keys} keys")
        offset = (num_keys - num_queries) if is_causal else None  # bottom-right: the queries are the last positions
        dropout_p = self.dropout if self.training else 0.0
        if self.fused and not need_weights:
            plain_causal = is_causal and key_mask is None and attn_mask is None and num_keys == num_queries
            mask = None if plain_causal else _combine_masks(key_mask, attn_mask, batch, self.num_heads,
                                                            num_queries, num_keys, offset, query.device)
            if mask is not None and mask.dtype.is_floating_point:
                mask = mask.to(q.dtype)
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout_p,
                                                 is_causal=plain_causal)  # (B, H, T, D)
            weights = None
        else:
            mask = _combine_masks(key_mask, attn_mask, batch, self.num_heads, num_queries, num_keys, offset,
                                  query.device)
            out, weights = scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout_p)
            if average_attn_weights:
                weights = weights.mean(dim=1)  # (B, H, T, S) -> (B, T, S)
            if not need_weights:
                weights = None
        out = self.out_proj(merge_heads(out))  # (B, H, T, D) -> (B, T, E) -> (B, T, E)
        return out, weights

    def extra_repr(self):
        return f"embed_dim={self.embed_dim}, num_heads={self.num_heads}, dropout={self.dropout}"


# ---------------------------------------------------------------------------
# Positional encodings
# ---------------------------------------------------------------------------


def _check_even(embed_dim):
    if not isinstance(embed_dim, int) or embed_dim <= 0 or embed_dim % 2:
        raise ValueError(f"the sinusoidal encoding pairs a sine with a cosine, so embed_dim must be a positive "
                         f"even int, got {embed_dim!r}")


def _frequencies(embed_dim, base, dtype=torch.float64, device=None):
    """``omega_i = base^(-2i / E)`` for ``i = 0 .. E/2 - 1``: wavelengths from 2 pi to base * 2 pi."""
    two_i = torch.arange(0, embed_dim, 2, dtype=dtype, device=device)  # (E/2,)
    return torch.exp(-math.log(base) * two_i / embed_dim)


def sinusoidal_positional_encoding(num_positions, embed_dim, base=10000.0, dtype=torch.float32, device=None):
    """``(num_positions, E)`` table of Vaswani et al. (2017), section 3.5:
    ``PE[p, 2i] = sin(p / base^(2i/E))``, ``PE[p, 2i+1] = cos(p / base^(2i/E))``."""
    _check_even(embed_dim)
    positions = torch.arange(num_positions, dtype=torch.float64, device=device)  # (P,)
    angles = positions[:, None] * _frequencies(embed_dim, base, device=device)[None, :]  # (P, E/2)
    pe = torch.stack([angles.sin(), angles.cos()], dim=-1)  # (P, E/2, 2): (sin, cos) pairs
    return pe.flatten(1).to(dtype)  # (P, E): sin, cos, sin, cos, ...


def relative_position_map(offset, embed_dim, base=10000.0, dtype=torch.float32, device=None):
    """The ``(E, E)`` matrix ``M_k`` with ``PE[p + k] = M_k @ PE[p]`` for every position ``p``.

    Each (sin, cos) pair at frequency ``omega`` is rotated by the angle
    ``k * omega`` (sin(a + b) = sin a cos b + cos a sin b, cos(a + b) =
    cos a cos b - sin a sin b), so ``M_k`` is block-diagonal with 2x2
    rotations and does not depend on ``p``: "for any fixed offset k, PE_(pos+k)
    can be represented as a linear function of PE_pos" (Vaswani et al., 2017).
    """
    _check_even(embed_dim)
    angles = offset * _frequencies(embed_dim, base, device=device)  # (E/2,)
    cos, sin = angles.cos(), angles.sin()
    blocks = torch.stack([torch.stack([cos, sin], -1), torch.stack([-sin, cos], -1)], -2)  # (E/2, 2, 2)
    return torch.block_diag(*blocks).to(dtype)  # (E, E)


class SinusoidalPositionalEncoding(nn.Module):
    """Adds the fixed sinusoidal encoding to ``(B, T, E)`` inputs (then dropout, as in the paper).

    ``forward(x, start=0)`` adds positions ``start .. start + T - 1``
    (incremental decoding passes the number of positions already decoded).
    The table is computed in float64 and rounded once to the input's dtype,
    per dtype and device (:meth:`table`): a float64 model gets it to float64
    precision, however the module was converted before (a table kept in
    float32 and widened would be off by about 3e-8). It is not a parameter
    and not saved.
    """

    def __init__(self, embed_dim, max_len=1024, dropout=0.0, base=10000.0):
        super().__init__()
        _check_even(embed_dim)
        self.embed_dim, self.max_len, self.base = embed_dim, max_len, base
        self._tables = {}  # (dtype, device) -> (max_len, E) table
        self.dropout = nn.Dropout(dropout)

    def table(self, dtype=torch.float32, device="cpu"):
        """The ``(max_len, E)`` table in ``dtype`` on ``device``."""
        key = (dtype, torch.device(device))
        if key not in self._tables:
            exact = sinusoidal_positional_encoding(self.max_len, self.embed_dim, self.base, dtype=torch.float64)
            self._tables[key] = exact.to(dtype).to(key[1])  # rounded on the CPU (MPS has no float64)
        return self._tables[key]

    @property
    def pe(self):
        """The table in float32, as :class:`LearnedPositionalEncoding`'s ``pe``."""
        return self.table()

    def forward(self, x, start=0):
        return self.dropout(x + _positions(self.table(x.dtype, x.device), x, start))


class LearnedPositionalEncoding(nn.Module):
    """Adds a learned vector per position (Gehring et al., 2017; BERT, GPT) to ``(B, T, E)`` inputs.

    It cannot go beyond ``max_len`` positions, and it must learn from data
    what the sinusoidal table gives for free (the paper found the two "nearly
    identical", Table 3 row E).
    """

    def __init__(self, max_len, embed_dim, dropout=0.0):
        super().__init__()
        self.embedding = nn.Embedding(max_len, embed_dim)
        nn.init.normal_(self.embedding.weight, std=0.02)
        self.dropout = nn.Dropout(dropout)

    @property
    def pe(self):
        return self.embedding.weight  # (max_len, E)

    def forward(self, x, start=0):
        return self.dropout(x + _positions(self.pe, x, start))


def _positions(pe, x, start):
    max_len, embed_dim = pe.shape
    if x.ndim != 3 or x.shape[-1] != embed_dim:
        raise ValueError(f"expected (B, T, embed_dim={embed_dim}), got {_shape(x)}")
    if start < 0 or start + x.shape[1] > max_len:
        raise ValueError(f"positions {start}..{start + x.shape[1] - 1} exceed max_len={max_len}: build the "
                         "encoding with a larger max_len")
    return pe[start:start + x.shape[1]].to(x.dtype)  # (T, E), broadcast over the batch
