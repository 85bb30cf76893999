"""Helpers shared by the course notebooks.

One concern per module; import what you need explicitly, for example::

    from course_utils import profile
    from course_utils.device import get_device, seed_everything
    from course_utils.data import load_dataset
    from course_utils.train import fit

Nothing heavy happens at import time: the device is chosen when you call
``get_device()``, the profile when you call ``profile.current()``.
"""

__version__ = "0.1.0"

# The course's public repository. Notebooks' Colab badges and set-up cells
# are stamped from this one value by ``tools/nb.py``; a test keeps them in sync.
REPO_URL = "https://github.com/deep-learning-course/conv-to-transformer"
