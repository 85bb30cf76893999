"""The Transformer of Vaswani et al. (2017), "Attention Is All You Need", built from ``course_utils.attention``.

Bottom up: :class:`LayerNorm` (from scratch), :class:`EncoderLayer` and
:class:`DecoderLayer`, the stacks :class:`Encoder` and :class:`Decoder`, the
encoder-decoder :class:`Transformer` with embeddings and the output layer,
:class:`DecoderState` for incremental decoding, and the paper's learning-rate
schedule (:func:`warmup_inverse_sqrt`).

Names and shapes follow PyTorch's ``nn.Transformer`` (``d_model``, ``nhead``,
``dim_feedforward``, ``norm_first``; sub-module names ``self_attn``,
``multihead_attn``, ``linear1``, ``linear2``, ``norm1``..``norm3``), so a
state dict moves between the two and the tests prove the layers equal.
Everything is batch first: a batch of sequences is ``(B, T, d_model)``.

Masks follow the course's convention (``course_utils.attention``): a
``key_mask`` ``(B, S)`` is ``True`` for real tokens and ``False`` for padding;
PyTorch's ``src_key_padding_mask`` is its negation.
"""

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from course_utils.attention import KVCache, MultiheadAttention, SinusoidalPositionalEncoding

# ---------------------------------------------------------------------------
# Layer normalisation
# ---------------------------------------------------------------------------


class LayerNorm(nn.Module):
    """Layer normalisation (Ba, Kiros & Hinton, 2016), from scratch.

    Each vector ``x[..., :]`` is normalised with **its own** mean and variance
    over the last dimension (biased variance, as ``nn.LayerNorm``), then scaled
    and shifted: ``(x - mean) / sqrt(var + eps) * weight + bias``. Nothing is
    averaged over the batch, so an example's output does not depend on the
    other examples, training and evaluation compute the same thing, and no
    running statistics are kept -- unlike batch normalisation.
    """

    def __init__(self, normalized_shape, eps=1e-5):
        super().__init__()
        if not isinstance(normalized_shape, int) or normalized_shape <= 0:
            raise ValueError(f"normalized_shape must be a positive int (the feature size), got {normalized_shape!r}")
        self.normalized_shape = (normalized_shape,)
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(normalized_shape))
        self.bias = nn.Parameter(torch.zeros(normalized_shape))

    def forward(self, x):
        if x.shape[-1] != self.normalized_shape[0]:
            raise ValueError(f"expected (..., {self.normalized_shape[0]}) features, got {tuple(x.shape)}")
        mean = x.mean(dim=-1, keepdim=True)  # (..., 1)
        var = (x - mean).pow(2).mean(dim=-1, keepdim=True)  # (..., 1), biased
        return (x - mean) * torch.rsqrt(var + self.eps) * self.weight + self.bias

    def extra_repr(self):
        return f"{self.normalized_shape[0]}, eps={self.eps}"


# ---------------------------------------------------------------------------
# Layers
# ---------------------------------------------------------------------------

ACTIVATIONS = {"relu": F.relu, "gelu": F.gelu}


def _activation(activation):
    """``"relu"``, ``"gelu"`` (exact, with erf, as ``nn.GELU()``) or a callable, as ``nn.TransformerEncoderLayer``."""
    if callable(activation):
        return activation
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)} or a callable, got {activation!r}")
    return ACTIVATIONS[activation]


class EncoderLayer(nn.Module):
    """Self-attention and a position-wise feed-forward network, each in a residual
    branch with layer normalisation (Vaswani et al., 2017, section 3.1).

    ``norm_first=False`` is the paper's post-LN: ``x = norm(x + sublayer(x))``.
    ``norm_first=True`` is pre-LN: ``x = x + sublayer(norm(x))``, which keeps
    an identity path from input to output and trains without a long warm-up
    (Xiong et al., 2020). Arguments and sub-module names as
    ``nn.TransformerEncoderLayer(batch_first=True)``; ``activation`` is the
    feed-forward network's non-linearity, ``"relu"`` (the paper) or ``"gelu"``
    (BERT, the Vision Transformer), as PyTorch's.
    """

    def __init__(self, d_model, nhead, dim_feedforward=2048, dropout=0.1, norm_first=False, layer_norm_eps=1e-5,
                 activation="relu"):
        super().__init__()
        self.activation = _activation(activation)
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout)
        self.linear1 = nn.Linear(d_model, dim_feedforward)
        self.dropout = nn.Dropout(dropout)
        self.linear2 = nn.Linear(dim_feedforward, d_model)
        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps)
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps)
        self.dropout1 = nn.Dropout(dropout)
        self.dropout2 = nn.Dropout(dropout)
        self.norm_first = norm_first

    def _attend(self, x, key_mask, need_weights):
        out, weights = self.self_attn(x, key_mask=key_mask, need_weights=need_weights, average_attn_weights=False)
        return self.dropout1(out), weights  # weights: (B, nhead, S, S) or None

    def _feed_forward(self, x):
        return self.dropout2(self.linear2(self.dropout(self.activation(self.linear1(x)))))  # (B, T, d_model)

    def forward(self, x, key_mask=None, need_weights=False):
        """``x (B, S, d_model)``, ``key_mask (B, S)`` (True = real token) ->
        ``(output (B, S, d_model), weights (B, nhead, S, S) or None)``."""
        if self.norm_first:
            attended, weights = self._attend(self.norm1(x), key_mask, need_weights)
            x = x + attended
            x = x + self._feed_forward(self.norm2(x))
        else:
            attended, weights = self._attend(x, key_mask, need_weights)
            x = self.norm1(x + attended)
            x = self.norm2(x + self._feed_forward(x))
        return x, weights


class DecoderLayer(nn.Module):
    """Masked self-attention, cross-attention to the encoder output, feed-forward
    (Vaswani et al., 2017, section 3.1), post-LN or pre-LN as :class:`EncoderLayer`.

    Arguments and sub-module names as ``nn.TransformerDecoderLayer(batch_first=True)``.
    """

    def __init__(self, d_model, nhead, dim_feedforward=2048, dropout=0.1, norm_first=False, layer_norm_eps=1e-5):
        super().__init__()
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout)
        self.multihead_attn = MultiheadAttention(d_model, nhead, dropout=dropout)
        self.linear1 = nn.Linear(d_model, dim_feedforward)
        self.dropout = nn.Dropout(dropout)
        self.linear2 = nn.Linear(dim_feedforward, d_model)
        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps)
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps)
        self.norm3 = LayerNorm(d_model, eps=layer_norm_eps)
        self.dropout1 = nn.Dropout(dropout)
        self.dropout2 = nn.Dropout(dropout)
        self.dropout3 = nn.Dropout(dropout)
        self.norm_first = norm_first

    def _self_attend(self, x, cache):
        # Causal: position t sees positions <= t. With a cache, x holds only the newest
        # positions and the attention module aligns the mask at the bottom right.
        out, _ = self.self_attn(x, is_causal=True, need_weights=False, cache=cache)
        return self.dropout1(out)

    def _cross_attend(self, x, memory, memory_key_mask, cache, need_weights):
        out, weights = self.multihead_attn(x, memory, memory, key_mask=memory_key_mask, need_weights=need_weights,
                                           average_attn_weights=False, cache=cache)
        return self.dropout2(out), weights

    def _feed_forward(self, x):
        return self.dropout3(self.linear2(self.dropout(F.relu(self.linear1(x)))))  # (B, T, d_model)

    def forward(self, x, memory, memory_key_mask=None, cache=None, need_weights=False):
        """``x (B, T, d_model)``, ``memory (B, S, d_model)``, ``memory_key_mask (B, S)``.

        ``cache``: ``None``, or a ``(self_attention, cross_attention)`` pair of
        ``KVCache`` for incremental decoding (``x`` then holds the new positions only).
        Returns ``(output (B, T, d_model), cross-attention weights (B, nhead, T, S) or None)``.
        """
        self_cache, cross_cache = cache if cache is not None else (None, None)
        if self.norm_first:
            x = x + self._self_attend(self.norm1(x), self_cache)
            attended, weights = self._cross_attend(self.norm2(x), memory, memory_key_mask, cross_cache, need_weights)
            x = x + attended
            x = x + self._feed_forward(self.norm3(x))
        else:
            x = self.norm1(x + self._self_attend(x, self_cache))
            attended, weights = self._cross_attend(x, memory, memory_key_mask, cross_cache, need_weights)
            x = self.norm2(x + attended)
            x = self.norm3(x + self._feed_forward(x))
        return x, weights


# ---------------------------------------------------------------------------
# Stacks
# ---------------------------------------------------------------------------


class Encoder(nn.Module):
    """``num_layers`` encoder layers and a final :class:`LayerNorm` (``nn.TransformerEncoder``'s
    ``layers`` and ``norm``, as ``nn.Transformer`` builds it)."""

    def __init__(self, num_layers, d_model, nhead, dim_feedforward, dropout, norm_first, layer_norm_eps=1e-5,
                 activation="relu"):
        super().__init__()
        self.layers = nn.ModuleList(EncoderLayer(d_model, nhead, dim_feedforward, dropout, norm_first,
                                                 layer_norm_eps, activation) for _ in range(num_layers))
        self.norm = LayerNorm(d_model, eps=layer_norm_eps)

    def forward(self, x, key_mask=None, need_weights=False):
        """``(B, S, d_model)`` -> ``(memory (B, S, d_model), [weights (B, nhead, S, S) per layer] or None)``."""
        all_weights = []
        for layer in self.layers:
            x, weights = layer(x, key_mask, need_weights)
            all_weights.append(weights)
        return self.norm(x), (all_weights if need_weights else None)


class Decoder(nn.Module):
    """``num_layers`` decoder layers and a final :class:`LayerNorm` (as ``nn.TransformerDecoder``)."""

    def __init__(self, num_layers, d_model, nhead, dim_feedforward, dropout, norm_first, layer_norm_eps=1e-5):
        super().__init__()
        self.layers = nn.ModuleList(DecoderLayer(d_model, nhead, dim_feedforward, dropout, norm_first,
                                                 layer_norm_eps) for _ in range(num_layers))
        self.norm = LayerNorm(d_model, eps=layer_norm_eps)

    def forward(self, x, memory, memory_key_mask=None, caches=None, need_weights=False):
        """``(B, T, d_model)`` -> ``(output (B, T, d_model), [cross weights (B, nhead, T, S) per layer] or None)``."""
        all_weights = []
        for i, layer in enumerate(self.layers):
            x, weights = layer(x, memory, memory_key_mask, None if caches is None else caches[i], need_weights)
            all_weights.append(weights)
        return self.norm(x), (all_weights if need_weights else None)


# ---------------------------------------------------------------------------
# The encoder-decoder
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class TransformerConfig:
    """Sizes of a :class:`Transformer`. The paper's base model is ``d_model=512,
    nhead=8, num_encoder_layers=6, num_decoder_layers=6, dim_feedforward=2048,
    dropout=0.1``; the defaults here are a small model for a CPU.

    Attributes:
        src_vocab_size, tgt_vocab_size: vocabulary sizes (with the special tokens).
        d_model, nhead, num_encoder_layers, num_decoder_layers,
            dim_feedforward, dropout, norm_first: as ``nn.Transformer``.
        tie_embeddings: the output layer shares its weight with the decoder's
            input embedding (the paper's section 3.4; Press & Wolf, 2017).
        max_len: the longest sequence the positional encoding covers.
        pad_id: the padding id of both vocabularies.
    """

    src_vocab_size: int
    tgt_vocab_size: int
    d_model: int = 128
    nhead: int = 4
    num_encoder_layers: int = 2
    num_decoder_layers: int = 2
    dim_feedforward: int = 512
    dropout: float = 0.1
    norm_first: bool = False
    tie_embeddings: bool = True
    max_len: int = 256
    pad_id: int = 0


@dataclass
class DecoderState:
    """What incremental decoding keeps between steps: the encoder output's padding
    mask, one ``(self, cross)`` pair of ``KVCache`` per decoder layer, the number
    of positions decoded so far, and the encoder output (read by the first step only:
    after it the cross-attention caches hold its keys and values)."""

    memory: torch.Tensor  # (B, S, d_model)
    memory_key_mask: torch.Tensor  # (B, S), True = real token
    caches: list
    position: int = 0

    def reorder(self, index):
        """Keep (or repeat) the batch rows ``index``, e.g. the beams that survive a step."""
        self.memory = self.memory.index_select(0, index)  # (len(index), S, d_model)
        self.memory_key_mask = self.memory_key_mask.index_select(0, index)  # (len(index), S)
        for self_cache, cross_cache in self.caches:
            self_cache.reorder(index)
            cross_cache.reorder(index)
        return self


class Transformer(nn.Module):
    """The encoder-decoder Transformer for translation (Vaswani et al., 2017, figure 1).

    Token ids -> embeddings scaled by ``sqrt(d_model)`` (section 3.4) plus
    sinusoidal positions (section 3.5), then dropout -> encoder / decoder ->
    a linear layer to the target vocabulary. ``forward(src, tgt_in)`` maps
    ``src (B, S)`` and ``tgt_in (B, T)`` to logits ``(B, T, tgt_vocab_size)``
    under teacher forcing; :meth:`start`, :meth:`step` and :meth:`reorder`
    decode one token at a time with cached keys and values (the interface of
    ``course_utils.decoding``).

    Padding (``config.pad_id``) in the source is masked in the encoder's
    self-attention and in the cross-attention. The target needs no padding
    mask: padding sits after the real tokens, which the causal mask already
    hides from them, and the loss ignores the padded positions.
    """

    def __init__(self, config):
        super().__init__()
        c = config
        if c.d_model % c.nhead:
            raise ValueError(f"d_model={c.d_model} must be divisible by nhead={c.nhead}")
        self.config = c
        self.src_embed = nn.Embedding(c.src_vocab_size, c.d_model, padding_idx=c.pad_id)
        self.tgt_embed = nn.Embedding(c.tgt_vocab_size, c.d_model, padding_idx=c.pad_id)
        self.positions = SinusoidalPositionalEncoding(c.d_model, max_len=c.max_len, dropout=c.dropout)
        self.encoder = Encoder(c.num_encoder_layers, c.d_model, c.nhead, c.dim_feedforward, c.dropout, c.norm_first)
        self.decoder = Decoder(c.num_decoder_layers, c.d_model, c.nhead, c.dim_feedforward, c.dropout, c.norm_first)
        self.out_proj = nn.Linear(c.d_model, c.tgt_vocab_size, bias=False)
        # Embeddings ~ N(0, 1/d_model): after the sqrt(d_model) scaling they have unit
        # variance, the scale of the positional encoding (fairseq and tensor2tensor do this).
        for embed in (self.src_embed, self.tgt_embed):
            nn.init.normal_(embed.weight, std=c.d_model ** -0.5)
            with torch.no_grad():
                embed.weight[c.pad_id].zero_()
        if c.tie_embeddings:
            self.out_proj.weight = self.tgt_embed.weight  # one (V, d_model) matrix, two uses

    # -- pieces -----------------------------------------------------------------------------------

    def _embed(self, embedding, ids, start=0, name="tokens"):
        try:
            vectors = embedding(ids)  # (B, T, d_model)
        except IndexError:  # an id outside the vocabulary (raised on the CPU; a GPU asserts on the device)
            self._check_range(ids, name, embedding.num_embeddings)
            raise
        return self.positions(vectors * math.sqrt(self.config.d_model), start)  # (B, T, d_model)

    @staticmethod
    def _check_range(ids, name, vocab_size):
        if ids.numel() and (ids.min() < 0 or ids.max() >= vocab_size):
            raise ValueError(f"{name} holds ids outside [0, {vocab_size}): min {int(ids.min())}, max "
                             f"{int(ids.max())}; was it encoded with the other language's vocabulary?")

    def _check_ids(self, ids, name, vocab_size):
        """The ids' type and shape, every call; their range, on the model's first call only.

        The range check reads the ids' minimum and maximum, and on a GPU a
        read waits until all queued work is done: per step, that would keep
        the CPU from running ahead of the GPU. A wrong vocabulary shows on
        the first batch; on a CPU a later out-of-range id still gets this
        message (from the embedding's ``IndexError``)."""
        if not isinstance(ids, torch.Tensor) or ids.ndim != 2 or ids.dtype != torch.int64:
            got = f"{ids.dtype} {tuple(ids.shape)}" if isinstance(ids, torch.Tensor) else type(ids).__name__
            raise ValueError(f"{name} must be an int64 tensor of token ids (B, length), got {got}")
        checked = self.__dict__.setdefault("_ranges_checked", set())
        if name not in checked:
            self._check_range(ids, name, vocab_size)
            checked.add(name)

    def encode(self, src, need_weights=False):
        """``src (B, S)`` -> ``(memory (B, S, d_model), key_mask (B, S), weights or None)``."""
        self._check_ids(src, "src", self.config.src_vocab_size)
        key_mask = src != self.config.pad_id  # (B, S): True = real token
        memory, weights = self.encoder(self._embed(self.src_embed, src, name="src"), key_mask, need_weights)
        return memory, key_mask, weights

    def decode(self, tgt_in, memory, memory_key_mask, need_weights=False):
        """``tgt_in (B, T)`` -> ``(logits (B, T, V), cross weights or None)``, all positions at once."""
        self._check_ids(tgt_in, "tgt_in", self.config.tgt_vocab_size)
        x, weights = self.decoder(self._embed(self.tgt_embed, tgt_in, name="tgt_in"), memory, memory_key_mask,
                                  need_weights=need_weights)
        return self.out_proj(x), weights  # (B, T, V)

    def forward(self, src, tgt_in):
        """Teacher-forced logits ``(B, T, tgt_vocab_size)`` of ``src (B, S)`` and
        ``tgt_in (B, T)`` token ids (``fit`` calls ``model(*x)`` with a
        translation batch's ``x = (src, tgt_in)``)."""
        memory, key_mask, _ = self.encode(src)
        logits, _ = self.decode(tgt_in, memory, key_mask)
        return logits

    def attention_maps(self, src, tgt_in, average_heads=True):
        """Attention weights of one teacher-forced pass, in eval mode: ``{"encoder": [(B, S, S)
        per layer], "cross": [(B, T, S) per layer]}``, averaged over the heads, or with
        ``average_heads=False`` one map per head, ``(B, nhead, S, S)`` and ``(B, nhead, T, S)``."""
        was_training = self.training
        self.eval()
        try:
            with torch.no_grad():
                memory, key_mask, enc_weights = self.encode(src, need_weights=True)
                _, cross_weights = self.decode(tgt_in, memory, key_mask, need_weights=True)
        finally:
            self.train(was_training)
        if average_heads:
            enc_weights = [w.mean(dim=1) for w in enc_weights]  # (B, nhead, S, S) -> (B, S, S)
            cross_weights = [w.mean(dim=1) for w in cross_weights]  # (B, nhead, T, S) -> (B, T, S)
        return {"encoder": enc_weights, "cross": cross_weights}

    # -- incremental decoding (the interface of course_utils.decoding) ----------------------------

    def start(self, src):
        """Encode ``src (B, S)`` and return the :class:`DecoderState` for :meth:`step`."""
        memory, key_mask, _ = self.encode(src)
        caches = [(KVCache(), KVCache(static=True)) for _ in self.decoder.layers]
        return DecoderState(memory, key_mask, caches)

    def step(self, state, tokens):
        """Feed the newest token of each row, ``tokens (B,)``, and return the
        logits ``(B, V)`` of the token after it.

        Each decoder layer appends the new position's keys and values to its
        self-attention cache, so a step costs one position, not a re-run of
        the whole prefix; the cross-attention keys and values of the encoder
        output are projected once, at the first step.
        """
        x = self._embed(self.tgt_embed, tokens[:, None], start=state.position)  # (B, 1, d_model)
        x, _ = self.decoder(x, state.memory, state.memory_key_mask, caches=state.caches)
        state.position += 1
        return self.out_proj(x[:, -1])  # (B, d_model) -> (B, V)

    @staticmethod
    def reorder(state, index):
        """Select (or repeat) the rows ``index`` of a decoding state."""
        return state.reorder(index)


def transformer(src_vocab_size, tgt_vocab_size, **kwargs):
    """A :class:`Transformer` with the sizes of :class:`TransformerConfig`.

    Args:
        src_vocab_size, tgt_vocab_size: vocabulary sizes.
        **kwargs: any other field of :class:`TransformerConfig` (``d_model``,
            ``nhead``, ``num_encoder_layers``, ``norm_first``, ...).
    """
    return Transformer(TransformerConfig(src_vocab_size, tgt_vocab_size, **kwargs))


# ---------------------------------------------------------------------------
# The paper's learning-rate schedule
# ---------------------------------------------------------------------------


def warmup_inverse_sqrt(step, d_model, warmup_steps, scale=1.0):
    """The learning rate of Vaswani et al. (2017), eq. 3, at ``step`` (counted from 1):
    ``scale * d_model^-0.5 * min(step^-0.5, step * warmup_steps^-1.5)``.

    It rises linearly for ``warmup_steps`` steps to its peak
    ``scale / sqrt(d_model * warmup_steps)``, then decays as ``1 / sqrt(step)``.
    """
    if warmup_steps < 1 or d_model < 1:
        raise ValueError(f"d_model and warmup_steps must be positive, got {d_model} and {warmup_steps}")
    step = max(step, 1)
    return scale * d_model ** -0.5 * min(step ** -0.5, step * warmup_steps ** -1.5)


class WarmupInverseSqrt:
    """:func:`warmup_inverse_sqrt` as the multiplier function of a ``LambdaLR``
    (an object, not a lambda, so that its settings are saved in the scheduler's
    state and a checkpoint knows which schedule it belongs to)."""

    def __init__(self, d_model, warmup_steps, scale=1.0):
        warmup_inverse_sqrt(1, d_model, warmup_steps)  # checks the arguments
        self.d_model, self.warmup_steps, self.scale = d_model, warmup_steps, scale

    def __call__(self, i):
        return warmup_inverse_sqrt(i + 1, self.d_model, self.warmup_steps, self.scale)  # LambdaLR counts from 0


def warmup_scheduler(optimizer, d_model, warmup_steps, scale=1.0):
    """A ``LambdaLR`` that sets the learning rate to :func:`warmup_inverse_sqrt`;
    step it after every batch (``fit`` does). Give the optimizer ``lr=1``: the
    schedule's value multiplies it."""
    return torch.optim.lr_scheduler.LambdaLR(optimizer, WarmupInverseSqrt(d_model, warmup_steps, scale))
