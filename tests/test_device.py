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


def test_autocast_is_a_no_op_on_cpu(monkeypatch):
    monkeypatch.delenv(dev.AUTOCAST_ENV, raising=False)
    a, b = torch.randn(4, 4), torch.randn(4, 4)
    with dev.autocast(torch.device("cpu")):
        c = a @ b
    assert c.dtype == torch.float32
    assert dev.autocast_dtype(torch.device("cpu")) is None
    assert not dev.grad_scaler(torch.device("cpu")).is_enabled()


@pytest.mark.parametrize("value, dtype", [("bfloat16", torch.bfloat16), ("float16", torch.float16)])
def test_the_test_switch_runs_the_cpu_in_mixed_precision(monkeypatch, value, dtype):
    """COURSE_AUTOCAST makes the CPU take the GPU's precision path: autocast
    in that dtype, and for float16 an enabled (CPU) gradient scaler."""
    monkeypatch.setenv(dev.AUTOCAST_ENV, value)
    cpu = torch.device("cpu")
    assert dev.autocast_dtype(cpu) == dtype
    gen = torch.Generator().manual_seed(0)
    a, b = torch.randn(4, 4, generator=gen), torch.randn(4, 4, generator=gen)
    with dev.autocast(cpu):
        c = a @ b
    assert c.dtype == dtype
    # each input rounded to 8 (bfloat16) or 11 (float16) bits: errors up to about 2^-8 of the terms' sizes
    torch.testing.assert_close(c.float(), a @ b, rtol=0, atol=4 * 2 ** -8 * float((a.abs() @ b.abs()).max()))
    scaler = dev.grad_scaler(cpu)
    assert scaler.is_enabled() == (dtype == torch.float16)
    if scaler.is_enabled():  # a CPU scaler: scales, and unscales a CPU model's gradients
        w = torch.ones(3, requires_grad=True)
        opt = torch.optim.SGD([w], lr=0.1)
        scaler.scale((w * 2).sum()).backward()
        scaler.step(opt)
        scaler.update()
        torch.testing.assert_close(w.detach(), torch.full((3,), 0.8))


@pytest.mark.parametrize("value", ["", "off", "OFF"])
def test_the_test_switch_off_is_float32(monkeypatch, value):
    monkeypatch.setenv(dev.AUTOCAST_ENV, value)
    assert dev.autocast_dtype("cpu") is None and not dev.grad_scaler("cpu").is_enabled()


def test_a_wrong_test_switch_says_what_to_use(monkeypatch):
    monkeypatch.setenv(dev.AUTOCAST_ENV, "fp8")
    with pytest.raises(ValueError, match="COURSE_AUTOCAST='fp8'.*bfloat16 or float16"):
        dev.autocast_dtype("cpu")


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

