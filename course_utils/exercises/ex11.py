"""Checkers for notebook 11 (the ResNet paper's CIFAR-10 experiments)."""

import torch

from course_utils.accounting import count_params
from course_utils.exercises import ExerciseError, NotAttempted, as_int, checker
from course_utils.experiments.config import Recipe
from course_utils.models.resnet import resnet_cifar


@checker(hint="The paper's schedule counts steps of 128 images. Keep the number of images seen before each "
              "drop (and before the end) the same: how many steps of batch_size images is that?")
def check_milestones(milestones_for_batch):
    """``milestones_for_batch(batch_size)`` -> ``(first drop, second drop, end)`` in iterations."""
    paper = Recipe()
    for batch in (128, 256, 64, 512, 100, 96):
        got = milestones_for_batch(batch)
        if got is None:
            raise NotAttempted()
        try:
            got = tuple(as_int(v, f"milestones_for_batch({batch})") for v in got)
        except TypeError:
            raise ExerciseError(f"milestones_for_batch({batch}) should return three integers, got {got!r}") from None
        if len(got) != 3:
            raise ExerciseError(f"milestones_for_batch({batch}) should return three integers "
                                f"(first drop, second drop, end), got {len(got)}")
        images = [m * paper.batch_size for m in (*paper.milestones, paper.iterations)]  # images seen by each
        for name, steps, seen in zip(("first drop", "second drop", "end"), got, images):
            if abs(steps * batch - seen) > batch:  # within one step of the same number of images
                raise ExerciseError(
                    f"with batches of {batch}, your {name} at iteration {steps:,} comes after {steps * batch:,} "
                    f"images; the paper's comes after {seen:,} images (iteration {seen // paper.batch_size:,} "
                    f"with batches of {paper.batch_size})")


def _option_b_reference(depth, width):
    with torch.device("meta"):  # shapes only
        return count_params(resnet_cifar(depth, shortcut="B", width=width))


@checker(hint="Option A's network plus, where a stage starts (16->32 and 32->64 channels), a 1x1 convolution "
              "with C_in * C_out weights and a batch norm with 2 * C_out parameters. Convolutions have no "
              "bias; each batch norm has a scale and a shift per channel; the last layer has 10 biases.")
def check_option_b_params(option_b_params):
    """``option_b_params(depth, width)`` -> parameters of the CIFAR ResNet with option B shortcuts."""
    for depth, width in ((20, 1.0), (32, 1.0), (56, 1.0), (110, 1.0), (20, 0.5), (8, 0.25), (14, 2.0)):
        expected = _option_b_reference(depth, width)
        got = as_int(option_b_params(depth, width), f"option_b_params({depth}, {width})")
        if got != expected:
            raise ExerciseError(f"option_b_params({depth}, {width}) should be {expected:,}, got {got:,} "
                                f"(off by {got - expected:+,})")


ANSWERS = ("degradation", "overfitting", "deeper is better")


def _curves(train, test):
    return {"train_error": list(train), "test_error": list(test)}


# (shallow, deep, answer, why): end values from the paper where it gives them, curves made up around them
DIAGNOSES = [
    (_curves([0.5, 0.2, 0.06, 0.04], [0.5, 0.25, 0.11, 0.10]), _curves([0.6, 0.3, 0.10, 0.08], [0.6, 0.3, 0.14, 0.13]),
     "degradation", "plain-20 vs plain-56 (Figure 6): the deeper net fits its own training set worse"),
    (_curves([0.5, 0.1, 0.01, 0.001], [0.5, 0.15, 0.07, 0.0643]),
     _curves([0.6, 0.1, 0.01, 0.001], [0.6, 0.15, 0.08, 0.0793]),
     "overfitting", "ResNet-110 vs ResNet-1202: same training error, higher test error (the paper's reading)"),
    (_curves([0.5, 0.2, 0.03, 0.02], [0.5, 0.22, 0.09, 0.0875]), _curves([0.6, 0.2, 0.01, 0.005],
                                                                         [0.6, 0.2, 0.07, 0.0697]),
     "deeper is better", "ResNet-20 vs ResNet-56: lower training and test error"),
    (_curves([0.5, 0.3, 0.10], [0.5, 0.3, 0.15]), _curves([0.7, 0.4, 0.08], [0.7, 0.4, 0.13]),
     "deeper is better", "the deeper net starts slower but ends lower: read the end of the curves"),
    (_curves([0.9, 0.4, 0.30], [0.9, 0.4, 0.33]), _curves([0.8, 0.35, 0.35], [0.8, 0.36, 0.32]),
     "degradation", "the deeper net leads early but ends with the higher training error"),
]


@checker(hint="Compare where the curves end. Training error first: if the deeper network fits its own training "
              "images worse, that is not overfitting. Only when it fits them at least as well does the test "
              "error decide between overfitting and deeper is better.")
def check_diagnosis(diagnose):
    """``diagnose(shallow, deep)`` -> "degradation", "overfitting" or "deeper is better"."""
    for shallow, deep, answer, why in DIAGNOSES:
        got = diagnose({k: list(v) for k, v in shallow.items()}, {k: list(v) for k, v in deep.items()})
        if got is None:
            raise NotAttempted()
        if not isinstance(got, str) or got.strip().lower() not in ANSWERS:
            raise ExerciseError(f"diagnose should return one of {ANSWERS}, got {got!r}")
        if got.strip().lower() != answer:
            raise ExerciseError(f"shallow {shallow}, deep {deep}: you said {got!r}; the answer is {answer!r} ({why})")
