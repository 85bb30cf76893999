"""Autoregressive decoding, separate from any model: greedy search and beam search.

A model that can be decoded offers three methods (the course's
``models.transformer.Transformer`` does, with cached keys and values):

- ``state = model.start(src)``: read the source ``src (B, S)``;
- ``logits = model.step(state, tokens)``: feed the newest token of each row,
  ``tokens (B,)`` (``<bos>`` first), and get the scores ``(B, V)`` of the
  next token; the state remembers the prefix;
- ``state = model.reorder(state, index)``: keep (or repeat) the rows ``index``
  of the state, as beam search does when hypotheses survive or die.

:class:`FullPrefix` gives any ``model(src, tgt_in) -> logits (B, T, V)`` this
interface by re-running the whole prefix at every step (no cache: step ``t``
costs ``t`` positions instead of one).

Both searches stop a sequence at ``eos_id`` or after ``max_len`` generated
tokens, and return the tokens without ``<bos>`` and ``<eos>``.
"""

import contextlib
import math
import struct

import torch
import torch.nn.functional as F
from torch import nn

from course_utils.modes import eval_mode


class FullPrefix(nn.Module):
    """The decoding interface for a model without a cache: ``model(src, tgt_in)`` is
    called on the whole prefix at every step and its last position is used."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def start(self, src):
        return {"src": src, "prefix": src.new_zeros((src.shape[0], 0))}

    def step(self, state, tokens):
        state["prefix"] = torch.cat([state["prefix"], tokens[:, None]], dim=1)  # (B, t + 1)
        return self.model(state["src"], state["prefix"])[:, -1]  # (B, t + 1, V) -> (B, V)

    @staticmethod
    def reorder(state, index):
        return {"src": state["src"].index_select(0, index), "prefix": state["prefix"].index_select(0, index)}


def _decoding_mode(model):
    """No gradients, and eval mode (dropout off) for a module, restored afterwards."""
    stack = contextlib.ExitStack()
    stack.enter_context(torch.no_grad())
    if isinstance(model, nn.Module):
        stack.enter_context(eval_mode(model))
    return stack


def _check(src, max_len, bos_id, eos_id):
    if not isinstance(src, torch.Tensor) or src.ndim != 2:
        raise ValueError(f"src must be a (B, S) tensor of token ids, got {getattr(src, 'shape', type(src))}")
    if not isinstance(max_len, int) or max_len < 1:
        raise ValueError(f"max_len must be a positive int (the most tokens to generate), got {max_len!r}")
    if bos_id == eos_id:
        raise ValueError(f"bos_id and eos_id must differ, both are {bos_id}")


def greedy_search(model, src, *, bos_id, eos_id, max_len):
    """Pick the most likely token at every step.

    Args:
        model: offers ``start``, ``step`` and ``reorder`` (module docstring).
        src: ``(B, S)`` source token ids.
        bos_id, eos_id: the start and stop tokens.
        max_len: the most tokens generated per sequence (``<eos>`` included).

    Returns:
        A list of ``B`` lists of token ids, without ``<bos>`` and ``<eos>``.
    """
    _check(src, max_len, bos_id, eos_id)
    batch = src.shape[0]
    with _decoding_mode(model):
        state = model.start(src)
        tokens = torch.full((batch,), bos_id, dtype=torch.int64, device=src.device)
        finished = torch.zeros(batch, dtype=torch.bool, device=src.device)
        steps = []
        for _ in range(max_len):
            tokens = model.step(state, tokens).argmax(dim=-1)  # (B,)
            tokens = tokens.masked_fill(finished, eos_id)  # a finished row keeps emitting <eos>
            steps.append(tokens)
            finished |= tokens == eos_id
            if bool(finished.all()):
                break
    out = torch.stack(steps, dim=1).tolist()  # (B, t)
    return [row[:row.index(eos_id)] if eos_id in row else row for row in out]


def _float32_bits(values):
    """float32 values as int64 holding their bits, so that they travel in one int64 tensor."""
    return values.float().contiguous().view(torch.int32).long()


def _from_bits(bits):
    """The float32 value (as a Python float) whose bits an int from :func:`_float32_bits` holds."""
    return struct.unpack("<f", struct.pack("<i", bits))[0]


def _read_hypotheses(scores, tokens):
    """``scores (B, k)`` and ``tokens (B, k, t)`` as Python lists, read from the
    device in one copy (each read waits for the device's queued work)."""
    rows = torch.cat([_float32_bits(scores)[:, :, None], tokens], dim=2).tolist()  # (B, k, 1 + t)
    return [[(_from_bits(row[0]), row[1:]) for row in beams] for beams in rows]


def length_penalty(length, alpha):
    """GNMT's length normalisation (Wu et al., 2016, eq. 14): ``((5 + length) / 6) ** alpha``.

    Beam search ranks finished hypotheses by ``log P / length_penalty``:
    ``alpha = 0`` is plain log-probability, which favours short outputs (every
    token multiplies in a probability below 1); larger ``alpha`` favours longer ones.
    """
    return ((5.0 + length) / 6.0) ** alpha


def beam_search(model, src, *, bos_id, eos_id, max_len, beam_size=4, alpha=0.6, return_scores=False):
    """Keep the ``beam_size`` most likely prefixes at every step.

    Each step extends every live prefix by every token and keeps the
    ``beam_size`` best extensions that do not end in ``<eos>``; an extension
    that ends in ``<eos>`` and ranks among the ``beam_size`` best is set aside
    as a finished hypothesis, scored ``log P / length_penalty(length, alpha)``
    (``length`` counts the tokens generated, ``<eos>`` included). A sentence
    is done when it has ``beam_size`` finished hypotheses (fairseq's rule) or
    after ``max_len`` tokens, when its live prefixes compete too; the best
    score wins. With ``beam_size=1`` this is exactly greedy search.

    Args:
        model, src, bos_id, eos_id, max_len: as :func:`greedy_search`.
        beam_size: the number of prefixes kept.
        alpha: the length penalty's exponent (``>= 0``; 0: none).
        return_scores: also return each winner's score.

    Returns:
        A list of ``B`` lists of token ids (and a list of ``B`` scores).
    """
    _check(src, max_len, bos_id, eos_id)
    if not isinstance(beam_size, int) or beam_size < 1:
        raise ValueError(f"beam_size must be a positive int, got {beam_size!r}")
    if alpha < 0:
        raise ValueError(f"alpha must be >= 0 (0: no length penalty), got {alpha}")
    batch, k, device = src.shape[0], beam_size, src.device
    rows = torch.arange(batch, device=device)
    with _decoding_mode(model):
        state = model.reorder(model.start(src), rows.repeat_interleave(k))  # B * k rows: k copies of each
        tokens = torch.full((batch * k,), bos_id, dtype=torch.int64, device=device)
        scores = torch.full((batch, k), float("-inf"), device=device)
        scores[:, 0] = 0.0  # one live prefix (<bos>) per sentence at the start, not k copies of it
        history = torch.zeros((batch, k, 0), dtype=torch.int64, device=device)
        finished = [[] for _ in range(batch)]  # (score, tokens) per sentence
        done = [False] * batch
        for t in range(max_len):
            log_probs = F.log_softmax(model.step(state, tokens).float(), dim=-1)  # (B * k, V)
            vocab = log_probs.shape[-1]
            candidates = (scores.reshape(-1, 1) + log_probs).reshape(batch, k * vocab)  # (B, k * V)
            top_scores, top_index = candidates.topk(min(2 * k, k * vocab), dim=1)  # (B, 2k), best first
            top_beam, top_token = top_index // vocab, top_index % vocab  # (B, 2k) each
            is_eos = top_token == eos_id
            # <eos> among the k best: a finished hypothesis. The k best extensions' scores and
            # prefixes come to the CPU in one copy per step; a non-finishing one's score is -inf.
            penalty = length_penalty(t + 1, alpha)
            ending = top_scores[:, :k].masked_fill(~is_eos[:, :k], float("-inf"))  # (B, k)
            prefixes = history.gather(1, top_beam[:, :k, None].expand(-1, -1, t))  # (B, k, t)
            for b, beams in enumerate(_read_hypotheses(ending, prefixes)):
                if not done[b]:
                    finished[b].extend((score / penalty, tokens) for score, tokens in beams if math.isfinite(score))
            for b in range(batch):
                done[b] = done[b] or len(finished[b]) >= k
            if all(done):
                break
            # The k best extensions that continue.
            keep_scores, keep = top_scores.masked_fill(is_eos, float("-inf")).topk(k, dim=1)  # (B, k)
            beam, new_tokens = top_beam.gather(1, keep), top_token.gather(1, keep)  # (B, k) each
            history = torch.cat([history.gather(1, beam[:, :, None].expand(-1, -1, t)),  # (B, k, t)
                                 new_tokens[:, :, None]], dim=2)  # (B, k, t + 1)
            scores = keep_scores
            state = model.reorder(state, (rows[:, None] * k + beam).reshape(-1))  # (B * k,) surviving rows
            tokens = new_tokens.reshape(-1)  # (B * k,)
        else:  # max_len reached: live prefixes compete with the finished hypotheses
            penalty = length_penalty(max_len, alpha)
            for b, beams in enumerate(_read_hypotheses(scores, history)):
                if not done[b]:
                    finished[b].extend((score / penalty, tokens) for score, tokens in beams if math.isfinite(score))
    best = [max(f, key=lambda item: item[0]) for f in finished]
    sequences = [tokens for _, tokens in best]
    return (sequences, [score for score, _ in best]) if return_scores else sequences
