import random

import numpy as np
import pytest
import torch

from course_utils import device as dev


def test_get_device_prefers_cuda_then_mps_then_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert dev.get_device() == torch.device("cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert dev.get_device() == torch.device("mps")
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert dev.get_device() == torch.device("cpu")


def test_autocast_is_a_no_op_on_cpu():
    a, b = torch.randn(4, 4), torch.randn(4, 4)
    with dev.autocast(torch.device("cpu")):
        c = a @ b
    assert c.dtype == torch.float32
    assert dev.autocast_dtype(torch.device("cpu")) is None
    assert not dev.grad_scaler(torch.device("cpu")).is_enabled()


@pytest.mark.filterwarnings("ignore:CUDA is not available")
@pytest.mark.parametrize("bf16, expected", [(True, torch.bfloat16), (False, torch.float16)])
def test_autocast_dtype_on_cuda(monkeypatch, bf16, expected):
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: bf16)
    assert dev.autocast_dtype(torch.device("cuda")) == expected
    ctx = dev.autocast(torch.device("cuda"))
    assert isinstance(ctx, torch.autocast) and ctx.fast_dtype == expected


def test_seed_everything_repeats_all_generators():
    def draw():
        return random.random(), np.random.rand(), torch.rand(1).item()

    dev.seed_everything(123)
    first = draw()
    dev.seed_everything(123)
    assert draw() == first
    dev.seed_everything(124)
    assert draw() != first

