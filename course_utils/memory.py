"""How much memory a piece of code allocates at its peak, on the CPU or a CUDA GPU.

:func:`peak_bytes` runs a function once and returns the most memory it held
at any moment beyond what was allocated before it started:

- on a CUDA device, from the caching allocator's counters
  (``torch.cuda.max_memory_allocated`` after ``reset_peak_memory_stats``);
- on the CPU, from PyTorch's profiler, which records every allocation and
  free of a tensor's memory (``profile_memory=True``): their running sum in
  time order peaks where the function held the most. The profiler announces
  its start and stop on the process's stderr; that is silenced.

Only memory that PyTorch allocates for tensors counts (not Python objects).
Notebook 12 and ``benchmarks/attention.py`` compare attention written out
(which holds the ``T x T`` matrix) with the fused kernel (which does not).
"""

import torch
from torch.profiler import ProfilerActivity, profile

from course_utils.timing import stderr_silenced, synchronize


def peak_bytes(fn, device="cpu"):
    """Call ``fn()`` once; return the peak of the tensor memory it allocated
    on ``device`` (``"cpu"`` or a CUDA device), in bytes, beyond what was
    allocated before the call."""
    device = torch.device(device)
    if device.type == "cuda":
        synchronize(device)
        before = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        fn()
        synchronize(device)
        return torch.cuda.max_memory_allocated(device) - before
    if device.type != "cpu":
        raise ValueError(f"peak_bytes measures memory on the CPU or a CUDA GPU, not on {device.type!r}: "
                         "time the code on one of those")
    with stderr_silenced(), profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    events = sorted((e for e in prof.events() if e.self_cpu_memory_usage), key=lambda e: e.time_range.start)
    current = peak = 0
    for e in events:  # allocations count positive, frees negative
        current += e.self_cpu_memory_usage
        peak = max(peak, current)
    return peak
