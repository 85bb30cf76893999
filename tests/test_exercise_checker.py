import pytest
import torch

from course_utils.exercises import ExerciseError, checker, expect


@checker(hint="multiply every element by two")
def check_double(fn):
    x = torch.arange(5.0)
    expect(fn(x), 2 * x, "double(arange(5))")


def stub(x):
    raise NotImplementedError


def test_unattempted_prints_the_hint_and_does_not_fail(capsys):
    assert check_double(stub) is False
    assert check_double(None) is False
    assert "Hint: multiply every element by two" in capsys.readouterr().out


def test_right_answer_is_accepted(capsys):
    assert check_double(lambda x: x * 2) is True
    assert "correct" in capsys.readouterr().out


def test_wrong_answer_raises_a_useful_error():
    with pytest.raises(ExerciseError, match=r"double\(arange\(5\)\).*Max abs error"):
        check_double(lambda x: x + 2)


def test_crashing_answer_is_reported_as_such():
    with pytest.raises(ExerciseError, match="raised ZeroDivisionError"):
        check_double(lambda x: 1 / 0)
