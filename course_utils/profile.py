"""Run profiles: how much work a notebook does.

- ``smoke``: CI. Tiny subsets and a few steps; every code path still runs and
  a notebook finishes in well under a minute on 2 CPU cores.
- ``standard``: a laptop CPU. Real learning at reduced scale, a few minutes
  per notebook on 2 cores.
- ``full``: a GPU. The published settings (image sizes, epochs, schedules).

The profile comes from the ``COURSE_PROFILE`` environment variable; without
it, ``full`` when CUDA is available and ``standard`` otherwise.
"""

import os

import torch

PROFILES = ("smoke", "standard", "full")
ENV_VAR = "COURSE_PROFILE"


def check(name):
    if name not in PROFILES:
        raise ValueError(
            f"unknown run profile {name!r}: valid profiles are {', '.join(PROFILES)} "
            f"(set it with e.g. {ENV_VAR}=standard)"
        )
    return name


def current():
    """Return the active profile name, decided now (not at import)."""
    name = os.environ.get(ENV_VAR, "").strip().lower()
    if name:
        return check(name)
    return "full" if torch.cuda.is_available() else "standard"


def pick(smoke, standard, full):
    """Return the argument that belongs to the active profile.

    Example: ``epochs = profile.pick(smoke=1, standard=3, full=30)``.
    """
    return {"smoke": smoke, "standard": standard, "full": full}[current()]
