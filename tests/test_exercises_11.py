"""Notebook 11's checkers accept the reference solutions, reject wrong answers
and report stubs as not attempted."""

import pytest

from course_utils.exercises import ExerciseError, ex11
from solutions import ex11 as sol


def stub(*args):
    raise NotImplementedError


@pytest.mark.parametrize("check,answer", [
    (ex11.check_milestones, sol.milestones_for_batch),
    (ex11.check_option_b_params, sol.option_b_params),
    (ex11.check_diagnosis, sol.diagnose),
])
def test_solution_accepted_and_stub_not_attempted(check, answer, capsys):
    assert check(answer) is True
    assert "correct" in capsys.readouterr().out
    assert check(stub) is False
    assert "not attempted" in capsys.readouterr().out


def milestones_unchanged(batch_size):
    return 32_000, 48_000, 64_000


def milestones_upside_down(batch_size):
    return tuple(round(m * batch_size / 128) for m in (32_000, 48_000, 64_000))


def milestones_two_values(batch_size):
    return sol.milestones_for_batch(batch_size)[:2]


def params_without_projection_bn(depth, width=1.0):
    c2, c3 = (max(1, int(round(c * width))) for c in (32, 64))
    return sol.option_b_params(depth, width) - 2 * c2 - 2 * c3


def params_option_a(depth, width=1.0):
    c1, c2, c3 = (max(1, int(round(c * width))) for c in (16, 32, 64))
    return sol.option_b_params(depth, width) - (c1 * c2 + 2 * c2) - (c2 * c3 + 2 * c3)


def params_projection_everywhere(depth, width=1.0):  # option C: a projection on every block
    n = (depth - 2) // 6
    c1, c2, c3 = (max(1, int(round(c * width))) for c in (16, 32, 64))
    # stage 1 has n blocks of unchanged shape, stages 2 and 3 n - 1 each
    extra = n * (c1 * c1 + 2 * c1) + (n - 1) * (c2 * c2 + 2 * c2) + (n - 1) * (c3 * c3 + 2 * c3)
    return sol.option_b_params(depth, width) + extra


def diagnose_by_test_error(shallow, deep):
    return "overfitting" if deep["test_error"][-1] > shallow["test_error"][-1] else "deeper is better"


def diagnose_at_the_start(shallow, deep):
    first = {k: v[:1] for k, v in shallow.items()}, {k: v[:1] for k, v in deep.items()}
    return sol.diagnose(*first)


@pytest.mark.parametrize("check,wrong,message", [
    (ex11.check_milestones, milestones_unchanged, "batches of 256"),
    (ex11.check_milestones, milestones_upside_down, "the paper's comes after 4,096,000 images"),
    (ex11.check_milestones, milestones_two_values, "three integers"),
    (ex11.check_option_b_params, params_without_projection_bn, "off by -192"),
    (ex11.check_option_b_params, params_option_a, "off by -2,752"),
    (ex11.check_option_b_params, params_projection_everywhere, "should be"),
    (ex11.check_diagnosis, diagnose_by_test_error, "the answer is 'degradation'"),
    (ex11.check_diagnosis, diagnose_at_the_start, "the answer is 'overfitting'"),
    (ex11.check_diagnosis, lambda s, d: "vanishing gradients", "one of"),
])
def test_wrong_answers_rejected(check, wrong, message):
    with pytest.raises(ExerciseError, match=message):
        check(wrong)
