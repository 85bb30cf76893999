"""Notebook 14's checkers accept the reference solutions, report stubs as not attempted (with the
nudge only) and reject planted wrong answers with a message that says what differs."""

import math

import pytest
import torch
import torch.nn.functional as F

from course_utils.exercises import ExerciseError, ex14
from solutions import ex14 as sol

CHECKS = [
    (ex14.check_patch_embedding_params, sol.patch_embedding_params),
    (ex14.check_attention_share, sol.attention_share),
    (ex14.check_sincos_2d, sol.sincos_2d),
    (ex14.check_interpolate_positions, sol.interpolate_positions),
]


def stub(*args):
    raise NotImplementedError


@pytest.fixture(autouse=True)
def fresh_hints():
    for check, _ in CHECKS:
        check.reset()
    yield


@pytest.mark.parametrize("check,answer", CHECKS)
def test_solution_accepted_and_stub_not_attempted(check, answer, capsys):
    assert check(answer) is True
    assert "correct" in capsys.readouterr().out
    assert check(stub) is False
    out = capsys.readouterr().out
    assert "not attempted" in out and check.hints[0] in out
    assert all(tier not in out for tier in check.hints[1:]), "a stub sees the nudge only"
    assert check(lambda *args: None) is False  # returning None counts as not attempted


@pytest.mark.parametrize("check,_", CHECKS)
def test_three_tiers(check, _):
    assert len(check.hints) >= 3 and len(set(check.hints)) == len(check.hints)


def no_bias(c, p, d):
    return d * c * p * p


def patch_not_squared(c, p, d):
    return d * c * p + d


def channels_forgotten(c, p, d):
    return d * p * p + d


def only_the_scores(n, d, mlp):
    linear, attention = n * (4 * d * d + 2 * d * mlp), n * n * d
    return attention / (attention + linear)


def per_head_scores(n, d, mlp):
    """The scores counted once per head with the full width: heads times too much."""
    linear, attention = n * (4 * d * d + 2 * d * mlp), 2 * n * n * d * 4
    return attention / (attention + linear)


def mlp_forgotten(n, d, mlp):
    linear, attention = n * 4 * d * d, 2 * n * n * d
    return attention / (attention + linear)


def column_first(rows, cols, dim):
    table = sol.sincos_2d(rows, cols, dim)
    return torch.cat([table[:, dim // 2:], table[:, :dim // 2]], dim=1)


def full_width_frequencies(rows, cols, dim):
    """Each half computed as if it were dim wide, then cut: the wrong frequencies."""
    from course_utils.attention import sinusoidal_positional_encoding

    r = sinusoidal_positional_encoding(rows, dim)[:, : dim // 2]
    c = sinusoidal_positional_encoding(cols, dim)[:, : dim // 2]
    return torch.cat([r.repeat_interleave(cols, 0), c.repeat(rows, 1)], dim=1)


def column_major(rows, cols, dim):
    r = sol.sincos_2d(rows, 1, dim)[:, : dim // 2]
    c = sol.sincos_2d(1, cols, dim)[:, dim // 2:]
    return torch.cat([r.repeat(cols, 1), c.repeat_interleave(rows, 0)], dim=1)


def class_token_interpolated(pos, new_side):
    out = sol.interpolate_positions(pos, new_side)
    out[:, 0] = out[:, 0] * 0.5
    return out


def features_on_the_grid(pos, new_side):
    cls, grid = pos[:, :1], pos[:, 1:]
    side, dim = math.isqrt(grid.shape[1]), grid.shape[2]
    image = grid.reshape(1, dim, side, side)  # reshaped without moving the features to the channels
    image = F.interpolate(image, size=new_side, mode="bicubic", align_corners=True)
    return torch.cat([cls, image.reshape(1, dim, -1).transpose(1, 2)], dim=1)


def corners_not_aligned(pos, new_side):
    cls, grid = pos[:, :1], pos[:, 1:]
    side, dim = math.isqrt(grid.shape[1]), grid.shape[2]
    image = F.interpolate(grid.reshape(1, side, side, dim).permute(0, 3, 1, 2), size=new_side, mode="bicubic")
    return torch.cat([cls, image.permute(0, 2, 3, 1).reshape(1, -1, dim)], dim=1)


@pytest.mark.parametrize("check,wrong,message", [
    (ex14.check_patch_embedding_params, no_bias, "no bias"),
    (ex14.check_patch_embedding_params, patch_not_squared, "square"),
    (ex14.check_patch_embedding_params, channels_forgotten, "in_channels numbers"),
    (ex14.check_attention_share, only_the_scores, "one of attention's two products"),
    (ex14.check_attention_share, per_head_scores, "FLOP counter gives"),
    (ex14.check_attention_share, mlp_forgotten, "FLOP counter gives"),
    (ex14.check_sincos_2d, column_first, "halves are swapped"),
    (ex14.check_sincos_2d, full_width_frequencies, "sincos_2d"),
    (ex14.check_sincos_2d, column_major, "sincos_2d"),
    (ex14.check_interpolate_positions, class_token_interpolated, "class token's embedding changed"),
    (ex14.check_interpolate_positions, features_on_the_grid, "features first"),
    (ex14.check_interpolate_positions, corners_not_aligned, "resized to"),
])
def test_planted_wrong_answers_are_rejected(check, wrong, message):
    assert check(stub) is False  # the saved notebook showed the nudge
    with pytest.raises(ExerciseError, match=message) as err:
        check(wrong)
    assert check.hints[1] in str(err.value), "a first wrong attempt after the nudge gets the key idea"
    assert check.hints[-1] not in str(err.value), "and not the recipe"
