import numpy as np
import pytest
import torch
from torch import nn

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


def test_count_params_matches_hand_formula():
    model = nn.Sequential(nn.Conv2d(3, 8, 5), nn.Linear(10, 4), nn.BatchNorm2d(8))
    expected = (5 * 5 * 3 + 1) * 8 + (10 * 4 + 4) + 2 * 8
    assert checks.count_params(model) == expected
    model[1].weight.requires_grad_(False)
    assert checks.count_params(model, trainable_only=True) == expected - 40


def test_count_params_asks_for_a_forward_pass_on_lazy_layers():
    with pytest.raises(ValueError, match="forward pass"):
        checks.count_params(nn.LazyLinear(3))


@pytest.mark.parametrize("c_in, c_out, k, stride, padding, size", [(3, 8, 3, 1, 1, 16), (1, 6, 5, 1, 0, 28),
                                                                    (4, 5, 3, 2, 1, 15)])
def test_count_macs_matches_hand_formula_for_conv(c_in, c_out, k, stride, padding, size):
    conv = nn.Conv2d(c_in, c_out, k, stride=stride, padding=padding)
    out = (size + 2 * padding - k) // stride + 1
    assert checks.count_macs(conv, (2, c_in, size, size)) == 2 * out * out * k * k * c_in * c_out
    assert checks.count_macs(conv, (c_in, size, size)) == out * out * k * k * c_in * c_out


def test_count_macs_for_linear_and_layer_table():
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 10))
    rows = checks.layer_table(model, (1, 8, 8))
    assert [r["type"] for r in rows] == ["Conv2d", "ReLU", "Flatten", "Linear"]
    assert rows[0]["output_shape"] == (4, 6, 6) and rows[3]["output_shape"] == (10,)
    assert rows[0]["macs"] == 6 * 6 * 9 * 4 and rows[3]["macs"] == 144 * 10
    assert rows[3]["params"] == 144 * 10 + 10
    assert sum(r["macs"] for r in rows) == checks.count_macs(model, (1, 8, 8))
    assert sum(r["params"] for r in rows) == checks.count_params(model)
    blocks = checks.layer_table(nn.Sequential(model, nn.Softmax(dim=1)), (1, 8, 8), depth=1)
    assert [r["name"] for r in blocks] == ["0", "1"]
    assert blocks[0]["macs"] == checks.count_macs(model, (1, 8, 8))


def test_print_layer_table_prints_totals(capsys):
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(2 * 4 * 4, 3))
    checks.print_layer_table(model, (1, 6, 6))
    out = capsys.readouterr().out
    assert "Conv2d" in out and "total" in out and f"{checks.count_params(model):,}" in out
