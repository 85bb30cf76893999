"""Notebook 15's checkers reject planted wrong answers (the contract every exercise
keeps is tests/test_exercise_contract.py)."""

import math

import pytest
import torch

from course_utils.exercises import ExerciseError, ex15
from solutions import ex15 as sol

# ---------------------------------------------------------------------------
# Planted errors
# ---------------------------------------------------------------------------


def first_occurrence_only(word, merges):
    for a, b in merges:
        for i in range(len(word) - 1):
            if word[i] == a and word[i + 1] == b:
                word = word[:i] + (a + b,) + word[i + 2:]
                break
    return word


def merges_in_reverse(word, merges):
    return sol.apply_merges(word, list(reversed(merges)))


def right_to_left(word, merges):
    """Overlapping occurrences merged from the right: ('a', 'a', 'a') -> ('a', 'aa')."""
    for a, b in merges:
        merged, i = [], len(word) - 1
        while i >= 0:
            if i >= 1 and word[i - 1] == a and word[i] == b:
                merged.append(a + b)
                i -= 2
            else:
                merged.append(word[i])
                i -= 1
        word = tuple(reversed(merged))
    return word


def stops_before_reaching_p(probs, p):
    sorted_probs, order = probs.sort(dim=-1, descending=True)
    keep = sorted_probs.cumsum(-1) <= p  # leaves out the token that makes the sum reach p
    keep[..., 0] = True
    return torch.zeros_like(keep).scatter(-1, order, keep)


def threshold_at_p(probs, p):
    return probs >= (1 - p) * probs.max(dim=-1, keepdim=True).values


def forgets_to_unsort(probs, p):
    sorted_probs, _ = probs.sort(dim=-1, descending=True)
    return (sorted_probs.cumsum(-1) - sorted_probs) < p


def one_tensor_per_layer(num_layers, num_kv_heads, head_dim, tokens, batch_size, bytes_per_value):
    return num_layers * num_kv_heads * head_dim * tokens * batch_size * bytes_per_value  # keys, no values


def ignores_the_batch(num_layers, num_kv_heads, head_dim, tokens, batch_size, bytes_per_value):
    return 2 * num_layers * num_kv_heads * head_dim * tokens * bytes_per_value


def nats_not_bits(perplexity, num_tokens, num_characters):
    return math.log(perplexity) * num_tokens / num_characters


def per_token_not_per_character(perplexity, num_tokens, num_characters):
    return math.log2(perplexity)


def ratio_upside_down(perplexity, num_tokens, num_characters):
    return math.log2(perplexity) * num_characters / num_tokens


@pytest.mark.parametrize("check,wrong", [
    (ex15.check_apply_merges, first_occurrence_only),
    (ex15.check_apply_merges, merges_in_reverse),
    (ex15.check_apply_merges, right_to_left),
    (ex15.check_nucleus, stops_before_reaching_p),
    (ex15.check_nucleus, threshold_at_p),
    (ex15.check_nucleus, forgets_to_unsort),
    (ex15.check_kv_cache_bytes, one_tensor_per_layer),
    (ex15.check_kv_cache_bytes, ignores_the_batch),
    (ex15.check_bits_per_character, nats_not_bits),
    (ex15.check_bits_per_character, per_token_not_per_character),
    (ex15.check_bits_per_character, ratio_upside_down),
])
def test_wrong_answers_are_rejected(check, wrong):
    check.reset()
    with pytest.raises(ExerciseError):
        check(wrong)
    check.reset()


def test_a_crashing_answer_is_reported_plainly():
    def crashes(probs, p):
        return probs.topk(100)

    with pytest.raises(ExerciseError, match="raised RuntimeError"):
        ex15.check_nucleus(crashes)
