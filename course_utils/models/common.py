"""Helpers every model family shares: the input check, the width multiplier,
the side of a feature map after a chain of convolutions and pools, and the
renaming of another library's state dict."""

import re
from collections import OrderedDict

import torch

from course_utils.layer_math import conv_output_size


def check_image_input(x, in_channels, input_size=None, *, name="the model"):
    """Raise a ValueError that says how to fix it unless ``x`` is a batch of
    images ``(N, in_channels, H, W)``, with ``H = W = input_size`` if given.

    A network with dense layers is built for one input size (pass
    ``input_size``), so a wrong size is reported here rather than as a shape
    mismatch deep inside ``nn.Linear``; blocks and networks that end in a
    global average pool take any size (leave it out). ``name`` starts the
    message, e.g. ``"LeNet"``.
    """
    side = "H, W" if input_size is None else f"{input_size}, {input_size}"
    expected = f"(N, {in_channels}, {side})"
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"{name} expects a tensor {expected}, got {type(x).__name__}: "
                         f"convert it with torch.as_tensor(x, dtype=torch.float32)")
    if x.dim() != 4:
        hint = "add a batch dimension with x.unsqueeze(0)" if x.dim() == 3 else "pass a batch of images"
        raise ValueError(f"{name} expects a 4-D input {expected}, got shape {tuple(x.shape)}: {hint}")
    wrong_size = input_size is not None and tuple(x.shape[2:]) != (input_size, input_size)
    if x.shape[1] != in_channels or wrong_size:
        if input_size is None:
            fix = f"build it with in_channels={x.shape[1]}"
        else:
            fix = (f"build it with in_channels={x.shape[1]} and input_size={x.shape[-1]} (square images), "
                   f"or resize the images to {input_size}x{input_size}")
        raise ValueError(f"{name} expects input of shape {expected}, got {tuple(x.shape)}: {fix}")


def scale_channels(channels, width, multiple_of=1):
    """``channels`` times the width multiplier, rounded to the nearest multiple
    of ``multiple_of`` (Python's ``round``: halves go to the even multiple),
    and at least ``multiple_of``."""
    if width <= 0 or multiple_of < 1:
        raise ValueError(f"width must be positive and multiple_of at least 1, got {width}, {multiple_of}")
    return max(multiple_of, int(round(channels * width / multiple_of)) * multiple_of)


def feature_map_size(input_size, layers):
    """Side of the feature map after ``layers``, a sequence of ``(kernel_size,
    stride, padding)`` convolutions and pools (floor rounding) applied in
    order to a square input; 0 if a kernel no longer fits (the map vanishes).

    Used by the factories to size dense layers and to reject inputs that are
    too small with a message of their own.
    """
    size = input_size
    for kernel_size, stride, padding in layers:
        if size + 2 * padding < kernel_size:
            return 0
        size = conv_output_size(size, kernel_size, stride, padding)
    return size


def rename_state_dict(state_dict, renames, unknown):
    """``state_dict`` with each key renamed by the first ``(pattern, replacement)``
    of ``renames`` whose regular expression matches it; a key that none
    matches raises ``ValueError(f"{key!r} {unknown}")``."""
    renamed = OrderedDict()
    for key, value in state_dict.items():
        for pattern, replacement in renames:
            new_key, count = re.subn(pattern, replacement, key)
            if count:
                renamed[new_key] = value
                break
        else:
            raise ValueError(f"{key!r} {unknown}")
    return renamed
