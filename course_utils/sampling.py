"""Generating text from a language model: greedy, temperature, top-k and top-p sampling, with a key/value cache.

A language model gives, after a prefix, logits over the next token. Turning
them into a choice:

- **greedy**: the most likely token (``temperature=0``); deterministic, and
  prone to loops ("the the the");
- **temperature** ``tau``: sample from ``softmax(logits / tau)``; ``tau < 1``
  sharpens the distribution towards greedy, ``tau > 1`` flattens it;
- **top-k** (Fan, Lewis & Dauphin, 2018): sample among the ``k`` most likely
  tokens only (``top_k=1`` is greedy);
- **top-p**, nucleus sampling (Holtzman et al., 2020, section 3.1): sample
  among the smallest set of most likely tokens whose probabilities add up to
  at least ``p``; the set is small where the model is sure and large where it
  is not.

They compose in that order: temperature, then top-k, then top-p (as Hugging
Face's ``generate`` does). :func:`generate` runs the loop; with
``use_cache=True`` the model reads the prompt once and then one new token per
step (``model(ids, cache=cache)``, as ``course_utils.models.gpt.GPT``
offers), instead of re-reading the whole prefix every step. A sequence
longer than the model's context is generated as nanoGPT does: each step reads
the last ``context_length`` tokens (with the cache, it is rebuilt from them
when full), so the cached and uncached loops produce the same tokens.
"""

import math

import torch

from course_utils.modes import eval_mode


def _check_settings(temperature, top_k, top_p):
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not math.isfinite(temperature) \
            or temperature < 0:
        raise ValueError(f"temperature must be a finite number >= 0 (0 means greedy: always the most likely "
                         f"token), got {temperature!r}")
    if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1):
        raise ValueError(f"top_k must be None (no limit) or an int >= 1 (1 means greedy), got {top_k!r}")
    if top_p is not None and (isinstance(top_p, bool) or not isinstance(top_p, (int, float)) or not 0 < top_p <= 1):
        raise ValueError(f"top_p must be None (no limit) or in (0, 1] (1 keeps every token), got {top_p!r}")


def top_k_filter(logits, k):
    """``logits (..., V)`` with everything below the ``k``-th largest set to ``-inf``
    (tokens tied with the ``k``-th are kept; ``k >= V`` keeps all)."""
    if k >= logits.shape[-1]:
        return logits
    kth = torch.topk(logits, k, dim=-1).values[..., -1:]  # (..., 1)
    return logits.masked_fill(logits < kth, float("-inf"))


def top_p_mask(probs, p):
    """Boolean ``(..., V)``: ``True`` for the tokens of the nucleus, the smallest set of
    most likely tokens whose probabilities sum to at least ``p`` (Holtzman et al., 2020).

    Sorted from most to least likely, a token is kept when the tokens before it
    sum to less than ``p``: the first token always is, and the set stops at the
    token that makes the sum reach ``p``.
    """
    sorted_probs, order = probs.sort(dim=-1, descending=True)  # (..., V)
    before = sorted_probs.cumsum(dim=-1) - sorted_probs  # (..., V): the mass of the more likely tokens
    keep_sorted = before < p
    return torch.zeros_like(keep_sorted).scatter(-1, order, keep_sorted)  # back to vocabulary order


def next_token_probs(logits, temperature=1.0, top_k=None, top_p=None):
    """The distribution ``(B, V)`` sampled from, for logits ``(B, V)``: temperature, then
    top-k, then top-p, renormalised. ``temperature=0``: all mass on the argmax."""
    _check_settings(temperature, top_k, top_p)
    logits = logits.float()
    if temperature == 0 or top_k == 1:
        return torch.zeros_like(logits).scatter_(-1, logits.argmax(dim=-1, keepdim=True), 1.0)
    logits = logits / temperature
    if top_k is not None:
        logits = top_k_filter(logits, top_k)
    probs = torch.softmax(logits, dim=-1)
    if top_p is not None and top_p < 1:
        probs = probs * top_p_mask(probs, top_p)
        probs = probs / probs.sum(dim=-1, keepdim=True)
    return probs


def sample_next(logits, temperature=1.0, top_k=None, top_p=None, generator=None):
    """One token per row, ``(B,)``, from logits ``(B, V)`` (see :func:`next_token_probs`);
    greedy (no random numbers drawn) when ``temperature=0`` or ``top_k=1``."""
    _check_settings(temperature, top_k, top_p)
    if temperature == 0 or top_k == 1:
        return logits.argmax(dim=-1)
    probs = next_token_probs(logits, temperature, top_k, top_p)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)  # (B,)


def _check_prompt(prompt, vocab_size, context_length):
    if not isinstance(prompt, torch.Tensor) or prompt.ndim != 2 or prompt.dtype != torch.int64:
        got = f"{prompt.dtype} {tuple(prompt.shape)}" if isinstance(prompt, torch.Tensor) else type(prompt).__name__
        hint = ": add a batch dimension with prompt[None]" if isinstance(prompt, torch.Tensor) and prompt.ndim == 1 \
            else ""
        raise ValueError(f"prompt must be an int64 tensor of token ids (B, T), got {got}{hint}")
    if prompt.shape[1] == 0:
        raise ValueError("the prompt is empty: give at least one token (e.g. the id of a newline)")
    if prompt.shape[1] > context_length:
        raise ValueError(f"the prompt has {prompt.shape[1]} tokens, more than the model's context of "
                         f"{context_length}: pass its end, prompt[:, -{context_length}:]")
    low, high = int(prompt.min()), int(prompt.max())
    if low < 0 or high >= vocab_size:
        raise ValueError(f"the prompt holds ids outside the vocabulary [0, {vocab_size}): min {low}, max {high}; "
                         "was it encoded with another tokenizer?")


@torch.no_grad()
def generate(model, prompt, max_new_tokens, *, temperature=1.0, top_k=None, top_p=None, use_cache=True,
             generator=None, seed=None):
    """Extend ``prompt (B, T)`` by ``max_new_tokens`` tokens; returns ``(B, T + max_new_tokens)`` ids.

    Args:
        model: ``model(ids) -> logits (B, T, V)`` with ``model.config.vocab_size``
            and ``model.config.context_length``; for ``use_cache``, also
            ``model.new_cache()`` and ``model(ids, cache=cache)`` (the course's GPT).
        prompt: ``(B, T)`` int64 ids, ``1 <= T <= context_length`` (a longer
            prompt is an error: pass its end).
        max_new_tokens: how many tokens to add.
        temperature: ``0`` for greedy decoding, else the softmax temperature.
        top_k, top_p: ``None`` or the limits of :func:`next_token_probs`.
        use_cache: keep the keys and values of past positions (one position
            per step) instead of re-reading the prefix.
        generator, seed: the random numbers of the sampling: a
            ``torch.Generator`` on the prompt's device, or a seed for a new one
            (neither: PyTorch's global generator). The same seed gives the same
            text.

    The model runs in eval mode (dropout off) and returns to its mode after.
    """
    config = model.config
    _check_prompt(prompt, config.vocab_size, config.context_length)
    _check_settings(temperature, top_k, top_p)
    if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int) or max_new_tokens < 0:
        raise ValueError(f"max_new_tokens must be an int >= 0, got {max_new_tokens!r}")
    if generator is not None and seed is not None:
        raise ValueError("pass a generator or a seed, not both")
    if seed is not None:
        generator = torch.Generator(device=prompt.device).manual_seed(seed)
    context = config.context_length
    ids = prompt
    with eval_mode(model):
        cache = model.new_cache() if use_cache else None
        logits = model(ids, cache=cache)[:, -1] if use_cache else model(ids)[:, -1]  # (B, V)
        for step in range(max_new_tokens):
            token = sample_next(logits, temperature, top_k, top_p, generator)  # (B,)
            ids = torch.cat([ids, token[:, None]], dim=1)  # (B, T + step + 1)
            if step == max_new_tokens - 1:
                break
            if not use_cache:
                logits = model(ids[:, -context:])[:, -1]
            elif len(cache) < context:
                logits = model(token[:, None], cache=cache)[:, -1]  # one new position
            else:  # the context is full: read the last context_length tokens afresh
                cache = model.new_cache()
                logits = model(ids[:, -context:], cache=cache)[:, -1]
    return ids
