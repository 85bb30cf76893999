"""Notebook 11's checkers reject planted wrong answers, each with a message that
says what differs (the contract every exercise keeps is tests/test_exercise_contract.py)."""

import dataclasses

import pytest

from course_utils.exercises import ExerciseError, ex11
from course_utils.experiments.config import Recipe
from solutions import ex11 as sol


def recipe_schedule_only(batch_size):  # the same images, the paper's learning rate
    return dataclasses.replace(sol.recipe_for_batch(batch_size), lr=Recipe().lr)


def recipe_lr_only(batch_size):  # the learning rate scaled, the schedule left in the paper's steps
    return dataclasses.replace(Recipe(), batch_size=batch_size, lr=0.1 * batch_size / 128)


def recipe_square_root_rule(batch_size):
    return dataclasses.replace(sol.recipe_for_batch(batch_size), lr=0.1 * (batch_size / 128) ** 0.5)


def recipe_scales_weight_decay_too(batch_size):
    recipe = sol.recipe_for_batch(batch_size)
    return dataclasses.replace(recipe, weight_decay=recipe.weight_decay * batch_size / 128)


def recipe_as_a_tuple(batch_size):
    recipe = sol.recipe_for_batch(batch_size)
    return recipe.lr, *recipe.milestones, recipe.iterations


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
    (ex11.check_recipe_for_batch, recipe_schedule_only, "linear scaling rule gives 0.2"),
    (ex11.check_recipe_for_batch, recipe_lr_only, "the paper's comes after 4,096,000 images"),
    (ex11.check_recipe_for_batch, recipe_square_root_rule, "linear scaling rule gives 0.2"),
    (ex11.check_recipe_for_batch, recipe_scales_weight_decay_too, "changes weight_decay"),
    (ex11.check_recipe_for_batch, recipe_as_a_tuple, "should return a Recipe"),
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
