"""The contract every exercise keeps, checked for every ``course_utils/exercises/exNN.py``
found (a new notebook's module is picked up by its name alone):

- its reference answer, ``solutions/exNN.py``'s attribute named like the exercise (the
  checker's name without ``check_``), is accepted;
- a stub (a function or method that raises ``NotImplementedError``, or ``None``) is "not
  attempted": the checker prints the nudge, and only the nudge, and returns ``False``;
- its hints have at least three tiers (a nudge, a key idea, a recipe), all different;
- one wrong attempt gets the next tier and never the recipe, and the recipe comes with
  the third;
- the notebook (or notebooks) with its number sets the exercise.

The planted wrong answers of each exercise, which need knowing the exercise, are in
``tests/test_exercises_NN.py``.
"""

import importlib
import inspect
import pkgutil
import re
from pathlib import Path

import pytest

import course_utils.exercises as exercises_package
from course_utils.exercises import RECIPE_AFTER, ExerciseError, checkers_of

ROOT = Path(__file__).resolve().parent.parent
MODULES = sorted(m.name for m in pkgutil.iter_modules(exercises_package.__path__) if re.fullmatch(r"ex\d\d", m.name))
EXERCISES = [(name, exercise) for name in MODULES
             for exercise in sorted(checkers_of(importlib.import_module(f"course_utils.exercises.{name}")))]


def test_the_exercise_modules_are_found():
    assert MODULES[:13] == [f"ex{n:02d}" for n in range(1, 14)], MODULES
    assert all(len(checkers_of(importlib.import_module(f"course_utils.exercises.{m}"))) >= 2 for m in MODULES)


@pytest.fixture(params=EXERCISES, ids=[f"{m}.{e}" for m, e in EXERCISES])
def exercise(request):
    """(exercise module, checker, reference answer), the checker's hint state fresh before and after."""
    name, exercise = request.param
    module = importlib.import_module(f"course_utils.exercises.{name}")
    try:
        solutions = importlib.import_module(f"solutions.{name}")
    except ModuleNotFoundError:
        pytest.fail(f"course_utils/exercises/{name}.py has no solutions/{name}.py")
    if not hasattr(solutions, exercise):
        pytest.fail(f"solutions/{name}.py has no answer for exercise {exercise!r}: define `{exercise} = ...` "
                    f"(the checker's name without check_)")
    check = checkers_of(module)[exercise]
    check.reset()
    yield module, check, getattr(solutions, exercise)
    check.reset()


def _raiser(error):
    def raises(*args, **kwargs):
        raise error

    return raises


def stub_like(answer):
    """What a notebook hands the checker before the learner starts: a function or a class whose
    own methods raise NotImplementedError, or None for a value (a dict of None for a dict)."""
    if inspect.isclass(answer):
        own = {k: _raiser(NotImplementedError()) for k, v in vars(answer).items() if inspect.isfunction(v)}
        return type(f"Stub{answer.__name__}", answer.__bases__, own)
    if callable(answer):
        return _raiser(NotImplementedError())
    if isinstance(answer, dict):
        return dict.fromkeys(answer)
    return None


def wrong_like(answer):
    """An attempt that is certainly wrong: code that fails, or a value of no use."""
    if inspect.isclass(answer):
        own = {k: _raiser(RuntimeError("a planted wrong answer")) for k, v in vars(answer).items()
               if inspect.isfunction(v)}
        return type(f"Wrong{answer.__name__}", answer.__bases__, own)
    if callable(answer):
        return _raiser(RuntimeError("a planted wrong answer"))
    return object()


def test_the_solution_is_accepted(exercise, capsys):
    _, check, answer = exercise
    assert check(answer) is True
    assert "correct" in capsys.readouterr().out


def test_a_stub_is_not_attempted_and_sees_only_the_nudge(exercise, capsys):
    module, check, answer = exercise
    assert check(stub_like(answer)) is False
    out = capsys.readouterr().out
    assert f"Exercise '{check.exercise.replace('_', ' ')}' not attempted yet. Hint: {check.hints[0]}" in out
    for tier in check.hints[1:]:
        assert tier not in out, "a stub must see the nudge, nothing more"
    assert check(None) is False, "None counts as not attempted too"


def test_three_hint_tiers_at_least_all_different(exercise):
    _, check, _ = exercise
    assert len(check.hints) >= 3, "a nudge, a key idea, a recipe"
    assert len(set(check.hints)) == len(check.hints)
    assert all(len(t.split()) >= 5 for t in check.hints), "each tier says something"


def test_one_wrong_attempt_never_shows_the_recipe(exercise, capsys):
    module, check, answer = exercise
    check(stub_like(answer))  # the notebook showed the nudge
    with pytest.raises(ExerciseError) as first:
        check(wrong_like(answer))
    assert f"Hint 2 of {len(check.hints)}: {check.hints[1]}" in str(first.value)
    assert check.hints[-1] not in str(first.value), "the recipe after a single wrong attempt"
    for _ in range(RECIPE_AFTER - 2):
        with pytest.raises(ExerciseError) as again:
            check(wrong_like(answer))
        assert check.hints[-1] not in str(again.value)
    if len(check.hints) == 3:
        with pytest.raises(ExerciseError, match=re.escape(f"Hint 3 of 3: {check.hints[-1]}")):
            check(wrong_like(answer))


def test_the_hint_function_knows_the_exercise_and_keeps_the_recipe_for_last(exercise, capsys):
    module, check, _ = exercise
    last = len(check.hints)
    for level in range(1, last):
        module.hint(check.exercise)
        assert check.hints[level - 1] in capsys.readouterr().out
    module.hint(check.exercise)
    assert check.hints[-1] not in capsys.readouterr().out
    module.hint(check.exercise, level=last)
    assert check.hints[-1] in capsys.readouterr().out


def test_the_notebook_sets_the_exercise(exercise):
    module, check, _ = exercise
    number = module.__name__[-2:]
    sources = sorted((ROOT / "notebooks").glob(f"{number}_*.py"))
    assert sources, f"no notebooks/{number}_*.py for {module.__name__}"
    text = "\n".join(p.read_text() for p in sources)
    assert f"ex{number}.check_{check.exercise}(" in text, (
        f"no notebook {number} calls ex{number}.check_{check.exercise}: an exercise nobody is set")
