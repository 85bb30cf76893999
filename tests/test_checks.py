import numpy as np
import pytest
import torch

from course_utils import checks


def test_assert_close_accepts_equal_and_nearly_equal():
    x = torch.randn(3, 4)
    checks.assert_close(x, x.clone())
    checks.assert_close(x, x + 1e-8)
    checks.assert_close(np.ones(3), [1.0, 1.0, 1.0])
    checks.assert_close(torch.tensor([float("inf"), float("nan")]), torch.tensor([float("inf"), float("nan")]))


def test_assert_close_message_gives_errors_and_location():
    expected = torch.zeros(2, 3)
    actual = expected.clone()
    actual[1, 2] = 0.5
    with pytest.raises(AssertionError) as err:
        checks.assert_close(actual, expected, msg="my conv")
    text = str(err.value)
    assert text.startswith("my conv")
    assert "Max abs error 0.5 at index (1, 2)" in text
    assert "1 of 6 elements" in text


def test_assert_close_rejects_shape_mismatch_and_nan():
    with pytest.raises(AssertionError, match=r"shape mismatch: actual \(2, 3\) vs expected \(3, 2\)"):
        checks.assert_close(torch.zeros(2, 3), torch.zeros(3, 2))
    with pytest.raises(AssertionError, match="NaN"):
        checks.assert_close(torch.tensor([float("nan")]), torch.tensor([0.0]))


def test_numerical_gradient_matches_the_derivative():
    x = np.linspace(-2, 2, 7)
    grad = checks.numerical_gradient(lambda v: np.sum(v**3), x)
    np.testing.assert_allclose(grad, 3 * x**2, rtol=1e-6)
    t = torch.linspace(-2, 2, 5, dtype=torch.float64)
    grad_t = checks.numerical_gradient(lambda: (t.sin()).sum(), t)  # closure form
    assert isinstance(grad_t, torch.Tensor)
    torch.testing.assert_close(grad_t, t.cos(), rtol=1e-6, atol=1e-8)


def test_relative_error():
    assert checks.relative_error(torch.ones(3), torch.ones(3)) == 0
    assert checks.relative_error([1.0, 2.0], [1.0, 2.2]) == pytest.approx(0.2 / 2.2)


class _WrongSquare(torch.autograd.Function):
    """x**2 with a planted wrong backward (forgets the factor 2)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * x


def test_grad_check_passes_right_and_catches_wrong_gradients():
    x, w = torch.randn(3, 4), torch.randn(4, 2)
    assert checks.grad_check(lambda a, b: torch.tanh(a @ b), x, w) < 1e-7
    with pytest.raises(AssertionError, match="input 0"):
        checks.grad_check(_WrongSquare.apply, torch.randn(5))

