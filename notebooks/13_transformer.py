# %% [markdown] slideshow={"slide_type": "slide"}
# # 13 The Transformer, trained to translate English to French
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/deep-learning-course/conv-to-transformer/blob/main/notebooks/13_transformer.ipynb)
#
# Vaswani et al. (2017), "Attention Is All You Need", replaced the recurrent networks of machine
# translation by attention alone. Notebook 12 built its pieces (scaled dot-product and multi-head
# attention, masks, positional encodings); this notebook assembles them into the paper's
# encoder-decoder and trains it on the paper's own task, translation, with real sentences:
#
# 1. **the data**: 76,036 English-French sentence pairs from Tatoeba, a word-level tokenizer, a
#    split by English sentence, batches bucketed by length;
# 2. **layer normalisation**, from scratch, and why it suits sequences better than batch norm;
# 3. **the encoder and decoder layers**, post-LN (the paper) and pre-LN, proved equal to
#    `nn.TransformerEncoderLayer` / `nn.TransformerDecoderLayer`, and the whole model's parameter
#    count checked against `nn.Transformer`;
# 4. **training** with the course's `fit`: the token-level loss with label smoothing, the paper's
#    warm-up schedule, gradient clipping;
# 5. **decoding**: greedy and beam search, a stop token, a key/value cache;
# 6. **evaluation**: BLEU against every reference, exact match, d2l's four example sentences,
#    exposure bias measured, attention maps, and non-autoregressive decoding.
#
# Data credit: Tatoeba (tatoeba.org), sentence pairs via manythings.org/anki, licensed CC-BY 2.0 (France).

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
import collections
import functools
import math
import re
import time

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from matplotlib.patches import FancyBboxPatch
from torch import nn

from course_utils import results
from course_utils.data import text
from course_utils.accounting import count_params
from course_utils.checkpoint import checkpoint_path
from course_utils.checks import assert_close
from course_utils.decoding import FullPrefix, beam_search, greedy_search
from course_utils.exercises import ex13
from course_utils.models import transformer as tr
from course_utils.modes import eval_mode
from course_utils.plot import plot_history, show_attention
from course_utils.train import accuracy, evaluate, fit, to_device

from course_utils import profile
from course_utils.device import get_device, seed_everything

PROFILE = profile.current()
DEVICE = get_device()
seed_everything(0)
print(f"profile: {PROFILE}   device: {DEVICE}")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## The data: English-French sentence pairs
#
# The file holds one pair per line, `english<TAB>french`, sorted by length: one to nine English
# words, mostly three to six. It is the first part of one release of the Tatoeba file that Dive
# into Deep Learning's machine-translation chapters download (`fra-eng.zip`; releases differ a
# little in which pairs they hold). The loader reads an offline copy (the file named by the
# environment variable `COURSE_FRA_ENG`, or the archive beside the checkout) or downloads d2l's file.

# %%
pairs = text.load_sentence_pairs()
print(f"{len(pairs):,} pairs. The first, a middle and the last one:")
for en, fr in (pairs[0], pairs[len(pairs) // 2], pairs[-1]):
    print(f"  {en!r:45} -> {fr!r}")

# %% [markdown] slideshow={"slide_type": "notes"}
# Speaker notes. Start from the data, not the model. Ask the room how they would split 76,000 pairs
# into training and test sets, then show why a split by line leaks: one English sentence has up to
# dozens of French translations.

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Split by English sentence, not by line
#
# One English sentence often has several translations. If we split the lines at random, the test set
# would ask for sentences the model saw in training, with another of their translations. Count how
# much a split by line would leak:

# %%
sources = [tuple(text.tokenize(en)) for en, _ in pairs]
distinct = len(set(sources))
print(f"{distinct:,} distinct English sentences in {len(pairs):,} pairs "
      f"({len(pairs) / distinct:.2f} translations each on average)")
most = collections.Counter(sources).most_common(1)[0][0]  # the sentence with the most translations
print(f"{text.detokenize(most, 'en')!r} has {sources.count(most)}:",
      " | ".join(fr for (en, fr), key in zip(pairs, sources) if key == most))
shuffled = torch.randperm(len(pairs), generator=torch.Generator().manual_seed(0)).tolist()
line_test = {sources[i] for i in shuffled[:len(pairs) // 20]}
line_train = {sources[i] for i in shuffled[len(pairs) // 20:]}
leaked = len(line_test & line_train) / len(line_test)
print(f"a random 5% of the lines: {leaked:.0%} of its English sentences are also in the other 95%")
assert leaked > 0.2, "splitting by line should leak many test sentences into training"

# %% [markdown]
# `TranslationData` splits by English sentence: each distinct sentence goes, with all its
# translations, into one of the training, validation (2%) or test (4%) splits. The evaluation
# below scores a translation against **every** reference of its sentence, as BLEU was designed to.
# The profile decides how much we use.

# %%
SETTINGS = profile.pick(
    smoke=dict(max_train=2_000, max_eval=80, d_model=32, nhead=2, layers=1, dim_feedforward=64, dropout=0.1,
               epochs=1, batch_size=100, warmup=10, peak_lr=2e-3),
    standard=dict(max_train=None, max_eval=None, d_model=128, nhead=4, layers=2, dim_feedforward=512,
                  dropout=0.1, epochs=3, batch_size=128, warmup=400, peak_lr=2e-3),
    full=dict(max_train=None, max_eval=None, d_model=256, nhead=8, layers=3, dim_feedforward=1024, dropout=0.1,
              epochs=20, batch_size=128, warmup=1000, peak_lr=1e-3),
)
data = text.TranslationData(pairs, val_fraction=0.02, test_fraction=0.04, min_freq=2, seed=0,
                            max_train=SETTINGS["max_train"], max_eval=SETTINGS["max_eval"])
print(data)
split_sources = [{tuple(text.tokenize(en)) for en, _ in split}
                 for split in (data.train_pairs, data.val_pairs, data.test_pairs)]
assert not (split_sources[0] & split_sources[2]) and not (split_sources[0] & split_sources[1]), \
    "an English sentence is in training and in a held-out split"
test_groups = data.test_groups()
print(f"test: {len(test_groups):,} English sentences with {len(data.test_pairs):,} references")

# %% tags=["colab-estimate", "no-slide"] slideshow={"slide_type": "skip"}
# The `full` profile's training, declared for the Colab T4 estimate of benchmarks/colab_time.py
# (CONTRIBUTING, "Colab time"); nothing is built or trained here.
# The vocabularies (5,436 English and 8,478 French tokens), the 71,437 training and the 1,501 validation
# pairs (evaluated every epoch) are those of the split above without max_train (standard and full profiles,
# checked below); the example is a pair of average length: 7 source and 8 decoder-input positions (the
# corpus' means with this tokenizer, <eos> and <bos> included: 6.95 and 7.77).
colab_runs = [dict(what="Transformer translation", train=71_437, epochs=SETTINGS["epochs"], eval=1_501,
                   model=lambda: tr.Transformer(tr.TransformerConfig(
                       5_436, 8_478, d_model=SETTINGS["d_model"], nhead=SETTINGS["nhead"],
                       num_encoder_layers=SETTINGS["layers"], num_decoder_layers=SETTINGS["layers"],
                       dim_feedforward=SETTINGS["dim_feedforward"], dropout=SETTINGS["dropout"])),
                   example=(torch.ones(1, 7, dtype=torch.long), torch.ones(1, 8, dtype=torch.long)),
                   batch_size=SETTINGS["batch_size"])]

# %% tags=["no-slide"] slideshow={"slide_type": "skip"}
if SETTINGS["max_train"] is None:  # the sizes the Colab estimate (the cell above) reads are this split's
    sizes = (len(data.src_vocab), len(data.tgt_vocab), len(data.train_pairs), len(data.val_pairs))
    assert sizes == (5_436, 8_478, 71_437, 1_501), f"update the Colab estimate's sizes above to {sizes}"

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### A word-level tokenizer
#
# The tokenizer is one regular expression after lower-casing and tidying spaces: a word with the
# apostrophe of a French elision (`j'`, `l'`, `qu'`), a word, or a single punctuation mark.
# Splitting `j'ai` into `j'` + `ai` lets `ai` share its vector with every other `ai`;
# `detokenize` glues the pieces back. Subword tokenizers (the paper's byte-pair encoding and word
# pieces) do this more systematically; words keep every step visible here.

# %%
print(text.TOKEN_RE.pattern)
for sentence in ["J'ai perdu.", "Qu'est-ce que c'est\u202f?", "I'm home."]:
    tokens = text.tokenize(sentence)
    lang = "en" if sentence.startswith("I'm") else "fr"
    print(f"{sentence!r:28} -> {tokens} -> {text.detokenize(tokens, lang)!r}")
round_trip = sum(text.detokenize(text.tokenize(s), lang) == text.normalize(s)
                 for en, fr in pairs for s, lang in ((en, "en"), (fr, "fr"))) / (2 * len(pairs))
print(f"detokenize(tokenize(s)) gives s back (up to case and spaces) for {round_trip:.2%} of the sentences")
assert round_trip > 0.99, "the detokenizer should invert the tokenizer for almost every sentence"

# %% [markdown]
# The exceptions are mostly French sentences typed without the space before `!` or `?`, which the
# detokenizer puts back. BLEU below splits punctuation off anyway, so they cost nothing.

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Vocabularies from the training split only
#
# A word enters a vocabulary if it occurs at least twice in the **training** pairs; everything
# else becomes `<unk>`. Building the vocabulary from all the data would let the test set decide
# which words the model can produce. Four special tokens come first: `<pad>` (0), `<bos>` (1),
# `<eos>` (2), `<unk>` (3).

# %%
PAD, BOS, EOS = data.tgt_vocab.pad_id, data.tgt_vocab.bos_id, data.tgt_vocab.eos_id
print(f"English: {data.src_vocab}\nFrench:  {data.tgt_vocab}")
print("most frequent French tokens:", data.tgt_vocab.itos[4:16])
test_tokens = [t for _, fr in data.test_pairs for t in text.tokenize(fr)]
unknown = sum(t not in data.tgt_vocab for t in test_tokens) / len(test_tokens)
print(f"{unknown:.1%} of the test references' tokens are not in the French vocabulary: no model here "
      "can produce them")

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Batches bucketed by length
#
# A batch is padded to its longest sentence. Shuffled at random, a batch mixes short and long
# sentences and is mostly padding; sorted by length before it is cut into batches (and the batches
# then shuffled), each batch holds sentences of the same lengths. `x` is the model's two inputs,
# `(src, tgt_in)` (a `SourceTarget`, a named tuple): the source ids `(B, S)` and the decoder's
# input `(B, T)`, which is the target shifted right behind `<bos>`; `y` is the target followed by
# `<eos>`: at every position the decoder predicts the next token.

# %%
train_batches = data.train_batches(SETTINGS["batch_size"], seed=0)
x, y = next(iter(data.val_batches(4)))
for row in range(2):
    print("src    ", data.src_vocab.decode(x.src[row]), x.src[row].tolist())
    print("tgt_in ", [data.tgt_vocab.itos[i] for i in x.tgt_in[row]])
    print("y      ", [data.tgt_vocab.itos[i] for i in y[row]])
real = sum(int((xb.src != PAD).sum() + (yb != PAD).sum()) for xb, yb in train_batches)
padded = sum(xb.src.numel() + yb.numel() for xb, yb in train_batches)
gen = torch.Generator().manual_seed(0)
random_batches = torch.randperm(train_batches.num_examples, generator=gen).split(SETTINGS["batch_size"])
padded_random = sum(len(i) * (int(train_batches.src_lengths[i].max()) + int(train_batches.tgt_lengths[i].max()) - 1)
                    for i in random_batches)
print(f"padding: {padded / real - 1:.1%} extra positions when bucketed, {padded_random / real - 1:.1%} when "
      "batched at random")
assert padded < padded_random, "bucketing should reduce the padding"

# %% [markdown] slideshow={"slide_type": "slide"}
# ## The model at a glance
#
# Before the pieces, the whole (the paper's Figure 1, as this notebook builds it). One attention
# module, notebook 12's `MultiheadAttention`, is used in three ways:
#
# - **encoder self-attention**: every English position attends to every English position (only the
#   padding is masked);
# - **masked self-attention** in the decoder: French position `t` attends to French positions `<= t`
#   (the causal mask), so that training on whole sentences cannot peek at the next word;
# - **cross-attention**: the decoder's queries attend to the encoder's output, the keys and values,
#   in every decoder layer: the only place where the English sentence enters the decoder.

# %% tags=["no-slide"] slideshow={"slide_type": "skip"}
def draw_transformer():
    """The paper's Figure 1, post-LN as the paper, with its three kinds of attention in three colours."""
    kinds = {"encoder self-attention (padding mask)": "#f4cccc",
             "masked self-attention (causal mask)": "#d9d2e9",
             "cross-attention (queries: decoder; keys, values: encoder; padding mask)": "#fce5cd"}
    norm, ff, emb = "#fff2cc", "#d9ead3", "#cfe2f3"
    fig, ax = plt.subplots(figsize=(10, 6.2))
    ax.set(xlim=(0, 13), ylim=(0, 12.2))
    ax.axis("off")

    def box(x, y, label, color, w=3.6, h=0.62):
        ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0.05", fc=color, ec="black"))
        ax.text(x, y, label, ha="center", va="center", fontsize=9)

    def up(x, y0, y1, color="black"):
        ax.annotate("", (x, y1), (x, y0), arrowprops=dict(arrowstyle="->", color=color))

    encoder = [(0.6, "English ids (B, S)", "#eeeeee"), (1.6, "embedding x sqrt(d) + positions", emb),
               (3.0, "self-attention", kinds["encoder self-attention (padding mask)"]),
               (3.9, "add & layer norm", norm), (5.0, "feed-forward", ff), (5.9, "add & layer norm", norm)]
    decoder = [(0.6, "French ids, shifted right (B, T)", "#eeeeee"), (1.6, "embedding x sqrt(d) + positions", emb),
               (3.0, "masked self-attention", kinds["masked self-attention (causal mask)"]),
               (3.9, "add & layer norm", norm),
               (5.0, "cross-attention", kinds["cross-attention (queries: decoder; keys, values: encoder; padding mask)"]),
               (5.9, "add & layer norm", norm), (7.0, "feed-forward", ff), (7.9, "add & layer norm", norm),
               (9.3, "linear (tied to the embedding)", emb), (10.2, "softmax: next French token", "#eeeeee")]
    for x, layers, side in ((2.9, encoder, -1), (8.3, decoder, 1)):
        for y, label, color in layers:
            box(x, y, label, color)
        for (y0, _, _), (y1, _, _) in zip(layers, layers[1:]):
            up(x, y0 + 0.33, y1 - 0.33)
        for (y, label, _), (y_norm, _, _) in zip(layers, layers[1:]):  # a residual connection per sub-layer
            if label in ("self-attention", "masked self-attention", "cross-attention", "feed-forward"):
                edge = x + side * 2.0
                ax.plot([x, edge, edge], [y - 0.5, y - 0.5, y_norm], color="tab:blue", lw=1)
                ax.annotate("", (x + side * 1.82, y_norm), (edge, y_norm),
                            arrowprops=dict(arrowstyle="->", color="tab:blue", lw=1))
    ax.add_patch(plt.Rectangle((0.7, 2.3), 4.4, 4.0, fill=False, ls="--"))
    ax.text(0.6, 4.4, "x N", ha="right", va="center", fontsize=10)
    ax.add_patch(plt.Rectangle((6.1, 2.3), 4.4, 6.0, fill=False, ls="--"))
    ax.text(10.6, 5.4, "x N", ha="left", va="center", fontsize=10)
    # the encoder's output feeds every decoder layer's cross-attention (keys and values)
    ax.plot([2.9, 2.9, 5.6, 5.6], [6.21, 6.9, 6.9, 5.0], color="tab:orange")
    ax.annotate("", (6.5, 5.0), (5.6, 5.0), arrowprops=dict(arrowstyle="->", color="tab:orange"))
    ax.text(4.2, 7.15, "encoder output (B, S, d): keys and values", fontsize=8, color="tab:orange", ha="center")
    for i, (label, color) in enumerate(kinds.items()):  # a legend for the three kinds of attention
        ax.add_patch(plt.Rectangle((0.4, 11.3 - 0.55 * i), 0.5, 0.35, fc=color, ec="black"))
        ax.text(1.1, 11.47 - 0.55 * i, label, va="center", fontsize=9)
    ax.text(2.9, 7.6, "encoder", ha="center", fontsize=11, weight="bold")
    ax.text(8.3, 10.9, "decoder", ha="center", fontsize=11, weight="bold")
    ax.set_title("The Transformer (Vaswani et al., 2017, Figure 1), post-LN as in the paper: a residual connection "
                 "(blue) around every sub-layer", fontsize=10)
    fig.tight_layout()
    return fig


# %%
draw_transformer();

# %% [markdown] slideshow={"slide_type": "notes"}
# Speaker notes. Walk the figure: the same attention module, used three ways. Ask the room, for each
# colour, where the queries, keys and values come from, and which mask applies. Cross-attention is the
# only door through which the English sentence reaches the decoder.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Layer normalisation
#
# Every sub-layer of the Transformer ends in a layer normalisation (Ba, Kiros & Hinton, 2016): each
# token's vector is normalised with its **own** mean and variance over its `d_model` features, then
# scaled and shifted by learned vectors. Batch normalisation (introduced in notebook 04, built from
# scratch in notebook 10) averages each feature over the batch instead, which is awkward for
# sequences in training mode: its statistics mix positions and padding and change with the batch's
# size and lengths, and a batch of one position per sentence (one token at a time) would be
# normalised with the statistics of a single position. In eval mode batch norm uses its running
# averages, fixed numbers, so decoding one token at a time is no trouble there; but those averages
# come from training batches whose mix of positions and padding a test batch need not share. Layer
# norm computes the same thing in training and in eval mode, for any batch.

# %%
def layer_norm(x, weight, bias, eps=1e-5):
    mean = x.mean(dim=-1, keepdim=True)  # (..., 1): one mean per token vector
    var = (x - mean).pow(2).mean(dim=-1, keepdim=True)  # (..., 1): biased, as nn.LayerNorm
    return (x - mean) / torch.sqrt(var + eps) * weight + bias


reference = nn.LayerNorm(16)
nn.init.normal_(reference.weight), nn.init.normal_(reference.bias)
x = torch.randn(4, 7, 16) * 3 + 2  # (B, T, C)
assert_close(layer_norm(x, reference.weight, reference.bias), reference(x),
             msg="layer_norm should equal nn.LayerNorm")
mine = tr.LayerNorm(16)
mine.load_state_dict(reference.state_dict())
assert_close(mine(x), reference(x), msg="course_utils' LayerNorm should equal nn.LayerNorm")
print("layer_norm == tr.LayerNorm == nn.LayerNorm")

# %% [markdown]
# The point in one check: change every example of a batch except the first. Layer norm's output
# for the first example does not move; batch norm's (in training mode) does, because its statistics
# came from the whole batch.

# %%
batch = torch.randn(8, 16)
changed = batch.clone()
changed[1:] = torch.randn(7, 16) * 5 + 3  # every example but the first
batch_norm = nn.BatchNorm1d(16).train()
layer_moves = (mine(batch)[0] - mine(changed)[0]).abs().max().item()
batch_moves = (batch_norm(batch)[0] - batch_norm(changed)[0]).abs().max().item()
print(f"first example's output moved by {layer_moves:.1e} with layer norm, {batch_moves:.2f} with batch norm")
assert layer_moves < 1e-6, "layer norm must not depend on the other examples"
assert batch_moves > 0.1, "batch norm should depend on the other examples"

# %% [markdown] slideshow={"slide_type": "notes"}
# Speaker notes. The point in one check: layer norm normalises each token on its own; batch norm, in
# training mode, with the batch. Ask: would decoding one token at a time break batch norm? (Not in
# eval mode, where it uses running averages; in training mode a batch of single positions would.)
# Ask what the running averages were averaged over (training batches of mixed positions and padding).

# %% [markdown] slideshow={"slide_type": "slide"}
# ## The encoder layer
#
# An encoder layer has two sub-layers, self-attention and a position-wise feed-forward network
# (two linear layers with a ReLU between, applied to every position alike), each wrapped in a
# residual connection and a layer norm. The paper normalises **after** adding the residual
# (post-LN): `x = LayerNorm(x + Sublayer(x))`. Here is one layer written out from the formulas,
# reading the weights of the course's `EncoderLayer`:

# %%
def encoder_layer_by_hand(layer, x, key_mask):
    """Post-LN encoder layer; key_mask (B, S) is True for real tokens, False for padding."""
    batch, length, d_model = x.shape
    h = layer.self_attn.num_heads
    q, k, v = F.linear(x, layer.self_attn.in_proj_weight, layer.self_attn.in_proj_bias).chunk(3, dim=-1)
    q, k, v = (t.view(batch, length, h, d_model // h).transpose(1, 2) for t in (q, k, v))  # (B, h, S, d_head)
    scores = q @ k.transpose(-2, -1) / math.sqrt(d_model // h)  # (B, h, S, S)
    scores = scores.masked_fill(~key_mask[:, None, None, :], float("-inf"))  # no attention to padding
    heads = scores.softmax(dim=-1) @ v  # (B, h, S, d_head)
    attended = layer.self_attn.out_proj(heads.transpose(1, 2).reshape(batch, length, d_model))  # (B, S, d)
    x = layer_norm(x + attended, layer.norm1.weight, layer.norm1.bias)
    feed_forward = layer.linear2(F.relu(layer.linear1(x)))  # (B, S, d): each position on its own
    return layer_norm(x + feed_forward, layer.norm2.weight, layer.norm2.bias)


torch.manual_seed(0)
layer = tr.EncoderLayer(d_model=32, nhead=4, dim_feedforward=64, dropout=0.0).double().eval()
x = torch.randn(3, 6, 32, dtype=torch.float64)  # (B, S, d_model)
key_mask = torch.tensor([[True] * 6, [True] * 4 + [False] * 2, [True] * 2 + [False] * 4])  # (B, S)
torch_layer = nn.TransformerEncoderLayer(32, 4, 64, dropout=0.0, batch_first=True).double().eval()
torch_layer.load_state_dict(layer.state_dict())  # the same parameter names: the weights move as they are
expected = torch_layer(x, src_key_padding_mask=~key_mask)  # PyTorch's mask is True where a key is ignored
assert_close(encoder_layer_by_hand(layer, x, key_mask), expected, rtol=1e-10, atol=1e-12,
             msg="the encoder layer by hand should equal nn.TransformerEncoderLayer")
assert_close(layer(x, key_mask)[0], expected, rtol=1e-10, atol=1e-12,
             msg="tr.EncoderLayer should equal nn.TransformerEncoderLayer")
print("encoder layer: by hand == tr.EncoderLayer == nn.TransformerEncoderLayer (float64, dropout off)")

# %% [markdown]
# The mask convention is the course's (notebook 12): `True` where attention is allowed.
# PyTorch's `src_key_padding_mask` means the opposite, so the call above passes `~key_mask`: one
# explicit conversion at the boundary.

# %% [markdown] slideshow={"slide_type": "notes"}
# Speaker notes. Read the by-hand layer line by line against the figure. The mask is the course's
# convention (True = allowed); PyTorch's src_key_padding_mask is its negation, converted once at the
# call.

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Post-LN and pre-LN
#
# In post-LN every path from input to output passes through a layer norm, and the gradients near
# the output are large at the start of training: the paper needs a learning-rate warm-up. Pre-LN
# (Xiong et al., 2020) normalises the input of each sub-layer instead, `x = x + Sublayer(LayerNorm(x))`,
# which keeps an identity path through the whole stack and trains without a long warm-up; most
# later models use it. Both are one flag, `norm_first`, as in PyTorch, and both equal PyTorch's:

# %%
for norm_first in (False, True):
    torch.manual_seed(1)
    ours = tr.EncoderLayer(32, 4, 64, dropout=0.0, norm_first=norm_first).double().eval()
    theirs = nn.TransformerEncoderLayer(32, 4, 64, dropout=0.0, batch_first=True, norm_first=norm_first)
    theirs = theirs.double().eval()
    theirs.load_state_dict(ours.state_dict())
    assert_close(ours(x, key_mask)[0], theirs(x, src_key_padding_mask=~key_mask), rtol=1e-10, atol=1e-12,
                 msg=f"encoder layer, norm_first={norm_first}")
    ours_dec = tr.DecoderLayer(32, 4, 64, dropout=0.0, norm_first=norm_first).double().eval()
    theirs_dec = nn.TransformerDecoderLayer(32, 4, 64, dropout=0.0, batch_first=True, norm_first=norm_first)
    theirs_dec = theirs_dec.double().eval()
    theirs_dec.load_state_dict(ours_dec.state_dict())
    target = torch.randn(3, 5, 32, dtype=torch.float64)  # (B, T, d_model)
    causal = nn.Transformer.generate_square_subsequent_mask(5, dtype=torch.float64)  # -inf above the diagonal
    assert_close(ours_dec(target, x, key_mask)[0],
                 theirs_dec(target, x, tgt_mask=causal, memory_key_padding_mask=~key_mask),
                 rtol=1e-10, atol=1e-12, msg=f"decoder layer, norm_first={norm_first}")
    print(f"norm_first={norm_first!s:5}: encoder and decoder layers equal PyTorch's")

# %% [markdown] slideshow={"slide_type": "notes"}
# Speaker notes. Post-LN is the paper's; pre-LN keeps a clean residual path (the same argument as
# pre-activation ResNets in notebook 10) and trains without a long warm-up. Ask: where is the identity
# path in each?

# %% [markdown] slideshow={"slide_type": "slide"}
# ## The decoder layer
#
# A decoder layer has three sub-layers: **masked** self-attention over the target prefix (position
# `t` may look at positions `<= t` only, so that training on whole sentences at once cannot peek at
# the word it must predict), **cross-attention** whose queries come from the decoder and whose keys
# and values are the encoder's output (this is where the source sentence enters), and the
# feed-forward network. The check above compared it with `nn.TransformerDecoderLayer` under the
# causal mask; without the mask the first position would see the future:

# %%
with torch.no_grad():
    masked = theirs_dec(target, x, tgt_mask=causal, memory_key_padding_mask=~key_mask)
    unmasked = theirs_dec(target, x, memory_key_padding_mask=~key_mask)
    later_changed = target.clone()
    later_changed[:, 3:] += 1.0  # change the future of position 2
    again = ours_dec(later_changed, x, key_mask)[0]
print("position 0 with and without the causal mask differs by", f"{(masked - unmasked)[:, 0].abs().max():.2f}")
assert_close(again[:, :3], ours_dec(target, x, key_mask)[0][:, :3], rtol=1e-10, atol=1e-12,
             msg="positions 0-2 must not depend on positions 3 and later")
print("changing positions 3-4 leaves the outputs at positions 0-2 unchanged")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## The encoder-decoder
#
# The model: token embeddings multiplied by `sqrt(d_model)` (section 3.4) plus the sinusoidal
# positional encoding (section 3.5), dropout, the encoder stack, the decoder stack, and a linear
# layer to the French vocabulary whose weight is the decoder's embedding matrix (weight tying,
# section 3.4: one `(V, d_model)` matrix serves as input embedding and output layer). Like
# `nn.Transformer`, each stack ends in a final layer norm. Without the embeddings and the output
# layer, the parameters are exactly `nn.Transformer`'s:

# %%
# NBVAL_CHECK_OUTPUT
rows = []
for name, sizes in [("paper, base (Table 3)", (512, 8, 6, 6, 2048)), ("this notebook, standard", (128, 4, 2, 2, 512)),
                    ("pre-LN, 3 + 1 layers", (64, 4, 3, 1, 100))]:
    d, h, n_enc, n_dec, ff = sizes
    ours = tr.transformer(1000, 2000, d_model=d, nhead=h, num_encoder_layers=n_enc, num_decoder_layers=n_dec,
                          dim_feedforward=ff, norm_first=name.startswith("pre"))
    core = nn.Transformer(d, h, n_enc, n_dec, ff, batch_first=True)  # norm_first changes no count
    embeddings = 1000 * d + 2000 * d  # source and target; the output layer shares the target's
    assert count_params(ours) == count_params(core) + embeddings, f"{name}: parameter counts differ"
    rows.append(f"{name:24} nn.Transformer {count_params(core):>11,} + embeddings {embeddings:>9,} "
                f"= {count_params(ours):>11,}")
print("\n".join(rows))
base_core = count_params(nn.Transformer(512, 8, 6, 6, 2048, batch_first=True))
base_total = base_core + 37_000 * 512  # the paper shares one ~37,000-token vocabulary three ways
print(f"base model with a shared 37,000-token vocabulary: {base_total / 1e6:.0f}M parameters (paper: 65M)")

# %% [markdown]
# The paper's base model had "about 37000" byte-pair tokens shared between English and German, so
# 63M against its 65M is as close as the vocabulary size is known. Our model uses word vocabularies,
# separate for the two languages; weight tying shares only the French one with the output layer.
#
# The stacks also compute exactly what `nn.Transformer` computes with the same weights; the test
# suite checks the whole forward pass, embeddings included. Here the two stacks, post-LN, float64:

# %%
torch.manual_seed(2)
model64 = tr.transformer(50, 60, d_model=32, nhead=4, dim_feedforward=64, dropout=0.0).double().eval()
reference64 = nn.Transformer(32, 4, 2, 2, 64, dropout=0.0, batch_first=True).double().eval()
reference64.load_state_dict({k: v for k, v in model64.state_dict().items() if k.startswith(("encoder.", "decoder."))})
src_x, tgt_x = torch.randn(3, 6, 32, dtype=torch.float64), torch.randn(3, 5, 32, dtype=torch.float64)
memory, _ = model64.encoder(src_x, key_mask)
out, _ = model64.decoder(tgt_x, memory, key_mask)
assert_close(out, reference64(src_x, tgt_x, tgt_mask=causal, src_key_padding_mask=~key_mask,
                              memory_key_padding_mask=~key_mask), rtol=1e-10, atol=1e-12,
             msg="the encoder and decoder stacks should equal nn.Transformer's")
print("encoder + decoder stacks == nn.Transformer (float64, dropout off)")

# %% [markdown] slideshow={"slide_type": "notes"}
# Speaker notes. Parameter counts as a check: ours equals nn.Transformer's plus the embeddings. Ask
# why the number of heads does not change the count (exercise 2).

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Training
#
# Now the model for the data. Its sizes come from the profile: on the standard profile a small
# Transformer (`d_model` 128, 4 heads, 2 + 2 layers, feed-forward 512), on a GPU a larger one.

# %%
config = tr.TransformerConfig(len(data.src_vocab), len(data.tgt_vocab), d_model=SETTINGS["d_model"],
                              nhead=SETTINGS["nhead"], num_encoder_layers=SETTINGS["layers"],
                              num_decoder_layers=SETTINGS["layers"], dim_feedforward=SETTINGS["dim_feedforward"],
                              dropout=SETTINGS["dropout"])
torch.manual_seed(0)
model = tr.Transformer(config).to(DEVICE)
print(config)
print(f"{count_params(model):,} parameters")

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### The loss: token-level cross-entropy with label smoothing, padding ignored
#
# The loss is the cross-entropy of every real target token; padded positions count for nothing
# (`ignore_index`), and the mean is over real tokens, so a batch of short sentences weighs no less
# per token than a batch of long ones. With label smoothing (section 5.4, epsilon 0.1) the target
# distribution puts `1 - epsilon` on the right token and spreads `epsilon` over the vocabulary: the
# model is not pushed to infinite confidence, which "hurts perplexity, as the model learns to be
# more unsure, but improves accuracy and BLEU score". `fit` weights each batch by the number of
# tokens the loss averaged, which the function returns beside the mean.

# %%
def token_loss(logits, targets, label_smoothing=0.1):
    """Mean smoothed cross-entropy over the real tokens of (B, T, V) logits, and their number."""
    mean = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=PAD,
                           label_smoothing=label_smoothing)
    return mean, (targets != PAD).sum()


loss_fn = functools.partial(token_loss, label_smoothing=0.1)
metrics = {"acc": functools.partial(accuracy, ignore_index=PAD)}  # token accuracy, padding skipped
logits = torch.randn(2, 3, 5)
targets = torch.tensor([[1, 2, 0], [3, 0, 0]])  # 3 real tokens, 3 padding
smoothed = 0.9 * F.one_hot(targets, 5) + 0.1 / 5  # (B, T, V): the smoothed target distribution
by_hand = -(smoothed * F.log_softmax(logits, -1)).sum(-1)[targets != PAD].mean()
assert_close(token_loss(logits, targets)[0], by_hand, msg="label-smoothed loss over real tokens")
print("loss on 3 real tokens:", token_loss(logits, targets))

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### The paper's learning-rate schedule
#
# Adam with `beta2 = 0.98` and `eps = 1e-9`, and a learning rate that grows linearly for
# `warmup` steps, then decays as one over the square root of the step (eq. 3):
# `lr = d_model^-0.5 * min(step^-0.5, step * warmup^-1.5)`. The paper uses 4,000 warm-up steps of
# 100,000; the standard profile trains for under two thousand steps in all, so we warm up for a few
# hundred and scale the curve so that it peaks at `peak_lr`. Gradients are clipped to norm 1.

# %%
steps = SETTINGS["epochs"] * len(train_batches)
scale = SETTINGS["peak_lr"] * math.sqrt(config.d_model * SETTINGS["warmup"])  # puts the peak at peak_lr
optimizer = torch.optim.Adam(model.parameters(), lr=1.0, betas=(0.9, 0.98), eps=1e-9)
scheduler = tr.warmup_scheduler(optimizer, config.d_model, SETTINGS["warmup"], scale=scale)
schedule = [tr.warmup_inverse_sqrt(s, config.d_model, SETTINGS["warmup"], scale) for s in range(1, steps + 1)]
assert max(schedule) == schedule[SETTINGS["warmup"] - 1], "the peak should come at the end of the warm-up"
fig, ax = plt.subplots(figsize=(5, 2.5))
ax.plot(range(1, steps + 1), schedule)
ax.set(xlabel="step", ylabel="learning rate", title=f"warm-up {SETTINGS['warmup']} steps, {steps} steps in all");

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Training with `fit`
#
# The course's `fit` trains it like every other model: `x` is the pair `(src, tgt_in)`, which `fit`
# moves to the device and passes as the model's two inputs (`model(*x)`, its default `forward`);
# the model returns `(B, T, V)` logits, `y` holds the `(B, T)` targets. It shows a progress bar and
# saves a checkpoint after every epoch; running the cell again resumes the same run instead of
# starting over.

# %%
val_batches = data.val_batches(256)
run_settings = {"min_freq": 2, "label_smoothing": 0.1}  # what else defines the run, for the checkpoint
start = time.perf_counter()
history = fit(model, train_batches, val_batches, epochs=SETTINGS["epochs"], optimizer=optimizer,
              scheduler=scheduler, loss_fn=loss_fn, metrics=metrics, eval_name="val",
              checkpoint=checkpoint_path("13_transformer"), clip_grad_norm=1.0,
              config=run_settings)
train_seconds = time.perf_counter() - start
tokens_per_s = train_batches.num_target_tokens / history.mean("seconds")
print(history.table())
print(f"{train_seconds:.0f} s in this cell; {history.mean('seconds'):.0f} s per epoch, "
      f"{tokens_per_s:,.0f} target tokens/s on {DEVICE} ({torch.get_num_threads()} threads)")
plot_history(history);

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Resuming the same run
#
# Running the same `fit` call again finds the checkpoint of this very run (same model configuration,
# optimizer, schedule, data and epochs) and resumes it; as every epoch is done, it returns the
# history at once. Change any setting and it would start afresh, saying which settings differ.

# %%
again = fit(model, train_batches, val_batches, epochs=SETTINGS["epochs"], optimizer=optimizer,
            scheduler=scheduler, loss_fn=loss_fn, metrics=metrics, eval_name="val",
            checkpoint=checkpoint_path("13_transformer"), clip_grad_norm=1.0,
            config=run_settings)
assert again.column("val_loss") == history.column("val_loss"), "the resumed run should be the same run"

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Decoding
#
# Training fed the decoder the **true** previous word at every position (teacher forcing). To
# translate, the model must feed on its own words: start from `<bos>`, predict a distribution over
# the next word, choose one, append it, repeat until it produces `<eos>` (the stop token) or
# reaches a maximum length. The decoding functions in `course_utils.decoding` are separate from the
# model: they only need `start(src)`, `step(state, tokens)` and `reorder(state, index)`, and the
# tests run them on tiny models whose best sequence is known.

# %% [markdown] slideshow={"slide_type": "notes"}
# Speaker notes. Training fed the true previous word; decoding feeds the model's own. Keep that
# contrast on the board: it returns with exposure bias.

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Greedy search and beam search
#
# **Greedy search** takes the most likely word at every step. It can walk into a trap: a likely
# first word whose continuations are all unlikely. **Beam search** keeps the `k` most likely
# prefixes at every step (the paper: `k = 4`); a prefix that ends in `<eos>` is set aside as a
# finished hypothesis. Finished hypotheses of different lengths compete on
# `log P / ((5 + length) / 6) ** alpha`, the length penalty of Wu et al. (2016), `alpha = 0.6` in
# the paper: without it, every extra word multiplies in a probability below one and beam search
# prefers short translations. With `k = 1` beam search is greedy search, which we check on test
# sentences:

# %%
def translate(sentences, beam_size=1, alpha=0.6, batch_size=200, decoder=None):
    """English strings -> French token lists, decoded in batches of similar source length."""
    decoder = model if decoder is None else decoder
    order = sorted(range(len(sentences)), key=lambda i: len(text.tokenize(sentences[i])))
    out = [None] * len(sentences)
    for first in range(0, len(order), batch_size):
        idx = order[first:first + batch_size]
        src = data.encode_sources([sentences[i] for i in idx]).to(DEVICE)  # (B, S)
        max_len = src.shape[1] + 10  # French is a little longer than English; 10 more tokens is ample here
        if beam_size == 1:
            found = greedy_search(decoder, src, bos_id=BOS, eos_id=EOS, max_len=max_len)
        else:
            found = beam_search(decoder, src, bos_id=BOS, eos_id=EOS, max_len=max_len, beam_size=beam_size,
                                alpha=alpha)
        for i, ids in zip(idx, found):
            out[i] = data.tgt_vocab.decode(ids)
    return out


sources_test = [en for en, _ in test_groups]
references = [refs for _, refs in test_groups]
probe = data.encode_sources(sources_test[:200]).to(DEVICE)  # (B, S)
greedy_ids = greedy_search(model, probe, bos_id=BOS, eos_id=EOS, max_len=30)
assert beam_search(model, probe, bos_id=BOS, eos_id=EOS, max_len=30, beam_size=1) == greedy_ids, \
    "beam search with beam size 1 should be greedy search"
print(f"beam size 1 == greedy on {len(greedy_ids)} test sentences")

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### A key/value cache
#
# At step `t` the decoder needs the keys and values of all earlier positions in every self-attention
# layer. Recomputing them means running the whole prefix again: `t` positions at step `t`, about
# `T^2 / 2` position-passes for a `T`-token sentence. The course's decoder keeps them instead
# (`course_utils.attention.KVCache`, shown in notebook 12; one per layer): each step runs one new
# position through the decoder and appends its keys and values; the cross-attention's keys and
# values of the encoder output are computed once. `FullPrefix` decodes the same model by
# recomputing, which checks the cache and shows what it saves:

# %%
probe = sources_test[:300]
start = time.perf_counter()
cached = translate(probe)
cached_seconds = time.perf_counter() - start
start = time.perf_counter()
recomputed = translate(probe, decoder=FullPrefix(model))
recomputed_seconds = time.perf_counter() - start
assert cached == recomputed, "decoding with the cache should give exactly what recomputing gives"
if PROFILE != "smoke":  # an untrained smoke model stops after a word or two: nothing to save
    assert recomputed_seconds > cached_seconds, "recomputing every prefix should cost more than the cache"
print(f"greedy decoding of {len(probe)} sentences: {cached_seconds:.2f} s with the cache, "
      f"{recomputed_seconds:.2f} s recomputing the prefix ({recomputed_seconds / cached_seconds:.1f}x)")

# %% [markdown]
# The saving grows with the length of the output: recomputing costs about `T^2 / 2` position-passes
# for `T` tokens, the cache `T`. These French sentences are short, so the factor here is modest.

# %% [markdown] slideshow={"slide_type": "notes"}
# Speaker notes. The cache is checked by equality with recomputation, and its saving grows with the
# output length. Ask: why is the cross-attention's cache computed once? (The encoder output does not
# change while decoding.)

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Evaluation on held-out sentences
#
# We translate every test sentence with greedy search and with beam search (`k = 4`,
# `alpha = 0.6`) and score the translations with **BLEU** (Papineni et al., 2002): the geometric
# mean of the 1- to 4-gram precisions, each n-gram credited at most as often as it occurs in any one
# reference, times a penalty for translations shorter than the references. sacrebleu computes it
# on detokenised text with its standard tokenisation, against **all** references of each sentence,
# lower-cased. We also report the **exact-match** rate: the share of translations equal (as token
# sequences) to one of the references.

# %%
def exact_match(translations, references):
    hits = [tokens in [text.tokenize(r) for r in refs] for tokens, refs in zip(translations, references)]
    return sum(hits) / len(hits)


start = time.perf_counter()
greedy = translate(sources_test)
greedy_seconds = time.perf_counter() - start
start = time.perf_counter()
beam = translate(sources_test, beam_size=4, alpha=0.6)
beam_seconds = time.perf_counter() - start
scores = {}
for name, found in (("greedy", greedy), ("beam 4", beam)):
    bleu = text.corpus_bleu([text.detokenize(t, "fr") for t in found], references)
    scores[name] = (bleu.score, exact_match(found, references), bleu.sys_len)
    print(f"{name:7} BLEU {bleu.score:5.1f}  exact match {scores[name][1]:6.1%}   ({bleu})")
print(f"decoding {len(sources_test):,} sentences: greedy {greedy_seconds:.1f} s, beam {beam_seconds:.1f} s")

# %%
bleu_greedy, em_greedy, length_greedy = scores["greedy"]
bleu_beam, em_beam, length_beam = scores["beam 4"]
if PROFILE != "smoke":
    assert length_beam <= length_greedy, "beam search's translations should not be longer than greedy's"
    assert bleu_beam >= 25, f"held-out BLEU with beam search should reach 25, got {bleu_beam:.1f}"
    assert bleu_beam >= bleu_greedy, f"beam search ({bleu_beam:.1f}) should not lose to greedy ({bleu_greedy:.1f})"
print(f"beam search gains {bleu_beam - bleu_greedy:+.1f} BLEU and {em_beam - em_greedy:+.1%} exact match over greedy")
_ = results.record("13", "transformer_test_bleu_beam4", round(bleu_beam, 2), greedy_bleu=round(bleu_greedy, 2),
                   exact_match_beam=round(em_beam, 4), exact_match_greedy=round(em_greedy, 4),
                   params=count_params(model), epochs=len(history), n_train=len(data.train_pairs),
                   n_test_sentences=len(test_groups), seconds_per_epoch=round(history.mean("seconds"), 1),
                   target_tokens_per_s=round(tokens_per_s), threads=torch.get_num_threads(), device=str(DEVICE))

# %% [markdown]
# For scale: the paper reports 41.8 BLEU on WMT 2014 English-French (news sentences, 36M training
# pairs, single references, eight GPUs for 3.5 days). Our sentences are short and everyday, have
# several references each and use words; the numbers are not comparable across tasks, only within
# this one. Beam search gains where greedy search commits to a likely word and then has no good way
# to go on; on short sentences that happens less often than on long ones. Its translations also
# tend to come out a little shorter than greedy's (compare the length ratios above): `alpha = 0.6`
# offsets the pull of `log P` towards short outputs only in part.

# %% [markdown] slideshow={"slide_type": "notes"}
# Speaker notes. BLEU against all references, the way it was designed; exact match as a plainer second
# number. Ask why the paper's 41.8 BLEU cannot be compared with ours (another task, other data, single
# references).

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Example translations

# %%
shown = list(range(0, len(test_groups), max(1, len(test_groups) // 12)))[:12]
for i in shown:
    print(f"EN      {sources_test[i]}")
    print(f"refs    {' | '.join(references[i])}")
    print(f"greedy  {text.detokenize(greedy[i], 'fr')}")
    print(f"beam    {text.detokenize(beam[i], 'fr')}\n")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## d2l's four sentences
#
# Dive into Deep Learning's Transformer chapter (Zhang et al., *Dive into Deep Learning*, section
# 11.7, "The Transformer Architecture") ends by translating four sentences and scoring each with its
# own BLEU (n-grams up to 2, one reference). Its PyTorch notebook (as published in d2l's Colab
# notebooks) prints "va !", "j'ai perdu ." and "je suis chez moi ." with BLEU 1.000, and
# "<unk> ." for "he's calm .", BLEU 0.000. That model trains for 30 epochs on the first **512**
# pairs of its file (the default of d2l's `MTFraEng`), and the file starts with its shortest
# sentences: in this release "go.", "i lost." and "i'm home." are lines 1, 38 and 283, so a model
# trained like d2l's has seen them, with these very references. "He's calm." is not in this release
# at all. Ours trains on about 70,000 pairs and keeps its test sentences apart; in our split the
# same three are training sentences and "he's calm ." is new to our model too.

# %%
def d2l_style(sentence):
    """d2l's preprocessing: lower case, a space before , . ! ? (its tokens are split on spaces)."""
    return re.sub(r"(?<=\S)([,.!?])", r" \1", " ".join(sentence.lower().split()))


def d2l_bleu(prediction, label, k=2):
    """d2l's BLEU (its section 10.7): exp(min(0, 1 - len_label / len_pred)) * prod_n p_n ** (1 / 2 ** n)."""
    pred, ref = prediction.split(" "), label.split(" ")
    score = math.exp(min(0, 1 - len(ref) / max(len(pred), 1)))
    for n in range(1, min(k, len(pred)) + 1):
        ref_grams = [" ".join(ref[i:i + n]) for i in range(len(ref) - n + 1)]
        matches = 0
        for i in range(len(pred) - n + 1):
            gram = " ".join(pred[i:i + n])
            if gram in ref_grams:
                matches += 1
                ref_grams.remove(gram)
        score *= (matches / (len(pred) - n + 1)) ** (0.5 ** n)
    return score


d2l_sentences = ["go .", "i lost .", "he's calm .", "i'm home ."]
d2l_references = ["va !", "j'ai perdu .", "il est calme .", "je suis chez moi ."]
d2l_printed = [("va !", 1.0), ("j'ai perdu .", 1.0), ("<unk> .", 0.0), ("je suis chez moi .", 1.0)]
ours_greedy, ours_beam = translate(d2l_sentences), translate(d2l_sentences, beam_size=4)
train_sources = split_sources[0]
in_training = [tuple(text.tokenize(en)) in train_sources for en in d2l_sentences]
assert not any(key == tuple(text.tokenize("he's calm .")) for key in sources), "he's calm . is not in this file"
if SETTINGS["max_train"] is None:
    assert in_training == [True, True, False, True], "three of d2l's sentences are our training sentences"
print(f"{'English':12} {'in our training?':17} {'d2l (BLEU)':25} {'ours, greedy (BLEU)':28} ours, beam (BLEU)")
for en, ref, theirs, g, b, seen in zip(d2l_sentences, d2l_references, d2l_printed, ours_greedy, ours_beam,
                                      in_training):
    seen = "yes" if seen else "no"
    g_text, b_text = d2l_style(text.detokenize(g, "fr")), d2l_style(text.detokenize(b, "fr"))  # d2l's tokens
    print(f"{en:12} {seen:17} {theirs[0] + f' ({theirs[1]:.3f})':25} {g_text + f' ({d2l_bleu(g_text, ref):.3f})':28} "
          f"{b_text} ({d2l_bleu(b_text, ref):.3f})")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Teacher forcing and exposure bias
#
# In training the decoder always saw the correct previous words. At test time it sees its own: the
# model was never trained on prefixes with its own mistakes. This mismatch is called **exposure
# bias** (Ranzato et al., 2016). How much does it cost here? Scoring the model's own translation word
# by word against one reference would not tell: a test sentence has several references (up to 18
# here), so a correct alternative would count as a string of errors, and so would every word shifted
# by one. First the teacher-forced accuracy, and whole sentences both ways:

# %%
test_batches = data.test_batches(256)
test_scores = evaluate(model, test_batches, loss_fn, metrics)
teacher_correct = torch.zeros(40)
teacher_total = torch.zeros(40)
teacher_whole = 0
with torch.no_grad(), eval_mode(model):
    for xb, yb in test_batches:
        yb = yb.cpu()
        hits = model(*to_device(xb, DEVICE)).argmax(-1).cpu() == yb  # (B, T)
        real = yb != PAD
        teacher_correct[:yb.shape[1]] += (hits & real).sum(0)
        teacher_total[:yb.shape[1]] += real.sum(0)
        teacher_whole += int((hits | ~real).all(1).sum())
own = {tuple(text.tokenize(en)): out for en, out in zip(sources_test, greedy)}  # the model's own translations
free_whole = sum(data.tgt_vocab.encode(own[tuple(text.tokenize(en))], eos=True)
                 == data.tgt_vocab.encode(text.tokenize(fr), eos=True) for en, fr in data.test_pairs)
n_pairs = len(data.test_pairs)
teacher_acc = teacher_correct.sum() / teacher_total.sum()
print(f"token accuracy on the test pairs under teacher forcing: {teacher_acc:.1%} "
      f"(fit's evaluate says {test_scores['acc']:.1%})")
print(f"whole sentence right against that pair's reference: teacher forcing {teacher_whole / n_pairs:.1%}, "
      f"free running {free_whole / n_pairs:.1%}")
assert abs(teacher_acc - test_scores["acc"]) < 1e-6, "the two measures of teacher-forced accuracy should agree"
assert abs(teacher_whole - free_whole) <= 0.005 * n_pairs, "whole-sentence agreement should be the same both ways"

# %% [markdown]
# The whole-sentence rates agree, and must: if the true prefix leads the model to the right word at
# every position, greedy decoding walks down exactly the true sentence, and the other way round (up
# to rare near-ties, as the cached and the parallel computations round differently). Exposure bias
# acts on everything short of that: after its first mistake, the model goes on from a prefix it never
# saw in training.

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Only the prefix differs
#
# So hold everything else fixed, in the spirit of He et al. (2021, *Exposure Bias versus
# Self-Recovery*), who compare a model's continuations after prefixes from the data and from the
# model itself. For each test pair, cut the reference in the middle; score the model on the
# reference's second half, teacher-forced, once after the reference's first half and once after
# **its own** first half (the first words of its greedy translation). Same source, same words to
# predict; only the prefix differs. We keep the pairs where the model's own first half is a mistake:
# it begins none of the sentence's references.

# %%
def continuation_scores(sources, prefixes, continuations, batch_size=256):
    """Per example, (log-probabilities, hits) of its continuation's tokens, teacher-forced after its prefix
    (prefixes and continuations are lists of French ids; a continuation ends in <eos>)."""
    scores = []
    with torch.no_grad(), eval_mode(model):
        for first in range(0, len(sources), batch_size):
            part = slice(first, first + batch_size)
            src = data.encode_sources(sources[part]).to(DEVICE)  # (B, S)
            rows = [torch.tensor([BOS] + p + c[:-1]) for p, c in zip(prefixes[part], continuations[part])]
            tgt_in = nn.utils.rnn.pad_sequence(rows, batch_first=True, padding_value=PAD).to(DEVICE)  # (B, T)
            log_probs = model(src, tgt_in).log_softmax(-1).cpu()  # (B, T, V)
            for row, (p, c) in enumerate(zip(prefixes[part], continuations[part])):
                at = log_probs[row, len(p):len(p) + len(c)]  # (len(c), V): the continuation's positions
                target = torch.tensor(c)
                scores.append((at.gather(1, target[:, None])[:, 0], at.argmax(1) == target))
    return scores


cases = []  # (English, the model's first k words, the reference's first k words, the reference's rest)
for (en, refs), produced in zip(test_groups, greedy):
    tokenized = [text.tokenize(r) for r in refs]
    for reference in tokenized:
        k = len(reference) // 2
        if k >= 1 and len(produced) >= k and all(r[:k] != produced[:k] for r in tokenized):
            cases.append((en, produced[:k], reference[:k], reference[k:]))
rest = [data.tgt_vocab.encode(c[3], eos=True) for c in cases]
after = {name: continuation_scores([c[0] for c in cases], [data.tgt_vocab.encode(c[i]) for c in cases], rest)
         for name, i in (("reference prefix", 2), ("own prefix", 1))}
print(f"{len(cases):,} of {n_pairs:,} test pairs: the model's first half begins none of the references")
for name, scores in after.items():
    if not scores:  # an untrained smoke model may have no such pair
        continue
    hits, log_probs = torch.cat([h for _, h in scores]).float(), torch.cat([lp for lp, _ in scores])
    print(f"after the {name:16}: accuracy {hits.mean():.1%}, NLL {-log_probs.mean():.2f} per token "
          f"on the same {len(hits):,} words")

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### After the prefix, word by word

# %%
def accuracy_by_distance(scores, longest=5):
    """Accuracy at 0, 1, ... words after the prefix (the last entry: that far or farther)."""
    hits, counts = torch.zeros(longest), torch.zeros(longest)
    for _, hit in scores:
        distance = torch.arange(len(hit)).clamp(max=longest - 1)
        hits.index_add_(0, distance, hit.float())
        counts.index_add_(0, distance, torch.ones(len(hit)))
    return hits / counts


by_distance = {name: accuracy_by_distance(scores) for name, scores in after.items()}
gap = by_distance["reference prefix"] - by_distance["own prefix"]
print("words after the prefix:  " + "  ".join(f"{d:>6}" for d in ("0", "1", "2", "3", "4+")))
for name, values in by_distance.items():
    print(f"{name:>22}:  " + "  ".join(f"{v:6.1%}" for v in values))
fig, ax = plt.subplots(figsize=(5.5, 3))
for name, style in (("reference prefix", "o-"), ("own prefix", "s--")):
    ax.plot(range(5), 100 * by_distance[name], style, label=f"after the {name}")
ax.set_xticks(range(5), ["0", "1", "2", "3", "4+"])
ax.set(xlabel="words after the prefix", ylabel="token accuracy (%)", title="the same words, two prefixes")
ax.legend()
plt.show()
if PROFILE != "smoke":  # an untrained smoke model makes too few such pairs to say anything
    accuracy = {name: torch.cat([h for _, h in scores]).float().mean() for name, scores in after.items()}
    assert accuracy["reference prefix"] - accuracy["own prefix"] > 0.03, "its own prefix should cost accuracy"
    assert gap[0] > 0.15, "right after its own mistaken prefix the model should predict the reference far worse"
    assert gap[3:].abs().max() < 0.05 and gap[-1] < gap[0] / 4, "a few words on, the gap should have closed"

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### The damage is local
#
# On the saved run the damage is local. Right after its own mistaken first half, the model predicts
# the reference's next word far less often than after the reference's first half (the first column:
# about 20% against about 50%); part of that is no fault of the model, since after another beginning
# the reference's next word may simply not fit. Two words on the gap has nearly closed, and from the
# third word on the two prefixes give the same accuracy to within about a point (asserted: a gap under 5
# points, and under a quarter of the first one). A mistake does not compound here: the model
# recovers within a few words, what He et al. (2021) call **self-recovery**. Over the whole second
# half, its own prefix costs about 9 points of accuracy and about one nat of NLL per word. One early
# wrong word is still enough to make the whole sentence differ from the reference, as the
# whole-sentence rates above count it.
#
# **Scheduled sampling** (Bengio et al., 2015) attacks the mismatch directly: during training,
# each previous word fed to the decoder is, with a probability that grows over training, the
# model's own prediction instead of the true word, so the model learns to go on from its own
# mistakes. For a Transformer that costs parallelism, since the model's predictions must exist
# before they can be fed; Mihaylova & Martins (2019) run the decoder twice, first to predict, then
# on a mixture of true and predicted words. Exercise 5 tries it.

# %% [markdown] slideshow={"slide_type": "notes"}
# Speaker notes. Teacher forcing trains on true prefixes; free running feeds the model its own. The
# measurement holds the source and the predicted tokens fixed and changes only the prefix. Ask the
# room to predict the gap right after a wrong prefix and five words later (self-recovery or
# compounding?).

# %% [markdown] slideshow={"slide_type": "slide"}
# ## What the attention looks at
#
# Cross-attention shows which source words the decoder reads while it writes each French word:
# the weights of the last decoder layer, averaged over the heads, for the model's own (greedy)
# translations of a few test sentences. Largely monotonic alignments with a few crossings (French
# adjectives after their nouns, pronouns before the verb) are what to look for.

# %%
examples = [i for i in range(len(sources_test)) if 5 <= len(text.tokenize(sources_test[i])) <= 7][:3]
fig, axes = plt.subplots(1, len(examples), figsize=(4.2 * len(examples), 3.8))
for ax, i in zip(axes, examples):
    src = data.encode_sources([sources_test[i]]).to(DEVICE)  # (1, S)
    tgt_in = torch.tensor([[BOS] + data.tgt_vocab.encode(greedy[i])], device=DEVICE)  # (1, T)
    maps = model.attention_maps(src, tgt_in)
    weights = maps["cross"][-1][0].cpu()  # (T, S): last decoder layer, heads averaged
    ax.imshow(weights, cmap="viridis", vmin=0)
    ax.set_xticks(range(src.shape[1]), data.src_vocab.decode(src[0]) + ["<eos>"], rotation=90)
    ax.set_yticks(range(tgt_in.shape[1]), greedy[i] + ["<eos>"])
    ax.set(xlabel="English (keys)", ylabel="French being written (queries)")
fig.suptitle("cross-attention, last decoder layer")
fig.tight_layout();

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### The encoder's self-attention
#
# The encoder's self-attention, by head, for the first of these sentences (first encoder layer):
# each English word's new vector is a mixture of the words it attends to.

# %%
src = data.encode_sources([sources_test[examples[0]]]).to(DEVICE)  # (1, S)
tgt_in = torch.tensor([[BOS] + data.tgt_vocab.encode(greedy[examples[0]])], device=DEVICE)  # (1, T)
per_head = model.attention_maps(src, tgt_in, average_heads=False)["encoder"][0]  # (1, nhead, S, S)
words = data.src_vocab.decode(src[0]) + ["<eos>"]
show_attention(per_head[0].cpu(), x_labels=words, y_labels=words, title="encoder self-attention, layer 1");

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Non-autoregressive decoding
#
# Autoregressive decoding needs one decoder pass per output word, one after another: a `T`-word
# translation costs `T` sequential steps, however many processors there are. Training does not:
# with teacher forcing all `T` positions go through the decoder at once. Non-autoregressive models
# (Gu et al., 2018) decode like they train: they predict the output length (from "fertilities" of
# the source words), then all target words in **one** parallel pass, each without seeing the
# others. The catch is that conditional independence: if "thank you" may be "merci beaucoup" or
# "je vous remercie", a model choosing every position on its own may mix them ("merci remercie").
# Remedies train on the simpler outputs of an autoregressive teacher (knowledge distillation) or
# refine the whole output over a few parallel passes (Mask-Predict, Ghazvininejad et al., 2019),
# giving back some of the speed. The cost argument in this notebook's numbers: greedy decoding of
# the test set against one parallel decoder pass over the same sentences (with their reference
# lengths given), which is the most any one-pass non-autoregressive decoder could gain.

# %%
one_target = [(en, refs[0]) for en, refs in test_groups]  # each test sentence once, as greedy decoded them
parallel_batches = [to_device(xb, DEVICE) for xb, _ in data.batches(one_target, 200)]
with torch.no_grad(), eval_mode(model):
    start = time.perf_counter()
    for xb in parallel_batches:
        model(*xb)  # all positions of all sentences of the batch in one pass
    parallel_seconds = time.perf_counter() - start
print(f"{len(test_groups):,} test sentences: greedy decoding, one step per word, {greedy_seconds:.2f} s; "
      f"one parallel pass {parallel_seconds:.2f} s ({greedy_seconds / parallel_seconds:.1f}x)")
if PROFILE != "smoke":  # an untrained smoke model stops after a word or two
    assert greedy_seconds > parallel_seconds, "one step per word should cost more than one parallel pass"

# %% [markdown] slideshow={"slide_type": "slide"}
# ## On a GPU: the full profile
#
# The full profile trains a larger model (`d_model` 256, 8 heads, 3 + 3 layers, feed-forward 1024)
# for 20 epochs on every training pair of the file the loader finds (d2l's complete `fra-eng.zip`,
# about twice as many pairs and longer sentences, when it is downloaded). It was not run for the
# committed outputs: they come from the standard profile on a 2-core CPU.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Exercises
#
# Replace each `raise NotImplementedError` with your code and run the cell. Hints come in three tiers:
# an exercise not attempted yet prints a nudge (what to look at); `ex13.hint("name")` gives the next,
# the key idea, and so does a wrong answer. The third is a recipe: `ex13.hint("name", level=3)`, or a
# third wrong attempt, shows it.

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### 1. RMSNorm and its gradient
#
# Many recent language models (LLaMA among them) replace layer normalisation by **RMSNorm** (Zhang and
# Sennrich, 2019, *Root Mean Square Layer Normalization*): each vector is divided by its root mean
# square and scaled by a learned weight, and nothing is subtracted or added. Write
# `rms_norm(x, weight, eps)` over the last dimension, with `eps` added to the mean square before the
# root, that matches `F.rms_norm(x, (E,), weight, eps)` without calling it. Then derive its backward
# pass on paper and write `rms_norm_backward(x, weight, eps, grad_output)` returning
# `(grad_input, grad_weight)` without autograd (the checker compares both with autograd). What does
# the layer norm's gradient have that this one does not?

# %%
def rms_norm(x, weight, eps):
    raise NotImplementedError  # your code here


ex13.check_rms_norm(rms_norm);

# %%
def rms_norm_backward(x, weight, eps, grad_output):
    raise NotImplementedError  # your code here


ex13.check_rms_norm_backward(rms_norm_backward);

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### 2. Counting `nn.Transformer`'s parameters
#
# Write `transformer_params(d_model, nhead, num_encoder_layers, num_decoder_layers, dim_feedforward)`:
# the number of parameters of `nn.Transformer` with these sizes, from a formula (the checker counts
# the real module for several sizes). Does `nhead` matter?

# %%
def transformer_params(d_model, nhead, num_encoder_layers, num_decoder_layers, dim_feedforward):
    raise NotImplementedError  # your code here


ex13.check_transformer_params(transformer_params);

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### 3. One step of beam search
#
# Write `beam_step(scores, log_probs, beam_size)`: `scores (B, k)` are the log-probabilities of the
# `k` live prefixes of each sentence, `log_probs (B, k, V)` the model's next-token
# log-probabilities after each. Return the `beam_size` best extensions of each sentence, best
# first: their scores `(B, beam_size)`, the prefix each extends (`beam`, `(B, beam_size)`) and the
# token it adds (`token`, `(B, beam_size)`). No Python loop over `k` or `V`.

# %%
def beam_step(scores, log_probs, beam_size):
    raise NotImplementedError  # your code here


ex13.check_beam_step(beam_step);

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### 4. BLEU's clipped n-gram counts with several references
#
# Write `clipped_precision(hypothesis, references, n)` for token lists: return `(matched, total)`,
# where `total` is the number of n-grams in the hypothesis and `matched` counts them as BLEU does
# (Papineni et al., 2002, section 2.1), with several references.

# %%
def clipped_precision(hypothesis, references, n):
    raise NotImplementedError  # your code here


ex13.check_clipped_precision(clipped_precision);

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### 5. (Open) Scheduled sampling, pre-LN and beam width
#
# - Train with scheduled sampling: run the model once without gradients to get its greedy
#   predictions under teacher forcing, replace each decoder input token by the prediction with
#   probability `p` (growing from 0 to about 0.3 over training), and train on the mixture. Does the
#   free-running accuracy by position change? The BLEU?
# - Train with `norm_first=True`. Can it do without the warm-up, or with a larger peak learning rate?
# - Plot BLEU and decoding time against the beam width (1, 2, 4, 8) and `alpha` (0, 0.6, 1.2).
#   Where does beam search stop paying?
