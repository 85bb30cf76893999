"""Exercise checkers, with hints in tiers: a nudge, a key idea, a recipe.

A checker takes the learner's answer (usually a function) and decides:

- not attempted (the stub raises ``NotImplementedError`` or the answer is
  ``None`` / ``...``): prints tier 1, the nudge, and returns ``False``, so a
  notebook with unattempted exercises runs to the end and its saved outputs
  show nudges only;
- wrong: raises :class:`ExerciseError` with a message that says what differs,
  followed by the next hint tier not shown yet. A wrong attempt never shows
  the recipe until it is the ``RECIPE_AFTER``-th wrong attempt (3): before
  that it stops at the last tier before the recipe;
- right: prints a confirmation and returns ``True``.

Every exercise has at least three tiers (checked when the checker is
decorated), each with its own job:

1. the **nudge**: what to look at (a quantity, a case, a question), never the
   method;
2. the **key idea**: the step that unlocks the exercise, in words, without
   code (more tiers of this kind may follow);
3. the **recipe** (always the last): the method step by step, close to code.

A learner asks for hints with the exercise module's ``hint`` function:
``ex04.hint("concat_pool_head")`` prints the next tier not shown yet, but
never the recipe; the recipe needs asking for it by number,
``ex04.hint("concat_pool_head", level=3)`` (the last level).

Write a checker like this (in ``course_utils/exercises/exNN.py``)::

    @checker(hint=(
        "Each output is a sum of products: of which inputs, with which weights?",
        "Slide the kernel over the image; at each position where it fits, multiply elementwise and add.",
        "out[i, j] = (x[i:i + kh, j:j + kw] * k).sum() for every (i, j) where the kernel fits.",
    ))
    def check_corr2d(corr2d):
        x, k = torch.randn(5, 6), torch.randn(2, 3)
        expect(corr2d(x, k), F.conv2d(x[None, None], k[None, None])[0, 0], "corr2d(x, k)")

    hint = hint_function(__name__)  # at the end of the module: exNN.hint(name, level=None)

and its reference answer in ``solutions/exNN.py`` under the exercise's name
(the checker's name without ``check_``, here ``corr2d``): the contract test
(``tests/test_exercise_contract.py``) finds every ``exNN`` module and checks
each exercise against its solution, a stub, a wrong attempt and its tiers.
"""

import functools
import sys

import torch

from course_utils.checks import assert_close

MIN_TIERS = 3  # a nudge, a key idea, a recipe
RECIPE_AFTER = 3  # the wrong attempt that may show the recipe; earlier ones stop one tier short


class ExerciseError(AssertionError):
    """The answer was attempted but is wrong; the message says how."""


class NotAttempted(Exception):
    """Raised inside a checker to report that the answer is still a stub."""


def expect(actual, expected, what, rtol=1e-5, atol=1e-6):
    """``assert_close`` that raises :class:`ExerciseError` naming ``what``."""
    if actual is None:
        raise NotAttempted()
    try:
        assert_close(actual, expected, rtol=rtol, atol=atol, msg=what)
    except AssertionError as err:
        raise ExerciseError(str(err)) from None


def as_int(value, what):
    """The learner's integer answer: a Python int, an integral float or a
    one-element tensor all count; ``None`` means not attempted."""
    if value is None:
        raise NotAttempted()
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = value.item()
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int):
        raise ExerciseError(f"{what} should be an integer, got {value!r}")
    return value


def _tiers(hint):
    tiers = (hint,) if isinstance(hint, str) else tuple(hint)
    if not all(isinstance(t, str) and t.strip() for t in tiers):
        raise ValueError("each hint tier must be a non-empty string: hint=(nudge, key_idea, recipe)")
    if len(tiers) < MIN_TIERS:
        raise ValueError(f"an exercise needs at least {MIN_TIERS} hint tiers, got {len(tiers)}: "
                         "hint=(nudge (what to look at), key_idea (the step that unlocks it, no code), recipe)")
    return tiers


def checker(hint):
    """Decorate a checking function ``fn(answer, ...)`` (see the module docstring).

    ``hint`` is a sequence of at least three tiers: a nudge first, the recipe
    last. The wrapper keeps ``hints`` (the tiers), ``shown`` (the highest tier
    shown so far in this session) and ``attempts`` (wrong attempts so far);
    ``reset()`` forgets them.
    """
    tiers = _tiers(hint)
    last = len(tiers)

    def decorate(fn):
        name = fn.__name__.removeprefix("check_")
        title = name.replace("_", " ")

        def module():
            return wrapper.__module__.rsplit(".", 1)[-1]  # e.g. ex04

        def pointer():
            """Where the next tier is, if there is one short of the recipe."""
            if wrapper.shown < last - 1:
                return f" (stuck? {module()}.hint({name!r}) shows hint {wrapper.shown + 1} of {last})"
            if wrapper.shown == last - 1:
                return f" (the last hint is the recipe: {module()}.hint({name!r}, level={last}))"
            return ""

        def not_attempted():
            wrapper.shown = max(wrapper.shown, 1)
            print(f"Exercise '{title}' not attempted yet. Hint: {tiers[0]}{pointer()}")
            return False

        def wrong(message):
            wrapper.attempts += 1
            cap = last if wrapper.attempts >= RECIPE_AFTER or wrapper.shown == last else last - 1
            level = min(wrapper.shown + 1, cap)
            wrapper.shown = max(wrapper.shown, level)
            return ExerciseError(f"{message}\nHint {level} of {last}: {tiers[level - 1]}{pointer()}")

        @functools.wraps(fn)
        def wrapper(answer, *args, **kwargs):
            if answer is None or answer is Ellipsis:
                return not_attempted()
            try:
                fn(answer, *args, **kwargs)
            except (NotImplementedError, NotAttempted):
                return not_attempted()
            except ExerciseError as err:
                raise wrong(str(err)) from None
            except AssertionError as err:
                raise wrong(f"Exercise '{title}': {err}") from None
            except Exception as err:  # the learner's code crashed: say so plainly
                raise wrong(f"Exercise '{title}': your answer raised {type(err).__name__}: {err}") from err
            print(f"Exercise '{title}': correct!")
            return True

        def reset():
            wrapper.shown = 0
            wrapper.attempts = 0

        wrapper.hints = tiers
        wrapper.hint = tiers[0]
        wrapper.shown = 0
        wrapper.attempts = 0
        wrapper.reset = reset
        wrapper.exercise = name
        return wrapper

    return decorate


def checkers_of(module):
    """The checkers an exercise module defines, by exercise name."""
    return {f.exercise: f for f in vars(module).values() if callable(f) and hasattr(f, "exercise")}


def hint_function(module_name):
    """The ``hint(name, level=None)`` function of an exercise module.

    ``hint("gap_head")`` prints the next tier of that exercise's hints not
    shown yet, short of the recipe; ``hint("gap_head", level=k)`` prints
    tier k. The recipe, the last tier, is shown only when asked for by its
    level.
    """

    def hint(name, level=None):
        found = checkers_of(sys.modules[module_name])
        check = found.get(str(name).removeprefix("check_"))
        if check is None:
            raise ValueError(f"no exercise named {name!r} here; the exercises are: {', '.join(sorted(found))}")
        tiers, title = check.hints, check.exercise.replace("_", " ")
        last = len(tiers)
        if level is None:
            if check.shown >= last - 1:
                module = module_name.rsplit(".", 1)[-1]
                print(f"You have seen hints 1 to {check.shown} of {last} for '{title}'. The last one is the recipe: "
                      f"{module}.hint({check.exercise!r}, level={last}) shows it.")
                return
            level = check.shown + 1
        if not isinstance(level, int) or isinstance(level, bool) or not 1 <= level <= last:
            raise ValueError(f"exercise {name!r} has hints 1 to {last} (the last is the recipe); got level={level!r}")
        check.shown = max(check.shown, level)
        kind = " (the recipe)" if level == last else ""
        print(f"Hint {level} of {last}{kind} for '{title}': {tiers[level - 1]}")

    hint.__doc__ = (f"Print a hint for an exercise of {module_name.rsplit('.', 1)[-1]}: hint(name) gives the next "
                    "tier not shown yet short of the recipe, hint(name, level=k) tier k (1 is a nudge, 2 the key "
                    "idea, the last the recipe).")
    return hint
