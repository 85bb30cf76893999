"""course_utils.timing: the clock waits for the device, repeats are counted, comparisons interleave."""

import math
import os
import time
from unittest import mock

import pytest
import torch

from course_utils import timing


def test_time_it_counts_warmup_and_repeats():
    calls = []
    result = timing.time_it(lambda: calls.append(1), repeats=4, warmup=2)
    assert len(calls) == 6
    assert len(result.times) == 4
    assert result.fastest <= result.median


def test_time_it_measures_the_call():
    result = timing.time_it(lambda: time.sleep(0.02), repeats=2, warmup=0)
    assert result.fastest >= 0.02


def test_interleaved_alternates_functions():
    order = []
    timing.time_interleaved({"a": lambda: order.append("a"), "b": lambda: order.append("b")}, repeats=2, warmup=1)
    assert order == ["a", "b"] * 3


def test_bad_counts_are_rejected():
    with pytest.raises(ValueError, match="repeats"):
        timing.time_it(lambda: None, repeats=0)
    with pytest.raises(ValueError, match="warmup"):
        timing.time_it(lambda: None, warmup=-1)
    with pytest.raises(ValueError, match="at least one function"):
        timing.time_interleaved({})


def test_stopwatch_synchronises_cuda_at_both_ends():
    with mock.patch.object(torch.cuda, "synchronize") as sync:
        with timing.Stopwatch(torch.device("cuda:0")) as sw:
            assert sync.call_count == 1
        assert sync.call_count == 2
    assert sw.seconds >= 0


def test_stopwatch_does_not_synchronise_the_cpu():
    with mock.patch.object(torch.cuda, "synchronize") as sync:
        with timing.Stopwatch("cpu"):
            pass
    sync.assert_not_called()


def test_cpu_threads_restores_the_count():
    before = torch.get_num_threads()
    with timing.cpu_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with timing.cpu_threads(1, device=torch.device("cuda")):
        assert torch.get_num_threads() == before  # a GPU's threads are left alone
    with pytest.raises(ValueError, match="at least one thread"):
        with timing.cpu_threads(0):
            pass


def test_stderr_silenced_hides_file_descriptor_2(capfd):
    with timing.stderr_silenced():
        os.write(2, b"hidden\n")
    os.write(2, b"shown\n")
    assert capfd.readouterr().err == "shown\n"


def test_per_second():
    assert timing.per_second(10, 2.0) == 5.0
    assert math.isnan(timing.per_second(10, 0.0))
