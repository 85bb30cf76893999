# %% [markdown] slideshow={"slide_type": "slide"}
# # 12 Self-attention
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/deep-learning-course/conv-to-transformer/blob/main/notebooks/12_self_attention.ipynb)
#
# Notebooks 01-11 built networks for images out of convolutions: local windows
# with shared weights, stacked until one output sees the whole picture. Text,
# audio and many other data are **sequences**, where the word that decides
# the meaning of another may sit far away. This notebook builds the operation
# that relates every position of a sequence to every other in one step:
# **attention** (Bahdanau, Cho & Bengio, 2015; Vaswani et al., 2017,
# "Attention Is All You Need"). Everything is derived from scratch and then
# proven equal to PyTorch's `F.scaled_dot_product_attention` and
# `nn.MultiheadAttention`; notebook 13 builds the Transformer on it.
#
# **You will:** compute how deep a CNN must be to relate distant positions;
# score queries against keys; write attention as loops, then as three matrix
# products; measure why the scores are divided by `sqrt(d_k)`; mask padding
# and the future (and check the future with autograd); split attention into
# heads; cache keys and values for decoding; give a sequence a sense of order
# with positional encodings, and see what a score makes of them and how rotary
# embeddings change it; build a convolution *as* attention and count what each costs; train a small
# attention model whose attention you can read; measure that the flexible
# model needs more data than the convolution; and time the fused kernel.

# %% tags=["setup"] jupyter={"source_hidden": true} cellView="form" slideshow={"slide_type": "skip"}
# @title Set-up: run this cell first (on Colab it installs the course helpers)
# Makes the course helpers (course_utils) importable: from the checkout this notebook
# is in, or (Colab) installed at the version this notebook was written for.
import importlib.util, os, subprocess, sys
COURSE_UTILS_SOURCE = "git+https://github.com/deep-learning-course/conv-to-transformer@1363a9b96452b3e9a4cc8e60f814ad561563fe78"
if importlib.util.find_spec("course_utils") is None:
    if os.path.isdir(os.path.join("..", "course_utils")):  # a checkout, not installed
        sys.path.insert(0, os.path.abspath(".."))
    elif subprocess.run([sys.executable, "-m", "pip", "install", "-q", COURSE_UTILS_SOURCE]).returncode:
        raise RuntimeError("Installing the course helpers failed (pip says why above). Check that this "
                           "runtime is online (Colab: Runtime > Disconnect and delete runtime, then run "
                           f"again); or run in a new cell:  !pip install {COURSE_UTILS_SOURCE}")
importlib.invalidate_caches()  # so that packages installed just now can be imported
# ---- notebook imports ----
import math
import time

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from matplotlib.patches import FancyBboxPatch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from course_utils import results
from course_utils.accounting import count_params
from course_utils.attention import (AdditiveAttention, KVCache, MultiheadAttention, SinusoidalPositionalEncoding,
                                    LearnedPositionalEncoding, causal_mask, padding_mask, relative_position_map,
                                    scaled_dot_product_attention, sinusoidal_positional_encoding, to_torch_mha_masks)
from course_utils.checks import assert_close
from course_utils.layer_math import receptive_field
from course_utils.memory import peak_bytes
from course_utils.plot import show_attention
from course_utils.rotary import apply_rotary, rotary_angles
from course_utils.timing import cpu_threads, time_it
from course_utils.train import accuracy, evaluate, fit, over_seeds, token_cross_entropy

from course_utils import profile
from course_utils.device import get_device, seed_everything

PROFILE = profile.current()
DEVICE = get_device()
seed_everything(0)
print(f"profile: {PROFILE}   device: {DEVICE}")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Why attention
#
# A **recurrent network** (RNN) reads a sequence one position at a time,
# `h_t = f(h_(t-1), x_t)`: position 0 reaches position `n-1` only through
# `n-1` applications of `f`, and the `n` steps cannot run in parallel
# because each needs the previous one.
#
# A **convolution** runs every position in parallel, but one output sees only
# a window of `k` inputs. Stacking layers widens the window by `k - 1` per
# layer (notebook 02's receptive-field recurrence), so relating two positions
# `n - 1` apart takes `ceil((n - 1) / (k - 1))` layers.
#
# **Self-attention** lets every position look at every other in one layer. The
# Transformer paper's Table 1 compares the three by the number of sequential
# operations and the longest path a signal travels; here are the numbers:

# %%
# NBVAL_CHECK_OUTPUT
def conv_layers_needed(distance, kernel_size):
    """Stride-1 convolutions stacked until the receptive field spans ``distance + 1`` positions."""
    layers = 0
    while receptive_field([(kernel_size, 1)] * layers) < distance + 1:
        layers += 1
    return layers


print(f"{'n':>6} {'RNN steps':>10} {'conv layers, k=3':>17} {'k=5':>5} {'k=9':>5} {'self-attention layers':>22}")
for n in (16, 64, 256, 1024):
    row = [conv_layers_needed(n - 1, k) for k in (3, 5, 9)]
    assert row == [math.ceil((n - 1) / (k - 1)) for k in (3, 5, 9)], "receptive field: 1 + layers * (k - 1)"
    print(f"{n:>6} {n - 1:>10} {row[0]:>17} {row[1]:>5} {row[2]:>5} {1:>22}")

# %% [markdown] slideshow={"slide_type": "notes"}
# Speaker notes. Ask the room before showing the table: how many kernel-3 convolution layers does it
# take before one output depends on both the first and the 64th token? (32.) And an RNN? (63
# sequential steps.) The point is path length, not capacity.

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Checked with autograd
#
# The table is a formula; the gradient says the same thing without one. Two
# positions are related by a network when some output depends on both, that
# is, has a non-zero gradient with respect to both. For stacks of `L`
# convolutions (kernel 3, "same" padding) on 16 positions, is there an output
# that depends on the first **and** the last input? One self-attention layer
# relates them directly.

# %%
# NBVAL_CHECK_OUTPUT
def relates_ends(model, length=16, channels=4):
    """Whether some output depends on both input 0 and input length - 1 (from the Jacobian)."""
    x = torch.randn(1, length, channels, dtype=torch.float64)  # (B, T, C)
    jac = torch.autograd.functional.jacobian(model, x)[0, :, :, 0]  # (T_out, C, T_in, C)
    depends = jac.abs().sum(dim=(1, 3)) > 0  # (T_out, T_in): output t depends on input s
    return bool((depends[:, 0] & depends[:, -1]).any())


def conv_stack(layers, channels=4, kernel_size=3):
    convs = [nn.Conv1d(channels, channels, kernel_size, padding=kernel_size // 2) for _ in range(layers)]
    body = nn.Sequential(*convs).double()
    return lambda x: body(x.transpose(1, 2)).transpose(1, 2)  # (B, T, C) -> (B, C, T) -> (B, T, C)


torch.manual_seed(0)
one_layer = MultiheadAttention(4, num_heads=1).double()
related = {layers: relates_ends(conv_stack(layers)) for layers in (6, 7, 8, 9)}
print("convolutions (kernel 3), 16 positions: does some output depend on inputs 0 and 15?", related)
print("one self-attention layer:", relates_ends(lambda x: one_layer(x)[0]))
assert related == {6: False, 7: False, 8: True, 9: True}, "ceil(15 / 2) = 8 layers of kernel 3 are needed"
assert relates_ends(lambda x: one_layer(x)[0]), "one attention layer relates any two positions"

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Queries, keys and values
#
# Attention is a soft dictionary lookup. Each position holds a **key** (what
# it offers to be found by) and a **value** (what it hands over). A **query**
# (what a position is looking for) is compared with every key by a **scoring
# function**; a softmax turns the scores into weights that are positive and
# sum to 1; the output is the weighted average of the values:
#
# $$\mathrm{attention}(q, K, V) = \sum_i \mathrm{softmax}_i\big(\mathrm{score}(q, k_i)\big)\, v_i .$$
#
# Here is a 3-token example by hand, with the dot product as the score. The
# query resembles the first key most, so the output leans towards the first
# value.

# %%
# NBVAL_CHECK_OUTPUT
keys = torch.tensor([[2.0, 0.0, 1.0], [0.0, 1.0, 0.0], [1.0, 1.0, -1.0]])  # 3 tokens, 3 features
values = torch.tensor([[10.0, 0.0], [0.0, 10.0], [5.0, 5.0]])  # what each token hands over
query = torch.tensor([1.0, 0.0, 1.0])

scores = keys @ query  # (3,): one dot product per key
weights = scores.exp() / scores.exp().sum()  # softmax
output = weights @ values  # (2,): the weighted average of the values
print("scores:", scores.tolist(), " weights:", [round(w, 3) for w in weights.tolist()],
      " output:", [round(o, 2) for o in output.tolist()])
assert weights.argmax() == 0 and abs(weights.sum() - 1) < 1e-6, "the most similar key gets the most weight"

# %% [markdown] slideshow={"slide_type": "notes"}
# Speaker notes. A soft dictionary: the query is the question, keys are the labels on the drawers,
# values are the contents. Ask what happens to the output if two keys are equally similar to the query
# (it averages their values).

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Scoring functions
#
# - **Dot product** `q . k`: no parameters, one multiply-add per feature;
#   queries and keys need the same size.
# - **Scaled dot product** `q . k / sqrt(d)`: the same, kept at a steady scale
#   (below: why).
# - **Additive** `w . tanh(W_q q + W_k k)` (Bahdanau et al., 2015, the first
#   attention in translation): a one-hidden-layer network scores each pair, so
#   queries and keys may differ in size, at the cost of a `tanh` over a hidden
#   vector for every (query, key) pair.
#
# `course_utils.attention.AdditiveAttention` implements the additive score;
# computing one score by hand from its weight matrices checks it:

# %%
torch.manual_seed(0)
additive = AdditiveAttention(query_dim=3, key_dim=3, hidden_dim=8)
read, additive_weights = additive(query[None, None], keys[None], values[None])  # (1, 1, 2), (1, 1, 3)
by_hand = torch.stack([additive.score_proj.weight[0] @ torch.tanh(additive.query_proj.weight @ query
                                                                  + additive.key_proj.weight @ k) for k in keys])
assert_close(additive_weights[0, 0], torch.softmax(by_hand, dim=0), msg="additive weights vs w . tanh(W_q q + W_k k)")
assert_close(read[0, 0], torch.softmax(by_hand, dim=0) @ values, msg="additive attention's output")
print("additive scores (untrained):", [round(s, 3) for s in by_hand.tolist()],
      " weights:", [round(w, 3) for w in additive_weights[0, 0].tolist()])

# %% [markdown]
# Untrained, the additive scorer has no idea which key matters; its weights
# are close to uniform. Its parameters are learned with the rest of a model.
# Which score is better? Vaswani et al. (2017, section 3.2.1) say the two are
# similar in theoretical complexity, and that dot-product attention is much
# faster and more space-efficient in practice, because all the scores come out
# of one matrix product, for which highly optimised code exists. In quality,
# they perform similarly for small `d_k`, while for larger `d_k` additive
# attention outperforms the dot product *without* scaling (the paper cites
# Britz et al., 2017); the paper suspects large dot products push the softmax
# into regions of tiny gradients, and scales them (two sections on: measured).
# The Transformer uses the scaled dot product.

# %% [markdown] slideshow={"slide_type": "notes"}
# Speaker notes. Be precise about the paper here (section 3.2.1): the two scores have similar
# theoretical complexity; dot product wins on speed and memory in practice; additive wins over
# *unscaled* dot product for large d_k. Ask: what is the one-line fix that the paper draws from that?
# (Scale by 1/sqrt(d_k).)

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Self-attention, first with loops
#
# In **self-attention** the queries, keys and values all come from the same
# sequence `X` (`T` tokens of `E` features), through three learned
# projections: `Q = X W_Q`, `K = X W_K`, `V = X W_V`. Each token asks a
# question of all tokens, itself included. Written one query at a time:

# %%
torch.manual_seed(1)
T, E = 5, 8
X = torch.randn(T, E, dtype=torch.float64)  # one sequence: T tokens, E features
W_Q, W_K, W_V = (torch.randn(E, E, dtype=torch.float64) / math.sqrt(E) for _ in range(3))
Q, K, V = X @ W_Q, X @ W_K, X @ W_V  # (T, E) each

rows, weight_rows = [], []
for i in range(T):  # one query at a time
    s = torch.stack([Q[i] @ K[j] for j in range(T)]) / math.sqrt(E)  # (T,): query i against every key
    w = s.exp() / s.exp().sum()
    weight_rows.append(w)
    rows.append(sum(w[j] * V[j] for j in range(T)))
loop_out, loop_weights = torch.stack(rows), torch.stack(weight_rows)  # (T, E), (T, T)
print("output:", tuple(loop_out.shape), " weights:", tuple(loop_weights.shape), " rows sum to",
      loop_weights.sum(dim=1).round(decimals=12).unique().tolist())

# %% [markdown] slideshow={"slide_type": "notes"}
# Speaker notes. Write the double loop first, on purpose: every number in Q K^T is one of these dot
# products. Ask which axis the softmax runs over (the keys: each row sums to one).

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### The matrix form
#
# All `T x T` scores at once are one matrix product, `Q K^T`; the softmax runs
# along each row (over the keys); one more product averages the values:
#
# $$\mathrm{Attention}(Q, K, V) = \mathrm{softmax}\!\left(\frac{Q K^\top}{\sqrt{d_k}}\right) V$$
#
# (Vaswani et al., 2017, eq. 1). It must equal the loops, the course's
# reference function and PyTorch's fused `F.scaled_dot_product_attention`:

# %%
matrix_weights = torch.softmax(Q @ K.T / math.sqrt(E), dim=-1)  # (T, T): row i = query i's weights
matrix_out = matrix_weights @ V  # (T, T) @ (T, E) -> (T, E)
ref_out, ref_weights = scaled_dot_product_attention(Q, K, V)
assert_close(matrix_out, loop_out, rtol=1e-12, atol=1e-12, msg="matrix form vs loops")
assert_close(matrix_weights, loop_weights, rtol=1e-12, atol=1e-12, msg="weights: matrix form vs loops")
assert_close(ref_out, matrix_out, rtol=1e-12, atol=1e-12, msg="course_utils vs matrix form")
assert_close(F.scaled_dot_product_attention(Q, K, V), matrix_out, rtol=1e-10, atol=1e-12,
             msg="F.scaled_dot_product_attention vs matrix form")
print("loops = matrix form = course_utils = F.scaled_dot_product_attention (float64, to 1e-12)")

# %% [markdown]
# `tests/test_attention.py` checks `course_utils.attention.scaled_dot_product_attention`
# against `F.scaled_dot_product_attention` in float64 over 240 random
# configurations (batch, heads, query and key lengths, head size, boolean,
# additive, padding and causal masks, and queries with no key at all): the
# largest difference in outputs and weights is below `2e-15`, far inside the
# test's `1e-10`; six planted bugs (wrong scale, inverted mask, causal mask
# without its diagonal, softmax over the wrong axis, `-1e9` instead of `-inf`,
# a NaN for a fully masked row) each fail it.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Why divide by sqrt(d_k)
#
# If the entries of `q` and `k` are independent with mean 0 and variance 1,
# `q . k` is a sum of `d_k` products of variance 1, so its **variance is
# `d_k`**. The paper's base model splits its 512 features into 8 heads of
# `d_k = 64`, where typical scores are already around 8 in size; a softmax over
# such scores puts most of the weight on the largest (in the table below, a
# typical query at `d_k = 64` gives about 0.9 of its weight to one of 32 keys),
# and as `d_k` grows its gradient vanishes: a **saturated** softmax learns
# nothing. Dividing by `sqrt(d_k)`
# brings the variance back to 1 for every head size (Vaswani et al., 2017,
# section 3.2.1, footnote 4). Measured:

# %%
gen = torch.Generator().manual_seed(0)
num_pairs = profile.pick(smoke=1000, standard=4000, full=10000)
num_queries, num_keys = profile.pick(smoke=300, standard=1000, full=2000), 32
dims = (4, 16, 64, 256, 1024)
rows = []
for d in dims:
    dots = (torch.randn(num_pairs, d, generator=gen) * torch.randn(num_pairs, d, generator=gen)).sum(dim=1)
    row = {"d_k": d, "var raw": dots.var().item(), "var scaled": (dots / math.sqrt(d)).var().item()}
    raw = torch.randn(num_queries, d, generator=gen) @ torch.randn(num_keys, d, generator=gen).T  # (queries, keys)
    for name, s in (("raw", raw), ("scaled", raw / math.sqrt(d))):
        p = torch.softmax(s, dim=-1)  # (queries, keys)
        jacobian = torch.diag_embed(p) - p[:, :, None] * p[:, None, :]  # d softmax / d scores, per query
        row[f"max weight {name}"] = p.max(dim=-1).values.median().item()  # a typical query
        row[f"gradient {name}"] = jacobian.flatten(1).norm(dim=1).median().item()
    rows.append(row)

print(f"{'d_k':>5} {'var(q.k)':>9} {'var(q.k/sqrt(d))':>17} {'max weight raw':>15} {'scaled':>7} "
      f"{'|d softmax| raw':>16} {'scaled':>7}")
for r in rows:
    print(f"{r['d_k']:>5} {r['var raw']:>9.1f} {r['var scaled']:>17.3f} {r['max weight raw']:>15.3f} "
          f"{r['max weight scaled']:>7.3f} {r['gradient raw']:>16.4f} {r['gradient scaled']:>7.3f}")
print("(weights and gradients: the median over queries, each against 32 keys)")
for r in rows:
    assert 0.85 < r["var raw"] / r["d_k"] < 1.15, f"var(q . k) should be about d_k = {r['d_k']}"
    assert 0.85 < r["var scaled"] < 1.15, "scaled scores should have variance about 1"
    assert r["max weight scaled"] < 0.5, "scaled scores should not saturate the softmax"
assert next(r for r in rows if r["d_k"] == 64)["max weight raw"] > 0.8, "at the paper's d_k = 64 a softmax saturates"
big = rows[-1]
assert big["max weight raw"] > 0.95, "unscaled scores at d_k = 1024 put nearly all weight on one key"
assert big["gradient raw"] < 0.01 * big["gradient scaled"], "a saturated softmax passes (almost) no gradient"

# %% [markdown] slideshow={"slide_type": "notes"}
# Speaker notes. Ask the room for var(q . k) with unit-variance entries and d_k = 64 (64, a standard
# deviation of 8) before showing the table. The paper's heads have d_k = 64 (512 features over 8
# heads): already most of the weight goes to one key without the scale.

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Saturation and gradient, plotted against d_k

# %%
fig, axes = plt.subplots(1, 2, figsize=(10, 3.2))
for name, style in (("raw", "o-"), ("scaled", "s--")):
    axes[0].plot(dims, [r[f"max weight {name}"] for r in rows], style, label=f"{name} scores")
    axes[1].plot(dims, [r[f"gradient {name}"] for r in rows], style, label=f"{name} scores")
axes[0].set(xscale="log", xlabel="d_k", ylabel="largest weight (32 keys)", title="softmax saturation")
axes[1].set(xscale="log", yscale="log", xlabel="d_k", ylabel="|Jacobian of softmax|", title="gradient")
for ax in axes:
    ax.legend()
fig.tight_layout()
plt.show()

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Masks
#
# Two situations need some keys hidden from some queries:
#
# - **Padding**: sequences of different lengths share a batch by being padded
#   to the longest; a real token must not attend to the padding.
# - **Causality**: a model that predicts the next token (notebook 13's
#   decoder) must not let position `t` see positions after `t`.
#
# **The course's convention, one for every notebook**: a boolean mask is
# `True` where attention is **allowed** (as in `F.scaled_dot_product_attention`);
# `key_mask` `(B, S)` is `True` for real tokens; a float mask is added to the
# scores (`-inf` forbids). A forbidden key's score becomes `-inf` before the
# softmax, so its weight is exactly `exp(-inf) = 0`.
#
# PyTorch itself has two conventions: `nn.MultiheadAttention`'s
# `key_padding_mask` and boolean `attn_mask` are `True` where a key is
# **ignored**. `course_utils.attention.to_torch_mha_masks` converts at that
# boundary, and our `MultiheadAttention` has no `key_padding_mask` argument,
# so code written for PyTorch's module fails loudly instead of silently using
# the inverted meaning.

# %%
# NBVAL_CHECK_OUTPUT
lengths = torch.tensor([5, 3, 1])
key_mask = padding_mask(lengths, 5)  # (B, S): True for real tokens
print("key_mask (True = a real token):\n", key_mask.int())
print("the same for nn.MultiheadAttention (True = ignore):\n", to_torch_mha_masks(key_mask)["key_padding_mask"].int())

# %%
torch.manual_seed(2)
mha = MultiheadAttention(embed_dim=8, num_heads=2).double().eval()
x = torch.randn(3, 5, 8, dtype=torch.float64)  # (B, T, E): three sequences padded to 5
out, w = mha(x, key_mask=key_mask)  # w: (B, T, S), averaged over heads
assert torch.equal(w[~key_mask[:, None, :].expand_as(w)], torch.zeros(int((~key_mask).sum()) * 5, dtype=w.dtype)), \
    "a padded key must get exactly zero weight"
garbage = x.clone()
garbage[~key_mask] = 1e3 * torch.randn(int((~key_mask).sum()), 8, dtype=torch.float64)  # change the padding only
out_garbage, _ = mha(garbage, key_mask=key_mask)
assert_close(out_garbage[key_mask], out[key_mask], rtol=1e-12, atol=1e-12,
             msg="real tokens' outputs must not depend on what the padding holds")
torch_mha = mha.to_torch().eval()
out_torch, w_torch = torch_mha(x, x, x, **to_torch_mha_masks(key_mask))
assert_close(out, out_torch, rtol=1e-10, atol=1e-12, msg="course module vs nn.MultiheadAttention with converted masks")
assert_close(w, w_torch, rtol=1e-10, atol=1e-12, msg="averaged weights vs nn.MultiheadAttention")
print("weights of sequence 1 (length 3), rows = queries, columns = keys:\n", w[1].detach().numpy().round(3))

# %% [markdown] slideshow={"slide_type": "notes"}
# Speaker notes. One convention for the course: True means "may attend". PyTorch's
# nn.MultiheadAttention uses the opposite for key_padding_mask, so we convert exactly once at the
# boundary. Ask: what weight does a padded key get? (Exactly zero, asserted.)

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### The causal mask, checked with autograd
#
# With `is_causal=True`, query `i` may see keys `j <= i` (the lower triangle,
# diagonal included). The claim "output `t` does not depend on inputs after
# `t`" is a statement about derivatives, so check it with one: the Jacobian
# of the outputs with respect to the inputs, summarised as one number per
# (output position, input position) pair, must be zero above the diagonal.

# %%
x1 = torch.randn(1, 6, 8, dtype=torch.float64)
jacobian = torch.autograd.functional.jacobian(lambda inp: mha(inp, is_causal=True)[0], x1)  # (1, 6, 8, 1, 6, 8)
influence = jacobian[0, :, :, 0].abs().sum(dim=(1, 3))  # (T_out, T_in): |d out_t / d x_s| summed over features
future = ~causal_mask(6)
assert torch.equal(influence[future], torch.zeros(int(future.sum()), dtype=influence.dtype)), \
    "output t must have zero gradient with respect to every input after t"
assert (influence[~future] > 0).all(), "output t should depend on every input up to and including t"
print(f"largest |gradient| from the future: {influence[future].max().item():.1e}; "
      f"smallest from the past: {influence[~future].min().item():.2e}")
show_attention(influence, x_labels=[f"x{s}" for s in range(6)], y_labels=[f"out{t}" for t in range(6)],
               title="|d output / d input| under the causal mask")
plt.show()

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### A query with nothing to attend to
#
# A query whose keys are all masked (an empty source sentence, a batch row of
# padding) has only `-inf` scores, and `softmax` gives `0 / 0 = NaN`, which
# spreads through everything it touches. PyTorch is not consistent here:

# %%
q3, k3, v3 = torch.randn(1, 1, 2, 4), torch.randn(1, 1, 3, 4), torch.randn(1, 1, 3, 4)
nothing = torch.tensor([[True, True, False], [False, False, False]])  # query 1 may see no key
fused_row = F.scaled_dot_product_attention(q3, k3, v3, attn_mask=nothing)[0, 0, 1]
ours_row, ours_w = scaled_dot_product_attention(q3, k3, v3, attn_mask=nothing)
torch_mha_float = nn.MultiheadAttention(4, 1, batch_first=True).eval()
with torch.no_grad():
    mha_row = torch_mha_float(q3[0], k3[0], v3[0], attn_mask=~nothing)[0][0, 1]
print("F.scaled_dot_product_attention:", fused_row.tolist())
print("nn.MultiheadAttention:         ", mha_row.tolist())
print("course_utils:                  ", ours_row[0, 0, 1].tolist(), " weights", ours_w[0, 0, 1].tolist())
assert torch.equal(ours_w[0, 0, 1], torch.zeros(3)) and torch.equal(ours_row[0, 0, 1], torch.zeros(4))
assert_close(ours_row, F.scaled_dot_product_attention(q3, k3, v3, attn_mask=nothing), msg="vs PyTorch's function")

# %% [markdown]
# In this PyTorch (2.14) the fused function returns zeros for such a query,
# while `nn.MultiheadAttention`, when it computes the weights, returns NaN.
# The course follows the function: **a query with no allowed key gets zero
# weights and a zero output, with zero gradients** (the tests check the
# gradients too). The Transformer's residual connection then simply passes
# the token through.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Multi-head attention
#
# One softmax per query is one way of looking. **Multi-head attention** runs
# `H` attentions side by side on `H` slices of the projected features, each
# of size `D = E / H`, and mixes their results with an output projection
# `W_O`: one head can follow syntax while another follows position. The
# shapes do the work: split `(B, T, E)` into `(B, H, T, D)` with one `view`
# and one `transpose`, attend per head, merge back.

# %% tags=["no-slide"] slideshow={"slide_type": "skip"}
def draw_multi_head_attention(num_heads=3):
    """The paper's Figure 2 (right), bottom-up, with the shapes of `multi_head_attention` below."""
    fig, ax = plt.subplots(figsize=(9, 5.4))
    ax.set(xlim=(0, 12), ylim=(0, 10.4))
    ax.axis("off")

    def box(x, y, w, label, color, h=0.7, fontsize=10):
        ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0.05", fc=color, ec="black"))
        ax.text(x, y, label, ha="center", va="center", fontsize=fontsize)

    def arrow(x0, y0, x1, y1):
        ax.annotate("", (x1, y1), (x0, y0), arrowprops=dict(arrowstyle="->"))

    columns = {"Q": 3.0, "K": 6.0, "V": 9.0}
    for name, x in columns.items():
        ax.text(x, 0.4, {"Q": "queries", "K": "keys", "V": "values"}[name] + " (B, T, E)", ha="center", fontsize=9)
        box(x, 1.6, 2.2, f"linear $W_{name}$", "#cfe2f3")
        arrow(x, 0.7, x, 1.2)
        ax.text(x + 0.15, 2.7, "split into heads:\n(B, H, T, D)", fontsize=8, ha="left", va="center", color="gray")
        arrow(x, 2.0, x, 3.35)
    for h in reversed(range(num_heads)):  # the heads, stacked as in the paper's figure
        offset = 0.22 * h
        box(6.0 + offset, 4.0 + offset, 7.6, "scaled dot-product attention: softmax($QK^T/\\sqrt{D}$) V" if h == 0 else "",
            "#f4cccc" if h == 0 else "#f9e0e0")
    ax.text(10.3, 4.9, "x H heads\n(D = E / H each)", fontsize=9, ha="left")
    arrow(6.0, 4.45, 6.0, 5.65)
    box(6.0, 6.0, 4.6, "concatenate the heads: (B, T, H*D) = (B, T, E)", "#fff2cc", fontsize=9)
    arrow(6.0, 6.4, 6.0, 7.15)
    box(6.0, 7.5, 2.4, "linear $W_O$", "#cfe2f3")
    arrow(6.0, 7.9, 6.0, 8.75)
    ax.text(6.0, 9.05, "output (B, T, E)", ha="center", fontsize=10)
    ax.set_title("Multi-head attention (Vaswani et al., 2017, Figure 2, right): H attentions side by side;\n"
                 "in self-attention, queries, keys and values are the same sequence X", fontsize=10)
    fig.tight_layout()
    return fig


# %%
draw_multi_head_attention();

# %% [markdown] slideshow={"slide_type": "notes"}
# Speaker notes. Walk the figure bottom up: three projections, a split into H heads of D = E / H
# features, H attentions side by side, concatenation, the output projection. Ask: does the parameter
# count depend on H? (No: the projections are E x E whatever the split.)

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### From scratch, against `nn.MultiheadAttention`

# %%
def multi_head_attention(x, in_proj_weight, in_proj_bias, out_weight, out_bias, num_heads):
    """Self-attention of x (B, T, E) with nn.MultiheadAttention's packed weights."""
    batch, length, embed_dim = x.shape
    head_dim = embed_dim // num_heads
    q, k, v = F.linear(x, in_proj_weight, in_proj_bias).chunk(3, dim=-1)  # 3 x (B, T, E)
    q, k, v = (t.view(batch, length, num_heads, head_dim).transpose(1, 2) for t in (q, k, v))  # (B, H, T, D)
    weights = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(head_dim), dim=-1)  # (B, H, T, T)
    heads = weights @ v  # (B, H, T, D)
    merged = heads.transpose(1, 2).reshape(batch, length, embed_dim)  # (B, T, H, D) -> (B, T, E)
    return F.linear(merged, out_weight, out_bias), weights.mean(dim=1)  # (B, T, E), (B, T, T)


torch.manual_seed(3)
reference = nn.MultiheadAttention(embed_dim=12, num_heads=3, batch_first=True, dtype=torch.float64).eval()
x = torch.randn(2, 7, 12, dtype=torch.float64)
mine, mine_w = multi_head_attention(x, reference.in_proj_weight, reference.in_proj_bias,
                                    reference.out_proj.weight, reference.out_proj.bias, num_heads=3)
theirs, theirs_w = reference(x, x, x)
package = MultiheadAttention.from_torch(reference).eval()
assert_close(mine, theirs, rtol=1e-10, atol=1e-12, msg="from-scratch multi-head attention vs nn.MultiheadAttention")
assert_close(mine_w, theirs_w, rtol=1e-10, atol=1e-12, msg="averaged weights vs nn.MultiheadAttention")
assert_close(package(x)[0], theirs, rtol=1e-10, atol=1e-12, msg="course_utils.attention vs nn.MultiheadAttention")
print("from scratch = course_utils.attention.MultiheadAttention = nn.MultiheadAttention (copied weights, float64)")

# %% [markdown]
# The course's `MultiheadAttention` uses PyTorch's parameter names and shapes
# (`in_proj_weight` `(3E, E)`, `in_proj_bias`, `out_proj`), so state dicts
# move both ways (`from_torch`, `to_torch`). Its tests check self- and
# cross-attention with every kind of mask, both directions of copying, the
# averaged and per-head weights, and the key/value cache below. Cross-attention
# is the same module called with a different sequence for the keys and values:

# %%
# NBVAL_CHECK_OUTPUT
memory = torch.randn(2, 4, 12, dtype=torch.float64)  # (B, S, E): e.g. an encoder's output
cross, cross_w = package(x, memory, memory)
assert_close(cross, reference(x, memory, memory)[0], rtol=1e-10, atol=1e-12, msg="cross-attention")
print("queries", tuple(x.shape), "attend to keys/values", tuple(memory.shape), "-> output", tuple(cross.shape),
      "weights", tuple(cross_w.shape))
for heads in (1, 3, 12):
    print(f"parameters of MultiheadAttention(12, num_heads={heads}): {count_params(MultiheadAttention(12, heads))}")

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### A key/value cache for decoding
#
# A decoder that writes one token at a time (notebook 13) needs, at step `t`,
# the keys and values of all earlier positions. `course_utils.attention.KVCache`
# keeps them between calls: with `cache=`, each call projects only the new
# positions and appends their keys and values, `(B, H, S, D)`, so step `t`
# costs one position's projections instead of `t`. Decoding a sequence one
# position at a time under the causal mask gives exactly the whole causal pass:

# %%
sequence = torch.randn(2, 7, 12, dtype=torch.float64)  # (B, T, E)
whole, _ = package(sequence, is_causal=True)
cache, steps = KVCache(), []
for t in range(sequence.shape[1]):  # one new position per call
    step, _ = package(sequence[:, t:t + 1], is_causal=True, cache=cache)
    steps.append(step)
assert len(cache) == 7 and tuple(cache.key.shape) == (2, 3, 7, 4), "the cache holds every position's keys"
assert_close(torch.cat(steps, dim=1), whole, rtol=1e-10, atol=1e-12,
             msg="decoding one position at a time with the cache should equal the whole causal pass")
print(f"7 steps of one position each, with the cache == one causal pass over 7 positions; "
      f"cached keys {tuple(cache.key.shape)} = (B, heads, positions, head size)")

# %% [markdown] slideshow={"slide_type": "notes"}
# Speaker notes. The cache is what makes decoding affordable: step t projects one position, not t. The
# check is the whole point: one position at a time with the cache equals the whole causal pass.
# Notebook 13's decoder uses it.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Positional encoding
#
# Nothing so far knows where a token is. Permute the input tokens and
# self-attention's outputs are permuted the same way, nothing else changes
# (it is *permutation-equivariant*): to self-attention, a sentence is a bag
# of words.

# %%
perm = torch.randperm(7)
assert_close(package(x[:, perm])[0], package(x)[0][:, perm], rtol=1e-10, atol=1e-12,
             msg="permuting the tokens should permute the outputs")
print("permutation", perm.tolist(), ": outputs permuted the same way")

# %% [markdown] slideshow={"slide_type": "notes"}
# Speaker notes. Ask: to this layer, what is the difference between "dog bites man" and "man bites
# dog"? (None: the outputs are permuted with the inputs.) Order has to be put in by hand.

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Sinusoidal positions
#
# The Transformer adds to each token embedding a vector that depends only on
# its position `pos` (section 3.5 of the paper):
#
# $$PE_{(pos, 2i)} = \sin\!\big(pos / 10000^{2i/d_{model}}\big), \qquad
#   PE_{(pos, 2i+1)} = \cos\!\big(pos / 10000^{2i/d_{model}}\big).$$
#
# Each pair of features `(2i, 2i+1)` is a point on a circle turning at its own
# speed, from one radian per position down to one turn per `10000 * 2 pi`
# positions: together like the hands of a clock, fast ones for fine position,
# slow ones for coarse.

# %%
# NBVAL_CHECK_OUTPUT
pe = sinusoidal_positional_encoding(64, 32, dtype=torch.float64)  # (positions, E)
pos, i = 10, 3
assert_close(pe[pos, 2 * i], math.sin(pos / 10000 ** (2 * i / 32)), rtol=1e-12, atol=1e-12, msg="sin feature")
assert_close(pe[pos, 2 * i + 1], math.cos(pos / 10000 ** (2 * i / 32)), rtol=1e-12, atol=1e-12, msg="cos feature")
print("PE shape", tuple(pe.shape), "| PE[10, 6:8] =", [round(v, 6) for v in pe[pos, 2 * i:2 * i + 2].tolist()])

# %%
fig, axes = plt.subplots(1, 2, figsize=(10, 3.2))
im = axes[0].imshow(pe.T, aspect="auto", cmap="RdBu")
axes[0].set(xlabel="position", ylabel="feature", title="sinusoidal encoding (E = 32)")
fig.colorbar(im, ax=axes[0])
for feature in (0, 6, 14):
    axes[1].plot(pe[:, feature], label=f"feature {feature}")
axes[1].set(xlabel="position", title="a few features: slower and slower")
axes[1].legend()
fig.tight_layout()
plt.show()

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Relative positions are a fixed linear map
#
# The paper chose sinusoids because the authors "hypothesized it would allow
# the model to easily learn to attend by relative positions, since for any
# fixed offset `k`, `PE(pos+k)` can be represented as a linear function of
# `PE(pos)`": a layer might learn "attend three tokens back" once, for all
# positions. Turning every circle by its own angle `k * omega_i` is that
# function: a block-diagonal matrix `M_k` of 2x2 rotations, the same for every
# position. Checked for every position and several offsets:

# %%
for k in (1, 5, 20):
    M_k = relative_position_map(k, 32, dtype=torch.float64)  # (E, E), independent of the position
    assert_close(pe[:-k] @ M_k.T, pe[k:], rtol=0, atol=1e-10, msg=f"PE(p + {k}) = M_{k} PE(p) for every p")
diagonal = (pe[:-5] * pe[5:]).sum(dim=1)  # PE(p) . PE(p + 5) for every p
assert_close(diagonal, diagonal[0].expand_as(diagonal), rtol=0, atol=1e-10,
             msg="PE(p) . PE(p + k) depends only on k")
print(f"PE(p + k) = M_k PE(p) for k = 1, 5, 20 and all p; PE(p) . PE(p + 5) = {diagonal[0].item():.4f} for every p")

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### What a score sees of the positions
#
# It stayed a hypothesis because attention never compares positions directly:
# the encoding is *added* to each token's vector before the projections. With
# `A = W_Q W_K^T` (the scale `1 / sqrt(d_k)` aside), the score of query
# position `i` and key position `j` expands into four terms,
#
# $$(x_i + p_i) A (x_j + p_j)^\top = x_i A x_j^\top + x_i A p_j^\top + p_i A x_j^\top + p_i A p_j^\top,$$
#
# content with content, content with position (twice), position with
# position. Only the last depends on the positions alone, and even it is a
# function of the offset `j - i` only for special `A` (with `A = I` it is the
# dot product `PE(i) . PE(j)`, which the cell above found to depend on the
# offset only); a learned `A` need not be one. The two mixed terms tie content
# to absolute positions.

# %% [markdown] slideshow={"slide_type": "notes"}
# Speaker notes. The paper *hypothesised* that relative positions would be easy to learn. Expand the
# product on the board and ask which of the four terms can know the offset j - i (only the
# position-position one, and only for special A).

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### The four terms, checked
#
# With random projections, 40 positions and 32 features:

# %%
torch.manual_seed(5)
E_pos, T_pos = 32, 40
W_q, W_k = (torch.randn(E_pos, E_pos, dtype=torch.float64) / math.sqrt(E_pos) for _ in range(2))
content = torch.randn(T_pos, E_pos, dtype=torch.float64)  # x_t: one token vector per position
p_t = sinusoidal_positional_encoding(T_pos, E_pos, dtype=torch.float64)  # (T, E): p_t
added = ((content + p_t) @ W_q) @ ((content + p_t) @ W_k).T  # (T, T): the scores attention computes
A = W_q @ W_k.T
terms = {"content-content": content @ A @ content.T, "content-position": content @ A @ p_t.T,
         "position-content": p_t @ A @ content.T, "position-position": p_t @ A @ p_t.T}
assert_close(sum(terms.values()), added, rtol=1e-10, atol=1e-10, msg="the four terms should add up to the score")
print("  ".join(f"{name}: {term.std():.1f}" for name, term in terms.items()), "(standard deviations)")
three_back = torch.diagonal(terms["position-position"], offset=-3)  # p_i A p_(i-3) for every i
three_back_identity = torch.diagonal(p_t @ p_t.T, offset=-3)  # the same with A = I
print(f"position-position term, key 3 back: from {three_back.min():.2f} to {three_back.max():.2f} along the "
      f"sequence; with A = I: {three_back_identity.min():.4f} to {three_back_identity.max():.4f}")
assert three_back_identity.max() - three_back_identity.min() < 1e-10, "with A = I: a function of the offset"
assert three_back.max() - three_back.min() > 1, "with a learned A, the same offset scores differently by position"

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Rotary position embeddings
#
# The next step (Su et al., 2021, *RoFormer*, section 3.4) adds nothing to the
# tokens: inside attention, after the projections, the query and the key of
# position `m` are **rotated** by `R_m = M_m^T`, the rotation of the cell
# before last (each feature pair turned by `m * omega_i`). Rotations compose,
# `R_m^T R_n = M_m M_n^T = M_(m-n)`, so
#
# $$(R_m q) \cdot (R_n k) = q^\top M_{m-n}\, k:$$
#
# the score depends on the contents and on the offset `m - n` only, for any
# projections.

# %% [markdown] slideshow={"slide_type": "notes"}
# Speaker notes. The numbers: the position-position term varies along a diagonal for a random A, and
# is constant for A = I. The mixed terms tie content to absolute position.

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Rotary embeddings, built and checked
#
# Built from `relative_position_map`, checked by shifting both positions, and
# compared with `course_utils.rotary` (notebook 15's GPT uses it):

# %%
def rotate(x, positions):
    """Row t of x (T, E) turned to position positions[t]: R_m x = M_m^T x, as a row: x @ M_m."""
    return torch.stack([row @ relative_position_map(int(m), x.shape[-1], dtype=x.dtype)
                        for row, m in zip(x, positions)])


q_vec, k_vec = content[0] @ W_q, content[1] @ W_k  # one query and one key, projected
rotary_scores, added_scores = [], []
for m, n in ((5, 2), (12, 9), (30, 27)):  # the query 3 positions after the key, three times
    rotary_scores.append((rotate(q_vec[None], [m]) @ rotate(k_vec[None], [n]).T).item())  # (1, 1) -> a number
    added_scores.append(((content[0] + p_t[m]) @ A @ (content[1] + p_t[n])).item())
    assert_close(rotary_scores[-1], q_vec @ relative_position_map(m - n, E_pos, dtype=torch.float64) @ k_vec,
                 rtol=1e-10, atol=1e-10, msg="(R_m q) . (R_n k) = q M_(m-n) k")
    print(f"query at {m:>2}, key at {n:>2}: rotary score {rotary_scores[-1]:8.4f}, "
          f"added positions {added_scores[-1]:8.4f}")
assert max(rotary_scores) - min(rotary_scores) < 1e-10, "shifting both positions should not change a rotary score"
assert max(added_scores) - min(added_scores) > 1, "with added positions the same offset scores differently"
assert_close(rotate(content, range(T_pos)), apply_rotary(content, *rotary_angles(T_pos, E_pos, dtype=torch.float64)),
             rtol=1e-12, atol=1e-12, msg="rotation from the sinusoids' map vs course_utils.rotary.apply_rotary")
print("rotate(x, positions) == course_utils.rotary.apply_rotary (float64)")

# %% [markdown]
# The rotary score is the same wherever the pair sits; the score with added
# positions changes with the absolute positions. Rotary embeddings also leave
# the value vectors alone and extend to any position (a rotation needs no
# table). Most recent language models use them (LLaMA among them); notebook
# 15 does.

# %% [markdown] slideshow={"slide_type": "notes"}
# Speaker notes. Rotary embeddings move the positions from the input into every score: rotate q and k
# by their positions, and rotations compose, so only the offset survives. Ask: why does it matter that
# the values are not rotated? (The output mixes contents; positions only decide where to look.)

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Learned positions
#
# The alternative is a learned vector per position (an `nn.Embedding` of
# positions; Gehring et al., 2017, BERT, GPT). The paper found both "nearly
# identical" (Table 3, row E) and kept the sinusoids because they may
# extrapolate to longer sequences. A learned table has `max_len x E`
# parameters, starts with no structure, and stops at `max_len`:

# %%
learned = LearnedPositionalEncoding(max_len=64, embed_dim=32)
sinusoidal = SinusoidalPositionalEncoding(32, max_len=64)
print(f"learned: {count_params(learned):,} parameters; sinusoidal: {count_params(sinusoidal)}")
try:
    learned(torch.zeros(1, 65, 32))
    raise AssertionError("a learned table cannot encode position 64")
except ValueError as err:
    print("65 positions:", err)

# %% [markdown] slideshow={"slide_type": "slide"}
# ## A convolution is attention with fixed, local weights
#
# A 1-D convolution with kernel size `k` mixes each position with its `k - 1`
# neighbours, with a weight matrix per **relative position**. That is
# multi-head attention with `k` heads in which head `h` puts all its weight on
# the key at offset `h - k // 2` (a fixed, position-dependent, local pattern,
# not computed from content), and whose value projection is the kernel's
# `h`-th tap (Cordonnier, Loukas & Jaggi, 2020, prove that multi-head
# self-attention with relative positions can express any convolution this
# way). Built with the course's attention function, where a mask selects the
# one allowed key; at the borders no key is allowed, the output is zero, and
# that is exactly zero padding.

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Built, and checked against `F.conv1d`

# %%
def conv1d_as_attention(x, weight, bias):
    """x (B, C_in, T), weight (C_out, C_in, k): one attention head per kernel tap."""
    _, _, length = x.shape
    kernel_size = weight.shape[-1]
    tokens = x.transpose(1, 2)  # (B, T, C_in): a sequence of T tokens
    positions = torch.arange(length)
    zeros = torch.zeros(1, length, 1, dtype=x.dtype)  # every allowed key scores the same: no content
    out, maps = 0, []
    for h in range(kernel_size):
        offset = h - kernel_size // 2
        allowed = positions[None, :] == positions[:, None] + offset  # (T, T): query i sees key i + offset only
        values = tokens @ weight[:, :, h].T  # (B, T, C_out): tap h is the value projection
        head, head_weights = scaled_dot_product_attention(zeros, zeros, values, attn_mask=allowed)
        out, maps = out + head, maps + [head_weights[0]]
    return (out + bias).transpose(1, 2), torch.stack(maps)  # (B, C_out, T), (k, T, T)


torch.manual_seed(4)
x = torch.randn(2, 3, 10, dtype=torch.float64)  # (B, C_in, T)
weight, bias = torch.randn(5, 3, 3, dtype=torch.float64), torch.randn(5, dtype=torch.float64)
as_attention, conv_maps = conv1d_as_attention(x, weight, bias)
assert_close(as_attention, F.conv1d(x, weight, bias, padding=1), rtol=1e-12, atol=1e-12,
             msg="convolution built from attention vs F.conv1d")
print("attention with 3 fixed heads = F.conv1d(kernel 3, padding 1), to 1e-12")
show_attention(conv_maps, title="the three heads of a kernel-3 convolution: fixed offsets -1, 0, +1")
plt.show()

# %% [markdown]
# Self-attention generalises this in two ways at once: its weights come from
# the **content** (query-key scores), and they may reach **anywhere** in the
# sequence. The price is cost, and (two sections on) data.

# %% [markdown] slideshow={"slide_type": "notes"}
# Speaker notes. The construction: one head per kernel tap, each allowed to see exactly one offset.
# Ask: what does attention add to this? (Weights from content, and any distance.)

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Cost: O(n^2 d) against O(n k d^2)
#
# For a sequence of `n` tokens of width `d`, a self-attention layer spends
# `4 n d^2` multiply-adds on its four projections and `2 n^2 d` on `Q K^T`
# and the weighted sum; a convolution layer of kernel `k` (`d` channels in
# and out) spends `n k d^2`. Attention's cost grows with the **square** of
# the length; the convolution's linearly. PyTorch's FLOP counter confirms the
# formulas (on the `meta` device, which tracks shapes without computing):

# %%
# NBVAL_CHECK_OUTPUT
def macs(module, *inputs, **kwargs):
    with FlopCounterMode(display=False) as counter:
        module(*inputs, **kwargs)
    return counter.get_total_flops() // 2  # 2 FLOPs per multiply-add


d_model, kernel = 64, 3
attention_meta = MultiheadAttention(d_model, num_heads=4).to("meta")
conv_meta = nn.Conv1d(d_model, d_model, kernel, padding=kernel // 2).to("meta")
print(f"{'n':>6} {'attention MACs':>15} {'4nd^2 + 2n^2d':>15} {'conv MACs':>12} {'nkd^2':>12} {'ratio':>7}")
for n in (64, 128, 256, 512, 1024, 2048, 4096):
    a = macs(attention_meta, torch.empty(1, n, d_model, device="meta"), need_weights=False)
    c = macs(conv_meta, torch.empty(1, d_model, n, device="meta"))
    assert a == 4 * n * d_model**2 + 2 * n**2 * d_model and c == n * kernel * d_model**2, "the cost formulas"
    print(f"{n:>6} {a:>15,} {4 * n * d_model**2 + 2 * n**2 * d_model:>15,} {c:>12,} {n * kernel * d_model**2:>12,} "
          f"{a / c:>6.1f}x")

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Timed: one layer on one sequence

# %% [markdown]
# Time tells the same story, up to overheads. Both layers run on one
# sequence (float32, no gradient); the time is the fastest of a few repeats,
# the least disturbed by other programs on the machine. On a CPU the
# measurements (and, later, the small training runs) use **one thread**: two
# threads must wait for each other at every operation, and on a busy machine
# (this notebook was run on two cores shared with other jobs) any
# disturbance of one stalls both. Training this notebook's small models took
# about 20 times longer with two threads than with one there. One thread
# also gives steadier timings; the comparison between the layers, not the
# absolute speed, is the point.

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Timing both layers

# %%
lengths_timed = profile.pick(smoke=[256, 1024], standard=[128, 256, 512, 1024, 2048, 4096],
                             full=[128, 256, 512, 1024, 2048, 4096, 8192])
repeats = profile.pick(smoke=3, standard=5, full=10)
attention_layer = MultiheadAttention(d_model, num_heads=4).to(DEVICE).eval()
conv_layer = nn.Conv1d(d_model, d_model, kernel, padding=kernel // 2).to(DEVICE).eval()
timings = []
with torch.no_grad(), cpu_threads(1):
    for n in lengths_timed:
        tokens = torch.randn(1, n, d_model, device=DEVICE)
        t_attention = time_it(lambda: attention_layer(tokens, need_weights=False), repeats, device=DEVICE).fastest
        t_conv = time_it(lambda: conv_layer(tokens.transpose(1, 2)), repeats, device=DEVICE).fastest
        timings.append((n, t_attention, t_conv))
print(f"{'n':>6} {'attention ms':>13} {'conv ms':>9} {'ratio':>7}")
for n, ta, tc in timings:
    print(f"{n:>6} {1e3 * ta:>13.3f} {1e3 * tc:>9.3f} {ta / tc:>6.1f}x")
(n0, ta0, tc0), (n1, ta1, tc1) = timings[max(0, len(timings) - 3)], timings[-1]  # where n^2 dominates
print(f"from n = {n0} to {n1} ({n1 // n0}x longer): attention {ta1 / ta0:.1f}x slower, conv {tc1 / tc0:.1f}x")
assert ta1 / ta0 > 1.5 * (tc1 / tc0), "attention's time should grow faster with n than the convolution's"

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Time against sequence length

# %%
fig, ax = plt.subplots(figsize=(5.5, 3.5))
ns = [n for n, _, _ in timings]
ax.plot(ns, [1e3 * ta for _, ta, _ in timings], "o-", label="self-attention layer")
ax.plot(ns, [1e3 * tc for _, _, tc in timings], "s-", label=f"conv layer, k={kernel}")
ax.set(xscale="log", yscale="log", xlabel="sequence length n", ylabel="ms (one sequence, d = 64)",
       title="time grows as n^2 against n")
ax.legend()
fig.tight_layout()
plt.show()

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Reading attention: a task with a known alignment
#
# Attention weights say where each output looked. On a task whose right
# answer is known, we can check that a trained model looks where it should.
# **Sorting**: the input is 8 distinct tokens out of 30; the output is the
# same tokens in increasing order. Output position `t` must copy the `t`-th
# smallest input token, so it should attend to the source position that
# holds it.
#
# The model is a single cross-attention head and nothing else: the query is
# the embedding of the previous output token (`<bos>` at the start: *teacher
# forcing*, feeding the true previous token while training); the keys and
# values are the embeddings of the input tokens, **without positions** (the
# order of the input does not matter for sorting); a linear layer reads the
# attended value out as a token. To be right it has to learn "find the
# smallest token larger than the previous one".

# %% [markdown] slideshow={"slide_type": "notes"}
# Speaker notes. Sorting has a known alignment, so attention maps can be checked rather than admired.
# Ask the room which source position output t should look at (the position of the t-th smallest
# token).

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### The data

# %% tags=["colab-estimate"]
VOCAB, LENGTH = 30, 8
BOS = VOCAB  # the decoder's start token, outside the vocabulary


def sorting_data(n, seed):
    """x (n, 2, T): row 0 the tokens to sort, row 1 the decoder's input; y (n, T): the sorted tokens."""
    gen = torch.Generator().manual_seed(seed)
    source = torch.rand(n, VOCAB, generator=gen).argsort(dim=1)[:, :LENGTH]  # (n, T): distinct tokens
    target = source.sort(dim=1).values  # (n, T)
    previous = torch.cat([torch.full((n, 1), BOS), target[:, :-1]], dim=1)  # (n, T): target shifted right
    return torch.stack([source, previous], dim=1), target  # (n, 2, T), (n, T)


class SequenceBatches:
    """Batches of (x, y) tensors held in memory, reshuffled every epoch when ``shuffle``."""

    def __init__(self, x, y, batch_size, shuffle=False, seed=0, device=None):
        self.x, self.y = x.to(device), y.to(device)
        self.batch_size, self.shuffle, self.seed, self.epoch = batch_size, shuffle, seed, 0
        self.num_examples = len(x)

    def __len__(self):
        return math.ceil(self.num_examples / self.batch_size)

    def __iter__(self):
        order = torch.arange(self.num_examples)
        if self.shuffle:
            gen = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
            order = torch.randperm(self.num_examples, generator=gen)
            self.epoch += 1
        for start in range(0, self.num_examples, self.batch_size):
            index = order[start:start + self.batch_size].to(self.x.device)
            yield self.x[index], self.y[index]

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### The model: one cross-attention head

# %% tags=["colab-estimate"]
class PointerSorter(nn.Module):
    """One cross-attention head from the previous output token to the input tokens."""

    def __init__(self, vocab, embed_dim):
        super().__init__()
        self.source_embed = nn.Embedding(vocab, embed_dim)
        self.previous_embed = nn.Embedding(vocab + 1, embed_dim)  # + <bos>
        self.attention = MultiheadAttention(embed_dim, num_heads=1)
        self.readout = nn.Linear(embed_dim, vocab)

    def forward(self, x, need_weights=False):
        source, previous = x[:, 0], x[:, 1]  # (B, S), (B, T)
        memory = self.source_embed(source)  # (B, S, E): keys and values, no positions
        read, weights = self.attention(self.previous_embed(previous), memory, memory, need_weights=need_weights)
        logits = self.readout(read)  # (B, T, vocab)
        return (logits, weights) if need_weights else logits


x_sort, y_sort = sorting_data(4, seed=0)
print("input:", x_sort[0, 0].tolist(), " decoder input:", x_sort[0, 1].tolist(), " target:", y_sort[0].tolist())

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Training
#
# The course's `fit` trains any model that maps `x` to outputs; for a
# sequence the loss is the cross-entropy per token (`token_cross_entropy`) and
# the accuracy counts tokens. The model is tiny (about 3,000 parameters), so
# it trains with one CPU thread, like the timings above.

# %%
n_sort_train = profile.pick(smoke=512, standard=4000, full=20000)
epochs_sort = profile.pick(smoke=2, standard=12, full=20)
sort_train = SequenceBatches(*sorting_data(n_sort_train, seed=1), batch_size=64, shuffle=True, device=DEVICE)
sort_test = SequenceBatches(*sorting_data(1000, seed=2), batch_size=500, device=DEVICE)
seed_everything(0)
sorter = PointerSorter(VOCAB, embed_dim=32).to(DEVICE)
optimizer = torch.optim.Adam(sorter.parameters(), lr=3e-3)
with cpu_threads(1):
    history = fit(sorter, sort_train, sort_test, epochs=epochs_sort, optimizer=optimizer,
                  loss_fn=token_cross_entropy, metrics={"acc": accuracy}, eval_name="test",
                  log=profile.current() != "smoke")
print(f"token accuracy on 1,000 held-out sequences: {history.final.test_acc:.2%} (chance: {1 / VOCAB:.1%})")

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Does it look at the right place?
#
# For each output position the right source position is where the `t`-th
# smallest token sits (`argsort` of the input). Count the output positions
# whose largest attention weight falls there:

# %%
x_test, y_test = sort_test.x, sort_test.y
with torch.no_grad():
    logits, sort_weights = sorter.eval()(x_test, need_weights=True)  # (N, T, V), (N, T, S)
right_source = x_test[:, 0].argsort(dim=1)  # (N, T): source position of the t-th smallest token
aligned = (sort_weights.argmax(dim=-1) == right_source).float().mean().item()
weight_on_right = sort_weights.gather(-1, right_source[..., None]).mean().item()
print(f"output positions whose largest weight is on the right source token: {aligned:.1%}; "
      f"mean weight there: {weight_on_right:.2f}")
bar = profile.pick(smoke=0.0, standard=0.9, full=0.9)
assert aligned >= bar, f"only {aligned:.1%} of output positions look at the right source position (bar {bar:.0%})"
_ = results.record("12", "sorting_alignment", round(aligned, 4), token_acc=round(history.final.test_acc, 4),
                   n_train=n_sort_train, epochs=epochs_sort)

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Three test sequences

# %%
fig, axes = plt.subplots(1, 3, figsize=(11, 3.6))
for example, ax in enumerate(axes):
    ax.imshow(sort_weights[example].cpu(), cmap="viridis", vmin=0, vmax=1)
    ax.set_xticks(range(LENGTH), [str(t) for t in x_test[example, 0].tolist()])
    ax.set_yticks(range(LENGTH), [str(t) for t in y_test[example].tolist()])
    ax.set(xlabel="keys: input tokens", ylabel="queries: sorted output" if example == 0 else None,
           title=f"example {example}")
fig.tight_layout()
plt.show()

# %% [markdown]
# Each row (an output token) lights up one column (the input token it
# copies): a permutation, different for every input, because the weights are
# computed from content. A convolution's weights could not do that: they are
# tied to relative positions, the same for every input.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## The flexible model needs more data
#
# A convolution *knows* that nearby tokens matter; attention has to **learn**
# where to look. That freedom is why attention can capture what a
# convolution cannot, and why it needs more examples to get there (the
# Vision Transformer of Dosovitskiy et al., 2021, trails ResNets on
# ImageNet-1k alone and overtakes them only after pre-training on 14-300
# million images).
#
# A task with both kinds of structure: sequences of 16 tokens from 6, and at
# every position a label (one of 4) that is a **local** function of the token
# and its two neighbours, chosen from **two rule tables by the first token of
# the sequence** (even: rule A, odd: rule B). A convolution of kernel 3 sees
# the local triple, but from position 2 on not the first token; attention can
# see both, if it learns to.

# %% tags=["colab-estimate"]
NUM_TOKENS, SEQ_LEN, NUM_LABELS = 6, 16, 4
RULES = torch.randint(0, NUM_LABELS, (2, NUM_TOKENS, NUM_TOKENS, NUM_TOKENS),
                      generator=torch.Generator().manual_seed(2015))  # rule A and rule B: fixed tables


def rule_task(n, seed):
    """x (n, T) tokens; y (n, T) labels: RULES[mode][left, token, right], mode = parity of the first token."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randint(0, NUM_TOKENS, (n, SEQ_LEN), generator=gen)
    padded = F.pad(x, (1, 1), value=0)  # beyond the ends the rules read token 0
    left, right = padded[:, :-2], padded[:, 2:]  # (n, T) each
    mode = (x[:, :1] % 2).expand(n, SEQ_LEN)  # (n, T): the first token decides
    return x, RULES[mode, left, x, right]


def best_without_first_token(x, y):
    """Expected accuracy of the best predictor that sees positions t-1..t+1 only:
    right where both rules agree or the window contains position 0, else a coin flip."""
    padded = F.pad(x, (1, 1), value=0)
    left, right = padded[:, :-2], padded[:, 2:]
    agree = RULES[0][left, x, right] == RULES[1][left, x, right]  # (n, T)
    sees_first = torch.arange(SEQ_LEN) <= 1  # positions 0 and 1 see token 0
    return torch.where(agree | sees_first, 1.0, 0.5).mean().item()


x_hunger_test, y_hunger_test = rule_task(2000, seed=10_000)
conv_cap = best_without_first_token(x_hunger_test, y_hunger_test)
print(f"the best any model with a 3-token window can do: {conv_cap:.1%}; chance: {1 / NUM_LABELS:.0%}")

# %% [markdown] slideshow={"slide_type": "notes"}
# Speaker notes. Ask the room to predict who wins with 100 sequences and with 1,000 before running.
# The best any 3-token window can do is computed exactly, not guessed.

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Two models of the same size
#
# Both embed the tokens in 64 dimensions and have about 50,000 parameters.
# The convolution: a kernel-3 convolution to 192 channels and a 1x1
# convolution back. Attention: sinusoidal positions, one 4-head
# self-attention layer and a feed-forward layer (both with residual
# connections; notebook 13 explains them).

# %% tags=["colab-estimate"]
class ConvTagger(nn.Module):
    def __init__(self, embed_dim=64, kernel_size=3):
        super().__init__()
        self.embed = nn.Embedding(NUM_TOKENS, embed_dim)
        self.conv = nn.Conv1d(embed_dim, 3 * embed_dim, kernel_size, padding=kernel_size // 2)
        self.mix = nn.Conv1d(3 * embed_dim, embed_dim, kernel_size=1)
        self.readout = nn.Linear(embed_dim, NUM_LABELS)

    def forward(self, x):
        h = self.embed(x).transpose(1, 2)  # (B, T, E) -> (B, E, T)
        h = F.relu(self.mix(F.relu(self.conv(h))))  # (B, E, T)
        return self.readout(h.transpose(1, 2))  # (B, T, E) -> (B, T, labels)


class AttentionTagger(nn.Module):
    def __init__(self, embed_dim=64, num_heads=4):
        super().__init__()
        self.embed = nn.Embedding(NUM_TOKENS, embed_dim)
        self.positions = SinusoidalPositionalEncoding(embed_dim, max_len=SEQ_LEN)
        self.attention = MultiheadAttention(embed_dim, num_heads)
        self.feed_forward = nn.Sequential(nn.Linear(embed_dim, 4 * embed_dim), nn.ReLU(),
                                          nn.Linear(4 * embed_dim, embed_dim))
        self.readout = nn.Linear(embed_dim, NUM_LABELS)

    def forward(self, x):
        h = self.positions(self.embed(x))  # (B, T, E)
        h = h + self.attention(h, need_weights=False)[0]
        h = h + self.feed_forward(h)
        return self.readout(h)  # (B, T, labels)


# %%
# NBVAL_CHECK_OUTPUT
print(f"ConvTagger: {count_params(ConvTagger()):,} parameters; AttentionTagger: {count_params(AttentionTagger()):,}")

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Training at several sizes, over seeds
#
# Every run takes the same number of optimiser steps (batches of 32), however
# many training sequences it has, and is repeated over seeds (a new training
# set and initialisation each time); the test set is 2,000 other sequences.

# %%
sizes = profile.pick(smoke=[100, 1000], standard=[100, 1000], full=[100, 300, 1000, 3000])
steps = profile.pick(smoke=30, standard=1000, full=3000)
seeds = range(profile.pick(smoke=2, standard=3, full=5))
hunger_test = SequenceBatches(x_hunger_test, y_hunger_test, batch_size=1000, device=DEVICE)


def train_tagger(make_model, n_train, seed):
    batches = SequenceBatches(*rule_task(n_train, seed=seed), batch_size=32, shuffle=True, seed=seed,
                              device=DEVICE)
    epochs = max(1, round(steps / len(batches)))
    model = make_model().to(DEVICE)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.01)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=3e-3, total_steps=epochs * len(batches))
    fit(model, batches, epochs=epochs, optimizer=optimizer, scheduler=scheduler, loss_fn=token_cross_entropy,
        metrics={"acc": accuracy}, progress=False, log=False)
    test = evaluate(model, hunger_test, token_cross_entropy, {"acc": accuracy})  # {"loss": ..., "acc": ...}
    train = evaluate(model, batches, token_cross_entropy, {"acc": accuracy})  # its own training sequences
    return {**test, "train_acc": train["acc"]}


hunger = {}
start = time.perf_counter()
with cpu_threads(1):
    for n_train in sizes:
        for name, make_model in (("conv", ConvTagger), ("attention", AttentionTagger)):
            hunger[name, n_train] = over_seeds(lambda seed: train_tagger(make_model, n_train, seed), seeds)
print(f"{len(hunger) * len(seeds)} runs of {steps} steps in {time.perf_counter() - start:.0f} s\n")
print(f"{'training sequences':>19} {'conv: train':>12} {'test acc':>15} {'attention: train':>17} {'test acc':>15}")
for n_train in sizes:
    cells = []
    for name in ("conv", "attention"):
        runs = hunger[name, n_train]
        cells += [f"{runs.mean('train_acc'):.1%}", f"{runs.mean('acc'):.1%} ± {runs.std('acc'):.1%}"]
    print(f"{n_train:>19,} {cells[0]:>12} {cells[1]:>15} {cells[2]:>17} {cells[3]:>15}")
print(f"\nmean ± sample standard deviation over {len(seeds)} seeds; a 3-token window can reach at most "
      f"{conv_cap:.1%}")

# %% tags=["colab-estimate", "no-slide"] slideshow={"slide_type": "skip"}
# The `full` profile's training, declared for the Colab T4 estimate of benchmarks/colab_time.py
# (CONTRIBUTING, "Colab time"); nothing is built or trained here.
colab_runs = [dict(what="pointer sorter", model=lambda: PointerSorter(VOCAB, embed_dim=32), train=n_sort_train,
                   epochs=epochs_sort, eval=1_000, batch_size=64, example=torch.zeros(1, 2, LENGTH, dtype=torch.long))]
for n_train in sizes:
    tagger_epochs = max(1, round(steps / -(-n_train // 32)))  # as train_tagger: batches of 32, about `steps` steps
    colab_runs += [dict(what=f"{tagger.__name__} on {n_train:,}", model=tagger, train=n_train, epochs=tagger_epochs,
                        repeats=len(seeds), batch_size=32, example=torch.zeros(1, SEQ_LEN, dtype=torch.long))
                   for tagger in (ConvTagger, AttentionTagger)]

# %% tags=["no-slide"] slideshow={"slide_type": "skip"}
small, large = sizes[0], sizes[-1]
conv_small, attn_small = hunger["conv", small].values("acc"), hunger["attention", small].values("acc")
conv_large, attn_large = hunger["conv", large].values("acc"), hunger["attention", large].values("acc")
if PROFILE == "smoke":
    print(f"smoke profile: {steps} steps are too few to learn the rules, so the comparison is asserted under "
          "the standard and full profiles only")
else:
    assert min(conv_small) > max(attn_small) + 0.1, \
        f"with {small} sequences every conv seed should beat every attention seed by 10 points"
    assert min(attn_large) > max(conv_large) + 0.1, \
        f"with {large} sequences every attention seed should beat every conv seed by 10 points"
    assert all(abs(a - conv_cap) < 0.03 for a in conv_large), "the conv should sit at its window's limit"
    assert min(attn_large) > 0.95, f"attention should learn the whole task from {large} sequences"
    attn_small_train = hunger["attention", small].values("train_acc")
    assert min(attn_small_train) > 0.95 and min(attn_small_train) > max(attn_small) + 0.3, \
        f"with {small} sequences attention should fit its training set (almost) perfectly, far better than the test set"
for n_train in sizes:
    attn, conv = hunger["attention", n_train], hunger["conv", n_train]
    _ = results.record("12", f"rule_task_{n_train}_attention_acc", round(attn.mean("acc"), 4),
                       std=round(attn.std("acc"), 4), conv_acc=round(conv.mean("acc"), 4),
                       conv_std=round(conv.std("acc"), 4), seeds=len(seeds), steps=steps)

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Who wins depends on the data

# %%
fig, ax = plt.subplots(figsize=(5.5, 3.5))
for name, style in (("conv", "s-"), ("attention", "o-")):
    means = [hunger[name, n].mean("acc") for n in sizes]
    spreads = [hunger[name, n].std("acc") if len(seeds) > 1 else 0 for n in sizes]
    ax.errorbar(sizes, means, yerr=spreads, fmt=style, capsize=3, label=name)
ax.axhline(conv_cap, color="gray", ls=":", label="3-token window limit")
ax.axhline(1 / NUM_LABELS, color="gray", ls="--", label="chance")
ax.set(xscale="log", xlabel="training sequences", ylabel="test accuracy", title="who wins depends on the data")
ax.legend()
fig.tight_layout()
plt.show()

# %% [markdown]
# With 100 training sequences the convolution's built-in assumption
# (locality, the same rule everywhere) is worth more than attention's
# freedom: it learns the local rules at once and reaches its window's limit,
# while attention fits its 100 training sequences (the training column: all
# but a few tokens right, asserted above 95%) and generalises poorly: it has
# memorised them. With
# 1,000 sequences attention has learned where to look (the neighbours, and
# the first token) and solves the whole task, which the convolution never
# can with its window. In between lies a crossover; the full profile adds
# 300 and 3,000 sequences to the table. A deeper or wider convolution could reach the first
# token too; the point is which assumptions each model brings, and what they
# cost or save in data.

# %% [markdown] slideshow={"slide_type": "notes"}
# Speaker notes. With 100 sequences attention gets its training set right and the test set barely
# above chance: memorisation, measured by the training column. The convolution's assumption (locality)
# is worth data; attention pays for its freedom with examples.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Performance: from scratch against the fused kernel
#
# The matrix form materialises the `T x T` scores and weights of every head,
# and keeps the weights for the backward pass: memory grows as `T^2`.
# `F.scaled_dot_product_attention` dispatches to fused kernels
# (FlashAttention, Dao et al., 2022, and its CPU counterpart) that work block
# by block with a running softmax and never hold the whole matrix. One
# forward and backward pass of `(1, 4, T, 64)` self-attention, float32 (one
# CPU thread); the time is the median of a few repeats, the memory is the
# peak allocated during the pass (PyTorch's profiler on CPU, the CUDA
# allocator on a GPU).
# `benchmarks/attention.py` prints the same table for longer sequences.

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Time and memory, measured

# %%
def forward_backward(attend, q, k, v):
    def run():
        out = attend(q, k, v)
        out.backward(torch.ones_like(out))
        q.grad = k.grad = v.grad = None
    return run


implementations = {"from scratch": lambda q, k, v: scaled_dot_product_attention(q, k, v)[0],
                   "fused": F.scaled_dot_product_attention}
perf_lengths = profile.pick(smoke=[256, 1024], standard=[256, 512, 1024, 2048], full=[512, 1024, 2048, 4096, 8192])
perf = []
with cpu_threads(1):
    for t in perf_lengths:
        q, k, v = (torch.randn(1, 4, t, 64, device=DEVICE, requires_grad=True) for _ in range(3))
        row = {"T": t}
        for name, attend in implementations.items():
            row[f"{name} ms"] = 1e3 * time_it(forward_backward(attend, q, k, v), repeats=3, device=DEVICE).median
            row[f"{name} MiB"] = peak_bytes(forward_backward(attend, q, k, v), DEVICE) / 2**20
        perf.append(row)
print(f"{'T':>6} {'from scratch ms':>16} {'fused ms':>9} {'from scratch MiB':>17} {'fused MiB':>10} "
      f"{'(T x T) MiB':>12}")
for row in perf:
    matrix_mib = 4 * row["T"] ** 2 * 4 / 2**20  # one float32 (1, 4, T, T) tensor
    print(f"{row['T']:>6} {row['from scratch ms']:>16.1f} {row['fused ms']:>9.1f} {row['from scratch MiB']:>17.1f} "
          f"{row['fused MiB']:>10.1f} {matrix_mib:>12.1f}")
last = perf[-1]
assert last["from scratch MiB"] >= 2 * 4 * last["T"] ** 2 * 4 / 2**20, \
    "from scratch holds at least the scores and the weights, two (1, 4, T, T) tensors"
assert last["fused MiB"] < last["from scratch MiB"] / 4, "the fused kernel should need far less memory"
_ = results.record("12", "attention_memory_ratio", round(last["from scratch MiB"] / last["fused MiB"], 1),
                   T=last["T"], from_scratch_ms=round(last["from scratch ms"], 1), fused_ms=round(last["fused ms"], 1))

# %% [markdown]
# The memory is the robust result: the from-scratch version needs the two
# `T x T` matrices per head (doubling `T` quadruples them), the fused kernel
# only the output and a few numbers per row. On this CPU the fused kernel is
# also faster for the longer sequences (for the shortest the two are close),
# by a factor that varies from run to run on a shared machine. The course's `MultiheadAttention` therefore
# calls the fused kernel when the weights are not needed (`need_weights=False`,
# proven equal by the tests) and the from-scratch function when they are.

# %% [markdown] slideshow={"slide_type": "notes"}
# Speaker notes. Memory is the robust result (the T x T matrices); the time ratio varies with the
# machine and its load. Ask: why does the course's module still use the from-scratch path when weights
# are requested? (The fused kernel does not return them.)

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Summary
#
# - A CNN needs `ceil((n - 1) / (k - 1))` layers to relate positions `n - 1`
#   apart and an RNN `n - 1` sequential steps; self-attention relates them in
#   one layer.
# - Attention = softmax(scores of a query against keys) averaging values;
#   scaled dot-product attention is `softmax(Q K^T / sqrt(d_k)) V`, equal to
#   PyTorch's to float64 precision. Without the `sqrt(d_k)` the scores' variance
#   grows as `d_k` and the softmax saturates (measured).
# - Masks: the course's one convention is `True` = may attend; padded keys get
#   exactly zero weight; the causal mask gives exactly zero gradient from the
#   future; a query with no key gets zeros, as `F.scaled_dot_product_attention`.
# - Multi-head attention splits `E` into heads with a `view` and a `transpose`;
#   its parameter count does not depend on the number of heads.
# - Self-attention ignores order until positions are added; the sinusoidal
#   encoding turns an offset into a fixed rotation, but added to the tokens it
#   mixes content and absolute position in every score. Rotary embeddings
#   rotate queries and keys instead, and the score depends on the offset only.
# - A key/value cache makes decoding one position at a time equal to the
#   whole causal pass, with one position's projections per step.
# - A convolution is attention with fixed, local, position-dependent weights;
#   attention costs `O(n^2 d)` against the convolution's `O(n k d^2)`.
# - Trained on sorting, attention looks at the right token (checked); on a
#   task with local and long-range structure the convolution wins with little
#   data (attention memorises its 100 training sequences) and attention with
#   more.
#
# Notebook 13 stacks these pieces into the Transformer and trains it to
# translate.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Exercises
#
# Each exercise gives a stub; replace `raise NotImplementedError` with your
# code and run the cell. Hints come in three tiers: an exercise not attempted
# yet prints a nudge (what to look at); `ex12.hint("name")` gives the next,
# the key idea, and so does a wrong answer. The third is a recipe:
# `ex12.hint("name", level=3)`, or a third wrong attempt, shows it.

# %%
from course_utils.exercises import ex12


# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Exercise 1: attention by hand
#
# Write `attend(Q, K, V)` for 2-D tensors `Q (T, d)`, `K (S, d)`, `V (S, d_v)`
# returning `(output, weights)`, using only `@`, `exp`, `sum`, `max` and
# `math.sqrt`. Then work out the weights of `ex12.EXAMPLE_Q`, `EXAMPLE_K`,
# `EXAMPLE_V` (three tokens) on paper and compare.

# %%
def attend(Q, K, V):
    raise NotImplementedError


ex12.check_attention_by_hand(attend);


# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Exercise 2: the mask of a padded batch
#
# Write `make_mask(lengths, max_len, causal)` returning the `(B, T, T)`
# boolean mask of self-attention over a padded batch in the course's
# convention. `lengths` is a 1-D tensor of the sequences' lengths.

# %%
def make_mask(lengths, max_len, causal):
    raise NotImplementedError


ex12.check_padded_batch_mask(make_mask);


# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Exercise 3: the parameters of multi-head attention
#
# Write `mha_params(embed_dim, num_heads, kdim, vdim, bias)`: the number of
# parameters of `nn.MultiheadAttention(embed_dim, num_heads, kdim=kdim,
# vdim=vdim, bias=bias)`, where keys and values arrive with `kdim` and `vdim`
# features. Work it out, don't count it with PyTorch.

# %%
def mha_params(embed_dim, num_heads, kdim, vdim, bias):
    raise NotImplementedError


ex12.check_mha_params(mha_params);


# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Exercise 4: relative position from the encoding
#
# You get two rows `pe_p` and `pe_q` of the sinusoidal table (float32, length
# `E`), but not their positions. Write `offset(pe_p, pe_q)` returning `q - p`
# (positions up to 4,096).

# %%
def offset(pe_p, pe_q):
    raise NotImplementedError


ex12.check_relative_offset(offset);
