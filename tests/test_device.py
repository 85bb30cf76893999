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


# (name, compute capability) of the GPUs a learner meets: Colab's free T4, V100, A100, H100
GPUS = [("Tesla T4", (7, 5), torch.float16), ("Tesla V100-SXM2-16GB", (7, 0), torch.float16),
        ("NVIDIA A100-SXM4-40GB", (8, 0), torch.bfloat16), ("NVIDIA H100 80GB HBM3", (9, 0), torch.bfloat16)]


def fake_gpu(monkeypatch, name, capability):
    """Make torch report one CUDA GPU of this kind. ``is_bf16_supported``
    says yes on all of them, as it does on Colab's T4 (emulated bfloat16)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda *a, **k: name)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda *a, **k: capability)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)


@pytest.mark.filterwarnings("ignore:CUDA is not available")
@pytest.mark.parametrize("name, capability, expected", GPUS, ids=[g[0].split()[1] for g in GPUS])
def test_precision_follows_the_compute_capability(monkeypatch, name, capability, expected):
    fake_gpu(monkeypatch, name, capability)
    device = dev.get_device()
    assert device == torch.device("cuda")
    assert dev.autocast_dtype(device) == expected
    ctx = dev.autocast(device)
    assert isinstance(ctx, torch.autocast) and ctx.fast_dtype == expected
    # float16 needs loss scaling, bfloat16 (float32's range) does not
    assert dev.grad_scaler(device).is_enabled() == (expected == torch.float16)


def test_bf16_support_alone_does_not_pick_bfloat16(monkeypatch):
    """The choice the T4 exposes: is_bf16_supported() is true there, and a
    choice made by it alone trains in emulated bfloat16 without tensor cores."""
    fake_gpu(monkeypatch, "Tesla T4", (7, 5))
    old_rule = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    assert old_rule == torch.bfloat16 and dev.autocast_dtype("cuda") == torch.float16


def test_get_device_turns_on_the_cudnn_autotuner_on_cuda_only(monkeypatch):
    monkeypatch.setattr(torch.backends.cudnn, "benchmark", False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    dev.get_device()
    assert torch.backends.cudnn.benchmark is False
    fake_gpu(monkeypatch, "Tesla T4", (7, 5))
    assert dev.get_device().type == "cuda" and torch.backends.cudnn.benchmark is True


def test_seed_everything_repeats_all_generators():
    def draw():
        return random.random(), np.random.rand(), torch.rand(1).item()

    dev.seed_everything(123)
    first = draw()
    dev.seed_everything(123)
    assert draw() == first
    dev.seed_everything(124)
    assert draw() != first

