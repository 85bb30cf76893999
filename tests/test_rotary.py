"""Rotary position embeddings: the rotation as complex multiplication, scores that depend on offsets only."""

import pytest
import torch

from course_utils.checks import assert_close
from course_utils.rotary import RotaryEmbedding, apply_rotary, rotary_angles, rotary_frequencies


def complex_rotation(x, positions, base=10000.0):
    """Oracle: the pair (x[2i], x[2i+1]) as the complex number x[2i] + i x[2i+1], times e^(i m theta_i)."""
    d = x.shape[-1]
    theta = base ** (-torch.arange(0, d, 2, dtype=torch.float64) / d)  # (D/2,)
    z = torch.view_as_complex(x.double().reshape(*x.shape[:-1], d // 2, 2).contiguous())  # (..., T, D/2)
    turned = z * torch.polar(torch.ones_like(theta), positions.double()[:, None] * theta)  # (..., T, D/2)
    return torch.view_as_real(turned).reshape(x.shape)


def test_apply_rotary_is_complex_multiplication():
    torch.manual_seed(0)
    x = torch.randn(2, 3, 7, 16, dtype=torch.float64)  # (B, H, T, D)
    positions = torch.tensor([0, 1, 2, 5, 9, 100, 4000])
    cos, sin = rotary_angles(positions, 16, dtype=torch.float64)
    assert_close(apply_rotary(x, cos, sin), complex_rotation(x, positions), rtol=1e-12, atol=1e-12)


def test_scores_depend_on_the_offset_only():
    """(R(m) q) . (R(n) k) is the same for every (m, n) with the same n - m."""
    torch.manual_seed(1)
    q, k = torch.randn(32, dtype=torch.float64), torch.randn(32, dtype=torch.float64)

    def score(m, n):
        cq, sq = rotary_angles(torch.tensor([m]), 32, dtype=torch.float64)
        ck, sk = rotary_angles(torch.tensor([n]), 32, dtype=torch.float64)
        return (apply_rotary(q[None], cq, sq) @ apply_rotary(k[None], ck, sk).T).item()

    for offset in (-7, 0, 3, 50):
        scores = [score(m, m + offset) for m in (0, 10, 123, 1000)]
        assert max(scores) - min(scores) < 1e-9, f"offset {offset}: {scores}"
    assert abs(score(0, 3) - score(0, 4)) > 1e-3  # but the offset itself matters


def test_rotation_keeps_lengths_and_position_zero_is_the_identity():
    x = torch.randn(5, 8, dtype=torch.float64)
    cos, sin = rotary_angles(5, 8, dtype=torch.float64)
    out = apply_rotary(x, cos, sin)
    assert_close(out.norm(dim=-1), x.norm(dim=-1), rtol=1e-12, atol=1e-12)
    assert_close(out[0], x[0], rtol=0, atol=0)


def test_module_uses_its_table_and_goes_beyond_it():
    rope = RotaryEmbedding(8, max_len=4).double()
    x = torch.randn(1, 2, 6, 8, dtype=torch.float64)
    assert_close(rope(x), complex_rotation(x, torch.arange(6)), rtol=1e-6, atol=1e-6)
    assert_close(rope(x[:, :, :2], start=3), complex_rotation(x[:, :, :2], torch.tensor([3, 4])), rtol=1e-6,
                 atol=1e-6)
    assert not rope.state_dict()  # a formula, not parameters


def test_frequencies_and_bad_input():
    assert_close(rotary_frequencies(4), torch.tensor([1.0, 0.01], dtype=torch.float64))
    with pytest.raises(ValueError, match="even"):
        RotaryEmbedding(7)
    with pytest.raises(ValueError, match="head_dim=8"):
        RotaryEmbedding(8)(torch.randn(1, 3, 6))
    with pytest.raises(ValueError, match="cos, sin"):
        apply_rotary(torch.randn(3, 8), *rotary_angles(4, 8))
