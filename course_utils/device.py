"""Device choice, mixed precision and reproducibility.

Everything is decided when a function is called, never at import, so a
notebook that is moved to a GPU runtime picks the GPU up on its next run.

Mixed precision: on a GPU, :func:`autocast_dtype` picks bfloat16 or float16
by the compute capability; :func:`autocast` runs a forward pass in it and
:func:`grad_scaler` scales the loss for float16. The CPU and MPS train in
float32.

A test switch: ``COURSE_AUTOCAST=bfloat16`` or ``COURSE_AUTOCAST=float16``
makes the CPU run the same mixed precision as a GPU (PyTorch's CPU autocast,
and for float16 a CPU gradient scaler), so that the GPU's precision path --
autocast in ``fit`` and ``evaluate``, loss scaling, float16 overflow -- runs,
and fails, on a machine without a GPU. CI runs notebooks under it
(``.ci/run``). It is for testing: on a CPU it is slower than float32 and no
more accurate. Unset (or ``off``), the CPU trains in float32.
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
AUTOCAST_ENV = "COURSE_AUTOCAST"  # the test switch of the module docstring
CPU_AUTOCAST_DTYPES = {"bfloat16": torch.bfloat16, "float16": torch.float16}


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


def cpu_autocast_dtype():
    """The precision that ``COURSE_AUTOCAST`` forces on the CPU (a test switch,
    see the module docstring), or ``None`` when it is unset, empty or ``off``."""
    value = os.environ.get(AUTOCAST_ENV, "").strip().lower()
    if value in ("", "off"):
        return None
    if value not in CPU_AUTOCAST_DTYPES:
        raise ValueError(f"{AUTOCAST_ENV}={value!r} is not a precision the CPU's autocast is tested in: "
                         f"use {' or '.join(CPU_AUTOCAST_DTYPES)}, or unset it (or 'off') for float32")
    return CPU_AUTOCAST_DTYPES[value]


def autocast_dtype(device=None):
    """The reduced precision used on ``device``, or ``None`` for full float32.

    Chosen by the GPU's compute capability: bfloat16 from 8.0 on (Ampere,
    Hopper: A100, H100, RTX 30xx/40xx), which has float32's range and so
    needs no loss scaling; float16 on older GPUs (T4 7.5, V100 7.0), whose
    tensor cores have no bfloat16, with a gradient scaler (see
    :func:`grad_scaler`). The CPU and MPS train in float32, unless the test
    switch ``COURSE_AUTOCAST`` forces a precision on the CPU.
    """
    device = _as_device(device)
    if device.type == "cpu":
        return cpu_autocast_dtype()
    if device.type != "cuda":
        return None
    capability = tuple(torch.cuda.get_device_capability(device))
    return torch.bfloat16 if capability >= BF16_MIN_CAPABILITY else torch.float16


def autocast(device=None):
    """Context manager for mixed-precision forward passes on ``device``.

    A no-op on MPS and on the CPU (unless ``COURSE_AUTOCAST`` is set).
    """
    device = _as_device(device)
    dtype = autocast_dtype(device)
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def grad_scaler(device=None):
    """A ``GradScaler`` that is enabled only when autocast uses float16.

    float16 underflows for small gradients; scaling the loss up before the
    backward pass (and the gradients down before the step) avoids that.
    """
    device = _as_device(device)
    enabled = autocast_dtype(device) == torch.float16
    return torch.amp.GradScaler("cuda" if device.type == "cuda" else "cpu", enabled=enabled)


def seed_everything(seed=0):
    """Seed Python, NumPy and PyTorch (CPU and all GPUs) for repeatable runs."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    os.environ["PYTHONHASHSEED"] = str(seed)
    return seed

