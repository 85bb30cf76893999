"""Notebook 04's checkers reject planted wrong answers, each with a message that
says what differs (the contract every exercise keeps is tests/test_exercise_contract.py)."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course_utils.exercises import ExerciseError, ex04
from solutions import ex04 as sol


def smoothing_off_classes_only(logits, targets, eps):
    """A common misreading: spread e over the K - 1 wrong classes only."""
    k = logits.shape[1]
    q = (1 - eps) * F.one_hot(targets, k).double() + eps / max(k - 1, 1) * (1 - F.one_hot(targets, k).double())
    return -(q * F.log_softmax(logits, dim=1)).sum(dim=1).mean()


def smoothing_with_naive_softmax(logits, targets, eps):
    q = sol.smoothed_target(targets, logits.shape[1], eps).to(logits.dtype)
    p = logits.exp() / logits.exp().sum(dim=1, keepdim=True)
    return -(q * p.log()).sum(dim=1).mean()


def smoothing_summed(logits, targets, eps):
    return sol.smoothed_cross_entropy(logits, targets, eps) * len(targets)


def grad_with_one_hot(logits, targets, eps):  # ignores the smoothing
    return sol.smoothed_cross_entropy_grad(logits, targets, 0.0)


def naive_bce(z, y):
    p = torch.sigmoid(z)
    return -(y * p.log() + (1 - y) * (1 - p).log()).mean()


def bce_sign_flipped(z, y):
    return sol.bce_with_logits(-z, y)


def gap_only_head(in_channels, num_classes):
    return nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(in_channels, num_classes))


def double_mean_head(in_channels, num_classes):  # right size, but the max is missing
    class Head(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(2 * in_channels, num_classes)

        def forward(self, x):
            m = x.mean(dim=(2, 3))
            return self.fc(torch.cat([m, m], 1))

    return Head()


def flatten_head(in_channels, num_classes):
    return nn.Sequential(nn.Flatten(), nn.Linear(in_channels * 49, num_classes))


def max_then_mean_head(in_channels, num_classes):  # the other order is fine too
    class Head(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(2 * in_channels, num_classes)

        def forward(self, x):
            return self.fc(torch.cat([x.amax(dim=(2, 3)), x.mean(dim=(2, 3))], 1))

    return Head()


def test_either_order_of_the_two_summaries_is_accepted():
    assert ex04.check_concat_pool_head(max_then_mean_head) is True


@pytest.mark.parametrize("check,wrong,match", [
    (ex04.check_smoothed_cross_entropy, smoothing_off_classes_only, "smoothing=0.1"),
    (ex04.check_smoothed_cross_entropy, smoothing_with_naive_softmax, "inf or nan"),
    (ex04.check_smoothed_cross_entropy, smoothing_summed, "the loss for"),
    (ex04.check_smoothed_cross_entropy_grad, grad_with_one_hot, "smoothing=0.1"),
    (ex04.check_bce_with_logits, naive_bce, "inf or nan"),
    (ex04.check_bce_with_logits, bce_sign_flipped, "ordinary logits"),
    (ex04.check_concat_pool_head, gap_only_head, "330 parameters"),
    (ex04.check_concat_pool_head, flatten_head, "330 parameters"),
    (ex04.check_concat_pool_head, double_mean_head, "mean and maximum"),
    (ex04.check_concat_pool_head, lambda c, k: "not a module", "nn.Module"),
])
def test_wrong_answers_rejected(check, wrong, match):
    with pytest.raises(ExerciseError, match=match):
        check(wrong)
