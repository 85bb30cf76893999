"""GPT benchmark: the course's GPT against the same network built from ``nn.TransformerEncoderLayer``.

Both models have the sizes of notebook 15's character model (nanoGPT's CPU
configuration: 4 layers, 4 heads, 128 channels, context 64, 65 characters),
the same embeddings, learned positions and tied output layer; they differ in
the blocks: ``course_utils.models.gpt`` (the course's attention and
from-scratch layer norm) against ``nn.TransformerEncoderLayer(norm_first=True,
activation=tanh GELU)`` run with a causal mask (``is_causal=True``). The same
weights give the same logits (checked first). Each trains ``--steps`` batches
of 12 x 64 tokens of Tiny Shakespeare through ``course_utils.train.fit`` (AdamW,
gradient clipping, as the notebook), the two alternating ``--repeats`` times
(in the order AB, BA, AB, ...) so that a busy spell on a shared machine, or a
load that rises or falls during the benchmark, hits both alike. It prints the
median training tokens per second of each and their ratio (target: within
1.2x), and the same per second of CPU time (``time.process_time``: with one
thread, the work done whatever else the machine runs).

Run: ``python benchmarks/gpt.py [--threads N]`` (it needs Tiny Shakespeare:
``COURSE_TINYSHAKESPEARE`` or the shared archive).
"""

import argparse
import functools
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from course_utils.attention import LearnedPositionalEncoding  # noqa: E402
from course_utils.data.shakespeare import load_tiny_shakespeare, split_text  # noqa: E402
from course_utils.data.tokens import TokenBatches  # noqa: E402
from course_utils.device import seed_everything  # noqa: E402
from course_utils.models import gpt as gpt_models  # noqa: E402
from course_utils.tokenizers import CharTokenizer  # noqa: E402
from course_utils.train import fit, token_cross_entropy  # noqa: E402


class TorchGPT(nn.Module):
    """The same GPT with ``nn.TransformerEncoderLayer`` blocks (parameter names match the course's)."""

    def __init__(self, config):
        super().__init__()
        c = self.config = config
        self.tok_embed = nn.Embedding(c.vocab_size, c.d_model)
        self.positions = LearnedPositionalEncoding(c.context_length, c.d_model, dropout=c.dropout)
        self.layers = nn.ModuleList(
            nn.TransformerEncoderLayer(c.d_model, c.nhead, c.dim_feedforward, c.dropout,
                                       activation=functools.partial(F.gelu, approximate="tanh"),
                                       layer_norm_eps=c.layer_norm_eps, batch_first=True, norm_first=True)
            for _ in range(c.num_layers))
        self.norm = nn.LayerNorm(c.d_model, eps=c.layer_norm_eps)
        self.lm_head = nn.Linear(c.d_model, c.vocab_size, bias=False)
        self.lm_head.weight = self.tok_embed.weight

    def forward(self, ids):
        length = ids.shape[1]
        mask = nn.Transformer.generate_square_subsequent_mask(length, device=ids.device)  # (T, T), -inf above
        x = self.positions(self.tok_embed(ids))  # (B, T, d_model)
        for layer in self.layers:
            x = layer(x, src_mask=mask, is_causal=True)
        return self.lm_head(self.norm(x))  # (B, T, V)


def train_once(model, batches, seed):
    """Training tokens per second of wall time and per second of CPU time."""
    seed_everything(seed)
    optimizer = torch.optim.AdamW(gpt_models.param_groups(model, 0.1), lr=1e-3, betas=(0.9, 0.99))
    cpu = time.process_time()
    history = fit(model, batches, None, epochs=1, optimizer=optimizer, loss_fn=token_cross_entropy, metrics={},
                  clip_grad_norm=1.0, progress=False, log=False)
    cpu = time.process_time() - cpu
    return batches.num_tokens / history.final.seconds, batches.num_tokens / cpu


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=150, help="training batches per run")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: PyTorch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    train_text, _ = split_text(load_tiny_shakespeare())
    tokenizer = CharTokenizer(train_text)
    ids = torch.tensor(tokenizer.encode(train_text))
    config = gpt_models.GPTConfig(tokenizer.vocab_size, context_length=64, num_layers=4, d_model=128, nhead=4)
    batches = TokenBatches(ids, 64, 12, args.steps, seed=0)

    course = gpt_models.GPT(config).eval()
    reference = TorchGPT(config).eval()
    reference.load_state_dict(course.state_dict())
    x, _ = next(iter(batches))
    with torch.no_grad():
        difference = (course(x) - reference(x)).abs().max().item()
    assert difference < 1e-4, f"the two models should compute the same logits, max difference {difference}"
    print(f"{torch.get_num_threads()} threads; {args.steps} batches of 12 x 64 tokens per run; same weights give the "
          f"same logits (max difference {difference:.1e})")

    makers = {"course_utils": lambda: gpt_models.GPT(config), "nn.TransformerEncoderLayer": lambda: TorchGPT(config)}
    speeds = {name: [] for name in makers}
    cpu_speeds = {name: [] for name in makers}
    for r in range(args.repeats):
        order = list(makers) if r % 2 == 0 else list(reversed(makers))
        for name in order:
            torch.manual_seed(r)
            wall, cpu = train_once(makers[name](), batches, seed=r)
            speeds[name].append(wall)
            cpu_speeds[name].append(cpu)
            print(f"  repeat {r + 1}: {name:27} {wall:8,.0f} tokens/s ({cpu:,.0f} per CPU second)", flush=True)
    medians = {name: statistics.median(v) for name, v in speeds.items()}
    cpu_medians = {name: statistics.median(v) for name, v in cpu_speeds.items()}
    for name, value in medians.items():
        print(f"{name:27} median {value:8,.0f} training tokens/s ({cpu_medians[name]:,.0f} per CPU second)")
    ratio = medians["nn.TransformerEncoderLayer"] / medians["course_utils"]
    cpu_ratio = cpu_medians["nn.TransformerEncoderLayer"] / cpu_medians["course_utils"]
    print(f"nn.TransformerEncoderLayer / course_utils: {ratio:.2f}x (target: at most 1.2x); per CPU second "
          f"{cpu_ratio:.2f}x")


if __name__ == "__main__":
    main()
