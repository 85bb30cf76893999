import pytest

from course_utils import budget


def test_training_flops_counts_three_passes_per_training_example_and_one_per_evaluation():
    # ResNet-50: 4.1 GMACs per 224x224 image; 1,000 training and 500 evaluation images, 2 epochs, 3 runs
    flops = budget.training_flops(4.1e9, examples=1_000, epochs=2, eval_examples=500, repeats=3)
    by_hand = 3 * 2 * (2 * 4.1e9 * 3 * 1_000 + 2 * 4.1e9 * 500)
    assert flops == pytest.approx(by_hand)
    assert budget.training_flops(4.1e9, examples=1) == pytest.approx(24.6e9)  # 3 x 8.2 GFLOP


def test_t4_time_is_arithmetic_at_the_stated_rate_plus_a_cost_per_step():
    assert budget.t4_seconds(8e12) == pytest.approx(1.0)
    assert budget.t4_seconds(0, steps=1_000) == pytest.approx(3.0)
    assert budget.t4_seconds(8e12 * 3600, steps=1_200) == pytest.approx(3603.6)
    # NVIDIA's measured T4 rate behind the constant: 1,190 ResNet-50 images/s of inference at 8.2 GFLOP each
    assert 0.5 < budget.T4_TRAIN_FLOPS / (1_190 * 8.2e9) < 1.0


@pytest.mark.parametrize("kwargs", [dict(macs_per_example=-1, examples=1), dict(macs_per_example=1, examples=-5),
                                    dict(macs_per_example=1, examples=1, epochs=-1)])
def test_negative_sizes_are_refused(kwargs):
    with pytest.raises(ValueError, match="must be >= 0"):
        budget.training_flops(**kwargs)
    with pytest.raises(ValueError, match="must be >= 0"):
        budget.t4_seconds(-1)


def test_a_long_run_happens_only_when_asked_for(monkeypatch, capsys):
    monkeypatch.delenv(budget.ENV_VAR, raising=False)
    assert budget.long_run("11-grid", 9.46, "the paper's grid") is False
    said = capsys.readouterr().out
    assert "9.5 h" in said and f"{budget.ENV_VAR}=11-grid" in said and "not running the paper's grid" in said
    monkeypatch.setenv(budget.ENV_VAR, "07-big, 11-grid")
    assert budget.long_run("11-grid", 9.46, "the paper's grid") is True
    assert "running the paper's grid" in capsys.readouterr().out
    assert budget.long_run("11-other", 2, "x") is False
    monkeypatch.setenv(budget.ENV_VAR, "all")
    assert budget.long_run("11-other", 2, "x") is True
    capsys.readouterr()
    monkeypatch.delenv(budget.ENV_VAR)
    assert budget.long_run("11-grid", 0.25, "the grid", where="here (cpu)") is False
    assert "takes about 15 min here (cpu)" in capsys.readouterr().out
    with pytest.raises(ValueError, match="name"):
        budget.long_run("a,b", 1, "x")
