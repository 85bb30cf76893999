"""Checkers for notebook 11 (the ResNet paper's CIFAR-10 experiments)."""

import torch

from course_utils.accounting import count_params
from course_utils.exercises import ExerciseError, NotAttempted, as_int, checker, hint_function
from course_utils.experiments.config import Recipe
from course_utils.models.resnet import resnet_cifar


@checker(hint=(
    "With batches k times larger, how many steps make an epoch, and how far does one step move the weights "
    "compared with k steps on the small batches?",
    "Keep the schedule in images: each drop and the end come after as many images as in the paper, so in steps "
    "they shrink by the factor k. And one step on a k times larger batch should move the weights about as far as "
    "k small steps did: each small step adds the learning rate times an average gradient, so the large step "
    "needs a k times larger learning rate (Goyal et al. 2017's linear scaling rule). Momentum and weight decay "
    "stay as they are.",
    "k = batch_size / 128; dataclasses.replace(Recipe(), batch_size=batch_size, lr=0.1 * k, milestones="
    "tuple(round(m / k) for m in (32_000, 48_000)), iterations=round(64_000 / k)).",
))
def check_recipe_for_batch(recipe_for_batch):
    """``recipe_for_batch(batch_size)`` -> the paper's ``Recipe`` for batches of ``batch_size``: the same images
    before each drop and the end, the learning rate scaled linearly with the batch."""
    paper = Recipe()
    for batch in (128, 256, 1024, 64, 512, 96):
        got = recipe_for_batch(batch)
        if got is None:
            raise NotAttempted()
        if not isinstance(got, Recipe):
            raise ExerciseError(f"recipe_for_batch({batch}) should return a Recipe (dataclasses.replace(Recipe(), "
                                f"...) changes some of its fields), got {type(got).__name__}")
        if got.batch_size != batch:
            raise ExerciseError(f"recipe_for_batch({batch}) has batch_size={got.batch_size}")
        if len(got.milestones) != len(paper.milestones):
            raise ExerciseError(f"the paper drops the learning rate twice; recipe_for_batch({batch}) has "
                                f"milestones {got.milestones}")
        images = [m * paper.batch_size for m in (*paper.milestones, paper.iterations)]  # images seen by each
        for name, steps, seen in zip(("first drop", "second drop", "end"), (*got.milestones, got.iterations),
                                     images):
            if abs(steps * batch - seen) > batch:  # within one step of the same number of images
                raise ExerciseError(
                    f"with batches of {batch}, your {name} at iteration {steps:,} comes after {steps * batch:,} "
                    f"images; the paper's comes after {seen:,} images (iteration {seen // paper.batch_size:,} "
                    f"with batches of {paper.batch_size})")
        expected_lr = paper.lr * batch / paper.batch_size
        if abs(got.lr - expected_lr) > 1e-9 * expected_lr:
            raise ExerciseError(f"with batches of {batch} your learning rate is {got.lr:g}; the linear scaling "
                                f"rule gives {expected_lr:g} (the paper's {paper.lr:g} for batches of "
                                f"{paper.batch_size})")
        for name in ("momentum", "weight_decay", "lr_decay"):
            if getattr(got, name) != getattr(paper, name):
                raise ExerciseError(f"recipe_for_batch({batch}) changes {name} to {getattr(got, name)!r}; the rule "
                                    f"changes only the learning rate and the schedule (the paper: "
                                    f"{getattr(paper, name)!r})")


def _option_b_reference(depth, width):
    with torch.device("meta"):  # shapes only
        return count_params(resnet_cifar(depth, shortcut="B", width=width))


@checker(hint=(
    "Start from option A's network: what does option B add, and at which blocks does the shape change?",
    "Option B differs from option A only where a stage starts with more channels (16 -> 32 and 32 -> 64): there "
    "a 1x1 convolution and its batch norm replace the zero padding. Everything else is option A's network at "
    "the given width: convolutions without bias, a scale and a shift per batch-norm channel, the stem, and the "
    "dense layer with its biases.",
    "n = (depth - 2) // 6; c1, c2, c3 = max(1, round(16 * width)), ... for 16, 32, 64; conv_bn(c_in, c_out, k) = "
    "c_in * c_out * k * k + 2 * c_out; total = conv_bn(3, c1, 3) + per stage (c_in -> c): 2 conv_bn 3x3 for each "
    "of its n blocks (the first reading c_in), plus conv_bn(c_in, c, 1) where c_in != c; then + c3 * 10 + 10.",
))
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


@checker(hint=(
    "Three explanations: for each, what would the two training-error curves and the two test-error curves look "
    "like at the end of training?",
    "Degradation is about fitting: the deeper network ends with the higher training error, whatever the test "
    "error says. Only when the deeper network fits its training images at least as well does the test error "
    "tell overfitting (its test error higher) from deeper is better. Read the ends of the curves, not the starts.",
    "if deep['train_error'][-1] > shallow['train_error'][-1]: return 'degradation'; if deep['test_error'][-1] > "
    "shallow['test_error'][-1]: return 'overfitting'; return 'deeper is better'.",
))
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


hint = hint_function(__name__)
