"""The course's training loop: short enough to read, complete enough to use.

``fit`` trains for a number of epochs and returns a :class:`History`. It
measures any task's metrics (classification accuracy by default; a sequence
task's token accuracy that skips padding), shows a progress bar, can redraw
the learning curves live in a notebook, uses mixed precision on CUDA, and with
``checkpoint=path`` saves its state after every epoch so that running the same
call again after an interruption resumes instead of starting over -- but only
the same run (see :mod:`course_utils.checkpoint`).

A batch is ``(x, y)``: ``y`` the targets, ``x`` a tensor or a tuple of
tensors; ``forward(model, x)`` runs the model on it (by default ``model(x)``,
or ``model(*x)`` for a tuple), so a model of several inputs, a language
model's windows or mixed-up images train through the same loop.

:func:`train_step` is one optimizer step (forward, loss, backward through the
gradient scaler, optional gradient accumulation over parts of the batch and
clipping, optimizer and scheduler step); ``fit`` and the experiment runner
(``course_utils.experiments.runner``) both train with it, with the same
:class:`Progress` bar and finite-loss check (:func:`check_finite`).

A metric is a function ``metric(outputs, targets) -> (total, count)``: a sum
over the batch and the number of things summed, so that an epoch's value is
the exact ratio of the sums over all batches (:func:`accuracy` returns the
number of correct predictions and of predictions made).

:func:`over_seeds` repeats a run over several seeds and reports the mean and
spread of its results.
"""

import contextlib
import functools
import math
import statistics
import sys
from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from course_utils import checkpoint as ckpt
from course_utils.device import autocast, get_device, grad_scaler, seed_everything
from course_utils.modes import eval_mode
from course_utils.plot import plot_history
from course_utils.timing import Stopwatch, per_second

# ----------------------------------------------------------------------------
# Metrics and losses for any task
# ----------------------------------------------------------------------------


def accuracy(outputs, targets, ignore_index=None):
    """Correct predictions and predictions made, as ``(correct, count)``.

    ``outputs`` are scores over classes in the last dimension: ``(B, C)`` for
    classification, ``(B, T, V)`` for a sequence of ``T`` tokens from a
    vocabulary of ``V``; ``targets`` are the class indices, ``(B,)`` or
    ``(B, T)``. Targets equal to ``ignore_index`` (padding) count neither way.
    Use ``functools.partial(accuracy, ignore_index=pad)`` as a metric of ``fit``.
    """
    if outputs.shape[:-1] != targets.shape:
        raise ValueError(f"accuracy needs outputs (..., classes) and targets of the leading shape: got outputs "
                         f"{tuple(outputs.shape)} and targets {tuple(targets.shape)}")
    hits = outputs.argmax(dim=-1) == targets  # (B,) or (B, T)
    if ignore_index is None:
        return hits.sum(), targets.numel()
    keep = targets != ignore_index
    return (hits & keep).sum(), keep.sum()


def token_cross_entropy(logits, targets, ignore_index=-100):
    """Cross-entropy of ``(B, T, V)`` logits against ``(B, T)`` targets, and
    the number of targets it averaged over: ``(mean, count)``.

    Positions whose target is ``ignore_index`` (padding) are left out of both.
    ``fit`` weights each batch's mean by ``count``, so that an epoch's loss is
    the mean over all real tokens however the padding is spread over batches.
    Use ``functools.partial(token_cross_entropy, ignore_index=pad)``.
    """
    b, t, v = logits.shape
    mean = F.cross_entropy(logits.reshape(b * t, v), targets.reshape(b * t), ignore_index=ignore_index)
    return mean, (targets != ignore_index).sum()


def _loss_and_count(loss_fn, outputs, targets):
    """``loss_fn`` returns the mean loss of a batch, or ``(mean, count)``
    where ``count`` is how many targets it averaged (default: the batch size)."""
    out = loss_fn(outputs, targets)
    return out if isinstance(out, tuple) else (out, len(targets))


class _Sums:
    """Running ``(total, count)`` sums per name, kept on the device (no
    synchronisation per batch) until :meth:`means` reads them once."""

    def __init__(self):
        self.totals, self.counts = {}, {}

    def add(self, name, total, count):
        self.totals[name] = self.totals.get(name, 0) + total
        self.counts[name] = self.counts.get(name, 0) + count

    def add_batch(self, loss, loss_count, metrics, outputs, targets):
        self.add("loss", loss.detach().float() * loss_count, loss_count)
        for name, metric in metrics.items():
            self.add(name, *metric(outputs, targets))

    def means(self):
        return {name: float(total) / float(self.counts[name]) if float(self.counts[name]) > 0 else math.nan
                for name, total in self.totals.items()}


# ----------------------------------------------------------------------------
# History
# ----------------------------------------------------------------------------


@dataclass(frozen=True)
class EpochStats:
    """What one epoch achieved.

    ``metrics`` maps ``"<set>_<metric>"`` to its value over the epoch, e.g.
    ``{"train_loss": 0.31, "train_acc": 0.89, "test_loss": 0.35, "test_acc": 0.87}``
    (accuracies are fractions in [0, 1]); each is also an attribute
    (``stats.test_acc``). ``seconds`` is the training time of the epoch,
    evaluation excluded; ``examples_per_s`` the training throughput; ``lr``
    the first parameter group's learning rate at the end of the epoch.
    """

    epoch: int
    seconds: float
    examples_per_s: float
    lr: float
    metrics: dict = field(default_factory=dict)

    def __getattr__(self, name):
        metrics = self.__dict__.get("metrics")
        if metrics is not None and name in metrics:
            return metrics[name]
        known = ", ".join(metrics) if metrics else "none"
        raise AttributeError(f"EpochStats has no field or metric {name!r} (this run's metrics: {known})")


class History(list):
    """A list of :class:`EpochStats` with a few conveniences."""

    def column(self, name):
        """One field or metric over all epochs, e.g. ``history.column("test_acc")``."""
        return [getattr(e, name) for e in self]

    def mean(self, name):
        """The mean of one field over all epochs, e.g. ``history.mean("seconds")``."""
        if not self:
            raise ValueError("the history is empty: no epoch has finished")
        return sum(self.column(name)) / len(self)

    @property
    def final(self):
        if not self:
            raise ValueError("the history is empty: no epoch has finished")
        return self[-1]

    def metric_names(self):
        """The metrics recorded in any epoch, in the order they first appear."""
        return list(dict.fromkeys(name for e in self for name in e.metrics))

    def to_dicts(self):
        return [asdict(e) for e in self]

    @classmethod
    def from_dicts(cls, dicts):
        return cls(EpochStats(**d) for d in dicts)

    def table(self):
        """The epochs as aligned text, one line each; only the metrics recorded."""
        names = self.metric_names()
        header = [f"{'epoch':>5}"] + [f"{n.replace('_', ' '):>11}" for n in names] + [f"{'seconds':>8}",
                                                                                     f"{'examples/s':>10}"]
        lines = [" ".join(header)]
        for e in self:
            cells = [f"{e.epoch:>5}"] + [f"{_format(n, e.metrics[n]) if n in e.metrics else '':>11}" for n in names]
            lines.append(" ".join(cells + [f"{e.seconds:>8.1f}", f"{e.examples_per_s:>10,.0f}"]))
        return "\n".join(lines)


def _format(name, value):
    """Accuracies as percentages, anything else with four decimals."""
    return f"{value:.2%}" if name.endswith("acc") or name.endswith("accuracy") else f"{value:.4f}"


def _epoch_line(stats, epochs, sets):
    parts = [f"epoch {stats.epoch}/{epochs}"]
    for prefix in sets:
        values = [(n[len(prefix) + 1:], v) for n, v in stats.metrics.items() if n.startswith(prefix + "_")]
        parts.append(f"{prefix} " + " ".join(f"{name} {_format(name, v)}" for name, v in values))
    parts += [f"{stats.seconds:.1f} s", f"{stats.examples_per_s:,.0f} examples/s"]
    return "  ".join(parts)


# ----------------------------------------------------------------------------
# The batch seam: what a batch is, and how the model runs on it
# ----------------------------------------------------------------------------


def default_forward(model, x):
    """How ``fit``, ``evaluate`` and ``predict`` run ``model`` on a batch's ``x``
    unless told otherwise: ``model(*x)`` when ``x`` is a tuple or list (a model
    of several inputs, e.g. a translation model's ``(src, tgt_in)``), else
    ``model(x)``."""
    return model(*x) if isinstance(x, (tuple, list)) else model(x)


def to_device(x, device, channels_last=False):
    """``x``, a tensor or a tuple or list of tensors, on ``device`` (a named
    tuple stays one); with ``channels_last``, 4-D tensors are stored channels-last."""
    if isinstance(x, torch.Tensor):
        x = x.to(device, non_blocking=True)
        if channels_last and x.ndim == 4:
            x = x.contiguous(memory_format=torch.channels_last)  # same (B, C, H, W), strides of (B, H, W, C)
        return x
    if isinstance(x, (tuple, list)) and all(isinstance(t, torch.Tensor) for t in x):
        return _same_kind(x, [to_device(t, device, channels_last) for t in x])
    raise TypeError(f"a batch's x must be a tensor or a tuple of tensors, got {_kind(x)}: make the batch "
                    "source yield (x, y) with x a tensor, or a tuple such as (src, tgt_in) for a model of "
                    "several inputs (fit then calls model(*x), or pass forward=)")


def _same_kind(x, items):
    """``items`` as the sequence type of ``x`` (tuple, list or named tuple)."""
    return x._make(items) if hasattr(x, "_make") else type(x)(items)


def _kind(x):
    if isinstance(x, (tuple, list)):
        return f"a {type(x).__name__} of {', '.join(type(t).__name__ for t in x)}"
    return type(x).__name__


def _chunked(x, chunks):
    """``x`` (a tensor or a tuple of tensors) cut into ``chunks`` parts along the batch dimension."""
    if chunks == 1:
        return [x]
    if isinstance(x, torch.Tensor):
        return list(x.chunk(chunks))
    return [_same_kind(x, parts) for parts in zip(*(t.chunk(chunks) for t in x))]


# ----------------------------------------------------------------------------
# Memory layout and devices
# ----------------------------------------------------------------------------


def _model_device(model):
    try:
        return next(model.parameters()).device
    except StopIteration:
        return get_device()


def _is_channels_last(model):
    """Whether the model's conv weights are stored channels-last (1x1 or
    one-channel kernels are both layouts at once: look for one that is only that)."""
    return any(p.ndim == 4 and p.is_contiguous(memory_format=torch.channels_last) and not p.is_contiguous()
               for p in model.parameters())


def set_memory_format(model, channels_last):
    """Store ``model``'s 4-D weights channels-last (``True``) or contiguous (``False``), in place."""
    return model.to(memory_format=torch.channels_last if channels_last else torch.contiguous_format)


def _forward(model, forward, x, device, channels_last):
    """``forward(model, x)`` under autocast; with channels-last memory, a failure says what to try."""
    try:
        with autocast(device):
            return forward(model, x)
    except RuntimeError as err:
        if not channels_last:
            raise
        raise RuntimeError(
            f"{err}\n\nThe model failed with channels_last=True (inputs and weights stored channels-last). "
            "If it calls .view() on a convolution's output, that is the cause: use .reshape() or nn.Flatten() "
            "in the model, or train with channels_last=False.") from err


# ----------------------------------------------------------------------------
# One training step, shared by fit and the experiment runner
# ----------------------------------------------------------------------------

_BATCH_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm)


@contextlib.contextmanager
def _running_statistics_kept(model):
    """Batch norms normalise with the batch's statistics but leave their running
    statistics (and ``num_batches_tracked``) alone during the block."""
    norms = [m for m in model.modules() if isinstance(m, _BATCH_NORMS) and m.track_running_stats]
    for m in norms:
        m.track_running_stats = False
    try:
        yield
    finally:
        for m in norms:
            m.track_running_stats = True


@dataclass(frozen=True)
class StepPart:
    """One forward pass of a training step: its ``outputs`` and ``targets``,
    its mean ``loss`` (detached) and the ``count`` of targets it averaged."""

    outputs: torch.Tensor
    targets: torch.Tensor
    loss: torch.Tensor
    count: object


def train_step(model, x, y, optimizer, scaler, *, loss_fn=F.cross_entropy, forward=default_forward, chunks=1,
               clip_grad_norm=None, scheduler=None, channels_last=False):
    """One optimizer step on the batch ``(x, y)``, already on the device; the
    loop body of both ``fit`` and the experiment runner.

    1. The gradients are zeroed.
    2. The batch is fed in ``chunks`` equal parts (gradient accumulation; 1:
       the whole batch at once). Each part: ``forward(model, x)`` under
       autocast, ``loss_fn(outputs.float(), y)``, and the backward pass of
       ``loss / chunks`` through ``scaler``, so that the gradients add up to
       the gradient of the mean of the parts' losses. Batch norm normalises
       each part over its own images, but its running statistics move once
       per step, with the first part: what a process of a distributed run
       does (``DistributedDataParallel`` keeps the first process's
       statistics, from the first part of the batch), so that a step has the
       same effect however it is split into parts or processes. Under
       ``DistributedDataParallel`` only the last part averages the gradients
       over the processes.
    3. With ``clip_grad_norm``, the gradients (unscaled first when float16
       loss scaling is on) are clipped to that total norm.
    4. The optimizer steps through the scaler, the scaler updates, and the
       ``scheduler`` (if any) steps.

    Returns a list of :class:`StepPart`, one per part. Nothing is read back
    from the device (a GPU keeps running ahead of the CPU).
    """
    device = y.device
    optimizer.zero_grad(set_to_none=True)
    distributed = isinstance(model, DistributedDataParallel)
    xs, ys = _chunked(x, chunks), _chunked(y, chunks)
    n = len(ys)  # fewer than chunks for a batch of fewer examples
    parts = []
    for i, (xc, yc) in enumerate(zip(xs, ys)):
        sync = not distributed or i == n - 1  # DDP: average the gradients once, at the end
        with (contextlib.nullcontext() if sync else model.no_sync(),
              contextlib.nullcontext() if i == 0 else _running_statistics_kept(model)):
            outputs = _forward(model, forward, xc, device, channels_last)
            loss, count = _loss_and_count(loss_fn, outputs.float(), yc)
            scaler.scale(loss if n == 1 else loss / n).backward()
        parts.append(StepPart(outputs.detach(), yc, loss.detach(), count))
    if clip_grad_norm is not None:
        scaler.unscale_(optimizer)  # clip the true gradients, not the float16-scaled ones
        torch.nn.utils.clip_grad_norm_(model.parameters(), clip_grad_norm)
    scaler.step(optimizer)
    scaler.update()
    if scheduler is not None:
        scheduler.step()
    return parts


def set_learning_rate(optimizer, lr):
    """Set every parameter group's learning rate (a schedule computed by hand)."""
    for group in optimizer.param_groups:
        group["lr"] = lr


def check_finite(loss, when):
    """Raise ``FloatingPointError`` if the training loss ``loss`` (a number) is
    not finite; ``when`` says where, e.g. ``"in epoch 3"``."""
    if not math.isfinite(loss):
        raise FloatingPointError(f"the training loss became {loss} {when}: lower the learning rate or check the "
                                 "inputs' normalisation")


class Progress:
    """The progress bar of ``fit`` and the experiment runner (tqdm), or
    nothing when ``enabled`` is false or no step is left; :meth:`write`
    prints a line above the bar (or just prints it)."""

    def __init__(self, total, desc, unit, initial=0, enabled=True):
        self.bar = None
        if enabled and initial < total:
            self.bar = tqdm(total=total, initial=initial, desc=desc, unit=unit, file=sys.stdout, mininterval=2.0,
                            leave=False, dynamic_ncols=False, ncols=100)

    def update(self, steps=1):
        if self.bar is not None:
            self.bar.update(steps)

    def show(self, **values):
        """Values to show beside the bar, e.g. ``show(loss="0.312")``."""
        if self.bar is not None:
            self.bar.set_postfix(**values)

    def write(self, line):
        if self.bar is not None:
            self.bar.write(line, file=sys.stdout)
        else:
            print(line)

    def close(self):
        if self.bar is not None:
            self.bar.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


# ----------------------------------------------------------------------------
# Evaluation
# ----------------------------------------------------------------------------


@torch.no_grad()
def evaluate(model, batches, loss_fn=F.cross_entropy, metrics=None, forward=None):
    """The mean loss and metrics of ``model`` over ``batches``, as a dict.

    ``evaluate(model, test_batches)`` returns ``{"loss": ..., "acc": ...}``
    for a classifier. ``loss_fn``, ``metrics`` and ``forward`` work as in
    :func:`fit` (default ``{"acc": accuracy}``): each value is the exact mean
    over all examples (or, for a sequence task, all real tokens). The model
    is in eval mode meanwhile (dropout off, batch norm uses its running
    statistics) and returns to its previous mode afterwards.
    """
    metrics = {"acc": accuracy} if metrics is None else metrics
    forward = default_forward if forward is None else forward
    device = _model_device(model)
    channels_last = _is_channels_last(model)
    sums = _Sums()
    with eval_mode(model):
        for x, y in batches:
            x, y = to_device(x, device, channels_last), y.to(device)
            outputs = _forward(model, forward, x, device, channels_last)
            loss, count = _loss_and_count(loss_fn, outputs.float(), y)
            sums.add_batch(loss, count, metrics, outputs, y)
    if not sums.counts:
        raise ValueError("evaluate got no batches: the dataset is empty")
    return sums.means()


@torch.no_grad()
def predict(model, batches, forward=None):
    """Predicted classes (argmax over the last dimension) and targets over
    ``batches``, as CPU tensors (``forward`` as in :func:`fit`)."""
    forward = default_forward if forward is None else forward
    device = _model_device(model)
    channels_last = _is_channels_last(model)
    preds, targets = [], []
    with eval_mode(model):
        for x, y in batches:
            outputs = _forward(model, forward, to_device(x, device, channels_last), device, channels_last)
            preds.append(outputs.argmax(dim=-1).cpu())
            targets.append(y.cpu())
    return torch.cat(preds), torch.cat(targets)


# ----------------------------------------------------------------------------
# Checkpoints: save after every epoch, resume only the same run
# ----------------------------------------------------------------------------


def _save_run(path, config, model, optimizer, scheduler, scaler, history, train_batches):
    ckpt.save(path, {
        "config": config,
        "history": history.to_dicts(),
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "scaler": scaler.state_dict(),
        "batches_epoch": getattr(train_batches, "epoch", None),  # Batches' public epoch counter
        "rng": ckpt.rng_states(),
    })


def _differences(state, this_run, scheduler):
    """What differs between the run saved in ``state`` and this call's (see
    :mod:`course_utils.checkpoint`): more epochs than were saved continue the
    run, and a scheduler that is where the checkpoint left it (the same
    objects passed again) is the scheduler the run started with."""
    saved = state["config"]
    if scheduler is not None and state.get("scheduler") is not None \
            and ckpt.describe_scheduler(scheduler) == ckpt.describe_scheduler(scheduler, state["scheduler"]):
        this_run = {**this_run, "scheduler": saved.get("scheduler")}
    longer = len(state["history"]) <= this_run["epochs"]
    return ckpt.config_diff(saved, this_run, ignore=("epochs",) if longer else ())


def _resume(path, this_run, model, optimizer, scheduler, scaler, train_batches, log):
    """Restore the run saved at ``path`` if it is this run (the policy of
    :func:`course_utils.checkpoint.resume`); return its history and its
    description (with the scheduler as the run started)."""
    state = ckpt.resume(path, lambda saved: _differences(saved, this_run, scheduler))
    if state is None:
        return History(), this_run
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    if scheduler is not None:
        scheduler.load_state_dict(state["scheduler"])
    scaler.load_state_dict(state["scaler"])
    if state["batches_epoch"] is not None and hasattr(train_batches, "epoch"):
        train_batches.epoch = state["batches_epoch"]
    ckpt.set_rng_states(state["rng"])
    done = len(state["history"])
    if log:
        print(f"resumed from {path}: {done} of {this_run['epochs']} epochs already done "
              "(delete the file to train from scratch)")
    return History.from_dicts(state["history"]), {**state["config"], "epochs": this_run["epochs"]}


class _LivePlot:
    """Redraws the learning curves in place in a notebook (no-op elsewhere)."""

    def __init__(self):
        self.handle = None
        try:
            from IPython import get_ipython

            self.active = get_ipython() is not None
        except ImportError:
            self.active = False

    def update(self, history):
        if not self.active:
            return
        import matplotlib.pyplot as plt
        from IPython.display import display

        fig = plot_history(history)
        if self.handle is None:
            self.handle = display(fig, display_id=True)
        else:
            self.handle.update(fig)
        plt.close(fig)


# ----------------------------------------------------------------------------
# The loop
# ----------------------------------------------------------------------------


def fit(model, train_batches, eval_batches=None, *, epochs, optimizer, scheduler=None, loss_fn=F.cross_entropy,
        metrics=None, forward=None, eval_name="val", checkpoint=None, config=None, channels_last=False,
        clip_grad_norm=None, chunks=1, live_plot=False, progress=True, log=True):
    """Train ``model`` and return its :class:`History` (about 60 lines of code under this docstring, and
    :func:`train_step`: read them).

    Args:
        model: the network; it stays on the device it is on (move it first,
            e.g. ``model.to(get_device())``).
        train_batches: iterable of ``(x, y)``, e.g. ``ImageDataset.train_batches``:
            ``y`` a tensor of targets (its length is the number of examples),
            ``x`` a tensor or a tuple of tensors (each moved to the model's
            device). A batch source with a ``describe()`` method (the course's
            do) says what it is for the checkpoint's run identity.
        eval_batches: iterable evaluated after each epoch (``None``: no
            evaluation, and no such columns in the history).
        epochs: total number of epochs (a resumed run counts those done).
        optimizer: a ``torch.optim`` optimizer over the model's parameters.
        scheduler: optional learning-rate scheduler, stepped after every batch.
        loss_fn: ``loss_fn(outputs, y)`` returns the batch's mean loss, or
            ``(mean, count)`` where ``count`` is the number of targets it
            averaged (see :func:`token_cross_entropy`); the epoch's loss is
            the mean weighted by ``count`` (by default the batch size).
        metrics: dict ``name -> metric(outputs, y) -> (total, count)``, each
            reported as ``total / count`` summed over the epoch's batches
            (default ``{"acc": accuracy}``; for padded sequences
            ``{"acc": partial(accuracy, ignore_index=pad)}``). They are
            measured on the training batches as the model trains (dropout on)
            and on ``eval_batches`` in eval mode.
        forward: ``forward(model, x) -> outputs``, how the model runs on a
            batch's ``x`` (default :func:`default_forward`: ``model(*x)`` for a
            tuple, else ``model(x)``); e.g. ``lambda m, x: m(x)["logits"]``.
        eval_name: the name of the evaluated set in the history and the epoch
            line: ``"val"`` gives ``val_loss`` and ``val_acc``; pass ``"test"``
            when ``eval_batches`` is the test set.
        checkpoint: file path (see ``course_utils.checkpoint.checkpoint_path``).
            The state is saved after every epoch, with the run's configuration
            (``course_utils.checkpoint.run_config``). A later call with the
            same path resumes after the last saved epoch if it is the same run;
            if any setting differs (learning rate, batch size, augmentation,
            model, ...) it prints which ones, keeps the old file as
            ``<name>.replaced.pt`` and starts fresh. An unreadable file raises
            ``CheckpointError`` saying what is wrong and how to start over.
        config: a dict of JSON data describing anything else that defines the
            run (recorded in the checkpoint and compared on resuming).
        channels_last: store the model's weights and the 4-D inputs
            channels-last (``True``) or contiguous (``False``). Which is faster
            depends on the model and the device: ``benchmarks/memory_layout.py``
            measures both. A model that calls ``.view()`` on a conv output fails
            with ``True``; the error says how to fix it.
        clip_grad_norm: clip the gradients' total norm to this value before
            each step (after unscaling them when float16 loss scaling is on).
        chunks: feed each batch in this many equal parts whose gradients add
            up (gradient accumulation, for a batch larger than memory allows);
            batch norm then normalises each part on its own (see :func:`train_step`).
        live_plot: redraw the learning curves after each epoch (notebooks).
        progress: show a tqdm progress bar.
        log: print one line per epoch, and whether the run resumed.
    """
    device = _model_device(model)
    metrics = {"acc": accuracy} if metrics is None else dict(metrics)
    forward = default_forward if forward is None else forward
    if "loss" in metrics:
        raise ValueError("metrics may not be named 'loss': fit reports loss_fn's value under that name")
    if eval_name == "train" or not eval_name:
        raise ValueError(f"eval_name={eval_name!r} would mix up the evaluated set with the training set: "
                         "use e.g. 'val' or 'test'")
    if not callable(forward):
        raise ValueError(f"forward must be a function forward(model, x) -> outputs, got {type(forward).__name__}")
    if not isinstance(chunks, int) or chunks < 1:
        raise ValueError(f"chunks must be a positive integer (1: no gradient accumulation), got {chunks!r}")
    if config is not None and not isinstance(config, dict):
        raise ValueError(f"config must be a dict of JSON data, e.g. {{'label_smoothing': 0.1}}; got {type(config)}")
    set_memory_format(model, channels_last)
    scaler = grad_scaler(device)
    history = History()
    if checkpoint is not None:
        extra = {"loss_fn": ckpt.describe_callable(loss_fn), "forward": ckpt.describe_callable(forward),
                 "clip_grad_norm": clip_grad_norm, "chunks": chunks, "config": config or {}}
        this_run = ckpt.run_config(model, optimizer, scheduler, epochs, train_batches, extra=extra)
        history, this_run = _resume(checkpoint, this_run, model, optimizer, scheduler, scaler, train_batches, log)
    sets = ["train"] + ([eval_name] if eval_batches is not None else [])
    plot = _LivePlot() if live_plot else None
    if plot is not None and history:
        plot.update(history)
    step = functools.partial(train_step, optimizer=optimizer, scaler=scaler, loss_fn=loss_fn, forward=forward,
                             chunks=chunks, clip_grad_norm=clip_grad_norm, scheduler=scheduler,
                             channels_last=channels_last)

    steps = len(train_batches) * max(0, epochs - len(history))
    with Progress(steps, desc="training", unit="batch", enabled=progress) as bar:
        for epoch in range(len(history) + 1, epochs + 1):
            model.train()
            sums, examples = _Sums(), 0
            with Stopwatch(device) as clock:
                for x, y in train_batches:
                    x, y = to_device(x, device, channels_last), y.to(device, non_blocking=True)
                    for part in step(model, x, y):
                        sums.add_batch(part.loss, part.count, metrics, part.outputs, part.targets)
                    examples += len(y)
                    bar.update()
            if examples == 0:
                raise ValueError("train_batches yielded no batches: the training set is empty")
            values = {f"train_{name}": v for name, v in sums.means().items()}
            check_finite(values["train_loss"], f"in epoch {epoch}")
            if eval_batches is not None:
                scores = evaluate(model, eval_batches, loss_fn, metrics, forward)
                values.update({f"{eval_name}_{name}": v for name, v in scores.items()})
            stats = EpochStats(epoch, clock.seconds, per_second(examples, clock.seconds),
                               optimizer.param_groups[0]["lr"], values)
            history.append(stats)
            if checkpoint is not None:
                _save_run(checkpoint, this_run, model, optimizer, scheduler, scaler, history, train_batches)
            bar.show(loss=f"{values['train_loss']:.3f}")
            if log:
                bar.write(_epoch_line(stats, epochs, sets))
            if plot is not None:
                plot.update(history)
    return history


# ----------------------------------------------------------------------------
# Repeating a run over seeds
# ----------------------------------------------------------------------------


class SeedRuns:
    """The results of one run repeated over seeds (see :func:`over_seeds`).

    ``results[i]`` is a dict of the numbers the run with ``seeds[i]``
    returned. :meth:`mean` and :meth:`std` (the sample standard deviation,
    with ``n - 1``) summarise one field; :meth:`summary` writes it as
    ``"91.2% ± 0.4% over 5 seeds"``.
    """

    def __init__(self, seeds, results):
        self.seeds, self.results = list(seeds), list(results)

    def values(self, name):
        return [r[name] for r in self.results]

    def mean(self, name):
        return statistics.fmean(self.values(name))

    def std(self, name):
        """Sample standard deviation (``n - 1``); ``nan`` for a single seed."""
        values = self.values(name)
        return statistics.stdev(values) if len(values) > 1 else math.nan

    def fields(self):
        return [k for k in self.results[0] if all(isinstance(r.get(k), (int, float)) for r in self.results)]

    def summary(self, name):
        mean, std = self.mean(name), self.std(name)
        text = f"{_format(name, mean)} ± {_format(name, std)}" if not math.isnan(std) else _format(name, mean)
        return f"{name} {text} over {len(self.seeds)} seed{'s' if len(self.seeds) != 1 else ''}"

    def __repr__(self):
        return "\n".join(self.summary(name) for name in self.fields())


def _as_numbers(result):
    if isinstance(result, History):
        result = result.final
    if isinstance(result, EpochStats):
        return {**result.metrics, "seconds": result.seconds, "examples_per_s": result.examples_per_s}
    if isinstance(result, dict):
        return dict(result)
    return {"value": result}


def over_seeds(run, seeds):
    """Call ``run(seed)`` for each seed and collect its results in a :class:`SeedRuns`.

    Before each call the random number generators are seeded with
    ``seed_everything(seed)``; ``run`` should also pass ``seed`` to anything
    with its own seed (e.g. ``train_batches(..., seed=seed)``). ``run`` returns
    a number, a dict of numbers, an :class:`EpochStats`, or a :class:`History`
    (whose last epoch counts).

    Example::

        runs = over_seeds(lambda seed: fit(make_model(), ...), seeds=range(5))
        print(runs.summary("test_acc"))  # test_acc 91.20% ± 0.35% over 5 seeds
    """
    seeds = list(seeds)
    if not seeds:
        raise ValueError("over_seeds needs at least one seed, e.g. seeds=range(3)")
    results = []
    for seed in seeds:
        seed_everything(seed)
        results.append(_as_numbers(run(seed)))
    return SeedRuns(seeds, results)
