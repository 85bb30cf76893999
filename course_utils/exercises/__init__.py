"""Exercise checkers.

A checker takes the learner's answer (usually a function) and decides:

- not attempted (the stub raises ``NotImplementedError`` or the answer is
  ``None`` / ``...``): prints the hint and returns ``False``, so a notebook
  with unattempted exercises still runs to the end;
- wrong: raises :class:`ExerciseError` with a message that says what differs;
- right: prints a confirmation and returns ``True``.

Write one like this (in ``course_utils/exercises/exNN.py``)::

    @checker(hint="Slide the kernel over the input; each output is a sum of products.")
    def check_corr2d(corr2d):
        x, k = torch.randn(5, 6), torch.randn(2, 3)
        expect(corr2d(x, k), F.conv2d(x[None, None], k[None, None])[0, 0], "corr2d(x, k)")
"""

import functools

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


def checker(hint):
    """Decorate a checking function ``fn(answer, ...)`` (see module docstring)."""

    def decorate(fn):
        title = fn.__name__.removeprefix("check_").replace("_", " ")

        @functools.wraps(fn)
        def wrapper(answer, *args, **kwargs):
            if answer is None or answer is Ellipsis:
                print(f"Exercise '{title}' not attempted yet. Hint: {hint}")
                return False
            try:
                fn(answer, *args, **kwargs)
            except (NotImplementedError, NotAttempted):
                print(f"Exercise '{title}' not attempted yet. Hint: {hint}")
                return False
            except ExerciseError:
                raise
            except AssertionError as err:
                raise ExerciseError(f"Exercise '{title}': {err}") from None
            except Exception as err:  # the learner's code crashed: say so plainly
                raise ExerciseError(
                    f"Exercise '{title}': your answer raised {type(err).__name__}: {err}") from err
            print(f"Exercise '{title}': correct!")
            return True

        wrapper.hint = hint
        return wrapper

    return decorate
