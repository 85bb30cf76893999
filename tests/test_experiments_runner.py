"""The runner: results, resuming after SIGKILL, finished and changed runs,
the statistics it measures."""

import json
import os
import shutil
import signal
import time

import pytest
import torch
from experiments_helpers import TINY_SETS, cli, fake_cifar_env, single_thread, tiny_config

from course_utils import checkpoint
from course_utils.data import load_dataset
from course_utils.experiments import runner, store
from course_utils.experiments.batches import EVAL_BATCH
from course_utils.experiments.cli import main
from course_utils.models.resnet import layer_responses, resnet_cifar


@pytest.fixture(autouse=True)
def one_thread():
    yield from single_thread()


@pytest.fixture
def fake_cifar(tmp_path, monkeypatch):
    fake_cifar_env(tmp_path, monkeypatch)
    return load_dataset("cifar10")


def test_a_run_records_its_results_and_is_not_repeated(tmp_path, fake_cifar, capsys):
    config = tiny_config()
    result = runner.run(config, tmp_path / "runs", progress=False)
    out = capsys.readouterr().out
    assert "starting resnet8" in out and "resnet8 seed 0: test error" in out
    # epochs over the run's 208 training images (6 x 16 / 208), not over CIFAR-10's nominal 45,000
    assert "after 6 iterations (0.5 epochs)" in out
    path = store.result_path(tmp_path / "runs", config)
    assert json.loads(path.read_text()) == result
    curves = result["curves"]
    # each point's rate is that of its last step: steps 2 and 5, with drops at 3 and 5
    assert curves["iteration"] == [3, 6] and curves["lr"] == pytest.approx([0.1, 0.001])
    assert all(0 <= e <= 1 for key in ("train_error", "val_error", "test_error") for e in curves[key])
    assert 0 <= result["test_error"] <= 1 and 0 <= result["val_error"] <= 1
    assert result["params"] == sum(p.numel() for p in resnet_cifar(8, width=0.25).parameters())
    assert len(result["responses"]["std"]) == 7  # 6n + 1 layers of 3x3 convolutions for n = 1
    assert result["train_images"] == 240 - 32 and result["sessions"] == 1
    mtime = path.stat().st_mtime_ns
    again = runner.run(config, tmp_path / "runs", progress=False)
    assert "done already: resnet8 seed 0" in capsys.readouterr().out
    assert again == result and path.stat().st_mtime_ns == mtime


def test_a_changed_configuration_is_a_new_run(tmp_path, fake_cifar, capsys):
    runner.run(tiny_config(), tmp_path, progress=False)
    capsys.readouterr()
    runner.run(tiny_config(**{"recipe.lr": 0.05}), tmp_path, progress=False)
    out = capsys.readouterr().out
    assert "a changed configuration of resnet8-s0-" in out and "recipe.lr: 0.1 -> 0.05" in out
    assert len(list(tmp_path.glob("*.json"))) == 2


def test_a_checkpoint_of_another_configuration_is_not_resumed(tmp_path, fake_cifar, capsys):
    first, second = tiny_config(), tiny_config(seed=1)
    runner.run(first, tmp_path, progress=False)
    shutil.copy(store.checkpoint_file(tmp_path, first), store.checkpoint_file(tmp_path, second))
    capsys.readouterr()
    result = runner.run(second, tmp_path, progress=False)
    out = capsys.readouterr().out
    # the policy of fit's checkpoints (course_utils.checkpoint.resume): say what differs, keep the old file
    assert "holds a different run, so this one starts fresh" in out and "seed: 0 -> 1" in out
    kept = store.checkpoint_file(tmp_path, second).with_suffix(".replaced.pt")
    assert kept.exists() and checkpoint.load(kept)["config"] == first.to_dict()
    assert result["sessions"] == 1 and result["curves"]["iteration"] == [3, 6]


def test_an_unreadable_checkpoint_stops_the_run_and_is_left_alone(tmp_path, fake_cifar, capsys):
    config = tiny_config()
    path = store.checkpoint_file(tmp_path, config)
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(checkpoint.CheckpointError, match="Delete it to start over"):
        runner.run(config, tmp_path, progress=False)
    assert path.read_bytes() == b"not a checkpoint"


def test_error_rate_against_counting():
    torch.manual_seed(0)
    model = resnet_cifar(8, width=0.25).eval()
    x, y = torch.randn(30, 3, 32, 32), torch.randint(0, 10, (30,))
    batches = [(x[:16], y[:16]), (x[16:], y[16:])]
    with torch.no_grad():
        expected = (model(x).argmax(1) != y).float().mean().item()
    assert runner.error_rate(model.train(), batches) == pytest.approx(expected)
    assert model.training, "error_rate should leave the model's mode alone"


def test_response_std_against_torch_std():
    torch.manual_seed(0)
    model = resnet_cifar(14, width=0.25)
    x = torch.randn(20, 3, 32, 32)
    with torch.no_grad():
        model(x)  # move the running statistics away from their initial values
    names, stds = runner.response_std(model, x, batch=7)
    model.eval()
    outputs = layer_responses(model, x)
    assert names == list(outputs) and len(names) == 13
    for name, std in zip(names, stds):
        assert std == pytest.approx(outputs[name].double().std(unbiased=False).item(), rel=1e-6), name


def test_seconds_per_iteration_is_positive():
    seconds = runner.seconds_per_iteration(tiny_config(), "cpu", steps=1, warmup=1)
    assert 0 < seconds < 60
    assert EVAL_BATCH >= 100


def test_sigkill_mid_run_resumes_to_the_same_result(tmp_path, monkeypatch, capsys):
    """Kill -9 a command-line run as soon as it has saved a checkpoint, run
    the same command again: it resumes and ends with exactly the results of
    an uninterrupted run (the batches depend only on the iteration)."""
    fake_cifar_env(tmp_path, monkeypatch)
    longer = ["--set", "recipe.iterations=120", "--set", "recipe.milestones=(60, 90)", "--set",
              "scale.eval_every=10"]
    args = ["run", "--depth", "8", "--scale", "smoke", "--no-progress", *TINY_SETS, *longer]
    config = tiny_config(**{"recipe.iterations": 120, "recipe.milestones": (60, 90), "scale.eval_every": 10})
    killed = tmp_path / "killed"
    process = cli(args + ["--runs", str(killed)], wait=False)
    checkpoint_file = store.checkpoint_file(killed, config)
    deadline = time.monotonic() + 180
    while not checkpoint_file.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL, process.stdout.read()
    assert checkpoint_file.exists(), "no checkpoint was written before the deadline"
    assert not store.result_path(killed, config).exists(), \
        "the run finished before it could be killed: raise recipe.iterations in this test"

    # the same command again, and once more from scratch elsewhere (in this process: one thread, as there)
    assert main(args + ["--runs", str(killed)]) == 0
    out = capsys.readouterr().out
    assert "resuming resnet8-s0-" in out and " of 120 " in out
    assert main(args + ["--runs", str(tmp_path / "uninterrupted")]) == 0
    resumed = store.read_result(store.result_path(killed, config))
    reference = store.read_result(store.result_path(tmp_path / "uninterrupted", config))
    assert resumed["sessions"] == 2 and reference["sessions"] == 1
    assert store.comparable(resumed) == store.comparable(reference)
    capsys.readouterr()
    assert main(args + ["--runs", str(killed)]) == 0
    assert "done already" in capsys.readouterr().out


def test_warmup_until_the_training_error_is_low_enough(tmp_path, fake_cifar):
    ends = tiny_config(**{"recipe.warmup_lr": 0.01, "recipe.warmup_error": 1.0, "recipe.warmup_window": 2})
    result = runner.run(ends, tmp_path, progress=False, log=False)
    # steps 0 and 1 at 0.01; their mean error is below 100%, so step 2 is back at 0.1
    assert result["warmup_end"] == 2 and result["curves"]["lr"] == pytest.approx([0.1, 0.001])
    never = ends.replace(**{"recipe.warmup_error": 0.01})  # random labels: the error stays near 90%
    result = runner.run(never, tmp_path, progress=False, log=False)
    assert result["warmup_end"] is None and result["curves"]["lr"] == pytest.approx([0.01, 0.01])
