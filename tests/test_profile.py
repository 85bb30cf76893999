import pytest
import torch

from course_utils import profile


def test_env_var_selects_profile(monkeypatch):
    for name in profile.PROFILES:
        monkeypatch.setenv("COURSE_PROFILE", name)
        assert profile.current() == name


def test_default_depends_on_cuda(monkeypatch):
    monkeypatch.delenv("COURSE_PROFILE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert profile.current() == "full"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert profile.current() == "standard"


def test_unknown_profile_lists_valid_ones(monkeypatch):
    monkeypatch.setenv("COURSE_PROFILE", "fast")
    with pytest.raises(ValueError) as err:
        profile.current()
    for name in ("'fast'", "smoke", "standard", "full"):
        assert name in str(err.value)


def test_pick_returns_the_active_value(monkeypatch):
    for name, expected in (("smoke", 1), ("standard", 2), ("full", 3)):
        monkeypatch.setenv("COURSE_PROFILE", name)
        assert profile.pick(smoke=1, standard=2, full=3) == expected
