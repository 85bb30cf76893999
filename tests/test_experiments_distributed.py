"""One run over several processes: batch-norm plan, chunked steps, and two
gloo processes under torchrun against one process."""

import copy

import pytest
import torch
import torch.nn.functional as F
from experiments_helpers import TINY_SETS, cli, fake_cifar_env, single_thread, tiny_config

from course_utils import checkpoint
from course_utils.device import grad_scaler
from course_utils.experiments import distributed, runner, store
from course_utils.experiments.config import Recipe
from course_utils.models.resnet import resnet_cifar


@pytest.fixture(autouse=True)
def one_thread():
    yield from single_thread()


@pytest.mark.parametrize("batch,bn_batch,world,device,expected", [
    (128, None, 1, "cpu", (128, 1, False)),
    (128, 64, 1, "cpu", (128, 2, False)),  # one process normalises two halves separately
    (128, 64, 2, "cpu", (64, 1, False)),  # two processes, each its own half
    (128, 32, 2, "cpu", (64, 2, False)),
    (128, None, 2, "cuda", (64, 1, True)),  # the whole batch over two GPUs: SyncBatchNorm
    (128, None, 4, "cuda", (32, 1, True)),
])
def test_batch_norm_plan(batch, bn_batch, world, device, expected):
    plan = distributed.batch_norm_plan(Recipe(batch_size=batch, bn_batch=bn_batch), world, device)
    assert (plan.local_batch, plan.chunks, plan.sync) == expected


@pytest.mark.parametrize("bn_batch,world,device,message", [
    (None, 2, "cpu", "SyncBatchNorm, which would\\s+share them, runs only on GPUs"),
    (64, 4, "cuda", "spans several"),
    (None, 3, "cuda", "evenly"),
])
def test_batch_norm_plan_refuses(bn_batch, world, device, message):
    with pytest.raises(ValueError, match=message):
        distributed.batch_norm_plan(Recipe(bn_batch=bn_batch), world, device)


def test_single_process_without_torchrun(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    procs = distributed.start("cpu")
    assert (procs.rank, procs.world_size, procs.backend, procs.is_main) == (0, 1, None, True)
    assert distributed.broadcast({"a": 1}, procs) == {"a": 1}
    assert distributed.sum_over_ranks(torch.tensor(3.0), procs).item() == 3.0


def test_chunked_step_equals_separately_normalised_halves():
    """Oracle: the gradient of the mean of the two halves' losses, each half
    through the network on its own, and a hand-written SGD step."""
    torch.manual_seed(0)
    model = resnet_cifar(8, width=0.25)
    reference = copy.deepcopy(model)
    whole = copy.deepcopy(model)
    x, y = torch.randn(8, 3, 32, 32), torch.randint(0, 10, (8,))
    lr = 0.1
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    runner.paper_step(model, opt, grad_scaler("cpu"), x, y, 2, lr)
    loss = (F.cross_entropy(reference(x[:4]), y[:4]) + F.cross_entropy(reference(x[4:]), y[4:])) / 2
    loss.backward()
    with torch.no_grad():
        for p in reference.parameters():
            p -= lr * p.grad
    for (name, p), q in zip(model.named_parameters(), reference.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6, msg=f"{name} differs from the oracle")
    runner.paper_step(whole, torch.optim.SGD(whole.parameters(), lr=lr), grad_scaler("cpu"), x, y, 1, lr)
    diff = max((p - q).abs().max().item() for p, q in zip(whole.parameters(), model.parameters()))
    assert diff > 1e-4, "normalising over the whole batch should give other weights than over its halves"


def _saved(folder, config):
    """The model state (weights and batch-norm buffers) of a run's checkpoint, split into
    parameters and buffers, and the checkpoint."""
    state = checkpoint.load(store.checkpoint_file(folder, config))
    names = {n for n, _ in runner.build_model(config).named_parameters()}
    parameters = {k: v for k, v in state["model"].items() if k in names}
    buffers = {k: v for k, v in state["model"].items() if k not in names}
    return parameters, buffers, state


def test_two_gloo_processes_equal_one_process(tmp_path, monkeypatch):
    """torchrun with 2 CPU processes (DDP over gloo, each normalising its 8
    images) == 1 process normalising each half of the 16 separately: the same
    weights, the same batch-norm running statistics (one update per step in
    both layouts), hence the same evaluation figures; and it differs from 1
    process normalising all 16 together.

    Bit for bit, with one thread per process: DDP averages the two processes'
    gradients as g0 / 2 + g1 / 2, and one process accumulates the gradients
    of loss0 / 2 and loss1 / 2, the same numbers (halving is exact) added in
    the same one addition, from the same kernels on the same shapes. Only the
    training loss, summed over the processes in another order, may differ in
    its last bits."""
    fake_cifar_env(tmp_path, monkeypatch)
    args = ["run", "--depth", "8", "--scale", "smoke", "--no-progress", *TINY_SETS, "--set", "recipe.bn_batch=8"]
    status, out = cli(args + ["--runs", str(tmp_path / "two")], torchrun=2)
    assert status == 0, out
    assert out.count("test error") == 1, f"only rank 0 should report:\n{out}"
    # the same configuration in this process (the command line builds tiny_config's run from those flags),
    # with one thread like each torchrun process (the one_thread fixture): float sums depend a little on it
    runner.run(tiny_config(**{"recipe.bn_batch": 8}), tmp_path / "one", progress=False)
    runner.run(tiny_config(), tmp_path / "whole", progress=False)

    config = tiny_config(**{"recipe.bn_batch": 8})
    two, two_buffers, state = _saved(tmp_path / "two", config)
    one, one_buffers, _ = _saved(tmp_path / "one", config)
    whole, _, _ = _saved(tmp_path / "whole", tiny_config())
    assert state["iteration"] == 6
    for name in one:
        assert torch.equal(two[name], one[name]), f"{name}: 2 processes != 1"
    assert list(two_buffers) == list(one_buffers) and any("running_var" in name for name in one_buffers)
    for name in one_buffers:
        assert torch.equal(two_buffers[name], one_buffers[name]), f"{name}: 2 processes != 1"
    assert {int(v) for k, v in one_buffers.items() if k.endswith("num_batches_tracked")} == {6}, "once per step"
    assert max((whole[n] - one[n]).abs().max().item() for n in one) > 1e-3, \
        "the comparison cannot tell batch-norm groupings apart"
    result_two = store.read_result(store.result_path(tmp_path / "two", config))
    result_one = store.read_result(store.result_path(tmp_path / "one", config))
    losses = [result.pop("curves")["train_loss"] for result in (result_two, result_one)]  # a sum in another order
    for key in ("test_error", "val_error", "responses"):
        assert result_two[key] == result_one[key], f"{key}: 2 processes {result_two[key]}, 1 process {result_one[key]}"
    curves = [store.read_result(store.result_path(tmp_path / f, config))["curves"] for f in ("two", "one")]
    for key in ("iteration", "lr", "train_error", "val_error", "test_error"):
        assert curves[0][key] == curves[1][key], f"curves' {key} differ"
    assert losses[0] == pytest.approx(losses[1], rel=1e-6)
    assert result_two["hardware"]["processes"] == 2 and result_two["hardware"]["backend"] == "gloo"
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == sorted(
        [store.result_path(".", config).name, store.checkpoint_file(".", config).name])
