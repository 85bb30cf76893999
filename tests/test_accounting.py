"""course_utils.accounting: parameter and multiply-add counts against hand formulas."""

import pytest
import torch
from torch import nn

from course_utils import accounting


def test_count_params_matches_hand_formula():
    model = nn.Sequential(nn.Conv2d(3, 8, 5), nn.Linear(10, 4), nn.BatchNorm2d(8))
    expected = (5 * 5 * 3 + 1) * 8 + (10 * 4 + 4) + 2 * 8
    assert accounting.count_params(model) == expected
    model[1].weight.requires_grad_(False)
    assert accounting.count_params(model, trainable_only=True) == expected - 40


def test_count_params_asks_for_a_forward_pass_on_lazy_layers():
    with pytest.raises(ValueError, match="forward pass"):
        accounting.count_params(nn.LazyLinear(3))


@pytest.mark.parametrize("c_in, c_out, k, stride, padding, size", [(3, 8, 3, 1, 1, 16), (1, 6, 5, 1, 0, 28),
                                                                    (4, 5, 3, 2, 1, 15)])
def test_count_macs_matches_hand_formula_for_conv(c_in, c_out, k, stride, padding, size):
    conv = nn.Conv2d(c_in, c_out, k, stride=stride, padding=padding)
    out = (size + 2 * padding - k) // stride + 1
    assert accounting.count_macs(conv, (2, c_in, size, size)) == 2 * out * out * k * k * c_in * c_out
    assert accounting.count_macs(conv, (c_in, size, size)) == out * out * k * k * c_in * c_out


def test_count_macs_for_linear_and_layer_table():
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 10))
    rows = accounting.layer_table(model, (1, 8, 8))
    assert [r["type"] for r in rows] == ["Conv2d", "ReLU", "Flatten", "Linear"]
    assert rows[0]["output_shape"] == (4, 6, 6) and rows[3]["output_shape"] == (10,)
    assert rows[0]["macs"] == 6 * 6 * 9 * 4 and rows[3]["macs"] == 144 * 10
    assert rows[3]["params"] == 144 * 10 + 10
    assert sum(r["macs"] for r in rows) == accounting.count_macs(model, (1, 8, 8))
    assert sum(r["params"] for r in rows) == accounting.count_params(model)
    blocks = accounting.layer_table(nn.Sequential(model, nn.Softmax(dim=1)), (1, 8, 8), depth=1)
    assert [r["name"] for r in blocks] == ["0", "1"]
    assert blocks[0]["macs"] == accounting.count_macs(model, (1, 8, 8))


def test_print_layer_table_prints_totals(capsys):
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(2 * 4 * 4, 3))
    accounting.print_layer_table(model, (1, 6, 6))
    out = capsys.readouterr().out
    assert "Conv2d" in out and "total" in out and f"{accounting.count_params(model):,}" in out


def test_counting_runs_in_eval_mode_and_restores_the_mode():
    # In training mode batch norm would update its running statistics (and
    # refuse a batch of one); counting must not change the model.
    model = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3), nn.Dropout(0.5)).train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    assert accounting.count_macs(model, (1, 4)) == 4 * 3
    rows = accounting.layer_table(model, (1, 4))
    assert [r["type"] for r in rows] == ["Linear", "BatchNorm1d", "Dropout"]
    assert all(m.training for m in model.modules())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    model.eval()
    accounting.count_macs(model, (1, 4))
    assert not any(m.training for m in model.modules())
