"""Exercise checkers, with hints in tiers.

A checker takes the learner's answer (usually a function) and decides:

- not attempted (the stub raises ``NotImplementedError`` or the answer is
  ``None`` / ``...``): prints the first hint, a nudge, and returns ``False``,
  so a notebook with unattempted exercises still runs to the end;
- wrong: raises :class:`ExerciseError` with a message that says what differs,
  followed by the next hint not shown yet (after the nudge, the more concrete
  ones, the last being the recipe);
- right: prints a confirmation and returns ``True``.

Hints come in tiers so that a saved notebook, whose exercises are stubs,
shows only nudges: ``hint=("a nudge", "a recipe")`` gives two. A learner asks
for the next tier with the exercise module's ``hint`` function, e.g.
``ex04.hint("gap_head")`` (the next tier not shown yet) or
``ex04.hint("gap_head", level=2)``.

Write a checker like this (in ``course_utils/exercises/exNN.py``)::

    @checker(hint=("Each output is a sum of products: of what?",
                   "out[i, j] = (x[i:i + kh, j:j + kw] * k).sum() for every (i, j) where the kernel fits."))
    def check_corr2d(corr2d):
        x, k = torch.randn(5, 6), torch.randn(2, 3)
        expect(corr2d(x, k), F.conv2d(x[None, None], k[None, None])[0, 0], "corr2d(x, k)")

    hint = hint_function(__name__)  # at the end of the module: exNN.hint(name, level=None)
"""

import functools
import sys

import torch

from course_utils.checks import assert_close


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
    if not tiers or not all(isinstance(t, str) and t.strip() for t in tiers):
        raise ValueError("hint must be a non-empty string or a sequence of them (a nudge first, the recipe last)")
    return tiers


def checker(hint):
    """Decorate a checking function ``fn(answer, ...)`` (see the module docstring).

    ``hint`` is one string or a sequence of tiers, a nudge first and the
    recipe last. The wrapper keeps ``hints`` (the tiers) and ``shown`` (how
    many have been shown so far in this session); ``reset()`` forgets them.
    """
    tiers = _tiers(hint)

    def decorate(fn):
        name = fn.__name__.removeprefix("check_")
        title = name.replace("_", " ")

        def more():
            if wrapper.shown < len(tiers):
                module = wrapper.__module__.rsplit(".", 1)[-1]  # e.g. ex04
                return f" (stuck? {module}.hint({name!r}) shows hint {wrapper.shown + 1} of {len(tiers)})"
            return ""

        def not_attempted():
            wrapper.shown = max(wrapper.shown, 1)
            print(f"Exercise '{title}' not attempted yet. Hint: {tiers[0]}{more()}")
            return False

        def wrong(message):
            level = min(wrapper.shown + 1, len(tiers))
            wrapper.shown = max(wrapper.shown, level)
            return ExerciseError(f"{message}\nHint {level} of {len(tiers)}: {tiers[level - 1]}")

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

        wrapper.hints = tiers
        wrapper.hint = tiers[0]
        wrapper.shown = 0
        wrapper.reset = reset
        wrapper.exercise = name
        return wrapper

    return decorate


def hint_function(module_name):
    """The ``hint(name, level=None)`` function of an exercise module.

    ``hint("gap_head")`` prints the next tier of that exercise's hints not
    shown yet; ``hint("gap_head", level=2)`` prints tier 2. The last tier is
    the recipe.
    """

    def checkers():
        module = sys.modules[module_name]
        return {f.exercise: f for f in vars(module).values() if callable(f) and hasattr(f, "exercise")}

    def hint(name, level=None):
        found = checkers()
        check = found.get(str(name).removeprefix("check_"))
        if check is None:
            raise ValueError(f"no exercise named {name!r} here; the exercises are: {', '.join(sorted(found))}")
        tiers = check.hints
        if level is None:
            level = min(check.shown + 1, len(tiers))
        if not isinstance(level, int) or not 1 <= level <= len(tiers):
            raise ValueError(f"exercise {name!r} has hints 1 to {len(tiers)}; got level={level!r}")
        check.shown = max(check.shown, level)
        last = " (the last one)" if level == len(tiers) else ""
        print(f"Hint {level} of {len(tiers)}{last} for '{check.exercise.replace('_', ' ')}': {tiers[level - 1]}")

    hint.__doc__ = (f"Print a hint for an exercise of {module_name.rsplit('.', 1)[-1]}: hint(name) gives the next "
                    "tier not shown yet, hint(name, level=k) tier k (1 is a nudge, the last the recipe).")
    return hint
