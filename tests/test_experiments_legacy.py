"""Nothing the runner computes changed when its loop moved into the shared
training step: the same tiny runs with the runner of commit 2969b46 (a frozen
copy, ``tests/legacy_runner_2969b46.py``) and with the current one, in this
process, give bit-identical weights, buffers and result files (timings aside)."""

import legacy_runner_2969b46 as legacy
import pytest
import torch
from experiments_helpers import fake_cifar_env, single_thread, tiny_config

from course_utils import checkpoint
from course_utils.data import load_dataset
from course_utils.experiments import runner, store


@pytest.fixture(autouse=True)
def one_thread():
    yield from single_thread()


def oracle_config(**changes):
    """ResNet-8 on the fake CIFAR-10's 208 training images: 24 iterations of 16
    images (almost two epochs), the learning rate dropping at 12 and 18, a
    point of the curves every 8 iterations."""
    return tiny_config(**{"recipe.iterations": 24, "recipe.milestones": (12, 18), "scale.eval_every": 8,
                          **changes})


def both_runs(tmp_path, monkeypatch, config):
    fake_cifar_env(tmp_path, monkeypatch)
    cifar = load_dataset("cifar10")
    old = legacy.run(config, tmp_path / "legacy", dataset=cifar, device="cpu", progress=False, log=False)
    new = runner.run(config, tmp_path / "current", dataset=cifar, device="cpu", progress=False, log=False)
    states = [checkpoint.load(store.checkpoint_file(tmp_path / folder, config))["model"]
              for folder in ("legacy", "current")]
    return old, new, states


def assert_same_tensors(old, new):
    assert list(old) == list(new)
    for name in old:
        assert old[name].dtype == new[name].dtype and torch.equal(old[name], new[name]), \
            f"{name} differs: {(old[name].double() - new[name].double()).abs().max().item():.3e}"


@pytest.mark.parametrize("changes", [
    {},  # the whole batch in one pass
    {"recipe.warmup_lr": 0.01, "recipe.warmup_error": 0.95, "recipe.warmup_window": 3},  # a warm-up that ends
], ids=["plain", "warmup"])
def test_the_current_runner_computes_what_the_legacy_runner_did(tmp_path, monkeypatch, changes):
    old, new, (old_state, new_state) = both_runs(tmp_path, monkeypatch, oracle_config(**changes))
    assert_same_tensors(old_state, new_state)  # weights and batch-norm buffers, bit for bit
    assert store.comparable(new) == store.comparable(old)  # curves, errors, responses: ==, not approximately
    assert new["curves"]["iteration"] == [8, 16, 24]
    if changes:
        assert new["warmup_end"] is not None, "the warm-up should end within the run"


def test_chunked_batch_norm_trains_as_the_legacy_runner_did(tmp_path, monkeypatch):
    """bn_batch=8 of 16: two chunks per step, whose gradients add up. The weights
    and the training curves are the legacy runner's, bit for bit. The batch-norm
    running statistics are not, by design (issue 20, section 5): they now move
    once per step, with the first chunk, as in a run over two processes, where
    the legacy runner moved them with every chunk; so the eval-mode figures
    differ too (tests/test_experiments_distributed.py checks them against two
    processes)."""
    config = oracle_config(**{"recipe.bn_batch": 8})
    old, new, (old_state, new_state) = both_runs(tmp_path, monkeypatch, config)
    weights = [name for name, _ in runner.build_model(config).named_parameters()]
    assert_same_tensors({n: old_state[n] for n in weights}, {n: new_state[n] for n in weights})
    for key in ("iteration", "lr", "train_error", "train_loss"):
        assert new["curves"][key] == old["curves"][key], key
    counts = {name: (int(old_state[name]), int(new_state[name])) for name in old_state
              if name.endswith("num_batches_tracked")}
    assert counts and set(counts.values()) == {(48, 24)}, "two updates per step before, one now"
