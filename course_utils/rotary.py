"""Rotary position embeddings (Su et al., 2021, "RoFormer", section 3.4): positions as rotations
of the queries and keys.

Learned or sinusoidal encodings are *added* to the token vectors once, at the
input. Rotary embeddings instead rotate each query and key inside every
attention layer by an angle proportional to its position: the features are
taken in pairs ``(x[2i], x[2i + 1])`` and the pair ``i`` of the vector at
position ``m`` is rotated by ``m * theta_i``, ``theta_i = base^(-2i / D)``
(the frequencies of the sinusoidal encoding, Vaswani et al., 2017, section
3.5). A rotation keeps lengths and ``R(a)^T R(b) = R(b - a)``, so the score of
query position ``m`` and key position ``n`` is

    (R(m) q) . (R(n) k) = q . R(n - m) k,

a function of the **offset** ``n - m`` and the vectors only: attention sees
relative positions, and nothing has to be learned per absolute position
(:func:`apply_rotary` is checked against this in the tests and in notebook 15).

Shapes: ``x`` is ``(..., T, D)`` with ``D`` even (a head's queries or keys,
``(B, H, T, D)``); the angles are ``(T, D / 2)``.
"""

import torch
from torch import nn


def _check_head_dim(head_dim):
    if not isinstance(head_dim, int) or head_dim <= 0 or head_dim % 2:
        raise ValueError(f"rotary embeddings rotate pairs of features, so head_dim must be a positive even int, "
                         f"got {head_dim!r}")


def rotary_frequencies(head_dim, base=10000.0, device=None):
    """``theta_i = base^(-2i / D)`` for ``i = 0 .. D/2 - 1`` (float64)."""
    _check_head_dim(head_dim)
    two_i = torch.arange(0, head_dim, 2, dtype=torch.float64, device=device)  # (D/2,)
    return base ** (-two_i / head_dim)


def rotary_angles(positions, head_dim, base=10000.0, dtype=torch.float32):
    """``(cos, sin)`` of the angles ``positions[t] * theta_i``, each ``(T, D/2)``.

    ``positions`` is a 1-D tensor of positions (any integers, also negative),
    or an int ``T`` for positions ``0 .. T - 1``.
    """
    if isinstance(positions, int):
        positions = torch.arange(positions)
    positions = torch.as_tensor(positions)
    if positions.ndim != 1:
        raise ValueError(f"positions must be 1-D, got shape {tuple(positions.shape)}")
    angles = positions.to(torch.float64)[:, None] * rotary_frequencies(head_dim, base, positions.device)[None, :]
    return angles.cos().to(dtype), angles.sin().to(dtype)  # (T, D/2) each


def apply_rotary(x, cos, sin):
    """Rotate the feature pairs ``(x[..., 2i], x[..., 2i + 1])`` of ``x (..., T, D)`` by the angles
    whose ``cos`` and ``sin`` are ``(T, D/2)``."""
    if x.shape[-1] % 2 or cos.shape != (x.shape[-2], x.shape[-1] // 2) or sin.shape != cos.shape:
        raise ValueError(f"x must be (..., T, D) with D even and cos, sin (T, D/2); got x {tuple(x.shape)}, "
                         f"cos {tuple(cos.shape)}, sin {tuple(sin.shape)}")
    pairs = x.unflatten(-1, (-1, 2))  # (..., T, D/2, 2)
    even, odd = pairs[..., 0], pairs[..., 1]  # (..., T, D/2) each
    rotated = torch.stack([even * cos - odd * sin, even * sin + odd * cos], dim=-1)  # (..., T, D/2, 2)
    return rotated.flatten(-2)  # (..., T, D)


class RotaryEmbedding(nn.Module):
    """Rotates ``(..., T, head_dim)`` queries or keys to positions ``start .. start + T - 1``.

    The cosines and sines of the first ``max_len`` positions are kept as a
    buffer (not saved in the state dict: they are a formula); later positions
    are computed when asked for.

    Args:
        head_dim: the features per head ``D`` (even).
        max_len: how many positions to tabulate in advance.
        base: the base of the frequencies (10,000 in the paper, as in the
            sinusoidal encoding).
    """

    def __init__(self, head_dim, max_len=2048, base=10000.0):
        super().__init__()
        _check_head_dim(head_dim)
        self.head_dim, self.base = head_dim, base
        cos, sin = rotary_angles(max_len, head_dim, base)
        self.register_buffer("cos", cos, persistent=False)  # (max_len, D/2)
        self.register_buffer("sin", sin, persistent=False)  # (max_len, D/2)

    def forward(self, x, start=0):
        length = x.shape[-2]
        if x.shape[-1] != self.head_dim:
            raise ValueError(f"expected (..., T, head_dim={self.head_dim}), got {tuple(x.shape)}")
        if start < 0:
            raise ValueError(f"start must be >= 0, got {start}")
        if start + length <= len(self.cos):
            cos, sin = self.cos[start:start + length], self.sin[start:start + length]  # (T, D/2)
        else:
            positions = torch.arange(start, start + length, device=x.device)
            cos, sin = rotary_angles(positions, self.head_dim, self.base)
        return apply_rotary(x, cos.to(device=x.device, dtype=x.dtype), sin.to(device=x.device, dtype=x.dtype))

    def extra_repr(self):
        return f"head_dim={self.head_dim}, base={self.base}"
