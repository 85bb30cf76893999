import functools
import json
import random

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course_utils import checkpoint, data
from course_utils.models import lenet


def toy_dataset(n=120):
    gen = torch.Generator().manual_seed(0)
    labels = torch.arange(n) % 2
    images = torch.randint(0, 255, (n, 1, 8, 8), generator=gen, dtype=torch.uint8)
    return data.ImageDataset("toy", ("a", "b"), images[: n - 40], labels[: n - 40], images[n - 40:], labels[n - 40:])


def sgd_run(lr=0.1, scheduler=None, model=None):
    torch.manual_seed(0)
    model = model or nn.Sequential(nn.Linear(2, 4), nn.ReLU(), nn.Linear(4, 2))
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    sched = scheduler(opt) if scheduler else None
    return model, opt, sched


def test_checkpoint_path_is_per_profile_and_follows_the_variable(tmp_path, monkeypatch):
    monkeypatch.delenv("COURSE_CHECKPOINT_DIR", raising=False)
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("COURSE_PROFILE", "standard")
    assert checkpoint.checkpoint_path("08_vgg11") == tmp_path / "checkpoints" / "standard" / "08_vgg11.pt"
    monkeypatch.setenv("COURSE_CHECKPOINT_DIR", str(tmp_path / "elsewhere"))
    monkeypatch.setenv("COURSE_PROFILE", "smoke")  # a smoke run never resumes a standard one
    assert checkpoint.checkpoint_path("08_vgg11") == tmp_path / "elsewhere" / "smoke" / "08_vgg11.pt"


# ---------------------------------------------------------------- files


def test_save_and_load_round_trip_atomically(tmp_path):
    path = tmp_path / "sub" / "run.pt"
    state = {"weights": torch.arange(6.0).reshape(2, 3), "history": [{"epoch": 1, "loss": 0.5}], "note": None}
    checkpoint.save(path, state)
    assert sorted(p.name for p in path.parent.iterdir()) == ["run.pt"]  # the temporary file was renamed
    loaded = checkpoint.load(path)
    assert torch.equal(loaded["weights"], state["weights"])
    assert loaded["history"] == state["history"] and loaded["note"] is None
    assert loaded["format"] == checkpoint.FORMAT and loaded["version"] == checkpoint.VERSION
    # A newer save replaces the file whole.
    checkpoint.save(path, {"weights": torch.zeros(1)})
    assert "history" not in checkpoint.load(path)


class Planted:
    """An object whose unpickling would create a file: a stand-in for code in a checkpoint."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


@pytest.mark.parametrize("kind", ["garbage", "truncated", "empty", "code", "bare_state_dict", "other_version"])
def test_unreadable_checkpoints_raise_a_clear_error(tmp_path, kind):
    path = tmp_path / "run.pt"
    marker = tmp_path / "code_ran"
    if kind == "garbage":
        path.write_bytes(np.random.default_rng(0).integers(0, 256, 2000, dtype=np.uint8).tobytes())
    elif kind == "truncated":
        checkpoint.save(path, {"weights": torch.randn(100, 100)})
        path.write_bytes(path.read_bytes()[:5000])
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "code":
        torch.save({"format": checkpoint.FORMAT, "version": checkpoint.VERSION, "x": Planted(marker)}, path)
    elif kind == "bare_state_dict":
        torch.save(nn.Linear(2, 2).state_dict(), path)
    else:
        torch.save({"format": checkpoint.FORMAT, "version": 999}, path)
    with pytest.raises(checkpoint.CheckpointError) as caught:
        checkpoint.load(path)
    message = str(caught.value)
    assert str(path) in message and "Delete it to start over" in message
    expected = {"garbage": "not a readable PyTorch file", "truncated": "not a readable PyTorch file",
                "empty": "not a readable PyTorch file", "code": "could run code",
                "bare_state_dict": "not a course_utils checkpoint", "other_version": "version 999"}[kind]
    assert expected in message
    assert not marker.exists(), "loading a checkpoint must never run code from it"


def test_missing_checkpoint_raises(tmp_path):
    with pytest.raises(checkpoint.CheckpointError, match="no checkpoint file"):
        checkpoint.load(tmp_path / "nothing.pt")


def test_rng_states_round_trip_through_a_file(tmp_path):
    checkpoint.save(tmp_path / "rng.pt", {"rng": checkpoint.rng_states()})
    expected = (random.random(), np.random.rand(), torch.rand(3))
    random.seed(123), np.random.seed(123), torch.manual_seed(123)  # disturb every generator
    checkpoint.set_rng_states(checkpoint.load(tmp_path / "rng.pt")["rng"])
    again = (random.random(), np.random.rand(), torch.rand(3))
    assert again[0] == expected[0] and again[1] == expected[1] and torch.equal(again[2], expected[2])


# ---------------------------------------------------------------- a run's identity


def test_run_config_is_json_and_describes_model_optimizer_scheduler_and_data():
    model, opt, sched = sgd_run(scheduler=lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=3, gamma=0.5))
    ds = toy_dataset()
    batches = ds.train_batches(16, device="cpu", augment=data.Augment(crop_padding=2), seed=7, resize=10)
    config = checkpoint.run_config(model, opt, sched, 5, batches, extra={"note": "x"})
    assert json.loads(json.dumps(config)) == config
    assert config["model"]["class"] == "Sequential"
    assert config["model"]["layers"]["1"] == "ReLU()" and config["model"]["shapes"]["0.weight"] == [4, 2]
    (group,) = config["optimizer"]["param_groups"]
    assert config["optimizer"]["class"] == "SGD" and group["momentum"] == 0.9 and group["num_tensors"] == 4
    assert group["initial_lr"] == 0.1 and "lr" not in group  # the scheduler moves lr; its start is the setting
    scheduler = config["scheduler"]  # its class and state_dict(): settings and where the schedule is
    assert scheduler["class"] == "StepLR" and scheduler == checkpoint.describe_scheduler(sched)
    assert (scheduler["step_size"], scheduler["gamma"], scheduler["base_lrs"], scheduler["last_epoch"]) == (
        3, 0.5, [0.1], 0)
    assert config["epochs"] == 5 and config["extra"] == {"note": "x"}
    d = config["data"]
    assert (d["batch_size"], d["num_examples"], d["seed"], d["resize"]) == (16, 80, 7, [10, 10])
    assert d["augment"] == {"crop_padding": 2, "flip": True} and d["shuffle"] is True
    assert len(d["mean"]) == 1 and d["labels_fingerprint"] != d["images_fingerprint"]


def test_run_config_of_a_model_with_a_config_dataclass():
    model = lenet.lenet(1, 10, activation="relu", pool="max")
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    config = checkpoint.run_config(model, opt, None, 1, [])
    assert config["model"] == {"class": "LeNet", "config": json.loads(json.dumps(
        {"in_channels": 1, "num_classes": 10, "input_size": 28, "channels": [6, 16], "hidden_features": [120, 84],
         "kernel_size": 5, "padding": 2, "activation": "relu", "pool": "max", "batch_norm": False}))}
    assert config["optimizer"]["param_groups"][0]["betas"] == [0.9, 0.999]
    assert config["scheduler"] is None


def differences(change, **run_kwargs):
    """config_diff between a reference run and one with ``change`` applied."""
    ds = toy_dataset()

    def describe(lr=0.1, batch_size=16, augment=False, seed=0, subset_seed=None, activation=nn.ReLU, epochs=3,
                 scheduler=None, extra=None):
        model = nn.Sequential(nn.Linear(2, 4), activation(), nn.Linear(4, 2))
        _, opt, sched = sgd_run(lr, scheduler, model)
        source = ds if subset_seed is None else ds.subset(60, 20, seed=subset_seed)
        batches = source.train_batches(batch_size, device="cpu", augment=augment, seed=seed)
        return checkpoint.run_config(model, opt, sched, epochs, batches, extra=extra)

    base = dict(run_kwargs)
    old = describe(**base)
    new = describe(**{**base, **change})
    return checkpoint.config_diff(old, new)


def test_same_settings_give_the_same_config():
    assert differences({}) == []
    assert differences({}, subset_seed=0) == []


@pytest.mark.parametrize("change, field", [
    ({"lr": 0.001}, "optimizer.param_groups.0.lr: 0.1 -> 0.001"),
    ({"batch_size": 32}, "data.batch_size: 16 -> 32"),
    ({"augment": True}, 'data.augment: null -> {"crop_padding": 4, "flip": true}'),
    ({"seed": 1}, "data.seed: 0 -> 1"),
    ({"activation": nn.Tanh}, 'model.layers.1: "ReLU()" -> "Tanh()"'),
    ({"epochs": 5}, "epochs: 3 -> 5"),
    ({"extra": {"label_smoothing": 0.1}}, "extra.label_smoothing: (absent) -> 0.1"),
])
def test_a_changed_setting_is_named_in_the_differences(change, field):
    assert differences(change) == [field]


def test_another_subset_of_the_same_size_differs():
    lines = differences({"subset_seed": 1}, subset_seed=0)
    assert [line.split(":")[0] for line in lines] == ["data.labels_fingerprint", "data.images_fingerprint"]


def test_a_scheduled_learning_rate_change_is_seen_through_the_scheduler():
    def one_cycle(opt):
        return torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=opt.param_groups[0]["lr"], total_steps=20)

    lines = differences({"lr": 0.001}, scheduler=one_cycle)
    assert "optimizer.param_groups.0.max_lr: 0.1 -> 0.001" in lines
    assert any(line.startswith("scheduler.base_lrs") for line in lines)


def test_training_progress_moves_the_scheduler_but_not_the_optimizer():
    """A scheduler moves lr and (one-cycle) momentum as it steps: the optimizer's
    description must not move; the scheduler's records where it is (its public
    state_dict: fit compares it with where the run started or where it stopped)."""
    model = nn.Sequential(nn.Linear(2, 2))
    opt = torch.optim.AdamW(model.parameters(), lr=0.01)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.01, total_steps=20)
    before = checkpoint.run_config(model, opt, sched, 2, [])
    saved = sched.state_dict()
    for _ in range(7):
        model(torch.randn(4, 2)).sum().backward()
        opt.step()
        sched.step()
    assert opt.param_groups[0]["betas"][0] != 0.95  # the first beta did cycle
    after = checkpoint.run_config(model, opt, sched, 2, [])
    assert after["optimizer"] == before["optimizer"]
    assert checkpoint.config_diff(before["scheduler"], after["scheduler"])[0].startswith("last_epoch: 0 -> 7")
    assert checkpoint.describe_scheduler(sched, saved) == before["scheduler"]  # a saved state describes the same


def test_a_batch_source_describes_itself():
    class Windows:
        def __init__(self, length):
            self.length = length

        def describe(self):
            return {"window": self.length}

        def __iter__(self):
            return iter([])

    model, opt, _ = sgd_run()
    lines = checkpoint.config_diff(checkpoint.run_config(model, opt, None, 1, Windows(8)),
                                   checkpoint.run_config(model, opt, None, 1, Windows(16)))
    assert lines == ["data.window: 8 -> 16"]
    assert checkpoint.describe_batches([(1, 2)] * 3) == {"num_batches": 3}  # a plain list: its length
    assert checkpoint.describe_batches(iter([])) == {"class": "list_iterator"}
    Windows.describe = lambda self: [self.length]
    with pytest.raises(ValueError, match=r"describe\(\) must return a dict"):
        checkpoint.run_config(model, opt, None, 1, Windows(8))


def test_extra_must_be_json():
    model, opt, _ = sgd_run()
    with pytest.raises(ValueError, match="JSON data"):
        checkpoint.run_config(model, opt, None, 1, [], extra={"fn": print})


def test_config_diff_lists_changed_added_and_removed_fields():
    old = {"a": 1, "b": {"c": [1, 2], "d": "x"}, "groups": [{"lr": 0.1}, {"lr": 0.2}], "gone": True}
    new = {"a": 1, "b": {"c": [1, 3], "d": "x"}, "groups": [{"lr": 0.1}, {"lr": 0.3}], "new": None}
    assert checkpoint.config_diff(old, new) == [
        "b.c: [1, 2] -> [1, 3]",
        "groups.1.lr: 0.2 -> 0.3",
        "gone: true -> (absent)",
        "new: (absent) -> null",
    ]
    assert checkpoint.config_diff(old, old) == []
    assert checkpoint.config_diff({"epochs": 3, "x": 1}, {"epochs": 5, "x": 1}, ignore=("epochs",)) == []


def test_describe_callable():
    assert checkpoint.describe_callable(F.cross_entropy) == "torch.nn.functional.cross_entropy"
    smoothed = functools.partial(F.cross_entropy, label_smoothing=0.1)
    assert checkpoint.describe_callable(smoothed) == {
        "function": "torch.nn.functional.cross_entropy", "args": [], "keywords": {"label_smoothing": 0.1}}
    assert checkpoint.describe_callable(nn.CrossEntropyLoss(label_smoothing=0.2)) == {
        "module": "CrossEntropyLoss", "reduction": "mean", "ignore_index": -100, "label_smoothing": 0.2}
