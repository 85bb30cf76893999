"""Device choice, mixed precision and reproducibility.

Everything is decided when a function is called, never at import, so a
notebook that is moved to a GPU runtime picks the GPU up on its next run.
"""

import contextlib
import os
import random

import numpy as np
import torch

# bfloat16 tensor cores arrived with compute capability 8.0 (Ampere: A100,
# RTX 30xx). Older GPUs (T4 7.5, V100 7.0) have float16 tensor cores only;
# torch.cuda.is_bf16_supported() is true on some of them (Colab's T4) because
# bfloat16 is emulated there, which is slower than float32.
BF16_MIN_CAPABILITY = (8, 0)


def get_device():
    """The best available device: CUDA, then Apple's MPS, then the CPU.

    On CUDA it also turns on cuDNN's autotuner (``torch.backends.cudnn.benchmark``):
    the first convolution of each input shape tries cuDNN's algorithms and
    keeps the fastest. The course trains with fixed shapes, so the few
    tries at the start pay off for the rest of the run.
    """
    if torch.cuda.is_available():
        torch.backends.cudnn.benchmark = True
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def _as_device(device):
    return torch.device(device) if device is not None else get_device()


def autocast_dtype(device=None):
    """The reduced precision used on ``device``, or ``None`` for full float32.

    Chosen by the GPU's compute capability: bfloat16 from 8.0 on (Ampere,
    Hopper: A100, H100, RTX 30xx/40xx), which has float32's range and so
    needs no loss scaling; float16 on older GPUs (T4 7.5, V100 7.0), whose
    tensor cores have no bfloat16, with a gradient scaler (see
    :func:`grad_scaler`). The CPU and MPS train in float32.
    """
    device = _as_device(device)
    if device.type != "cuda":
        return None
    capability = tuple(torch.cuda.get_device_capability(device))
    return torch.bfloat16 if capability >= BF16_MIN_CAPABILITY else torch.float16


def autocast(device=None):
    """Context manager for mixed-precision forward passes on ``device``.

    A no-op on the CPU and on MPS.
    """
    dtype = autocast_dtype(device)
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type="cuda", dtype=dtype)


def grad_scaler(device=None):
    """A ``GradScaler`` that is enabled only when autocast uses float16.

    float16 underflows for small gradients; scaling the loss up before the
    backward pass (and the gradients down before the step) avoids that.
    """
    enabled = autocast_dtype(device) == torch.float16
    return torch.amp.GradScaler("cuda", enabled=enabled)


def seed_everything(seed=0):
    """Seed Python, NumPy and PyTorch (CPU and all GPUs) for repeatable runs."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    os.environ["PYTHONHASHSEED"] = str(seed)
    return seed

