"""The course's GPT: parameter counts against Hugging Face's GPT-2, the block against
nn.TransformerEncoderLayer, causality, the key/value cache, GPT-2's initialisation, conversion
to and from GPT2LMHeadModel with the same logits, and the training helpers."""

import functools
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from transformers import GPT2Config, GPT2LMHeadModel

from course_utils.checks import assert_close
from course_utils.models import gpt as g

TINY = dict(context_length=16, num_layers=2, d_model=32, nhead=4)


def tiny(positions="learned", **kwargs):
    torch.manual_seed(0)
    return g.gpt(50, **{**TINY, "positions": positions, **kwargs}).eval()


def count(model):
    return sum(p.numel() for p in model.parameters())


# ---------------------------------------------------------------------------
# Sizes
# ---------------------------------------------------------------------------


def test_gpt2_small_has_124_439_808_parameters():
    with torch.device("meta"):
        small = g.GPT(g.gpt2_config("small"))
    assert count(small) == 124_439_808
    # nanoGPT prints 123.65M: it leaves out the position embeddings (1,024 x 768).
    assert count(small) - small.positions.embedding.weight.numel() == 123_653_376


@pytest.mark.parametrize("size", ["small", "medium"])
def test_parameter_counts_equal_hugging_face(size):
    config = g.gpt2_config(size)
    with torch.device("meta"):
        ours = g.GPT(config)
        theirs = GPT2LMHeadModel(GPT2Config(n_layer=config.num_layers, n_embd=config.d_model, n_head=config.nhead))
    assert count(ours) == count(theirs)


def test_config_checks():
    with pytest.raises(ValueError, match="not divisible by nhead=5"):
        g.GPTConfig(10, d_model=32, nhead=5)
    with pytest.raises(ValueError, match="positions must be"):
        g.GPTConfig(10, positions="sinusoidal")
    with pytest.raises(ValueError, match="must be even"):
        g.GPTConfig(10, d_model=12, nhead=4, positions="rotary")
    with pytest.raises(ValueError, match="vocab_size"):
        g.GPTConfig(0)
    with pytest.raises(ValueError, match="size must be one of"):
        g.gpt2_config("huge")
    assert g.GPTConfig(10, d_model=32, nhead=4).dim_feedforward == 128
    with pytest.raises(ValueError, match="GPTConfig"):
        g.GPT(dict(vocab_size=10))


# ---------------------------------------------------------------------------
# The block and the model
# ---------------------------------------------------------------------------


def test_block_equals_transformer_encoder_layer_with_a_causal_mask():
    torch.manual_seed(1)
    ours = g.Block(32, 4, 64).double().eval()
    tanh_gelu = functools.partial(F.gelu, approximate="tanh")
    theirs = nn.TransformerEncoderLayer(32, 4, 64, dropout=0.0, activation=tanh_gelu, batch_first=True,
                                        norm_first=True).double().eval()
    theirs.load_state_dict(ours.state_dict())  # the same names: the weights move as they are
    x = torch.randn(3, 7, 32, dtype=torch.float64)
    causal = nn.Transformer.generate_square_subsequent_mask(7, dtype=torch.float64)
    assert_close(ours(x)[0], theirs(x, src_mask=causal, is_causal=True), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("positions", ["learned", "rotary"])
def test_logits_do_not_depend_on_later_tokens(positions):
    model = tiny(positions)
    ids = torch.randint(0, 50, (2, 10))
    changed = ids.clone()
    changed[:, 6:] = (changed[:, 6:] + 1) % 50
    with torch.no_grad():
        a, b = model(ids), model(changed)
    assert_close(a[:, :6], b[:, :6], rtol=1e-5, atol=1e-6)
    assert (a[:, 6:] - b[:, 6:]).abs().max() > 1e-3


@pytest.mark.parametrize("positions", ["learned", "rotary"])
def test_fused_attention_equals_the_course_formula(positions):
    model = tiny(positions).double()
    ids = torch.randint(0, 50, (2, 12))
    with torch.no_grad():
        fused = model(ids)
        logits, weights = model(ids, need_weights=True)  # the course's scaled_dot_product_attention
    assert_close(fused, logits, rtol=1e-10, atol=1e-10)
    assert len(weights) == 2 and weights[0].shape == (2, 4, 12, 12)
    assert torch.all(weights[0].triu(diagonal=1) == 0)  # no weight on later positions


@pytest.mark.parametrize("positions", ["learned", "rotary"])
def test_cached_forward_equals_the_full_forward(positions):
    model = tiny(positions).double()
    ids = torch.randint(0, 50, (3, 14))
    with torch.no_grad():
        full = model(ids)
        cache = model.new_cache()
        pieces = [model(ids[:, :5], cache=cache)]  # a prompt of 5, then one token at a time, then 3 at once
        for t in range(5, 11):
            pieces.append(model(ids[:, t:t + 1], cache=cache))
        pieces.append(model(ids[:, 11:], cache=cache))
    assert len(cache) == 14
    assert_close(torch.cat(pieces, dim=1), full, rtol=1e-10, atol=1e-10)


def test_cache_bytes_follow_the_formula():
    model = tiny()
    with torch.no_grad():
        cache = model.new_cache()
        model(torch.randint(0, 50, (3, 10)), cache=cache)
    per_token = g.kv_cache_bytes_per_token(2, 32, bytes_per_value=4)  # float32
    assert per_token == 2 * 2 * 32 * 4
    assert cache.nbytes() == 3 * 10 * per_token
    assert g.kv_cache_bytes_per_token(12, 768) == 36_864  # GPT-2 small in float16: 36 KiB per token
    with pytest.raises(ValueError, match="num_layers"):
        g.kv_cache_bytes_per_token(0, 768)


def test_output_layer_is_tied_to_the_token_embedding():
    model = tiny()
    assert model.lm_head.weight is model.tok_embed.weight
    n = count(model)
    assert n == sum(p.numel() for name, p in model.named_parameters() if name != "lm_head.weight")


def test_gpt2_initialisation():
    torch.manual_seed(2)
    model = g.gpt(1000, context_length=64, num_layers=8, d_model=256, nhead=8)
    residual = 0.02 / math.sqrt(2 * 8)
    for name, p in model.named_parameters():
        if name.endswith(("out_proj.weight", "linear2.weight")):
            assert abs(p.std().item() / residual - 1) < 0.05, name
        elif p.ndim == 2:
            assert abs(p.std().item() / 0.02 - 1) < 0.05, name
        elif name.endswith("bias"):
            assert torch.all(p == 0), name
        else:
            assert torch.all(p == 1), name  # layer norm weights


def test_bad_ids_get_clear_errors():
    model = tiny()
    with pytest.raises(ValueError, match="int64 tensor of token ids"):
        model(torch.zeros(2, 3))
    with pytest.raises(ValueError, match=r"ids\[None\]"):
        model(torch.zeros(3, dtype=torch.int64))
    with pytest.raises(ValueError, match=r"outside \[0, 50\): min 0, max 50"):
        model(torch.tensor([[0, 50]]))
    with pytest.raises(ValueError, match="exceed the context length 16"):
        model(torch.zeros(1, 17, dtype=torch.int64))
    cache = model.new_cache()
    model(torch.zeros(1, 10, dtype=torch.int64), cache=cache)
    with pytest.raises(ValueError, match="after the 10 cached positions"):
        model(torch.zeros(1, 7, dtype=torch.int64), cache=cache)


def test_dropout_only_in_training():
    model = tiny(dropout=0.5)
    ids = torch.randint(0, 50, (2, 8))
    with torch.no_grad():
        assert torch.equal(model(ids), model(ids))
        model.train()
        assert not torch.equal(model(ids), model(ids))


# ---------------------------------------------------------------------------
# Hugging Face's GPT2LMHeadModel
# ---------------------------------------------------------------------------


def test_to_hugging_face_gives_the_same_logits():
    model = tiny()
    hf = g.to_hf(model).eval()
    assert isinstance(hf, GPT2LMHeadModel) and count(hf) == count(model)
    ids = torch.randint(0, 50, (3, 16))
    with torch.no_grad():
        assert_close(hf(ids).logits, model(ids), rtol=1e-5, atol=1e-5)


def test_from_hugging_face_gives_the_same_logits_and_round_trips():
    torch.manual_seed(3)
    hf = GPT2LMHeadModel(GPT2Config(vocab_size=70, n_positions=20, n_embd=48, n_layer=3, n_head=6,
                                    bos_token_id=0, eos_token_id=0)).eval()
    model = g.from_hf(hf).eval()
    assert model.config.num_layers == 3 and model.config.dim_feedforward == 4 * 48
    ids = torch.randint(0, 70, (2, 20))
    with torch.no_grad():
        assert_close(model(ids), hf(ids).logits, rtol=1e-5, atol=1e-5)
        again = g.to_hf(model).eval()
        assert_close(again(ids).logits, hf(ids).logits, rtol=1e-6, atol=1e-6)


def test_gpt2_small_to_hugging_face_same_logits():
    """GPT-2 small's full configuration, random weights, float32."""
    torch.manual_seed(4)
    model = g.GPT(g.gpt2_config("small")).eval()
    hf = g.to_hf(model).eval()
    ids = torch.randint(0, 50257, (1, 24))
    with torch.no_grad():
        assert_close(hf(ids).logits, model(ids), rtol=1e-5, atol=1e-5)


def test_only_gpt2s_architecture_converts():
    with pytest.raises(ValueError, match="learned positions and biases"):
        g.to_hf(tiny("rotary"))
    with pytest.raises(ValueError, match="learned positions and biases"):
        g.to_hf(tiny(bias=False))
    hf = GPT2LMHeadModel(GPT2Config(vocab_size=10, n_positions=8, n_embd=8, n_layer=1, n_head=2,
                                    activation_function="relu", bos_token_id=0, eos_token_id=0))
    with pytest.raises(ValueError, match="tanh GELU"):
        g.from_hf(hf)


# ---------------------------------------------------------------------------
# Training helpers
# ---------------------------------------------------------------------------


def test_param_groups_decay_matrices_only():
    model = tiny()
    decay, no_decay = g.param_groups(model, 0.1)
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
    assert all(p.ndim == 2 for p in decay["params"]) and all(p.ndim == 1 for p in no_decay["params"])
    assert len(decay["params"]) + len(no_decay["params"]) == len(list(model.parameters()))
    assert sum(p.numel() for p in decay["params"] + no_decay["params"]) == count(model)


def nanogpt_lr(it, learning_rate=1e-3, warmup_iters=100, lr_decay_iters=2000, min_lr=1e-4):
    """nanoGPT's get_lr, from its train.py's description: linear warm-up, cosine decay, then flat."""
    if it < warmup_iters:
        return learning_rate * (it + 1) / (warmup_iters + 1)
    if it > lr_decay_iters:
        return min_lr
    ratio = (it - warmup_iters) / (lr_decay_iters - warmup_iters)
    return min_lr + 0.5 * (1.0 + math.cos(math.pi * ratio)) * (learning_rate - min_lr)


def test_warmup_cosine_scheduler_follows_nanogpt():
    model = tiny()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    scheduler = g.warmup_cosine_scheduler(optimizer, 100, 2000, min_ratio=0.1)
    lrs = []
    for _ in range(2100):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    for it in (0, 1, 50, 99, 100, 101, 1000, 1999, 2000, 2001, 2099):
        assert lrs[it] == pytest.approx(nanogpt_lr(it), rel=1e-9), it
    with pytest.raises(ValueError, match="warmup_steps < decay_steps"):
        g.WarmupCosine(100, 100)
