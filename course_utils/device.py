"""Device choice, mixed precision and reproducibility.

Everything is decided when a function is called, never at import, so a
notebook that is moved to a GPU runtime picks the GPU up on its next run.
"""

import contextlib
import os
import random

import numpy as np
import torch


def get_device():
    """The best available device: CUDA, then Apple's MPS, then the CPU."""
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def _as_device(device):
    return torch.device(device) if device is not None else get_device()


def autocast_dtype(device=None):
    """The reduced precision used on ``device``, or ``None`` for full float32.

    bfloat16 where the GPU supports it (Ampere and newer): same range as
    float32, so no loss scaling is needed. float16 on older GPUs, which needs
    a gradient scaler (see :func:`grad_scaler`). The CPU trains in float32.
    """
    device = _as_device(device)
    if device.type != "cuda":
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


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

