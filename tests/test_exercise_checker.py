"""The hint mechanism of ``course_utils.exercises``: three tiers at least, the
nudge for a stub, the next tier short of the recipe for a wrong attempt, the
recipe only when asked for or after ``RECIPE_AFTER`` wrong attempts."""

import sys
import types

import pytest
import torch

from course_utils.exercises import RECIPE_AFTER, ExerciseError, checker, expect, hint_function

NUDGE, IDEA, RECIPE = "think about what doubling means", "add x to itself", "return 2 * x"


def make_module():
    """A throwaway exercise module with a three-tier and a four-tier checker."""
    module = types.ModuleType("course_utils.exercises.ex_fake")

    @checker(hint=(NUDGE, IDEA, RECIPE))
    def check_double(fn):
        x = torch.arange(5.0)
        expect(fn(x), 2 * x, "double(arange(5))")

    @checker(hint=("what is one more?", "count on", "count on by one", "return x + 1"))
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


def wrong_message(check, answer=lambda x: x + 2):
    with pytest.raises(ExerciseError) as err:
        check(answer)
    return str(err.value)


def test_fewer_than_three_tiers_are_refused_when_decorating():
    for hint in ("one string", ("a nudge", "a recipe"), ()):
        with pytest.raises(ValueError, match="at least 3 hint tiers"):
            checker(hint=hint)
    with pytest.raises(ValueError, match="non-empty string"):
        checker(hint=("a nudge", " ", "a recipe"))


def test_unattempted_prints_only_the_nudge_and_does_not_fail(ex, capsys):
    assert ex.check_double(stub) is False
    assert ex.check_double(None) is False
    out = capsys.readouterr().out
    assert f"Hint: {NUDGE}" in out
    assert IDEA not in out and RECIPE not in out, "a stub sees the nudge only"
    assert "ex_fake.hint('double') shows hint 2 of 3" in out


def test_right_answer_is_accepted(ex, capsys):
    assert ex.check_double(lambda x: x * 2) is True
    assert "correct" in capsys.readouterr().out


def test_after_the_nudge_a_wrong_answer_gets_the_key_idea_and_never_the_recipe_at_once(ex):
    ex.check_double(stub)  # the nudge was shown
    first = wrong_message(ex.check_double)
    assert "double(arange(5))" in first and "Max abs error" in first, "the message says what differs"
    assert f"Hint 2 of 3: {IDEA}" in first and RECIPE not in first
    assert "the last hint is the recipe: ex_fake.hint('double', level=3)" in first
    for _ in range(RECIPE_AFTER - 2):  # short of the recipe until the RECIPE_AFTER-th wrong attempt
        later = wrong_message(ex.check_double)
        assert f"Hint 2 of 3: {IDEA}" in later and RECIPE not in later
    assert f"Hint 3 of 3: {RECIPE}" in wrong_message(ex.check_double)
    assert f"Hint 3 of 3: {RECIPE}" in wrong_message(ex.check_double), "stays at the recipe"


def test_a_wrong_first_attempt_gets_the_nudge_first(ex):
    assert f"Hint 1 of 3: {NUDGE}" in wrong_message(ex.check_double)
    assert f"Hint 2 of 3: {IDEA}" in wrong_message(ex.check_double)
    assert f"Hint 3 of 3: {RECIPE}" in wrong_message(ex.check_double)  # the third wrong attempt


def test_more_tiers_are_walked_one_per_wrong_attempt_and_the_recipe_still_waits(ex):
    messages = [wrong_message(ex.check_increment) for _ in range(4)]
    assert [m.rsplit("Hint ", 1)[1][:6] for m in messages] == ["1 of 4", "2 of 4", "3 of 4", "4 of 4"]
    ex.check_increment.reset()
    ex.check_increment(stub)
    ex.check_increment(stub)
    assert "Hint 2 of 4" in wrong_message(ex.check_increment)
    assert "Hint 3 of 4" in wrong_message(ex.check_increment)
    assert "Hint 4 of 4: return x + 1" in wrong_message(ex.check_increment)


def test_crashing_answer_is_reported_as_such(ex):
    message = wrong_message(ex.check_double, lambda x: 1 / 0)
    assert "raised ZeroDivisionError" in message and "Hint 1 of 3" in message


def test_hint_function_walks_the_tiers_but_asks_for_the_recipe_by_level(ex, capsys):
    ex.hint("double")
    assert f"Hint 1 of 3 for 'double': {NUDGE}" in capsys.readouterr().out
    ex.hint("check_double")  # the checker's own name works too
    assert f"Hint 2 of 3 for 'double': {IDEA}" in capsys.readouterr().out
    ex.hint("double")
    out = capsys.readouterr().out
    assert RECIPE not in out and "ex_fake.hint('double', level=3) shows it" in out
    ex.hint("double", level=3)
    assert f"Hint 3 of 3 (the recipe) for 'double': {RECIPE}" in capsys.readouterr().out


def test_after_asking_for_the_recipe_a_wrong_answer_repeats_it(ex):
    ex.hint("double", level=3)
    assert f"Hint 3 of 3: {RECIPE}" in wrong_message(ex.check_double)


def test_reset_forgets_tiers_and_attempts(ex):
    for _ in range(RECIPE_AFTER):
        wrong_message(ex.check_double)
    ex.check_double.reset()
    assert (ex.check_double.shown, ex.check_double.attempts) == (0, 0)
    assert f"Hint 1 of 3: {NUDGE}" in wrong_message(ex.check_double)


def test_hint_function_rejects_unknown_names_and_levels(ex):
    with pytest.raises(ValueError, match="the exercises are: double, increment"):
        ex.hint("triple")
    for level in (0, 4, True, "3"):
        with pytest.raises(ValueError, match="hints 1 to 3"):
            ex.hint("double", level=level)
