"""Checkers for notebook 15 (a GPT on Tiny Shakespeare)."""

import math

import torch

from course_utils.exercises import ExerciseError, NotAttempted, as_int, checker, expect, hint_function
from course_utils.sampling import top_p_mask
from course_utils.tokenizers import merge_pair


def _replay(word, merges):
    for pair in merges:
        word = merge_pair(word, pair, pair[0] + pair[1])
    return word


@checker(hint=(
    "Training learned the merges in an order. Does the order matter when you apply them to a new word? "
    "Try 'lower' with Figure 1's merges by hand, and then the word ('a', 'a', 'a') with the merge ('a', 'a').",
    "Apply the merges one after the other, in the order they were learned (a later merge may join symbols "
    "that an earlier merge made). Each merge replaces every occurrence of its pair in the word, scanning "
    "left to right, so that overlapping occurrences are merged the first one first.",
    "for a, b in merges: walk i over the symbols; where word[i] == a and word[i + 1] == b append a + b and "
    "skip two, else append word[i] and skip one; the result is the word for the next merge. Return a tuple.",
))
def check_apply_merges(apply_merges):
    """``apply_merges(word, merges)``: a tuple of string symbols and a list of learned pairs ->
    the word's symbols after every merge, in order (the merged symbol is ``a + b``)."""
    figure_1 = [("r", "·"), ("l", "o"), ("lo", "w"), ("e", "r·")]
    cases = [
        (tuple("lower") + ("·",), figure_1),
        (tuple("newest") + ("·",), figure_1),
        (("a", "a", "a"), [("a", "a")]),
        (("a", "a", "a", "a", "a"), [("a", "a"), ("aa", "a")]),
        (tuple("banana"), [("a", "n"), ("b", "an"), ("an", "a"), ("ban", "ana")]),
        (tuple("abcabc"), [("x", "y"), ("b", "c"), ("a", "bc"), ("abc", "abc")]),
        (tuple("nan"), [("a", "n"), ("n", "a")]),  # order matters: 'n' 'an', not 'na' 'n'
    ]
    for word, merges in cases:
        got = apply_merges(word, list(merges))
        if got is None:
            raise NotAttempted()
        want = _replay(word, merges)
        if tuple(got) != want:
            raise ExerciseError(f"apply_merges({word}, {merges}) should give {want}, got {tuple(got)}")


@checker(hint=(
    "Sort the probabilities from the most likely token down and add them up one by one: where does the "
    "nucleus stop? Check your answer on probs [0.5, 0.3, 0.2] with p = 0.8 and p = 0.75.",
    "A token belongs to the nucleus when the tokens more likely than it add up to less than p: the most "
    "likely token is always in, and the token that makes the sum reach p is in too. Sort, take a running "
    "sum, decide in sorted order, then put the decisions back in the vocabulary's order.",
    "sorted_probs, order = probs.sort(dim=-1, descending=True); before = sorted_probs.cumsum(-1) - "
    "sorted_probs; keep = before < p; return torch.zeros_like(keep).scatter(-1, order, keep)",
))
def check_nucleus(nucleus):
    """``nucleus(probs (B, V), p)`` -> boolean ``(B, V)``, ``True`` for the tokens of the smallest
    set of most likely tokens whose probabilities sum to at least ``p`` (Holtzman et al., 2020)."""
    exact = torch.tensor([[0.125, 0.5, 0.0625, 0.25, 0.0625], [0.5, 0.25, 0.125, 0.0625, 0.0625]],
                         dtype=torch.float64)  # binary fractions: the sums are exact
    gen = torch.Generator().manual_seed(15)
    random = torch.softmax(torch.randn(4, 9, generator=gen, dtype=torch.float64) * 2, dim=-1)
    cases = [(exact, p) for p in (0.1, 0.5, 0.75, 0.8, 0.99, 1.0)] + [(random, p) for p in (0.3, 0.6, 0.9)]
    for probs, p in cases:
        got = nucleus(probs.clone(), p)
        if got is None:
            raise NotAttempted()
        want = top_p_mask(probs, p)
        if not isinstance(got, torch.Tensor) or got.shape != want.shape:
            raise ExerciseError(f"return a boolean tensor of the probabilities' shape {tuple(want.shape)}, got "
                                f"{tuple(got.shape) if isinstance(got, torch.Tensor) else type(got).__name__}")
        if not torch.equal(got.bool(), want):
            row = int((got.bool() != want).any(dim=-1).nonzero()[0])
            raise ExerciseError(f"with p = {p} and probs {[round(v, 4) for v in probs[row].tolist()]}, the nucleus "
                                f"is {want[row].tolist()}, yours {got.bool()[row].tolist()}")


@checker(hint=(
    "What does one layer keep for every token it has read, so that it need not read the token again? "
    "Count the numbers, then the bytes. Which of the arguments change what a query needs, and which do not?",
    "Each layer keeps a key and a value vector per token; with grouped-query attention only num_kv_heads "
    "heads have their own keys and values (the other query heads share them), each head_dim numbers long. "
    "Multiply by the layers, the tokens, the sequences of the batch and the bytes per number.",
    "return 2 * num_layers * num_kv_heads * head_dim * tokens * batch_size * bytes_per_value",
))
def check_kv_cache_bytes(kv_cache_bytes):
    """``kv_cache_bytes(num_layers, num_kv_heads, head_dim, tokens, batch_size, bytes_per_value)``:
    the memory of a key/value cache, with grouped-query attention (``num_kv_heads`` may be fewer
    than the query heads)."""
    cases = [
        (12, 12, 64, 1024, 1, 2),  # GPT-2 small, a full context in float16
        (4, 4, 32, 64, 12, 4),  # notebook 15's character model in float32
        (96, 96, 128, 2048, 1, 2),  # GPT-3 175B (Brown et al., 2020)
        (80, 8, 128, 4096, 1, 2),  # Llama 2 70B: 64 query heads, 8 key/value heads (Touvron et al., 2023)
        (32, 8, 128, 1000, 3, 1),
    ]
    for case in cases:
        got = as_int(kv_cache_bytes(*case), f"kv_cache_bytes{case}")
        layers, kv_heads, head_dim, tokens, batch, nbytes = case
        want = 2 * layers * kv_heads * head_dim * tokens * batch * nbytes
        if got != want:
            raise ExerciseError(f"kv_cache_bytes(num_layers={layers}, num_kv_heads={kv_heads}, head_dim={head_dim}, "
                                f"tokens={tokens}, batch_size={batch}, bytes_per_value={nbytes}) should be "
                                f"{want:,} bytes, got {got:,}")


@checker(hint=(
    "A perplexity is exp of a loss in nats, per token. Two things change on the way to bits per character: "
    "the unit of information, and what it is counted per.",
    "log2(perplexity) is the loss in bits per token; the text holds num_tokens tokens and num_characters "
    "characters, so the total number of bits is the same however you divide it.",
    "return math.log2(perplexity) * num_tokens / num_characters",
))
def check_bits_per_character(bits_per_character):
    """``bits_per_character(perplexity, num_tokens, num_characters)``: the loss of a model whose
    perplexity per token is ``perplexity`` on a text of ``num_tokens`` tokens and
    ``num_characters`` characters, in bits per character."""
    cases = [(math.e ** 1.5, 100, 100), (8.0, 1000, 2430), (40.0, 46_000, 111_540), (2.0, 5, 1), (1.0, 7, 9)]
    for perplexity, tokens, chars in cases:
        got = bits_per_character(perplexity, tokens, chars)
        if got is None:
            raise NotAttempted()
        want = math.log2(perplexity) * tokens / chars
        expect(torch.tensor(float(got), dtype=torch.float64), torch.tensor(want, dtype=torch.float64),
               f"bits_per_character(perplexity={perplexity:.4g}, num_tokens={tokens}, num_characters={chars})",
               rtol=1e-9, atol=1e-12)


hint = hint_function(__name__)
