"""Timing code honestly: wait for the GPU, repeat, compare under the same load.

A GPU runs its work asynchronously: ``time.perf_counter()`` read right after
a CUDA call measures how long the CPU took to *queue* the work, not how long
the GPU took to do it. Every timer here calls :func:`synchronize` before it
reads the clock, so the same code times a CPU and a GPU correctly.

- :func:`synchronize`: wait for the device's queued work (a no-op on the CPU).
- :class:`Stopwatch`: ``with Stopwatch(device) as sw: ...``, then ``sw.seconds``.
- :func:`time_it`: run a function several times after a warm-up and return a
  :class:`Timing` (every time, their median and the fastest).
- :func:`time_interleaved`: time several functions in turn, round after
  round, so that a busy machine slows all of them alike (a comparison made
  one after the other measures the load as much as the code).
- :func:`cpu_threads`: run a block with ``n`` CPU threads, then restore.
- :func:`stderr_silenced`: hide what C++ code writes to the process's stderr
  (PyTorch's profiler announces its start and stop there).
- :func:`per_second`: a throughput, ``count / seconds``.
"""

import math
import os
import statistics
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass

import torch


def synchronize(device=None):
    """Wait until ``device`` has finished its queued work (CUDA and MPS);
    nothing to wait for on the CPU. ``None``: the current CUDA device, if any."""
    device = torch.device(device) if device is not None else None
    if device is None:
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            torch.cuda.synchronize()
    elif device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


class Stopwatch:
    """Wall-clock seconds of a block, with the device synchronised at both ends.

    ``with Stopwatch(device) as sw: train()`` then ``sw.seconds``.
    """

    def __init__(self, device=None):
        self.device = device
        self.seconds = math.nan

    def __enter__(self):
        synchronize(self.device)
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        synchronize(self.device)
        self.seconds = time.perf_counter() - self._start
        return False


@dataclass(frozen=True)
class Timing:
    """The seconds of each timed call, and their median and minimum."""

    times: tuple

    @property
    def median(self):
        return statistics.median(self.times)

    @property
    def fastest(self):
        return min(self.times)

    def __str__(self):
        return (f"median {1e3 * self.median:.2f} ms, fastest {1e3 * self.fastest:.2f} ms "
                f"over {len(self.times)} run{'s' if len(self.times) != 1 else ''}")


def _check_counts(repeats, warmup):
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}")
    if warmup < 0:
        raise ValueError(f"warmup must be 0 or more, got {warmup}")


def time_it(fn, repeats=5, warmup=1, device=None):
    """Call ``fn()`` ``warmup`` times untimed, then ``repeats`` times timed.

    The first calls pay for memory allocation, kernel selection (cuDNN's
    autotuner) and caches; the warm-up keeps them out. The device is
    synchronised around each timed call. Returns a :class:`Timing`: use the
    median for a typical time and the fastest for the least disturbed one.
    """
    return time_interleaved({"fn": fn}, repeats, warmup, device)["fn"]


def time_interleaved(fns, repeats=5, warmup=1, device=None):
    """Time each function of the dict ``fns`` once per round, for ``repeats``
    rounds (after ``warmup`` untimed rounds); return ``{name: Timing}``.

    Interleaving makes a comparison fair on a shared machine: a burst of
    load hits one round of every function, not all runs of one of them.
    """
    _check_counts(repeats, warmup)
    if not fns:
        raise ValueError("time_interleaved needs at least one function to time")
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            with Stopwatch(device) as sw:
                fn()
            times[name].append(sw.seconds)
    return {name: Timing(tuple(t)) for name, t in times.items()}


@contextmanager
def cpu_threads(n, device=None):
    """Run a block with ``n`` CPU threads for PyTorch's operators, then restore
    the previous number. On a CUDA or MPS ``device`` the number is left alone
    (the CPU only queues work there)."""
    if n < 1:
        raise ValueError(f"a block needs at least one thread, got n={n}")
    before = torch.get_num_threads()
    if device is None or torch.device(device).type == "cpu":
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@contextmanager
def stderr_silenced():
    """Hide what is written to the process's stderr (file descriptor 2),
    including by C++ code that Python's ``sys.stderr`` does not see."""
    sys.stderr.flush()
    saved = os.dup(2)
    with open(os.devnull, "w") as devnull:
        os.dup2(devnull.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)


def per_second(count, seconds):
    """``count / seconds`` (images, tokens, steps per second); ``nan`` for no time."""
    return count / seconds if seconds > 0 else math.nan
