"""The environment report of notebook 00: versions, device, profile, data.

Kept apart from :mod:`course_utils.device` because it reads everything
(the profile, the data folder, each dataset's source), while the device
helpers are needed by everything.
"""

import platform
import sys

import numpy as np
import torch
import torchvision

from course_utils import profile
from course_utils.data import DATASETS, dataset_status
from course_utils.device import autocast_dtype, get_device
from course_utils.paths import data_dir


def describe():
    """A multi-line report of the environment: versions, device, profile, data.

    Returns the text (and prints nothing) so a notebook can print it and a
    test can read it.
    """
    device = get_device()
    if device.type == "cuda":
        device_text = f"cuda ({torch.cuda.get_device_name(0)})"
    else:
        device_text = device.type
    dtype = autocast_dtype(device)
    lines = [
        f"python       {sys.version.split()[0]} ({platform.system()} {platform.machine()})",
        f"torch        {torch.__version__}",
        f"torchvision  {torchvision.__version__}",
        f"numpy        {np.__version__}",
        f"device       {device_text}",
        f"precision    {'float32' if dtype is None else 'mixed ' + str(dtype).replace('torch.', '')}",
        f"cpu threads  {torch.get_num_threads()}",
        f"profile      {profile.current()}",
        f"data folder  {data_dir()}",
    ]
    for name in DATASETS:
        lines.append(f"dataset      {name:<14} {dataset_status(name)}")
    return "\n".join(lines)
