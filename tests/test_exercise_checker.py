import sys
import types

import pytest
import torch

from course_utils.exercises import ExerciseError, checker, expect, hint_function


def make_module():
    """A throwaway exercise module with one two-tier and one one-tier checker."""
    module = types.ModuleType("course_utils.exercises.ex_fake")

    @checker(hint=("think about what doubling means", "return 2 * x"))
    def check_double(fn):
        x = torch.arange(5.0)
        expect(fn(x), 2 * x, "double(arange(5))")

    @checker(hint="add one")
    def check_increment(fn):
        x = torch.arange(5.0)
        expect(fn(x), x + 1, "increment(arange(5))")

    check_double.__module__ = check_increment.__module__ = module.__name__
    module.check_double, module.check_increment = check_double, check_increment
    module.hint = hint_function(module.__name__)
    sys.modules[module.__name__] = module
    return module


@pytest.fixture
def ex():
    module = make_module()
    yield module
    del sys.modules[module.__name__]


def stub(x):
    raise NotImplementedError


def test_unattempted_prints_only_the_nudge_and_does_not_fail(ex, capsys):
    assert ex.check_double(stub) is False
    assert ex.check_double(None) is False
    out = capsys.readouterr().out
    assert "Hint: think about what doubling means" in out
    assert "return 2 * x" not in out, "a stub must not reveal the recipe"
    assert "ex_fake.hint('double') shows hint 2 of 2" in out


def test_a_single_hint_is_shown_whole_with_no_pointer_to_more(ex, capsys):
    assert ex.check_increment(stub) is False
    out = capsys.readouterr().out
    assert "Hint: add one" in out and "stuck?" not in out


def test_right_answer_is_accepted(ex, capsys):
    assert ex.check_double(lambda x: x * 2) is True
    assert "correct" in capsys.readouterr().out


def test_wrong_answer_says_what_differs_then_gives_the_next_tier(ex, capsys):
    ex.check_double(stub)  # the nudge was shown
    with pytest.raises(ExerciseError, match=r"(?s)double\(arange\(5\)\).*Max abs error.*Hint 2 of 2: return 2 \* x"):
        ex.check_double(lambda x: x + 2)


def test_a_wrong_first_attempt_gets_the_nudge_first(ex):
    with pytest.raises(ExerciseError, match="Hint 1 of 2: think about"):
        ex.check_double(lambda x: x + 2)
    with pytest.raises(ExerciseError, match="Hint 2 of 2: return 2"):
        ex.check_double(lambda x: x + 3)
    with pytest.raises(ExerciseError, match="Hint 2 of 2"):  # stays at the last tier
        ex.check_double(lambda x: x + 4)


def test_crashing_answer_is_reported_as_such(ex):
    with pytest.raises(ExerciseError, match="raised ZeroDivisionError"):
        ex.check_double(lambda x: 1 / 0)


def test_hint_function_gives_tiers_on_request(ex, capsys):
    ex.hint("double", level=2)
    assert "Hint 2 of 2 (the last one) for 'double': return 2 * x" in capsys.readouterr().out
    ex.check_double.reset()
    ex.hint("double")  # the next tier not shown yet: the first
    assert "Hint 1 of 2 for 'double': think about" in capsys.readouterr().out
    ex.hint("check_double")  # the checker's own name works too
    assert "Hint 2 of 2" in capsys.readouterr().out


def test_hint_function_rejects_unknown_names_and_levels(ex):
    with pytest.raises(ValueError, match="the exercises are: double, increment"):
        ex.hint("triple")
    with pytest.raises(ValueError, match="hints 1 to 2"):
        ex.hint("double", level=3)


def test_hints_must_be_text():
    with pytest.raises(ValueError, match="nudge first"):
        checker(hint=())
