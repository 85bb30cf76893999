"""Greedy and beam search: on tiny models whose best sequence is known (or found by
enumerating every sequence), beam size 1 against greedy, and the cache against none."""

import itertools
import math

import pytest
import torch

from course_utils import decoding
from course_utils.models import transformer as tr

BOS, EOS = 0, 1


class TableModel:
    """Next-token log-probabilities from a table: ``table[prefix] -> (V,) tensor``
    (prefix without <bos>); prefixes not in the table get ``default``.
    It has the decoding interface; the state is each row's prefix."""

    def __init__(self, table, vocab_size, default=None):
        self.table, self.vocab_size = table, vocab_size
        self.default = default if default is not None else torch.full((vocab_size,), -math.log(vocab_size))

    def start(self, src):
        return [[] for _ in range(src.shape[0])]

    def step(self, state, tokens):
        rows = []
        for prefix, token in zip(state, tokens.tolist()):
            if token != BOS:
                prefix.append(token)
            rows.append(self.table.get(tuple(prefix), self.default))
        return torch.stack(rows)

    @staticmethod
    def reorder(state, index):
        return [list(state[i]) for i in index.tolist()]


def log_probs(**p):
    """A (4,) log-probability vector over tokens <bos>=0, <eos>=1, a=2, b=3."""
    v = torch.full((4,), 1e-9)
    for name, value in p.items():
        v[{"eos": 1, "a": 2, "b": 3}[name]] = value
    return (v / v.sum()).log()


A, B = 2, 3
# Greedy takes "a" (0.6) and then has only weak continuations; "b <eos>" is 0.4 * 0.9 = 0.36,
# the most likely sequence, but greedy's best is "a <eos>" = 0.6 * 0.4 = 0.24.
TRAP = TableModel({(): log_probs(a=0.6, b=0.4), (A,): log_probs(eos=0.4, a=0.3, b=0.3),
                   (B,): log_probs(eos=0.9, a=0.05, b=0.05)}, 4, default=log_probs(eos=1.0))


def test_greedy_falls_into_the_trap_and_beam_search_does_not():
    src = torch.zeros(1, 3, dtype=torch.long)
    assert decoding.greedy_search(TRAP, src, bos_id=BOS, eos_id=EOS, max_len=5) == [[A]]
    assert decoding.beam_search(TRAP, src, bos_id=BOS, eos_id=EOS, max_len=5, beam_size=1, alpha=0) == [[A]]
    best, score = decoding.beam_search(TRAP, src, bos_id=BOS, eos_id=EOS, max_len=5, beam_size=2, alpha=0,
                                       return_scores=True)
    assert best == [[B]] and score[0] == pytest.approx(math.log(0.36), abs=1e-6)


def random_table_model(seed, vocab=4, max_len=3):
    gen = torch.Generator().manual_seed(seed)
    table = {}
    for n in range(max_len):
        for prefix in itertools.product(range(2, vocab), repeat=n):
            logits = torch.randn(vocab, generator=gen) * 2
            logits[BOS] = -1e9  # <bos> is never generated
            table[prefix] = torch.log_softmax(logits, -1)
    return TableModel(table, vocab)


def brute_force_best(model, max_len, alpha):
    """Score every sequence: words then <eos> (length = words + 1), or max_len words cut off."""
    best = (-math.inf, None)
    for n in range(max_len + 1):
        for words in itertools.product(range(2, model.vocab_size), repeat=n):
            logp = sum(float(model.table[words[:i]][w]) for i, w in enumerate(words))
            if n < max_len:
                logp += float(model.table[words][EOS])
            score = logp / decoding.length_penalty(min(n + 1, max_len), alpha)
            best = max(best, (score, list(words)))
    return best


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("alpha", [0.0, 0.6, 2.0])
def test_a_wide_beam_finds_the_best_sequence(seed, alpha):
    model, max_len = random_table_model(seed), 3
    score, words = brute_force_best(model, max_len, alpha)
    src = torch.zeros(1, 2, dtype=torch.long)
    found, found_score = decoding.beam_search(model, src, bos_id=BOS, eos_id=EOS, max_len=max_len, beam_size=64,
                                              alpha=alpha, return_scores=True)
    assert found == [words] and found_score[0] == pytest.approx(score, abs=1e-5)


@pytest.mark.parametrize("seed", range(6))
def test_beam_size_one_is_greedy_on_table_models(seed):
    model = random_table_model(seed, vocab=5, max_len=4)
    src = torch.zeros(3, 2, dtype=torch.long)
    greedy = decoding.greedy_search(model, src, bos_id=BOS, eos_id=EOS, max_len=4)
    for alpha in (0.0, 1.0):
        assert decoding.beam_search(model, src, bos_id=BOS, eos_id=EOS, max_len=4, beam_size=1, alpha=alpha) == greedy


@pytest.fixture(scope="module")
def random_transformer():
    torch.manual_seed(1)  # a seed whose sequences end at different lengths (checked below)
    model = tr.transformer(12, 9, d_model=16, nhead=2, dim_feedforward=32, dropout=0.3, tie_embeddings=False).double()
    with torch.no_grad():  # sharpen the output distribution
        model.out_proj.weight.mul_(4)
    src = torch.randint(3, 12, (7, 5))
    src[2, 3:] = 0  # padding
    src[:, -1] = torch.where(src[:, -1] == 0, 0, 2)
    return model, src


def test_beam_size_one_is_greedy_on_a_transformer(random_transformer):
    model, src = random_transformer
    greedy = decoding.greedy_search(model, src, bos_id=1, eos_id=2, max_len=12)
    assert len({len(g) for g in greedy}) > 1  # the sequences end at different steps
    assert decoding.beam_search(model, src, bos_id=1, eos_id=2, max_len=12, beam_size=1) == greedy
    assert model.training  # decoding ran in eval mode (dropout off) and restored the mode


def test_cached_decoding_equals_recomputing_the_prefix(random_transformer):
    model, src = random_transformer
    for search in (decoding.greedy_search, lambda *a, **k: decoding.beam_search(*a, beam_size=3, **k)):
        cached = search(model, src, bos_id=1, eos_id=2, max_len=10)
        recomputed = search(decoding.FullPrefix(model), src, bos_id=1, eos_id=2, max_len=10)
        assert cached == recomputed


def test_beam_scores_are_the_length_normalised_log_probabilities(random_transformer):
    model, src = random_transformer
    sequences, scores = decoding.beam_search(model, src, bos_id=1, eos_id=2, max_len=12, beam_size=3, alpha=0.6,
                                             return_scores=True)
    model.eval()
    for row, (seq, score) in enumerate(zip(sequences, scores)):
        ended = len(seq) < 12
        tgt = torch.tensor([[1] + seq + ([2] if ended else [])])
        logp = torch.log_softmax(model(src[row:row + 1], tgt[:, :-1]), -1)  # (1, T, V)
        total = logp[0, torch.arange(tgt.shape[1] - 1), tgt[0, 1:]].sum().item()
        assert score == pytest.approx(total / decoding.length_penalty(tgt.shape[1] - 1, 0.6), abs=1e-6)
    model.train()


def test_max_len_and_eos():
    loop = TableModel({}, 4, default=log_probs(a=0.9, eos=0.1))  # never wants to stop
    src = torch.zeros(2, 1, dtype=torch.long)
    assert decoding.greedy_search(loop, src, bos_id=BOS, eos_id=EOS, max_len=4) == [[A] * 4] * 2
    assert decoding.beam_search(loop, src, bos_id=BOS, eos_id=EOS, max_len=4, beam_size=2, alpha=0) == [[]] * 2
    stop = TableModel({}, 4, default=log_probs(eos=0.9, a=0.1))
    assert decoding.greedy_search(stop, src, bos_id=BOS, eos_id=EOS, max_len=4) == [[], []]


def test_bad_arguments_are_refused():
    src = torch.zeros(1, 2, dtype=torch.long)
    with pytest.raises(ValueError, match="max_len"):
        decoding.greedy_search(TRAP, src, bos_id=BOS, eos_id=EOS, max_len=0)
    with pytest.raises(ValueError, match="beam_size"):
        decoding.beam_search(TRAP, src, bos_id=BOS, eos_id=EOS, max_len=3, beam_size=0)
    with pytest.raises(ValueError, match="alpha"):
        decoding.beam_search(TRAP, src, bos_id=BOS, eos_id=EOS, max_len=3, alpha=-1)
    with pytest.raises(ValueError, match=r"\(B, S\)"):
        decoding.greedy_search(TRAP, torch.zeros(3, dtype=torch.long), bos_id=BOS, eos_id=EOS, max_len=3)
    with pytest.raises(ValueError, match="differ"):
        decoding.greedy_search(TRAP, src, bos_id=1, eos_id=1, max_len=3)


def test_length_penalty_formula():
    assert decoding.length_penalty(1, 0.6) == pytest.approx(1.0)
    assert decoding.length_penalty(7, 0.6) == pytest.approx((12 / 6) ** 0.6)
    assert decoding.length_penalty(9, 0.0) == 1.0
