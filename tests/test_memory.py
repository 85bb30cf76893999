"""course_utils.memory: the peak of the tensor memory a call holds, against sizes known in advance."""

from unittest import mock

import pytest
import torch

from course_utils import memory

MB = 1_000_000  # float32 elements: 4 MB each


def test_one_tensor_counts_its_bytes():
    peak = memory.peak_bytes(lambda: torch.empty(MB))
    assert 4 * MB <= peak < 4 * MB + 4096


def test_tensors_freed_in_turn_peak_at_one_tensors_size():
    def one_after_the_other():
        a = torch.ones(MB)
        del a
        b = torch.ones(MB)
        return b.sum()

    def both_at_once():
        a, b = torch.ones(MB), torch.ones(MB)
        return (a + b).sum()  # a + b is a third tensor of the same size

    assert 4 * MB <= memory.peak_bytes(one_after_the_other) < 5 * MB
    assert 12 * MB <= memory.peak_bytes(both_at_once) < 13 * MB


def test_memory_allocated_before_the_call_does_not_count():
    held = torch.ones(4 * MB)  # noqa: F841 (held while the call runs)
    assert memory.peak_bytes(lambda: torch.empty(MB)) < 5 * MB


def test_cuda_reads_the_allocators_counters():
    with mock.patch.object(torch.cuda, "synchronize"), \
            mock.patch.object(torch.cuda, "memory_allocated", return_value=100), \
            mock.patch.object(torch.cuda, "reset_peak_memory_stats") as reset, \
            mock.patch.object(torch.cuda, "max_memory_allocated", return_value=1_100):
        assert memory.peak_bytes(lambda: None, "cuda:0") == 1_000
    reset.assert_called_once()


def test_other_devices_are_refused_with_a_reason():
    with pytest.raises(ValueError, match="CPU or a CUDA GPU"):
        memory.peak_bytes(lambda: None, "mps")
