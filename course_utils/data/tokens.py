"""Batches of a token stream for a language model: ``x`` is ``(B, T)`` ids, ``y`` the ids one further.

A language model reads a text as one long sequence of token ids and learns to
predict each next one. Two ways to cut the stream into batches:

- :class:`TokenBatches`, for training: each batch takes ``batch_size``
  windows of ``block_size`` tokens at random offsets (nanoGPT's
  ``get_batch``), ``steps`` batches per pass; pass ``e`` draws its offsets
  from seed ``seed * 1_000_003 + e``, so a run is repeatable and a resumed
  one draws what the uninterrupted one would have.
- :class:`TokenBlocks`, for evaluation: consecutive, non-overlapping windows
  that predict every token of the stream after the first exactly once, so a
  mean loss over them is the loss on the whole text.

Both yield ``(x, y)`` with ``y[:, t] = ids[start + t + 1]``: the target of
position ``t`` is the token after it.
"""

import torch

from course_utils.data.batches import fingerprint


def _check_ids(ids, block_size):
    if not isinstance(ids, torch.Tensor) or ids.ndim != 1 or ids.dtype != torch.int64:
        got = f"{ids.dtype} {tuple(ids.shape)}" if isinstance(ids, torch.Tensor) else type(ids).__name__
        raise ValueError(f"ids must be a 1-D int64 tensor (the token stream), got {got}: "
                         "use torch.tensor(tokenizer.encode(text))")
    if not isinstance(block_size, int) or block_size < 1:
        raise ValueError(f"block_size must be a positive int, got {block_size!r}")
    if len(ids) < block_size + 1:
        raise ValueError(f"the stream has {len(ids)} tokens, too few for one window of block_size={block_size} "
                         "plus its target: use a longer text or a shorter block_size")


class TokenBatches:
    """``steps`` batches of ``batch_size`` random windows of ``block_size`` tokens per pass.

    Args:
        ids: the token stream, a 1-D int64 tensor.
        block_size: ``T``, the length of a window (the model's context).
        batch_size: ``B``, windows per batch.
        steps: batches per pass (one pass is one ``fit`` epoch).
        seed: pass ``e`` uses seed ``seed * 1_000_003 + e``.
        device: where the batches are made (the stream is moved there once).
    """

    def __init__(self, ids, block_size, batch_size, steps, *, seed=0, device=None):
        _check_ids(ids, block_size)
        for name, value in (("batch_size", batch_size), ("steps", steps)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        self.ids = ids.to(device) if device is not None else ids
        self.block_size, self.batch_size, self.steps, self.seed = block_size, batch_size, steps, seed
        self.epoch = 0  # advanced by each pass; saved and restored by fit's checkpoints
        self.num_examples = steps * batch_size  # windows per pass
        self.num_tokens = steps * batch_size * block_size  # predicted tokens per pass
        self._offsets = torch.arange(block_size + 1, device=self.ids.device)  # (T + 1,)

    def __len__(self):
        return self.steps

    def __iter__(self):
        gen = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        self.epoch += 1
        last_start = len(self.ids) - self.block_size  # starts 0 .. N - T - 1: the target of the last fits
        for _ in range(self.steps):
            starts = torch.randint(last_start, (self.batch_size,), generator=gen).to(self.ids.device)  # (B,)
            windows = self.ids[starts[:, None] + self._offsets]  # (B, T + 1)
            yield windows[:, :-1], windows[:, 1:]  # x (B, T), y (B, T)

    def describe(self):
        """What defines these batches, as JSON data (for a checkpoint's record of the run)."""
        return {"kind": "random windows", "tokens": len(self.ids), "fingerprint": fingerprint(self.ids),
                "block_size": self.block_size, "batch_size": self.batch_size, "steps": self.steps,
                "seed": self.seed}

    def __repr__(self):
        return (f"TokenBatches({self.steps} batches of {self.batch_size} x {self.block_size} tokens from a stream "
                f"of {len(self.ids):,})")


class TokenBlocks:
    """Consecutive windows of at most ``block_size`` tokens covering the stream,
    ``batch_size`` per batch: every token after the first is a target exactly
    once (``num_targets = len(ids) - 1``). The last window may be shorter; it
    comes alone, as the last batch.

    Args:
        ids: the token stream, a 1-D int64 tensor.
        block_size: ``T``, the longest window (the model's context).
        batch_size: windows per batch.
        device: where the batches are made.
    """

    def __init__(self, ids, block_size, batch_size, *, device=None):
        _check_ids(ids, block_size)
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        self.ids = ids.to(device) if device is not None else ids
        self.block_size, self.batch_size = block_size, batch_size
        self.num_targets = len(ids) - 1
        self.full_blocks = self.num_targets // block_size
        self.rest = self.num_targets - self.full_blocks * block_size  # targets of the shorter last window
        self.num_examples = self.full_blocks + (self.rest > 0)

    def __len__(self):
        return -(-self.full_blocks // self.batch_size) + (self.rest > 0)

    def __iter__(self):
        t = self.block_size
        whole = self.ids[:self.full_blocks * t + 1]
        x_all = whole[:-1].view(self.full_blocks, t)  # (blocks, T)
        y_all = whole[1:].view(self.full_blocks, t)  # (blocks, T): the same windows one token further
        for i in range(0, self.full_blocks, self.batch_size):
            yield x_all[i:i + self.batch_size], y_all[i:i + self.batch_size]
        if self.rest:
            start = self.full_blocks * t
            yield self.ids[start:start + self.rest][None], self.ids[start + 1:][None]  # (1, rest) each

    def describe(self):
        return {"kind": "consecutive blocks", "tokens": len(self.ids), "fingerprint": fingerprint(self.ids),
                "block_size": self.block_size, "batch_size": self.batch_size}

    def __repr__(self):
        return (f"TokenBlocks({self.num_examples} windows of up to {self.block_size} tokens, "
                f"{self.num_targets:,} targets)")
