"""Train one run of the paper's CIFAR-10 experiments: to the end, from where
it stopped, or not at all if it is done.

Why not ``course_utils.train.fit``? The paper's recipe counts iterations,
not epochs: the learning rate drops at 32k and 48k steps, the curves of its
Figure 6 have a point every so many steps, ResNet-110 warms up until a
condition on the training error holds, and one run may be spread over
several processes with ``DistributedDataParallel``. ``fit`` is an epoch loop
for one process. The loop here takes the same step as ``fit``
(``course_utils.train.train_step``: forward, loss, backward, optimizer
step, with the batch-norm groups of ``recipe.bn_batch`` as parts of the
step), shows the same progress bar, checks the loss the same way and
follows the same resume policy (``course_utils.checkpoint.resume``), with
those four differences; the images and augmentation are those of
``course_utils.data``.

:func:`run` reads in three parts: :func:`start` builds the run (its images,
network and optimizer) and restores its checkpoint or starts afresh;
:func:`train` steps to the end, adding a point to the curves and saving the
checkpoint every ``scale.eval_every`` iterations; :func:`finish` measures
the final errors and the layer responses and writes the result. What a run
has done so far is a :class:`RunState` (iteration, curves, warm-up, time),
saved with the weights.

A run is killed-and-resumed safe: the checkpoint is saved at every point of
the curves by an atomic rename, and the training batches are a function of
the iteration (see ``course_utils.experiments.batches``), so a resumed run
continues exactly as if it had not stopped. The results file is written
last: while it is missing, the run is not done.
"""

import dataclasses
import math
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from course_utils import checkpoint
from course_utils.data import load_dataset
from course_utils.device import get_device, grad_scaler, seed_everything
from course_utils.experiments import distributed, report, store
from course_utils.experiments.batches import RunImages, run_images
from course_utils.experiments.config import RunConfig, run_id
from course_utils.models.resnet import layer_responses, resnet_cifar
from course_utils.modes import eval_mode
from course_utils.timing import Stopwatch
from course_utils.train import (
    Progress,
    check_finite,
    evaluate,
    set_learning_rate,
    set_memory_format,
    to_device,
    train_step,
)


def build_model(config):
    """The network of ``config`` (the paper's CIFAR-10 ResNet or plain net)."""
    arch = config.arch
    return resnet_cifar(arch.depth, plain=arch.plain, shortcut=arch.shortcut, width=config.scale.width)


def _channels_last(device):
    # Channels-last memory speeds up convolutions on CUDA and x86 CPUs (about
    # 1.3x per step for ResNet-20 on the course's 2-core CPU), as in fit.
    return device.type in ("cuda", "cpu")


def load_model(config, runs=None):
    """The network of the run ``config`` with the weights and batch-norm
    statistics of its checkpoint in ``runs`` (default ``store.runs_dir()``):
    the last saved point of a run under way, the final network of a done one."""
    folder = Path(runs) if runs is not None else store.runs_dir()
    model = build_model(config)
    model.load_state_dict(checkpoint.load(store.checkpoint_file(folder, config))["model"])
    return model


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


def paper_step(net, optimizer, scaler, x, y, chunks, lr):
    """One step of the paper's recipe on ``(x, y)``, this process's share of
    the batch: the learning rate ``lr``, cross-entropy, and the batch fed in
    ``chunks`` parts, the batch-norm groups (``course_utils.train.train_step``).
    Returns the number of misclassified images and the summed loss."""
    set_learning_rate(optimizer, lr)
    wrong = torch.zeros((), device=y.device, dtype=torch.int64)
    loss_sum = torch.zeros((), device=y.device)
    for part in train_step(net, x, y, optimizer, scaler, chunks=chunks):
        wrong += (part.outputs.argmax(dim=1) != part.targets).sum()
        loss_sum += part.loss * len(part.targets)
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


# ----------------------------------------------------------------------------
# A run's progress, and the objects it trains
# ----------------------------------------------------------------------------


def _new_curves():
    return {"iteration": [], "lr": [], "train_error": [], "train_loss": [], "val_error": [], "test_error": []}


@dataclass
class RunState:
    """What a run has done so far, besides its weights and optimizer: saved in
    its checkpoint (:meth:`to_dict`) and restored on resuming (:meth:`from_dict`)."""

    iteration: int = 0  # optimizer steps taken
    curves: dict = field(default_factory=_new_curves)  # a point every scale.eval_every iterations
    warming_up: bool = False  # at recipe.warmup_lr until the training error is low enough
    warmup_end: int = None  # the iteration at which the warm-up ended
    recent_errors: list = field(default_factory=list)  # the warm-up's window of mini-batch errors
    seconds: float = 0.0  # wall-clock time of all sessions, evaluation included
    train_seconds: float = 0.0  # of which training steps
    sessions: int = 1  # how many times the run was started or resumed

    def to_dict(self):
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data):
        return cls(**{f.name: data[f.name] for f in dataclasses.fields(cls)})


@dataclass
class Run:
    """One run's objects in this process while it trains (see :func:`start`)."""

    config: RunConfig
    folder: Path
    procs: distributed.Processes
    images: RunImages
    model: nn.Module  # the network (saved, evaluated)
    net: nn.Module  # what trains: the model, or the model in DistributedDataParallel
    optimizer: torch.optim.Optimizer
    scaler: torch.amp.GradScaler
    chunks: int  # forward passes per step: the batch-norm groups of recipe.bn_batch
    channels_last: bool
    state: RunState
    clock: float = field(default_factory=time.perf_counter)  # when state.seconds was last brought up to date

    @property
    def name(self):
        return run_id(self.config)

    @property
    def checkpoint_path(self):
        return store.checkpoint_file(self.folder, self.config)

    def account_time(self):
        """Add the wall-clock time since the last call to ``state.seconds``."""
        now = time.perf_counter()
        self.state.seconds += now - self.clock
        self.clock = now

    def save(self):
        checkpoint.save(self.checkpoint_path, {
            "config": self.config.to_dict(), "run_id": self.name, "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(), "scaler": self.scaler.state_dict(), **self.state.to_dict()})


# ----------------------------------------------------------------------------
# start, train, finish
# ----------------------------------------------------------------------------


def _saved_state(path, config):
    """The checkpoint at ``path`` if it holds this run (``course_utils.checkpoint.resume``'s policy)."""
    return checkpoint.resume(path, lambda saved: checkpoint.config_diff(saved.get("config") or {}, config.to_dict()))


def start(config, folder, procs, dataset=None, log=True):
    """Build the run ``config`` in this process (images, network, optimizer)
    and restore its checkpoint in ``folder``, or start afresh; return a :class:`Run`."""
    recipe = config.recipe
    plan = distributed.batch_norm_plan(recipe, procs.world_size, procs.device.type)
    images = run_images(dataset if dataset is not None else load_dataset("cifar10"), config, procs.device)
    seed_everything(config.seed)  # the same initial weights on every process
    model = build_model(config).to(procs.device)
    if plan.sync:
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    channels_last = _channels_last(procs.device)
    set_memory_format(model, channels_last)
    optimizer = torch.optim.SGD(model.parameters(), lr=recipe.lr, momentum=recipe.momentum,
                                weight_decay=recipe.weight_decay)
    scaler = grad_scaler(procs.device)
    path = store.checkpoint_file(folder, config)
    saved = distributed.broadcast(_saved_state(path, config) if procs.is_main else None, procs)
    if saved is not None:
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        scaler.load_state_dict(saved["scaler"])
        state = RunState.from_dict(saved)
        state.sessions += 1
        if log and procs.is_main:
            print(f"resuming {run_id(config)} at iteration {state.iteration:,} of {config.iterations:,} ({path})")
    else:
        state = RunState(warming_up=recipe.warmup_lr is not None)
        if log and procs.is_main:
            related = _related(folder, config)
            changed = ("; a changed configuration of " + related["run_id"] + ": "
                       + "; ".join(checkpoint.config_diff(related["config"], config.to_dict())[:5])) if related else ""
            print(f"starting {run_id(config)}: {config.arch.name}, {config.iterations:,} iterations{changed}")
    net = model
    if procs.world_size > 1:
        net = DistributedDataParallel(model, device_ids=[procs.device.index] if procs.device.type == "cuda" else None)
    return Run(config, Path(folder), procs, images, model, net, optimizer, scaler, plan.chunks, channels_last, state)


def _warm_up(run, batch_wrong, bar, log):
    """The paper's ResNet-110: lr 0.01 until the training error of the last
    ``recipe.warmup_window`` mini-batches is below ``recipe.warmup_error``."""
    recipe, state = run.config.recipe, run.state
    batch_error = distributed.sum_over_ranks(batch_wrong.float(), run.procs).item() / recipe.batch_size
    state.recent_errors = (state.recent_errors + [batch_error])[-recipe.warmup_window:]
    window = state.recent_errors
    if len(window) == recipe.warmup_window and sum(window) / len(window) < recipe.warmup_error:
        state.warming_up, state.warmup_end = False, state.iteration
        if log:
            bar.write(f"{run.config.arch.name}: warm-up over at iteration {state.iteration}, lr {recipe.lr} from now")


def _train_interval(run, bar, log):
    """Steps up to the next point of the curves. Returns the misclassified
    images and the summed loss over those steps (summed over the processes,
    as float64), the number of images, and the last learning rate."""
    config, state, procs = run.config, run.state, run.procs
    every = config.scale.eval_every
    stop = min((state.iteration // every + 1) * every, config.iterations)
    wrong = torch.zeros((), device=procs.device, dtype=torch.int64)
    loss_sum = torch.zeros((), device=procs.device)
    images = 0
    while state.iteration < stop:
        lr = config.lr_at(state.iteration, state.warming_up)
        x, y = run.images.train.part(state.iteration, procs.rank, procs.world_size)
        x = to_device(x, procs.device, run.channels_last)
        batch_wrong, batch_loss = paper_step(run.net, run.optimizer, run.scaler, x, y, run.chunks, lr)
        wrong += batch_wrong
        loss_sum += batch_loss
        images += len(y) * procs.world_size
        state.iteration += 1
        bar.update()
        if state.warming_up:
            _warm_up(run, batch_wrong, bar, log)
    totals = distributed.sum_over_ranks(torch.stack([wrong.double(), loss_sum.double()]), procs)
    return totals, images, lr


def _add_point(run, totals, images, lr, bar):
    """A point of the curves (training error and loss since the last point,
    validation and test error now), then the checkpoint."""
    state, curves = run.state, run.state.curves
    check_finite(totals[1].item(), f"by iteration {state.iteration} of {run.name}")
    if run.procs.is_main:
        curves["iteration"].append(state.iteration)
        curves["lr"].append(lr)
        curves["train_error"].append(totals[0].item() / images)
        curves["train_loss"].append(totals[1].item() / images)
        curves["val_error"].append(error_rate(run.model, run.images.val_curve) if run.images.val_curve else None)
        curves["test_error"].append(error_rate(run.model, run.images.test_curve))
        run.account_time()
        run.save()
        bar.show(train=f"{curves['train_error'][-1]:.1%}", test=f"{curves['test_error'][-1]:.1%}", lr=f"{lr:g}")
    distributed.barrier(run.procs)


def train(run, progress=True, log=True):
    """Train ``run`` to its last iteration, a point of the curves (and a
    checkpoint) every ``scale.eval_every`` iterations."""
    config, state = run.config, run.state
    log = log and run.procs.is_main
    with Progress(config.iterations, desc=config.arch.name, unit="it", initial=state.iteration,
                  enabled=progress and run.procs.is_main) as bar:
        run.net.train()  # evaluation switches to eval mode and back
        while state.iteration < config.iterations:
            with Stopwatch(run.procs.device) as clock:
                totals, images, lr = _train_interval(run, bar, log)
            state.train_seconds += clock.seconds
            _add_point(run, totals, images, lr, bar)


def finish(run, log=True):
    """The final errors and the layer responses, written as the run's result
    (by the main process); return the result on every process."""
    config, images, model = run.config, run.images, run.model
    result = None
    if run.procs.is_main:
        names, stds = response_std(model, images.responses)
        test_error = error_rate(model, images.test)
        val_error = error_rate(model, images.val) if images.val is not None else None
        run.account_time()
        state = run.state
        result = {
            "run_id": run.name,
            "config": config.to_dict(),
            "curves": state.curves,
            "test_error": test_error,
            "val_error": val_error,
            "train_images": images.train.source.num_examples,
            "warmup_end": state.warmup_end,
            "responses": {"layers": names, "std": stds},
            "params": sum(p.numel() for p in model.parameters()),
            "seconds": state.seconds,
            "train_seconds": state.train_seconds,
            "examples_per_s": (config.iterations * config.recipe.batch_size / state.train_seconds
                               if state.train_seconds > 0 else None),
            "hardware": _hardware(run.procs),
            "sessions": state.sessions,
            "finished_at": time.strftime("%Y-%m-%d %H:%M:%S"),
        }
        store.write_result(store.result_path(run.folder, config), result)
        if log:
            print(report.summary_line(result))
    distributed.barrier(run.procs)
    return distributed.broadcast(result, run.procs)


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
    log = log and procs.is_main
    done = distributed.broadcast(store.result_of(config, folder) if procs.is_main else None, procs)
    if done is not None:
        if log:
            print(f"done already: {report.summary_line(done)}")
        return done
    this = start(config, folder, procs, dataset, log)
    train(this, progress, log)
    return finish(this, log)


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
    chunks = distributed.batch_norm_plan(config.recipe, 1, device.type).chunks
    model = set_memory_format(build_model(config).to(device), _channels_last(device))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    scaler = grad_scaler(device)
    x = to_device(torch.randn(config.recipe.batch_size, 3, 32, 32, device=device), device, _channels_last(device))
    y = torch.randint(0, 10, (config.recipe.batch_size,), device=device)
    model.train()
    for _ in range(warmup):
        paper_step(model, optimizer, scaler, x, y, chunks, 0.01)
    with Stopwatch(device) as clock:
        for _ in range(steps):
            paper_step(model, optimizer, scaler, x, y, chunks, 0.01)
    return clock.seconds / steps
