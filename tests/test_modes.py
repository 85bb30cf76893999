import pytest
from torch import nn

from course_utils.modes import eval_mode


@pytest.mark.parametrize("start_training", [True, False])
def test_eval_mode_switches_every_submodule_and_restores(start_training):
    model = nn.Sequential(nn.Linear(2, 2), nn.Dropout(0.5), nn.BatchNorm1d(2))
    model.train(start_training)
    with eval_mode(model) as m:
        assert m is model and not any(mod.training for mod in model.modules())
    assert all(mod.training == start_training for mod in model.modules())


def test_eval_mode_restores_after_an_error():
    model = nn.Dropout(0.5).train()
    with pytest.raises(RuntimeError), eval_mode(model):
        raise RuntimeError("boom")
    assert model.training
