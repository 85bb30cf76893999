"""Generation: greedy as the limit of temperature and top-k, the cache against recomputation,
seeded reproducibility, top-k and top-p against brute force, and clear errors for bad settings."""

import itertools

import pytest
import torch

from course_utils.checks import assert_close
from course_utils.models import gpt as g
from course_utils.sampling import generate, next_token_probs, sample_next, top_k_filter, top_p_mask


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    m = g.gpt(40, context_length=12, num_layers=2, d_model=32, nhead=4).double().eval()
    with torch.no_grad():  # sharper distributions than a fresh initialisation's, so greedy has clear winners
        m.tok_embed.weight.mul_(20)
    return m


def greedy_by_hand(model, prompt, steps):
    """Oracle: re-run the whole (cropped) prefix and take the argmax, one step at a time."""
    ids = prompt
    with torch.no_grad():
        for _ in range(steps):
            logits = model(ids[:, -model.config.context_length:])[:, -1]
            ids = torch.cat([ids, logits.argmax(-1, keepdim=True)], dim=1)
    return ids


PROMPT = torch.tensor([[1, 2, 3], [7, 7, 0]])


@pytest.mark.parametrize("use_cache", [True, False])
def test_greedy_equals_the_argmax_loop_also_beyond_the_context(model, use_cache):
    out = generate(model, PROMPT, 20, temperature=0, use_cache=use_cache)  # 23 tokens, context 12
    assert out.shape == (2, 23) and torch.equal(out[:, :3], PROMPT)
    assert torch.equal(out, greedy_by_hand(model, PROMPT, 20))


def test_low_temperature_and_top_k_1_equal_greedy(model):
    greedy = generate(model, PROMPT, 15, temperature=0)
    assert torch.equal(generate(model, PROMPT, 15, top_k=1, seed=3), greedy)
    assert torch.equal(generate(model, PROMPT, 15, temperature=1e-4, seed=3), greedy)
    assert torch.equal(generate(model, PROMPT, 15, temperature=1e-4, top_p=0.9, top_k=5, seed=4), greedy)


def test_cached_sampling_equals_recomputed_sampling(model):
    cached = generate(model, PROMPT, 25, temperature=1.0, seed=5, use_cache=True)
    recomputed = generate(model, PROMPT, 25, temperature=1.0, seed=5, use_cache=False)
    assert torch.equal(cached, recomputed)


def test_seeded_samples_are_reproducible_and_seeds_differ(model):
    a = generate(model, PROMPT, 30, temperature=1.5, seed=11)
    assert torch.equal(a, generate(model, PROMPT, 30, temperature=1.5, seed=11))
    assert not torch.equal(a, generate(model, PROMPT, 30, temperature=1.5, seed=12))
    gen = torch.Generator().manual_seed(11)
    assert torch.equal(a, generate(model, PROMPT, 30, temperature=1.5, generator=gen))


def test_generate_restores_training_mode(model):
    model.train()
    generate(model, PROMPT, 2)
    assert model.training
    model.eval()


def test_top_k_keeps_the_k_largest():
    logits = torch.tensor([[0.5, 3.0, -1.0, 2.0, 1.0]])
    kept = top_k_filter(logits, 2)
    assert torch.equal(torch.isfinite(kept), torch.tensor([[False, True, False, True, False]]))
    assert torch.equal(top_k_filter(logits, 10), logits)


def smallest_set_reaching(probs, p):
    """Oracle by brute force: among all subsets whose probability is at least p, the smallest ones;
    of those, the one with the largest probability."""
    n = len(probs)
    for size in range(1, n + 1):
        sets = [s for s in itertools.combinations(range(n), size) if sum(probs[i] for i in s) >= p]
        if sets:
            return set(max(sets, key=lambda s: sum(probs[i] for i in s)))


@pytest.mark.parametrize("p", [0.1, 0.5, 0.625, 0.75, 0.8, 0.9375, 0.99, 1.0])
def test_top_p_keeps_the_smallest_set_reaching_p(p):
    probs = [0.125, 0.5, 0.0625, 0.25, 0.0625]  # exact in binary, so the sums are exact
    mask = top_p_mask(torch.tensor([probs], dtype=torch.float64), p)[0]
    assert set(torch.nonzero(mask).flatten().tolist()) == smallest_set_reaching(probs, p)


def test_top_p_on_random_distributions():
    gen = torch.Generator().manual_seed(6)
    for _ in range(20):
        probs = torch.softmax(torch.randn(1, 7, generator=gen, dtype=torch.float64) * 2, -1)
        p = float(torch.rand(1, generator=gen)) * 0.98 + 0.01
        kept = set(torch.nonzero(top_p_mask(probs, p)[0]).flatten().tolist())
        assert kept == smallest_set_reaching(probs[0].tolist(), p)


def test_next_token_probs_compose_temperature_top_k_top_p():
    logits = torch.log(torch.tensor([[0.1, 0.4, 0.2, 0.3]], dtype=torch.float64))
    assert_close(next_token_probs(logits), torch.tensor([[0.1, 0.4, 0.2, 0.3]], dtype=torch.float32))
    sharp = next_token_probs(logits, temperature=0.5)  # p^2, renormalised
    assert_close(sharp, (torch.tensor([[0.01, 0.16, 0.04, 0.09]]) / 0.30))
    top2 = next_token_probs(logits, top_k=2)
    assert_close(top2, torch.tensor([[0.0, 4 / 7, 0.0, 3 / 7]]))
    nucleus = next_token_probs(logits, top_p=0.6)  # 0.4 + 0.3 reaches 0.6
    assert_close(nucleus, torch.tensor([[0.0, 4 / 7, 0.0, 3 / 7]]))
    greedy = next_token_probs(logits, temperature=0)
    assert torch.equal(greedy, torch.tensor([[0.0, 1.0, 0.0, 0.0]]))


def test_samples_follow_the_distribution():
    logits = torch.log(torch.tensor([[0.1, 0.6, 0.3]])).expand(20_000, 3)
    draws = sample_next(logits, generator=torch.Generator().manual_seed(7))
    freq = torch.bincount(draws, minlength=3).double() / len(draws)
    assert_close(freq, torch.tensor([0.1, 0.6, 0.3], dtype=torch.float64), rtol=0, atol=0.02)


@pytest.mark.parametrize("kwargs,message", [
    (dict(temperature=-0.5), "temperature must be a finite number >= 0"),
    (dict(temperature=float("nan")), "temperature"),
    (dict(top_k=0), "top_k must be None"),
    (dict(top_k=2.5), "top_k must be None"),
    (dict(top_p=0.0), r"top_p must be None .* \(0, 1\]"),
    (dict(top_p=1.5), "top_p"),
    (dict(max_new_tokens=-1), "max_new_tokens"),
    (dict(seed=1, generator=torch.Generator()), "not both"),
])
def test_bad_settings_get_clear_errors(model, kwargs, message):
    kwargs = {"max_new_tokens": 3, **kwargs}
    with pytest.raises(ValueError, match=message):
        generate(model, PROMPT, **kwargs)


@pytest.mark.parametrize("prompt,message", [
    (torch.tensor([1, 2, 3]), r"prompt\[None\]"),
    (torch.tensor([[1.0, 2.0]]), "int64"),
    (torch.zeros(1, 0, dtype=torch.int64), "empty"),
    (torch.zeros(1, 13, dtype=torch.int64), r"more than the model's context of 12: pass its end, prompt\[:, -12:\]"),
    (torch.tensor([[1, 40]]), r"outside the vocabulary \[0, 40\)"),
    (torch.tensor([[-1, 2]]), "outside the vocabulary"),
])
def test_bad_prompts_get_clear_errors(model, prompt, message):
    with pytest.raises(ValueError, match=message):
        generate(model, prompt, 3)
