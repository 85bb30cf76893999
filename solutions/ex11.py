"""Reference solutions to notebook 11's exercises."""

import dataclasses

from course_utils.experiments.config import Recipe


def recipe_for_batch(batch_size):
    paper = Recipe()
    k = batch_size / paper.batch_size
    return dataclasses.replace(
        paper, batch_size=batch_size,
        lr=paper.lr * k,  # one step on k times the images ~ k small steps: the linear scaling rule
        milestones=tuple(round(m / k) for m in paper.milestones),  # the same images before each drop
        iterations=round(paper.iterations / k))  # and before the end


def _channels(c, width):
    return max(1, int(round(c * width)))


def option_b_params(depth, width=1.0):
    n = (depth - 2) // 6
    c1, c2, c3 = (_channels(c, width) for c in (16, 32, 64))

    def conv_bn(c_in, c_out, k):  # convolution without bias, then batch norm (scale and shift)
        return c_in * c_out * k * k + 2 * c_out

    def block(c_in, c_out):
        return conv_bn(c_in, c_out, 3) + conv_bn(c_out, c_out, 3)

    total = conv_bn(3, c1, 3)  # the stem
    c_in = c1
    for c_out in (c1, c2, c3):
        total += block(c_in, c_out) + (n - 1) * block(c_out, c_out)
        if c_in != c_out:
            total += conv_bn(c_in, c_out, 1)  # option B: a projection where the shape changes
        c_in = c_out
    return total + c3 * 10 + 10  # the dense layer


def diagnose(shallow, deep):
    if deep["train_error"][-1] > shallow["train_error"][-1]:
        return "degradation"
    if deep["test_error"][-1] > shallow["test_error"][-1]:
        return "overfitting"
    return "deeper is better"


diagnosis = diagnose  # the answer under the exercise's name
