"""Notebook 04's checkers accept the reference solutions, reject wrong answers
and report stubs as not attempted."""

import pytest
import torch
from torch import nn

from course_utils.exercises import ExerciseError, ex04
from solutions import ex04 as sol


def stub(*args):
    raise NotImplementedError


@pytest.mark.parametrize("check,answer", [
    (ex04.check_stable_log_softmax, sol.stable_log_softmax),
    (ex04.check_nll_from_indices, sol.nll_from_indices),
    (ex04.check_cross_entropy_grad, sol.cross_entropy_grad),
    (ex04.check_gap_head, sol.make_gap_head),
])
def test_solution_accepted_and_stub_not_attempted(check, answer, capsys):
    assert check(answer) is True
    assert "correct" in capsys.readouterr().out
    assert check(stub) is False
    assert "not attempted" in capsys.readouterr().out


def naive_log_softmax(z):
    return (z.exp() / z.exp().sum(dim=1, keepdim=True)).log()


def one_hot_sum(log_probs, targets):
    return -(log_probs * nn.functional.one_hot(targets, log_probs.shape[1])).sum()  # sum, not mean


def grad_without_mean(logits, targets):
    return sol.cross_entropy_grad(logits, targets) * len(targets)


def flatten_head(in_channels, num_classes):
    return nn.Sequential(nn.Flatten(), nn.Linear(in_channels * 49, num_classes))


def max_head(in_channels, num_classes):
    return nn.Sequential(nn.AdaptiveMaxPool2d(1), nn.Flatten(), nn.Linear(in_channels, num_classes))


def position_head(in_channels, num_classes):
    """Right size, but weighs the top-left pixel: not an average."""
    class Head(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(in_channels, num_classes)

        def forward(self, x):
            return self.fc(x[:, :, 0, 0] + x.mean(dim=(2, 3)))

    return Head()


@pytest.mark.parametrize("check,wrong,match", [
    (ex04.check_stable_log_softmax, naive_log_softmax, "overflow"),
    (ex04.check_stable_log_softmax, lambda z: torch.log_softmax(z, dim=0), "ordinary logits"),
    (ex04.check_nll_from_indices, one_hot_sum, "mean"),
    (ex04.check_cross_entropy_grad, grad_without_mean, "gradient"),
    (ex04.check_gap_head, flatten_head, "parameters"),
    (ex04.check_gap_head, position_head, "shuffling"),
    (ex04.check_gap_head, max_head, "mean"),
    (ex04.check_gap_head, lambda c, k: "not a module", "nn.Module"),
])
def test_wrong_answers_rejected(check, wrong, match):
    with pytest.raises(ExerciseError, match=match):
        check(wrong)

