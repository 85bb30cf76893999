import json

from course_utils import results


def test_record_prints_stores_and_loads(tmp_data_dir, monkeypatch, capsys):
    monkeypatch.setenv("COURSE_PROFILE", "smoke")
    results.record("06", "lenet_acc", 0.9012345, params=61706)
    results.record("06", "other", 3)
    results.record("07", "alexnet_acc", 0.91)
    out = capsys.readouterr().out
    assert "Key result: lenet_acc = 0.9012 (params=61706)" in out
    stored = results.load("06")
    assert stored["lenet_acc"]["value"] == 0.9012345
    assert stored["lenet_acc"]["params"] == 61706 and stored["lenet_acc"]["profile"] == "smoke"
    assert set(results.load()) == {"06", "07"}
    assert json.loads((results.results_dir() / "07.json").read_text())["alexnet_acc"]["value"] == 0.91
    assert results.load("99") == {}


def test_profiles_keep_separate_results(tmp_data_dir, monkeypatch):
    monkeypatch.setenv("COURSE_PROFILE", "standard")
    results.record("06", "lenet_acc", 0.905)
    monkeypatch.setenv("COURSE_PROFILE", "smoke")
    results.record("06", "lenet_acc", 0.6)  # a smoke run must not overwrite the standard figure
    assert results.load("06")["lenet_acc"]["value"] == 0.6
    assert results.load("06", profile_name="standard")["lenet_acc"]["value"] == 0.905
    assert results.results_dir().name == "smoke" and results.results_dir("full").name == "full"


def test_record_training_stores_the_comparison_figures(tmp_data_dir, monkeypatch):
    from torch import nn

    from course_utils.train import EpochStats, History

    monkeypatch.setenv("COURSE_PROFILE", "smoke")
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.Flatten(), nn.Linear(4 * 6 * 6, 10))
    history = History([
        EpochStats(1, 2.0, 100.0, 0.1, {"train_loss": 1.0, "train_acc": 0.5, "test_loss": 1.1, "test_acc": 0.61234}),
        EpochStats(2, 4.0, 300.0, 0.1, {"train_loss": 0.5, "train_acc": 0.8, "test_loss": 0.6, "test_acc": 0.85678}),
    ])

    class Sized:  # what record_training reads of a batch iterator
        def __init__(self, n):
            self.num_examples = n

    results.record_training("08", "tiny_test_acc", model, history, (1, 1, 8, 8), Sized(600), Sized(100),
                            "tiny net", width=0.5)
    entry = results.load("08")["tiny_test_acc"]
    # by hand: conv 4*1*3*3 + 4 and dense 144*10 + 10 parameters; 4*36*9 + 144*10 multiply-adds
    assert entry["params"] == 40 + 1450 and entry["macs"] == 4 * 36 * 9 + 1440
    assert entry["value"] == 0.8568 and entry["model"] == "tiny net" and entry["width"] == 0.5
    assert entry["seconds_per_epoch"] == 3.0 and entry["examples_per_s"] == 200 and entry["epochs"] == 2
    assert (entry["n_train"], entry["n_test"], entry["input_size"], entry["device"]) == (600, 100, 8, "cpu")
    assert history.mean("test_acc") == (0.61234 + 0.85678) / 2


def test_record_training_after_a_validation_run_takes_the_test_accuracy_measured_once(tmp_data_dir, monkeypatch):
    import pytest
    from torch import nn

    from course_utils.train import EpochStats, History

    monkeypatch.setenv("COURSE_PROFILE", "smoke")
    model = nn.Linear(4, 2)
    history = History([EpochStats(1, 1.5, 10.0, 0.1, {"train_loss": 1.0, "val_loss": 1.2, "val_acc": 0.7}),
                       EpochStats(2, 2.5, 10.0, 0.1, {"train_loss": 0.9, "val_loss": 1.1, "val_acc": 0.75})])

    class Sized:
        num_examples = 10

    with pytest.raises(ValueError, match=r"pass test_acc=evaluate"):
        results.record_training("08", "lin", model, history, (1, 4), Sized(), Sized(), "linear")
    results.record_training("08", "lin", model, history, (1, 4), Sized(), Sized(), "linear", test_acc=0.71234)
    entry = results.load("08")["lin"]
    assert entry["value"] == 0.7123 and entry["val_acc"] == 0.75
    assert entry["train_seconds"] == 4.0 and entry["seconds_per_epoch"] == 2.0
