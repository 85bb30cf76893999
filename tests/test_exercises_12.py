"""Notebook 12's checkers reject planted wrong answers with a diagnosis (the
contract every exercise keeps is tests/test_exercise_contract.py), and no hint
before the recipe holds the recipe's formulas."""

import math

import pytest
import torch

from course_utils.exercises import ExerciseError, ex12
from solutions import ex12 as sol

CHECKS = [ex12.check_attention_by_hand, ex12.check_padded_batch_mask, ex12.check_mha_params,
          ex12.check_relative_offset]


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.exercise)
def test_the_nudge_and_the_key_idea_hold_no_formula_of_the_recipe(check):
    """Compare the distinctive pieces of each recipe with the tiers before it."""
    recipe = check.hints[-1]
    for piece in ["sqrt(d)", "@ K.T", "arange(T)", "tril()", "embed_dim x kdim", "4 * embed_dim", "atan2",
                  "10000 **"]:
        for tier in check.hints[:-1]:
            assert not (piece in recipe and piece in tier), (
                f"a hint before the recipe of {check.exercise} gives away {piece!r}")


def unscaled(q, k, v):
    w = torch.softmax(q @ k.T, dim=1)
    return w @ v, w


def softmax_over_queries(q, k, v):
    w = torch.softmax(q @ k.T / math.sqrt(q.shape[-1]), dim=0)
    return w @ v, w


def divided_by_d(q, k, v):
    w = torch.softmax(q @ k.T / q.shape[-1], dim=1)
    return w @ v, w


def output_only(q, k, v):
    return sol.attend(q, k, v)[0]


def pytorch_convention(lengths, max_len, causal):
    return ~sol.padded_batch_mask(lengths, max_len, causal)


def strict_causal(lengths, max_len, causal):
    mask = sol.padded_batch_mask(lengths, max_len, False)
    return mask & torch.ones(max_len, max_len, dtype=torch.bool).tril(-1) if causal else mask


def ignores_causal(lengths, max_len, causal):
    return sol.padded_batch_mask(lengths, max_len, False)


def masks_queries_too(lengths, max_len, causal):
    real = torch.arange(max_len)[None, :] < lengths[:, None]
    return sol.padded_batch_mask(lengths, max_len, causal) & real[:, :, None]


def float_mask(lengths, max_len, causal):
    return sol.padded_batch_mask(lengths, max_len, causal).float()


def per_head_count(embed_dim, num_heads, kdim, vdim, bias):
    return num_heads * sol.mha_params(embed_dim, num_heads, kdim, vdim, bias)


def no_bias_count(embed_dim, num_heads, kdim, vdim, bias):
    return sol.mha_params(embed_dim, num_heads, kdim, vdim, False)


def square_projections(embed_dim, num_heads, kdim, vdim, bias):
    return sol.mha_params(embed_dim, num_heads, embed_dim, embed_dim, bias)


def reversed_offset(pe_p, pe_q):
    return -sol.relative_offset(pe_p, pe_q)


def fastest_circle(pe_p, pe_q):
    """Uses the first pair (omega = 1): wraps around for offsets beyond pi."""
    delta = math.atan2(float(pe_q[0]), float(pe_q[1])) - math.atan2(float(pe_p[0]), float(pe_p[1]))
    return round((delta + math.pi) % (2 * math.pi) - math.pi)


@pytest.mark.parametrize("check,wrong,match", [
    (ex12.check_attention_by_hand, unscaled, "unscaled"),
    (ex12.check_attention_by_hand, softmax_over_queries, "columns add up to 1"),
    (ex12.check_attention_by_hand, divided_by_d, "weights"),
    (ex12.check_padded_batch_mask, pytorch_convention, "exactly inverted"),
    (ex12.check_padded_batch_mask, strict_causal, "diagonal included"),
    (ex12.check_padded_batch_mask, ignores_causal, "future is not masked"),
    (ex12.check_padded_batch_mask, masks_queries_too, r"entry \(b, query, key\)"),
    (ex12.check_padded_batch_mask, float_mask, "boolean"),
    (ex12.check_mha_params, per_head_count, "changes with num_heads"),
    (ex12.check_mha_params, no_bias_count, "biases are missing"),
    (ex12.check_mha_params, square_projections, "you counted"),
    (ex12.check_relative_offset, reversed_offset, "sign is reversed"),
    (ex12.check_relative_offset, fastest_circle, "the offset is"),
])
def test_wrong_answers_rejected_with_a_diagnosis_and_not_the_recipe(check, wrong, match):
    check.reset()
    with pytest.raises(ExerciseError, match=match) as err:
        check(wrong)
    assert "Hint 1 of 3" in str(err.value) and check.hints[-1] not in str(err.value)


def test_wrong_return_type_says_what_to_return():
    """A mistake in the interface, not in the idea: the message says what to return (no recipe needed)."""
    with pytest.raises(ExerciseError, match="two tensors"):
        ex12.check_attention_by_hand(output_only)
