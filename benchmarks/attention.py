"""Attention benchmark: the course's from-scratch attention vs ``F.scaled_dot_product_attention``.

For each sequence length ``T`` it times one forward and backward pass of
self-attention on ``(B, H, T, D)`` queries, keys and values, two ways:

1. ``course_utils.attention.scaled_dot_product_attention``: the matrix form
   ``softmax(Q K^T / sqrt(D)) V`` written out, which materialises the
   ``(B, H, T, T)`` scores and weights (and keeps the weights for backward);
2. PyTorch's fused ``F.scaled_dot_product_attention`` (flash-attention style
   kernels on CPU and CUDA), which works block by block and never holds the
   whole ``T x T`` matrix.

It prints the median time over ``--repeats`` (interleaved, so a busy spell on
a shared machine hits both) and the peak memory allocated during the pass: on
CUDA from ``torch.cuda.max_memory_allocated``, on CPU by summing the
allocations and frees that PyTorch's profiler records. Run:
``python benchmarks/attention.py`` (``--help`` for the sizes).
"""

import argparse
import functools
import os
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from course_utils.attention import scaled_dot_product_attention  # noqa: E402
from course_utils.device import get_device  # noqa: E402
from course_utils.memory import peak_bytes  # noqa: E402
from course_utils.timing import time_interleaved  # noqa: E402

MiB = 2**20


def from_scratch(q, k, v):
    return scaled_dot_product_attention(q, k, v)[0]


def fused(q, k, v):
    return F.scaled_dot_product_attention(q, k, v)


def forward_backward(fn, q, k, v):
    out = fn(q, k, v)
    out.backward(torch.ones_like(out))
    q.grad = k.grad = v.grad = None


def measure(lengths, batch, heads, head_dim, repeats, device, dtype=torch.float32):
    """One row per length: ``(T, ms from scratch, ms fused, MiB from scratch, MiB fused)``."""
    rows = []
    gen = torch.Generator(device="cpu").manual_seed(0)
    for t in lengths:
        q, k, v = (torch.randn(batch, heads, t, head_dim, generator=gen, dtype=dtype).to(device).requires_grad_()
                   for _ in range(3))
        with torch.no_grad():
            err = (from_scratch(q, k, v) - fused(q, k, v)).abs().max().item()
        if err > 1e-4:
            raise AssertionError(f"T={t}: the two implementations differ by {err:.3g}")
        passes = {fn: functools.partial(forward_backward, fn, q, k, v) for fn in (from_scratch, fused)}
        times = time_interleaved(passes, repeats=repeats, warmup=1, device=device)
        rows.append((t, 1e3 * times[from_scratch].median, 1e3 * times[fused].median,
                     peak_bytes(passes[from_scratch], device) / MiB, peak_bytes(passes[fused], device) / MiB))
    return rows


def print_table(rows):
    print(f"{'T':>6} {'from scratch ms':>16} {'fused ms':>10} {'speed-up':>9} {'from scratch MiB':>17} "
          f"{'fused MiB':>10} {'memory ratio':>13}")
    for t, ms_ours, ms_fused, mib_ours, mib_fused in rows:
        print(f"{t:>6} {ms_ours:>16.2f} {ms_fused:>10.2f} {ms_ours / ms_fused:>8.1f}x {mib_ours:>17.1f} "
              f"{mib_fused:>10.1f} {mib_ours / max(mib_fused, 1e-9):>12.1f}x")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lengths", default="256,512,1024,2048,4096", help="comma-separated sequence lengths")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--head-dim", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (CPU)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = get_device()
    lengths = [int(t) for t in args.lengths.split(",")]
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"device {device}, torch {torch.__version__}, {torch.get_num_threads()} threads, load average "
          f"{load:.1f}; B={args.batch}, H={args.heads}, D={args.head_dim}, float32, forward + backward, "
          f"median of {args.repeats}")
    print_table(measure(lengths, args.batch, args.heads, args.head_dim, args.repeats, device))


if __name__ == "__main__":
    main()
