"""Notebook 13's checkers reject planted wrong answers (the contract every exercise
keeps is tests/test_exercise_contract.py)."""

import collections

import pytest
import torch
import torch.nn.functional as F

from course_utils.exercises import ExerciseError, ex13
from solutions import ex13 as sol


def layer_norm_instead(x, weight, eps):  # subtracts the mean too
    mean = x.mean(-1, keepdim=True)
    return (x - mean) / (((x - mean) ** 2).mean(-1, keepdim=True) + eps).sqrt() * weight


def rms_eps_outside_the_root(x, weight, eps):
    return x / ((x ** 2).mean(-1, keepdim=True).sqrt() + eps) * weight


def rms_over_the_batch(x, weight, eps):
    return x / ((x ** 2).mean(0, keepdim=True) + eps).sqrt() * weight


def rms_without_weight(x, weight, eps):
    return sol.rms_norm(x, torch.ones_like(weight), eps)


def rms_by_pytorch(x, weight, eps):
    return F.rms_norm(x, (x.shape[-1],), weight, eps)


def rms_by_module(x, weight, eps):
    norm = torch.nn.RMSNorm(x.shape[-1], eps=eps, dtype=x.dtype)
    with torch.no_grad():
        norm.weight.copy_(weight)
    return norm(x)


def backward_direct_path_only(x, weight, eps, grad_output):  # treats the root mean square as a constant
    rms = ((x ** 2).mean(-1, keepdim=True) + eps).sqrt()
    return grad_output * weight / rms, sol.rms_norm_backward(x, weight, eps, grad_output)[1]


def backward_layer_norm_form(x, weight, eps, grad_output):  # also subtracts the mean of the gradient
    rms = ((x ** 2).mean(-1, keepdim=True) + eps).sqrt()
    xhat, g = x / rms, grad_output * weight
    grad_input = (g - g.mean(-1, keepdim=True) - xhat * (g * xhat).mean(-1, keepdim=True)) / rms
    return grad_input, sol.rms_norm_backward(x, weight, eps, grad_output)[1]


def backward_weight_not_summed(x, weight, eps, grad_output):  # one weight gradient per position
    grad_input, _ = sol.rms_norm_backward(x, weight, eps, grad_output)
    return grad_input, grad_output * sol.rms_norm(x, torch.ones_like(weight), eps)


def backward_by_autograd(x, weight, eps, grad_output):
    x = x.clone().requires_grad_(True)
    sol.rms_norm(x, weight, eps).backward(grad_output)
    return x.grad, None


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
    (ex13.check_rms_norm, layer_norm_instead),
    (ex13.check_rms_norm, rms_eps_outside_the_root),
    (ex13.check_rms_norm, rms_over_the_batch),
    (ex13.check_rms_norm, rms_without_weight),
    (ex13.check_rms_norm_backward, backward_direct_path_only),
    (ex13.check_rms_norm_backward, backward_layer_norm_form),
    (ex13.check_rms_norm_backward, backward_weight_not_summed),
    (ex13.check_rms_norm_backward, backward_by_autograd),
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


@pytest.mark.parametrize("pytorchs", [rms_by_pytorch, rms_by_module])
def test_pytorchs_own_rms_norm_is_refused_and_restored(pytorchs):
    saved = F.rms_norm
    with pytest.raises(ExerciseError, match="write it yourself"):
        ex13.check_rms_norm(pytorchs)
    assert F.rms_norm is saved


def test_a_stub_that_returns_none_is_not_attempted():
    assert ex13.check_rms_norm(lambda *args: None) is False
    assert ex13.check_rms_norm_backward(lambda *args: None) is False


def test_a_crashing_answer_is_reported_plainly():
    def crashes(scores, log_probs, beam_size):
        return torch.topk(scores, beam_size + 100)  # more than there are

    with pytest.raises(ExerciseError, match="raised RuntimeError"):
        ex13.check_beam_step(crashes)
