"""FROZEN TEST FIXTURE, not course code: the experiment runner's loop exactly as
it was at commit 2969b46 (``course_utils/experiments/runner.py``), before issue
20 moved its step, progress bar, resume policy and timing into
``course_utils.train`` and split ``run`` into start / train / finish.

Why it is here: that refactoring promised that nothing the runner computes
changes. ``tests/test_experiments_legacy.py`` trains the same tiny runs with
this copy and with the current runner, in the same process on the same
machine (floating-point results can differ between CPU types, so no stored
digest could serve), and compares weights, buffers and the result files bit
for bit. Only the module docstring and this header differ from the original;
do not edit the code below (fix the current runner instead).
"""

import contextlib
import math
import platform
import sys
import time
from collections import deque
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from course_utils import checkpoint
from course_utils.data import load_dataset
from course_utils.device import autocast, get_device, grad_scaler, seed_everything
from course_utils.experiments import distributed, store
from course_utils.experiments.batches import run_images
from course_utils.experiments.config import RunConfig, run_id
from course_utils.models.resnet import layer_responses, resnet_cifar
from course_utils.modes import eval_mode
from course_utils.train import evaluate


def build_model(config):
    """The network of ``config`` (the paper's CIFAR-10 ResNet or plain net)."""
    arch = config.arch
    return resnet_cifar(arch.depth, plain=arch.plain, shortcut=arch.shortcut, width=config.scale.width)


def _channels_last(device):
    # Channels-last memory speeds up convolutions on CUDA and x86 CPUs (about
    # 1.3x per step for ResNet-20 on the course's 2-core CPU), as in fit.
    return device.type in ("cuda", "cpu")


def error_rate(model, batches):
    """The fraction of ``batches``' images that ``model`` (in eval mode) misclassifies."""
    return 1.0 - evaluate(model, batches)["acc"]


@torch.no_grad()
def response_std(model, images, batch=250):
    """Figure 7's statistic: for each 3x3 layer (in forward order), the
    standard deviation of its responses (its batch norm's output, before the
    ReLU or addition) over all images, channels and positions, in eval mode.
    Returns ``(names, stds)``."""
    totals = {}
    with eval_mode(model):
        for chunk in images.split(batch):
            for name, out in layer_responses(model, chunk).items():
                out = out.double()
                s, sq, n = totals.get(name, (0.0, 0.0, 0))
                totals[name] = (s + out.sum().item(), sq + (out * out).sum().item(), n + out.numel())
    names = list(totals)
    stds = []
    for name in names:
        s, sq, n = totals[name]
        stds.append(math.sqrt(max(sq / n - (s / n) ** 2, 0.0)))
    return names, stds


def train_step(net, optimizer, scaler, x, y, chunks, lr):
    """One optimizer step on ``(x, y)``, this process's share of the batch,
    fed in ``chunks`` forward passes whose gradients add up to the gradient
    of the mean loss (under DDP, only the last one communicates).
    Returns the number of misclassified images and the summed loss."""
    for group in optimizer.param_groups:
        group["lr"] = lr
    optimizer.zero_grad(set_to_none=True)
    wrong = torch.zeros((), device=x.device, dtype=torch.int64)
    loss_sum = torch.zeros((), device=x.device)
    x_parts, y_parts = x.chunk(chunks), y.chunk(chunks)
    for i, (xc, yc) in enumerate(zip(x_parts, y_parts)):
        accumulate = isinstance(net, DistributedDataParallel) and i < chunks - 1
        with net.no_sync() if accumulate else contextlib.nullcontext():  # DDP: average gradients once, at the end
            with autocast(x.device):
                logits = net(xc)
            loss = F.cross_entropy(logits.float(), yc)
            scaler.scale(loss / chunks).backward()
        wrong += (logits.detach().argmax(dim=1) != yc).sum()
        loss_sum += loss.detach() * len(yc)
    scaler.step(optimizer)
    scaler.update()
    return wrong, loss_sum


def _hardware(processes):
    device = processes.device
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
    else:
        threads = torch.get_num_threads()
        name = _cpu_name() + f" ({threads} thread{'' if threads == 1 else 's'})"
    return {"device": name, "device_type": device.type, "processes": processes.world_size,
            "backend": processes.backend, "torch": torch.__version__.split("+")[0]}


def _cpu_name():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return "CPU " + line.split(":", 1)[1].strip()
    except OSError:
        pass
    return f"CPU {platform.processor() or platform.machine()}"


def _related(folder, config):
    """The most recent result of the same network and seed with another
    configuration, to say what changed."""
    prefix = f"{config.arch.name}-s{config.seed}-"
    candidates = sorted(Path(folder).glob(prefix + "*.json"), key=lambda p: p.stat().st_mtime)
    return store.read_result(candidates[-1]) if candidates else None


def _restore(path, config, log):
    """The checkpoint of this run at ``path``, or ``None`` to start afresh."""
    if not path.exists():
        return None
    try:
        state = checkpoint.load(path)
    except checkpoint.CheckpointError as err:
        if log:
            print(f"{err}\nstarting afresh")
        return None
    if state.get("config") != config.to_dict():
        if log:
            changes = checkpoint.config_diff(state.get("config") or {}, config.to_dict())
            print(f"{path} belongs to another configuration ({'; '.join(changes[:5])}): starting afresh")
        return None
    return state


def _new_curves():
    return {"iteration": [], "lr": [], "train_error": [], "train_loss": [], "val_error": [], "test_error": []}


def run(config, runs=None, *, dataset=None, device=None, progress=True, log=True):
    """Train the run ``config``, resume it, or find it done; return its result.

    Args:
        config: a :class:`~course_utils.experiments.config.RunConfig`.
        runs: the runs folder (default ``store.runs_dir()``): results
            ``<run_id>.json`` and checkpoints ``<run_id>.pt``.
        dataset: CIFAR-10 as an ``ImageDataset`` (default: ``load_dataset("cifar10")``).
        device: for a single process (default: the best available); under
            torchrun each process takes its own GPU, or the CPU.
        progress: a progress bar; log: a line when a run starts, resumes or ends.

    Returns:
        The result as stored in ``<run_id>.json`` (see the README of the
        notebook 11 for its fields): ``curves``, ``test_error``,
        ``val_error``, ``responses``, ``params``, ``seconds``,
        ``examples_per_s``, ``hardware``...
    """
    if not isinstance(config, RunConfig):
        raise ValueError(f"run expects a RunConfig, got {type(config).__name__}")
    folder = Path(runs) if runs is not None else store.runs_dir()
    procs = distributed.start(device)
    main = procs.is_main
    log, progress = log and main, progress and main
    name = run_id(config)
    result = distributed.broadcast(store.read_result(store.result_path(folder, config)) if main else None, procs)
    if result is not None:
        if log:
            print(f"done already: {store.summary_line(result)}")
        return result
    plan = distributed.batch_norm_plan(config.recipe, procs.world_size, procs.device.type)

    images = run_images(dataset if dataset is not None else load_dataset("cifar10"), config, procs.device)
    seed_everything(config.seed)  # the same initial weights on every process
    model = build_model(config).to(procs.device)
    if plan.sync:
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    channels_last = _channels_last(procs.device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    recipe = config.recipe
    optimizer = torch.optim.SGD(model.parameters(), lr=recipe.lr, momentum=recipe.momentum,
                                weight_decay=recipe.weight_decay)
    scaler = grad_scaler(procs.device)

    ckpt_path = store.checkpoint_file(folder, config)
    state = distributed.broadcast(_restore(ckpt_path, config, log) if main else None, procs)
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scaler.load_state_dict(state["scaler"])
        curves, iteration = state["curves"], state["iteration"]
        warming_up, warmup_end = state["warming_up"], state["warmup_end"]
        recent = deque(state["recent_errors"], maxlen=recipe.warmup_window)
        seconds, train_seconds, sessions = state["seconds"], state["train_seconds"], state["sessions"] + 1
        if log:
            print(f"resuming {name} at iteration {iteration:,} of {config.iterations:,} ({ckpt_path})")
    else:
        curves, iteration = _new_curves(), 0
        warming_up, warmup_end = recipe.warmup_lr is not None, None
        recent = deque(maxlen=recipe.warmup_window)
        seconds, train_seconds, sessions = 0.0, 0.0, 1
        if log:
            related = _related(folder, config)
            changed = ("; a changed configuration of " + related["run_id"] + ": "
                       + "; ".join(checkpoint.config_diff(related["config"], config.to_dict())[:5])) if related else ""
            print(f"starting {name}: {config.arch.name}, {config.iterations:,} iterations{changed}")
    net = model
    if procs.world_size > 1:
        net = DistributedDataParallel(model, device_ids=[procs.device.index] if procs.device.type == "cuda" else None)

    def save():
        checkpoint.save(ckpt_path, {
            "config": config.to_dict(), "run_id": name, "iteration": iteration, "model": model.state_dict(),
            "optimizer": optimizer.state_dict(), "scaler": scaler.state_dict(), "curves": curves,
            "warming_up": warming_up, "warmup_end": warmup_end, "recent_errors": list(recent),
            "seconds": seconds, "train_seconds": train_seconds, "sessions": sessions})

    bar = None
    if progress and iteration < config.iterations:
        from tqdm import tqdm

        bar = tqdm(total=config.iterations, initial=iteration, desc=config.arch.name, unit="it", file=sys.stdout,
                   mininterval=2.0, leave=False, dynamic_ncols=False, ncols=100)
    device = procs.device
    wrong = torch.zeros((), device=device, dtype=torch.int64)
    loss_sum = torch.zeros((), device=device)
    interval_images = 0
    session_start = time.perf_counter()
    train_start = time.perf_counter()
    net.train()  # evaluation below switches to eval mode and back
    try:
        while iteration < config.iterations:
            lr = config.lr_at(iteration, warming_up)
            x, y = images.train.part(iteration, procs.rank, procs.world_size)
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            batch_wrong, batch_loss = train_step(net, optimizer, scaler, x, y, plan.chunks, lr)
            wrong += batch_wrong
            loss_sum += batch_loss
            interval_images += len(y) * procs.world_size
            iteration += 1
            if bar is not None:
                bar.update(1)
            if warming_up:  # the paper's ResNet-110: lr 0.01 until the training error is below 80%
                batch_error = distributed.sum_over_ranks(batch_wrong.float(), procs).item() / recipe.batch_size
                recent.append(batch_error)
                if len(recent) == recent.maxlen and sum(recent) / len(recent) < recipe.warmup_error:
                    warming_up, warmup_end = False, iteration
                    if log:
                        message = f"{config.arch.name}: warm-up over at iteration {iteration}, lr {recipe.lr} from now"
                        (bar.write if bar is not None else print)(message)
            if iteration % config.scale.eval_every == 0 or iteration == config.iterations:
                totals = distributed.sum_over_ranks(torch.stack([wrong.double(), loss_sum.double()]), procs)
                if device.type == "cuda":
                    torch.cuda.synchronize(device)
                train_seconds += time.perf_counter() - train_start
                if not math.isfinite(totals[1].item()):
                    raise FloatingPointError(f"{name}: the training loss became {totals[1].item()} by iteration "
                                             f"{iteration}: lower the learning rate")
                if main:
                    curves["iteration"].append(iteration)
                    curves["lr"].append(lr)
                    curves["train_error"].append(totals[0].item() / interval_images)
                    curves["train_loss"].append(totals[1].item() / interval_images)
                    curves["val_error"].append(error_rate(model, images.val_curve) if images.val_curve else None)
                    curves["test_error"].append(error_rate(model, images.test_curve))
                    seconds += time.perf_counter() - session_start
                    session_start = time.perf_counter()
                    save()
                    if bar is not None:
                        bar.set_postfix(train=f"{curves['train_error'][-1]:.1%}",
                                        test=f"{curves['test_error'][-1]:.1%}", lr=f"{lr:g}")
                distributed.barrier(procs)
                wrong.zero_()
                loss_sum.zero_()
                interval_images = 0
                train_start = time.perf_counter()
    finally:
        if bar is not None:
            bar.close()

    result = None
    if main:
        names, stds = response_std(model, images.responses)
        result = {
            "run_id": name,
            "config": config.to_dict(),
            "curves": curves,
            "test_error": error_rate(model, images.test),
            "val_error": error_rate(model, images.val) if images.val is not None else None,
            "train_images": images.train.source.num_examples,
            "warmup_end": warmup_end,
            "responses": {"layers": names, "std": stds},
            "params": sum(p.numel() for p in model.parameters()),
            "seconds": seconds + time.perf_counter() - session_start,
            "train_seconds": train_seconds,
            "examples_per_s": config.iterations * recipe.batch_size / train_seconds if train_seconds > 0 else None,
            "hardware": _hardware(procs),
            "sessions": sessions,
            "finished_at": time.strftime("%Y-%m-%d %H:%M:%S"),
        }
        store.write_result(store.result_path(folder, config), result)
        if log:
            print(store.summary_line(result))
    distributed.barrier(procs)
    return distributed.broadcast(result, procs)


def run_grid(configs, runs=None, *, dataset=None, device=None, progress=True, log=True):
    """Run (or resume, or skip when done) every configuration in turn; return their results."""
    configs = list(configs)
    if dataset is None and any(not store.result_path(runs or store.runs_dir(), c).exists() for c in configs):
        dataset = load_dataset("cifar10")  # once for the whole grid
    return [run(c, runs, dataset=dataset, device=device, progress=progress, log=log) for c in configs]


def seconds_per_iteration(config, device=None, steps=5, warmup=2):
    """Measured seconds of one training step of ``config``'s network and
    batch on ``device`` (random images; evaluation not included)."""
    device = torch.device(device) if device is not None else get_device()
    plan = distributed.batch_norm_plan(config.recipe, 1, device.type)
    model = build_model(config).to(device)
    channels_last = _channels_last(device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    scaler = grad_scaler(device)
    x = torch.randn(config.recipe.batch_size, 3, 32, 32, device=device)
    y = torch.randint(0, 10, (config.recipe.batch_size,), device=device)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    model.train()
    for i in range(warmup + steps):
        if i == warmup:
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            start = time.perf_counter()
        train_step(model, optimizer, scaler, x, y, plan.chunks, 0.01)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return (time.perf_counter() - start) / steps
