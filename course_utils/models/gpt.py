"""A GPT: the decoder-only Transformer language model (Radford et al., 2018 and 2019), from the course's parts.

Notebook 13's decoder without its cross-attention: token embeddings plus
learned position embeddings, ``num_layers`` pre-LN blocks of causal
self-attention and a feed-forward network, a final layer norm and an output
layer that shares the token embedding's weight (GPT-2's architecture, section
2.3 of its paper). The attention is ``course_utils.attention``'s
:class:`~course_utils.attention.MultiheadAttention` (fused
``F.scaled_dot_product_attention`` when the weights are not asked for), the
layer norm ``course_utils.models.transformer``'s. New here: the causal block
with GPT-2's GELU, GPT-2's initialisation, the key/value cache of a whole
model, rotary positions as an option (``course_utils.rotary``), and conversion
to and from Hugging Face's ``GPT2LMHeadModel``.

Bottom up: :class:`GPTConfig`, :class:`CausalSelfAttention`, :class:`Block`,
:class:`GPTCache`, :class:`GPT`, the factories (:func:`gpt`,
:func:`gpt2_config`), the training helpers (:func:`param_groups`,
:func:`warmup_cosine_scheduler`), :func:`kv_cache_bytes_per_token`, and
:func:`to_hf` / :func:`from_hf`.

Shapes: ids ``(B, T)``, logits ``(B, T, vocab_size)``; position ``t``'s
logits score the token at ``t + 1``.
"""

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from course_utils.attention import (
    KVCache,
    LearnedPositionalEncoding,
    MultiheadAttention,
    causal_mask,
    merge_heads,
    scaled_dot_product_attention,
    split_heads,
)
from course_utils.models.transformer import LayerNorm
from course_utils.rotary import RotaryEmbedding

# ---------------------------------------------------------------------------
# Configuration
# ---------------------------------------------------------------------------

POSITIONS = ("learned", "rotary")


@dataclass(frozen=True)
class GPTConfig:
    """Sizes of a :class:`GPT`. GPT-2 small is ``GPTConfig(50257)`` (the defaults).

    Attributes (Hugging Face ``GPT2Config``'s and nanoGPT's names in brackets):
        vocab_size: tokens in the vocabulary (``vocab_size``).
        context_length: the longest sequence the model reads
            (``n_positions``; nanoGPT's ``block_size``).
        num_layers: decoder blocks (``n_layer``).
        d_model: the width of the residual stream (``n_embd``).
        nhead: attention heads per block (``n_head``); must divide ``d_model``.
        dim_feedforward: the hidden width of the feed-forward network
            (``n_inner``); ``None`` means ``4 * d_model``.
        dropout: after the embeddings, on the attention weights and on each
            residual branch (GPT-2's ``embd_pdrop``, ``attn_pdrop``, ``resid_pdrop``).
        bias: biases in the linear layers (GPT-2 has them).
        positions: ``"learned"`` (GPT-2: a learned vector per position, added
            to the token embedding) or ``"rotary"`` (queries and keys rotated
            in every layer, Su et al., 2021).
        rotary_base: the base of the rotary frequencies.
        layer_norm_eps: the layer norms' epsilon (``layer_norm_epsilon``).
    """

    vocab_size: int
    context_length: int = 1024
    num_layers: int = 12
    d_model: int = 768
    nhead: int = 12
    dim_feedforward: int | None = None
    dropout: float = 0.0
    bias: bool = True
    positions: str = "learned"
    rotary_base: float = 10000.0
    layer_norm_eps: float = 1e-5

    def __post_init__(self):
        for name in ("vocab_size", "context_length", "num_layers", "d_model", "nhead"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if self.d_model % self.nhead:
            divisors = [h for h in range(1, self.d_model + 1) if self.d_model % h == 0]
            raise ValueError(f"d_model={self.d_model} is not divisible by nhead={self.nhead}; valid nhead: {divisors}")
        if self.positions not in POSITIONS:
            raise ValueError(f"positions must be one of {POSITIONS}, got {self.positions!r}")
        if self.positions == "rotary" and (self.d_model // self.nhead) % 2:
            raise ValueError(f"rotary positions rotate pairs of features: the head size d_model / nhead = "
                             f"{self.d_model // self.nhead} must be even")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.dim_feedforward is None:
            object.__setattr__(self, "dim_feedforward", 4 * self.d_model)  # frozen: set once, here

    @property
    def head_dim(self):
        return self.d_model // self.nhead


# ---------------------------------------------------------------------------
# Layers
# ---------------------------------------------------------------------------


class CausalSelfAttention(MultiheadAttention):
    """:class:`~course_utils.attention.MultiheadAttention` (same parameters and
    initialisation) restricted to causal self-attention, with an optional
    rotary embedding applied to the queries and keys after the heads are split.

    ``forward(x (B, T, E), cache=None, rotary=None, need_weights=False)`` ->
    ``(output (B, T, E), weights (B, H, T, S) or None)``. With a
    :class:`~course_utils.attention.KVCache`, ``x`` holds the newest ``T``
    positions and attends to every cached one as well.
    """

    def forward(self, x, cache=None, rotary=None, need_weights=False):
        if rotary is None:  # the parent's path: causal, bottom-right aligned with a cache
            return super().forward(x, is_causal=True, need_weights=need_weights, average_attn_weights=False,
                                    cache=cache)
        self._check_inputs(x, None, None, cache)
        e = self.embed_dim
        start = len(cache) if cache is not None else 0
        q, k, v = self._project(x, slice(0, 3 * e)).chunk(3, dim=-1)  # 3 x (B, T, E)
        q = rotary(split_heads(q, self.num_heads), start)  # (B, H, T, D), rotated to positions start..
        k = rotary(split_heads(k, self.num_heads), start)  # (B, H, T, D)
        v = split_heads(v, self.num_heads)  # (B, H, T, D)
        if cache is not None:
            k, v = cache.update(k, v)  # (B, H, S, D): the cached positions and the new ones
        num_queries, num_keys = q.shape[-2], k.shape[-2]
        dropout_p = self.dropout if self.training else 0.0
        weights = None
        if self.fused and not need_weights:
            if num_queries == num_keys:
                out = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p, is_causal=True)
            else:  # the new queries are the last positions: aligned at the bottom right
                mask = causal_mask(num_queries, num_keys, offset=num_keys - num_queries, device=x.device)
                out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout_p)
        else:
            mask = causal_mask(num_queries, num_keys, offset=num_keys - num_queries, device=x.device)
            out, weights = scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout_p)
        return self.out_proj(merge_heads(out)), weights  # (B, H, T, D) -> (B, T, E) -> (B, T, E)


def gelu(x):
    """GPT-2's GELU: the tanh approximation (Hendrycks & Gimpel, 2016), Hugging Face's ``gelu_new``."""
    return F.gelu(x, approximate="tanh")


class Block(nn.Module):
    """A pre-LN decoder-only block: ``x = x + attn(norm1(x)); x = x + ff(norm2(x))``.

    Sub-module names are ``nn.TransformerEncoderLayer``'s (``self_attn``,
    ``linear1``, ``linear2``, ``norm1``, ``norm2``, ``dropout1``,
    ``dropout2``), so a state dict moves between this block and
    ``nn.TransformerEncoderLayer(norm_first=True, activation=gelu)`` run with a
    causal mask (the tests prove them equal). GPT-2 has no dropout inside the
    feed-forward network, so neither has this block.
    """

    def __init__(self, d_model, nhead, dim_feedforward, dropout=0.0, bias=True, layer_norm_eps=1e-5):
        super().__init__()
        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps)
        self.self_attn = CausalSelfAttention(d_model, nhead, dropout=dropout, bias=bias)
        self.dropout1 = nn.Dropout(dropout)
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps)
        self.linear1 = nn.Linear(d_model, dim_feedforward, bias=bias)
        self.linear2 = nn.Linear(dim_feedforward, d_model, bias=bias)
        self.dropout2 = nn.Dropout(dropout)

    def forward(self, x, cache=None, rotary=None, need_weights=False):
        """``x (B, T, d_model)`` -> ``(x (B, T, d_model), weights (B, nhead, T, S) or None)``."""
        attended, weights = self.self_attn(self.norm1(x), cache=cache, rotary=rotary, need_weights=need_weights)
        x = x + self.dropout1(attended)
        x = x + self.dropout2(self.linear2(gelu(self.linear1(self.norm2(x)))))  # (B, T, d_model)
        return x, weights


class GPTCache:
    """The key/value caches of all layers of a :class:`GPT` (one
    :class:`~course_utils.attention.KVCache` per layer) and how many positions they hold."""

    def __init__(self, num_layers):
        self.layers = [KVCache() for _ in range(num_layers)]

    def __len__(self):
        return len(self.layers[0])

    def reorder(self, index):
        """Keep (or repeat) the batch rows ``index``."""
        for layer in self.layers:
            layer.reorder(index)
        return self

    def nbytes(self):
        """The memory the cached keys and values take."""
        return sum(t.numel() * t.element_size() for c in self.layers if c.key is not None for t in (c.key, c.value))


# ---------------------------------------------------------------------------
# The model
# ---------------------------------------------------------------------------


class GPT(nn.Module):
    """A decoder-only Transformer language model: ``forward(ids (B, T)) -> logits (B, T, vocab_size)``.

    ``forward(ids, cache=cache)`` reads only the new positions ``ids`` after
    those already in ``cache`` (a :class:`GPTCache` from :meth:`new_cache`)
    and appends their keys and values to it: generation with
    ``course_utils.sampling`` costs one position per step instead of the whole
    prefix.

    Initialisation (GPT-2, section 2.3; nanoGPT): every weight
    ``N(0, 0.02)``, biases zero, and the projections that end a residual
    branch (attention's ``out_proj``, ``linear2``) ``N(0, 0.02 / sqrt(2 *
    num_layers))``: each block adds two branches to the residual stream, and
    scaling them keeps the stream's variance from growing with depth.
    """

    def __init__(self, config):
        super().__init__()
        if not isinstance(config, GPTConfig):
            raise ValueError(f"GPT takes a GPTConfig, got {type(config).__name__}: GPT(GPTConfig(vocab_size, ...))")
        c = self.config = config
        self.tok_embed = nn.Embedding(c.vocab_size, c.d_model)
        if c.positions == "learned":
            self.positions = LearnedPositionalEncoding(c.context_length, c.d_model, dropout=c.dropout)
            self.rotary = None
        else:
            self.positions = None
            self.embed_dropout = nn.Dropout(c.dropout)
            self.rotary = RotaryEmbedding(c.head_dim, c.context_length, c.rotary_base)
        self.layers = nn.ModuleList(Block(c.d_model, c.nhead, c.dim_feedforward, c.dropout, c.bias, c.layer_norm_eps)
                                    for _ in range(c.num_layers))
        self.norm = LayerNorm(c.d_model, eps=c.layer_norm_eps)
        self.lm_head = nn.Linear(c.d_model, c.vocab_size, bias=False)
        self.lm_head.weight = self.tok_embed.weight  # tied: one (V, d_model) matrix reads and writes tokens
        self.reset_parameters()

    def reset_parameters(self):
        """GPT-2's initialisation (class docstring)."""
        residual_std = 0.02 / math.sqrt(2 * self.config.num_layers)
        for name, p in self.named_parameters():
            if p.ndim == 1:
                if name.endswith("bias"):
                    nn.init.zeros_(p)
                else:  # layer norm weights
                    nn.init.ones_(p)
            elif name.endswith(("self_attn.out_proj.weight", "linear2.weight")):
                nn.init.normal_(p, std=residual_std)
            else:
                nn.init.normal_(p, std=0.02)

    def new_cache(self):
        """An empty :class:`GPTCache` for this model."""
        return GPTCache(self.config.num_layers)

    def _check_ids(self, ids, start):
        c = self.config
        if not isinstance(ids, torch.Tensor) or ids.ndim != 2 or ids.dtype != torch.int64:
            got = f"{ids.dtype} {tuple(ids.shape)}" if isinstance(ids, torch.Tensor) else type(ids).__name__
            hint = ": add a batch dimension with ids[None]" if isinstance(ids, torch.Tensor) and ids.ndim == 1 else ""
            raise ValueError(f"ids must be an int64 tensor of token ids (B, T), got {got}{hint}")
        if ids.shape[1] == 0:
            raise ValueError("ids holds no position (T = 0)")
        if start + ids.shape[1] > c.context_length:
            where = f" after the {start} cached positions" if start else ""
            raise ValueError(f"{ids.shape[1]} positions{where} exceed the context length {c.context_length}: "
                             f"keep the last {c.context_length - start} (ids[:, -{c.context_length - start}:])")
        low, high = int(ids.min()), int(ids.max())
        if low < 0 or high >= c.vocab_size:
            raise ValueError(f"ids hold values outside [0, {c.vocab_size}): min {low}, max {high}; were they made "
                             "by another tokenizer?")

    def forward(self, ids, cache=None, need_weights=False):
        """``ids (B, T)`` -> logits ``(B, T, vocab_size)``; with ``need_weights=True``,
        ``(logits, [attention weights (B, nhead, T, S) per layer])``."""
        start = len(cache) if cache is not None else 0
        self._check_ids(ids, start)
        x = self.tok_embed(ids)  # (B, T, d_model)
        x = self.positions(x, start) if self.positions is not None else self.embed_dropout(x)
        all_weights = []
        for i, layer in enumerate(self.layers):
            x, weights = layer(x, None if cache is None else cache.layers[i], self.rotary, need_weights)
            all_weights.append(weights)
        logits = self.lm_head(self.norm(x))  # (B, T, vocab_size)
        return (logits, all_weights) if need_weights else logits


# ---------------------------------------------------------------------------
# Factories and published sizes
# ---------------------------------------------------------------------------

# GPT-2's four sizes (Radford et al., 2019, Table 2; the layer counts and widths of the released
# models): context 1,024, vocabulary 50,257, head size 64.
GPT2_SIZES = {
    "small": dict(num_layers=12, d_model=768, nhead=12),
    "medium": dict(num_layers=24, d_model=1024, nhead=16),
    "large": dict(num_layers=36, d_model=1280, nhead=20),
    "xl": dict(num_layers=48, d_model=1600, nhead=25),
}


def gpt2_config(size="small", **kwargs):
    """The :class:`GPTConfig` of one of GPT-2's sizes (``"small"``, ``"medium"``, ``"large"``, ``"xl"``).

    Args:
        size: a key of :data:`GPT2_SIZES`.
        **kwargs: fields to change (e.g. ``dropout=0.1``).
    """
    if size not in GPT2_SIZES:
        raise ValueError(f"size must be one of {list(GPT2_SIZES)}, got {size!r}")
    return GPTConfig(**{"vocab_size": 50257, "context_length": 1024, **GPT2_SIZES[size], **kwargs})


def gpt(vocab_size, **kwargs):
    """A :class:`GPT` with the sizes of :class:`GPTConfig`.

    Args:
        vocab_size: tokens in the vocabulary.
        **kwargs: any other field of :class:`GPTConfig` (``context_length``,
            ``num_layers``, ``d_model``, ``nhead``, ``dropout``, ``positions``, ...).
    """
    return GPT(GPTConfig(vocab_size, **kwargs))


def kv_cache_bytes_per_token(num_layers, d_model, bytes_per_value=2):
    """Bytes a key/value cache holds per token of context: a key and a value of
    ``d_model`` numbers in each of ``num_layers`` layers, ``2 * num_layers *
    d_model * bytes_per_value`` (2 bytes in float16 or bfloat16; per sequence in a batch)."""
    for name, value in (("num_layers", num_layers), ("d_model", d_model), ("bytes_per_value", bytes_per_value)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    return 2 * num_layers * d_model * bytes_per_value


# ---------------------------------------------------------------------------
# Training helpers
# ---------------------------------------------------------------------------


def param_groups(model, weight_decay):
    """Two optimizer parameter groups, as GPT-2 and nanoGPT train: weight decay on the
    matrices (linear layers, embeddings), none on biases and layer-norm weights."""
    params = [p for p in model.parameters() if p.requires_grad]  # the tied matrix once
    return [{"params": [p for p in params if p.ndim >= 2], "weight_decay": weight_decay},
            {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0}]


class WarmupCosine:
    """The learning-rate multiplier of nanoGPT's schedule at step ``i`` (counted from 0):
    linear warm-up over ``warmup_steps``, cosine decay to ``min_ratio`` at
    ``decay_steps``, then ``min_ratio``. An object, not a lambda, so a
    checkpoint records its settings."""

    def __init__(self, warmup_steps, decay_steps, min_ratio=0.1):
        if not (isinstance(warmup_steps, int) and isinstance(decay_steps, int) and 0 <= warmup_steps < decay_steps):
            raise ValueError(f"need integers 0 <= warmup_steps < decay_steps, got {warmup_steps}, {decay_steps}")
        if not 0.0 <= min_ratio <= 1.0:
            raise ValueError(f"min_ratio must be in [0, 1], got {min_ratio}")
        self.warmup_steps, self.decay_steps, self.min_ratio = warmup_steps, decay_steps, min_ratio

    def __call__(self, i):
        if i < self.warmup_steps:
            return (i + 1) / (self.warmup_steps + 1)
        if i > self.decay_steps:
            return self.min_ratio
        progress = (i - self.warmup_steps) / (self.decay_steps - self.warmup_steps)
        return self.min_ratio + 0.5 * (1.0 + math.cos(math.pi * progress)) * (1.0 - self.min_ratio)


def warmup_cosine_scheduler(optimizer, warmup_steps, decay_steps, min_ratio=0.1):
    """A ``LambdaLR`` with :class:`WarmupCosine`: step it after every batch (``fit`` does)."""
    return torch.optim.lr_scheduler.LambdaLR(optimizer, WarmupCosine(warmup_steps, decay_steps, min_ratio))


# ---------------------------------------------------------------------------
# Hugging Face's GPT2LMHeadModel
# ---------------------------------------------------------------------------

# Per block: our name -> Hugging Face's, and whether the weight is transposed (GPT-2's Conv1D
# layers store (in, out) where nn.Linear stores (out, in)).
_HF_BLOCK = [
    ("norm1.weight", "ln_1.weight", False), ("norm1.bias", "ln_1.bias", False),
    ("self_attn.in_proj_weight", "attn.c_attn.weight", True), ("self_attn.in_proj_bias", "attn.c_attn.bias", False),
    ("self_attn.out_proj.weight", "attn.c_proj.weight", True), ("self_attn.out_proj.bias", "attn.c_proj.bias", False),
    ("norm2.weight", "ln_2.weight", False), ("norm2.bias", "ln_2.bias", False),
    ("linear1.weight", "mlp.c_fc.weight", True), ("linear1.bias", "mlp.c_fc.bias", False),
    ("linear2.weight", "mlp.c_proj.weight", True), ("linear2.bias", "mlp.c_proj.bias", False),
]
_HF_ACTIVATIONS = ("gelu_new", "gelu_pytorch_tanh")


def _hf_names(num_layers):
    """``[(our name, Hugging Face's name, transposed)]`` for the whole model."""
    names = [("tok_embed.weight", "transformer.wte.weight", False),
             ("positions.embedding.weight", "transformer.wpe.weight", False)]
    for i in range(num_layers):
        names += [(f"layers.{i}.{ours}", f"transformer.h.{i}.{theirs}", t) for ours, theirs, t in _HF_BLOCK]
    names += [("norm.weight", "transformer.ln_f.weight", False), ("norm.bias", "transformer.ln_f.bias", False)]
    return names


def to_hf(model):
    """A Hugging Face ``transformers.GPT2LMHeadModel`` with ``model``'s weights (same logits).

    Needs the ``transformers`` package (``pip install transformers``; Colab has it).
    Only what GPT-2 can express converts: learned positions and biases.
    """
    from transformers import GPT2Config, GPT2LMHeadModel  # optional: imported only when converting

    c = model.config
    if c.positions != "learned" or not c.bias:
        raise ValueError("only a model with learned positions and biases (GPT-2's architecture) converts to "
                         f"GPT2LMHeadModel; this one has positions={c.positions!r}, bias={c.bias}")
    hf_config = GPT2Config(vocab_size=c.vocab_size, n_positions=c.context_length, n_embd=c.d_model,
                           n_layer=c.num_layers, n_head=c.nhead, n_inner=c.dim_feedforward,
                           activation_function="gelu_new", resid_pdrop=c.dropout, embd_pdrop=c.dropout,
                           attn_pdrop=c.dropout, layer_norm_epsilon=c.layer_norm_eps, tie_word_embeddings=True,
                           bos_token_id=c.vocab_size - 1, eos_token_id=c.vocab_size - 1)
    ours = model.state_dict()
    theirs = {name: ours[mine].t().clone() if transposed else ours[mine].clone()
              for mine, name, transposed in _hf_names(c.num_layers)}
    # Built on the meta device (no memory, no random initialisation to overwrite), then given our
    # tensors; a version of transformers whose model holds buffers is built the ordinary way.
    with torch.device("meta"):
        hf = GPT2LMHeadModel(hf_config)
    if any(True for _ in hf.buffers()):
        p = next(model.parameters())
        hf = GPT2LMHeadModel(hf_config).to(device=p.device, dtype=p.dtype)
    missing, _ = hf.load_state_dict(theirs, strict=False, assign=True)
    left = [name for name in missing if name != "lm_head.weight"]  # lm_head is tied to wte
    if left:
        raise RuntimeError(f"conversion left Hugging Face parameters unset: {left}")
    hf.tie_weights()
    return hf.train(model.training)


def from_hf(hf_model):
    """A :class:`GPT` with the weights of a Hugging Face ``GPT2LMHeadModel`` (e.g.
    ``GPT2LMHeadModel.from_pretrained("gpt2")``; same logits)."""
    hc = hf_model.config
    if getattr(hc, "model_type", None) != "gpt2":
        raise ValueError(f"expected a GPT2LMHeadModel (model_type 'gpt2'), got {type(hf_model).__name__}")
    if hc.activation_function not in _HF_ACTIVATIONS:
        raise ValueError(f"the course's GPT uses GPT-2's tanh GELU; this model uses {hc.activation_function!r}")
    if getattr(hc, "scale_attn_by_inverse_layer_idx", False) or getattr(hc, "reorder_and_upcast_attn", False):
        raise ValueError("scale_attn_by_inverse_layer_idx and reorder_and_upcast_attn are not supported")
    config = GPTConfig(vocab_size=hc.vocab_size, context_length=hc.n_positions, num_layers=hc.n_layer,
                       d_model=hc.n_embd, nhead=hc.n_head, dim_feedforward=hc.n_inner, dropout=hc.resid_pdrop,
                       layer_norm_eps=hc.layer_norm_epsilon)
    theirs = hf_model.state_dict()
    p = next(hf_model.parameters())
    model = GPT(config).to(device=p.device, dtype=p.dtype)
    state = {mine: theirs[name].t() if transposed else theirs[name]
             for mine, name, transposed in _hf_names(config.num_layers)}
    state["lm_head.weight"] = state["tok_embed.weight"]
    model.load_state_dict(state)
    return model.train(hf_model.training)
