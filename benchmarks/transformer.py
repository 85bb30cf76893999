"""Transformer benchmark: the course's from-scratch model against the same model built from ``nn.Transformer``.

Both models have the sizes of notebook 13's standard profile (``d_model`` 128,
4 heads, 2 + 2 layers, feed-forward 512, dropout 0.1, post-LN, tied output
layer) and the same embeddings, positional encoding and output layer; they
differ only in the encoder and decoder: ``course_utils.models.transformer``
(``course_utils.attention`` and a from-scratch layer norm) against
``nn.Transformer``. Each trains for one epoch through ``course_utils.train.fit``
(label-smoothed token loss, Adam, the warm-up schedule, gradient clipping) on
``--pairs`` English-French training pairs, bucketed batches of 128 sentences;
the variants alternate ``--repeats`` times, so a busy spell on a shared
machine hits both. It prints the median target tokens per second of each and
their ratio, then greedy decoding of ``--decode`` test sentences with the
key/value cache and by recomputing the prefix (sentences per second).

Run: ``python benchmarks/transformer.py [--threads N]`` (it needs the
English-French pairs: ``COURSE_FRA_ENG`` or the shared archive).
"""

import argparse
import functools
import math
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from course_utils.attention import SinusoidalPositionalEncoding  # noqa: E402
from course_utils.data import text  # noqa: E402
from course_utils.decoding import FullPrefix, greedy_search  # noqa: E402
from course_utils.device import seed_everything  # noqa: E402
from course_utils.models import transformer as tr  # noqa: E402
from course_utils.train import fit  # noqa: E402


class TorchTransformer(nn.Module):
    """The same translation model with PyTorch's ``nn.Transformer`` inside."""

    def __init__(self, config):
        super().__init__()
        c = self.config = config
        self.src_embed = nn.Embedding(c.src_vocab_size, c.d_model, padding_idx=c.pad_id)
        self.tgt_embed = nn.Embedding(c.tgt_vocab_size, c.d_model, padding_idx=c.pad_id)
        self.positions = SinusoidalPositionalEncoding(c.d_model, max_len=c.max_len, dropout=c.dropout)
        self.transformer = nn.Transformer(c.d_model, c.nhead, c.num_encoder_layers, c.num_decoder_layers,
                                          c.dim_feedforward, c.dropout, batch_first=True, norm_first=c.norm_first)
        self.out_proj = nn.Linear(c.d_model, c.tgt_vocab_size, bias=False)
        for embed in (self.src_embed, self.tgt_embed):
            nn.init.normal_(embed.weight, std=c.d_model ** -0.5)
        self.out_proj.weight = self.tgt_embed.weight

    def forward(self, src, tgt_in):
        scale = math.sqrt(self.config.d_model)
        padding = src == self.config.pad_id  # (B, S): PyTorch's convention, True = ignore
        causal = nn.Transformer.generate_square_subsequent_mask(tgt_in.shape[1], device=src.device)
        src_x = self.positions(self.src_embed(src) * scale)  # (B, S, d_model)
        tgt_x = self.positions(self.tgt_embed(tgt_in) * scale)  # (B, T, d_model)
        h = self.transformer(src_x, tgt_x, tgt_mask=causal, tgt_is_causal=True, src_key_padding_mask=padding,
                             memory_key_padding_mask=padding)
        return self.out_proj(h)  # (B, T, V)


def token_loss(logits, targets, label_smoothing=0.1):
    mean = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=0,
                           label_smoothing=label_smoothing)
    return mean, (targets != 0).sum()


def train_once(model, batches, seed):
    seed_everything(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=1.0, betas=(0.9, 0.98), eps=1e-9)
    scheduler = tr.warmup_scheduler(optimizer, model.config.d_model, 400, scale=2e-3 * math.sqrt(128 * 400))
    history = fit(model, batches, None, epochs=1, optimizer=optimizer, scheduler=scheduler,
                  loss_fn=functools.partial(token_loss, label_smoothing=0.1), metrics={}, clip_grad_norm=1.0,
                  progress=False, log=False)
    return batches.num_target_tokens / history.final.seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=12_000, help="training pairs per epoch")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--decode", type=int, default=400, help="test sentences to decode")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: PyTorch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    data = text.TranslationData(text.load_sentence_pairs(), min_freq=2, seed=0)
    config = tr.TransformerConfig(len(data.src_vocab), len(data.tgt_vocab))
    subset = text.TranslationData(text.load_sentence_pairs(), min_freq=2, seed=0, max_train=args.pairs)
    subset.src_vocab, subset.tgt_vocab = data.src_vocab, data.tgt_vocab  # the full run's vocabularies
    batches = subset.train_batches(128, seed=0)
    print(f"{torch.get_num_threads()} threads; {args.pairs:,} pairs, {len(batches)} batches, "
          f"{batches.num_target_tokens:,} target tokens per epoch; vocabularies {len(data.src_vocab):,} / "
          f"{len(data.tgt_vocab):,}")
    makers = {"course_utils": lambda: tr.Transformer(config), "nn.Transformer": lambda: TorchTransformer(config)}
    counts = {name: sum(p.numel() for p in make().parameters()) for name, make in makers.items()}
    assert len(set(counts.values())) == 1, f"the two models should have the same parameters: {counts}"
    speeds = {name: [] for name in makers}
    for r in range(args.repeats):
        for name, make in makers.items():
            torch.manual_seed(r)
            speeds[name].append(train_once(make(), batches, seed=r))
            print(f"  repeat {r + 1}: {name:15} {speeds[name][-1]:8,.0f} target tokens/s", flush=True)
    medians = {name: statistics.median(v) for name, v in speeds.items()}
    for name, value in medians.items():
        print(f"{name:15} median {value:8,.0f} target tokens/s ({counts[name]:,} parameters)")
    ratio = medians["nn.Transformer"] / medians["course_utils"]
    print(f"nn.Transformer / course_utils: {ratio:.2f}x (target: at most 1.5x)")

    model = tr.Transformer(config).eval()
    sentences = [en for en, _ in data.test_groups()[:args.decode]]
    src = data.encode_sources(sentences)
    timings = {}
    for name, decoder in (("cached", model), ("recomputed", FullPrefix(model))):
        start, lengths = time.perf_counter(), []
        for first in range(0, len(sentences), 200):
            found = greedy_search(decoder, src[first:first + 200], bos_id=1, eos_id=2, max_len=src.shape[1] + 10)
            lengths += [len(f) for f in found]
        timings[name] = time.perf_counter() - start
        print(f"greedy decoding, {name:10}: {len(sentences) / timings[name]:7,.0f} sentences/s "
              f"(an untrained model; {statistics.mean(lengths):.1f} tokens per output on average)")
    print(f"cache speed-up: {timings['recomputed'] / timings['cached']:.1f}x")


if __name__ == "__main__":
    main()
