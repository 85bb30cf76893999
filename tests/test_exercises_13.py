"""Notebook 13's checkers accept the reference solutions, reject wrong answers
and report stubs as not attempted."""

import collections

import pytest
import torch

from course_utils.exercises import ExerciseError, ex13
from solutions import ex13 as sol


def stub(*args):
    raise NotImplementedError


@pytest.mark.parametrize("check,answer", [
    (ex13.check_layer_norm, sol.layer_norm),
    (ex13.check_transformer_params, sol.transformer_params),
    (ex13.check_beam_step, sol.beam_step),
    (ex13.check_clipped_precision, sol.clipped_precision),
])
def test_solution_accepted_and_stub_not_attempted(check, answer, capsys):
    assert check(answer) is True
    assert "correct" in capsys.readouterr().out
    assert check(stub) is False
    assert "not attempted" in capsys.readouterr().out
    assert check(lambda *args: None) is False  # returning None counts as not attempted


def unbiased_variance(x, weight, bias, eps):
    return (x - x.mean(-1, keepdim=True)) / (x.var(-1, keepdim=True) + eps).sqrt() * weight + bias


def over_the_batch(x, weight, bias, eps):
    """Batch norm's statistics: over the first dimension."""
    mean = x.mean(0, keepdim=True)
    var = ((x - mean) ** 2).mean(0, keepdim=True)
    return (x - mean) / (var + eps).sqrt() * weight + bias


def eps_outside_the_root(x, weight, bias, eps):
    mean = x.mean(-1, keepdim=True)
    return (x - mean) / (((x - mean) ** 2).mean(-1, keepdim=True).sqrt() + eps) * weight + bias


def no_final_norms(d_model, nhead, n_enc, n_dec, ff):
    return sol.transformer_params(d_model, nhead, n_enc, n_dec, ff) - 4 * d_model


def one_attention_per_decoder_layer(d_model, nhead, n_enc, n_dec, ff):
    return sol.transformer_params(d_model, nhead, n_enc, n_dec, ff) - n_dec * (4 * d_model * d_model + 4 * d_model)


def per_beam_topk(scores, log_probs, beam_size):
    """The best token of each beam: not the best extensions overall."""
    best, token = log_probs.max(-1)
    total = scores + best
    new_scores, beam = total.topk(beam_size, dim=1)
    return new_scores, beam, token.gather(1, beam)


def swapped_beam_and_token(scores, log_probs, beam_size):
    new_scores, beam, token = sol.beam_step(scores, log_probs, beam_size)
    vocab = log_probs.shape[-1]
    index = beam * vocab + token
    k = log_probs.shape[1]
    return new_scores, index % k, index // k


def unclipped(hypothesis, references, n):
    grams = [tuple(hypothesis[i:i + n]) for i in range(len(hypothesis) - n + 1)]
    refs = {tuple(r[i:i + n]) for r in references for i in range(len(r) - n + 1)}
    return sum(g in refs for g in grams), len(grams)


def clipped_by_the_sum_of_references(hypothesis, references, n):
    counts = collections.Counter(tuple(hypothesis[i:i + n]) for i in range(len(hypothesis) - n + 1))
    total = collections.Counter()
    for r in references:
        total += collections.Counter(tuple(r[i:i + n]) for i in range(len(r) - n + 1))
    return sum(min(c, total[g]) for g, c in counts.items()), max(len(hypothesis) - n + 1, 0)


def first_reference_only(hypothesis, references, n):
    return sol.clipped_precision(hypothesis, references[:1], n)


@pytest.mark.parametrize("check,wrong", [
    (ex13.check_layer_norm, unbiased_variance),
    (ex13.check_layer_norm, over_the_batch),
    (ex13.check_layer_norm, eps_outside_the_root),
    (ex13.check_transformer_params, no_final_norms),
    (ex13.check_transformer_params, one_attention_per_decoder_layer),
    (ex13.check_beam_step, per_beam_topk),
    (ex13.check_beam_step, swapped_beam_and_token),
    (ex13.check_clipped_precision, unclipped),
    (ex13.check_clipped_precision, clipped_by_the_sum_of_references),
    (ex13.check_clipped_precision, first_reference_only),
])
def test_wrong_answers_are_rejected(check, wrong):
    with pytest.raises(ExerciseError):
        check(wrong)


def test_a_crashing_answer_is_reported_plainly():
    def crashes(scores, log_probs, beam_size):
        return torch.topk(scores, beam_size + 100)  # more than there are

    with pytest.raises(ExerciseError, match="raised RuntimeError"):
        ex13.check_beam_step(crashes)
