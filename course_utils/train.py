"""The course's training loop: short enough to read, complete enough to use.

``fit`` trains for a number of epochs and returns a :class:`History`. It
shows a progress bar, can redraw the learning curves live in a notebook,
uses mixed precision and channels-last memory on CUDA, and with
``checkpoint=path`` saves its state after every epoch so that running the
same call again after an interruption resumes instead of starting over.
"""

import math
import os
import sys
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from course_utils.device import autocast, get_device, grad_scaler


@dataclass(frozen=True)
class EpochStats:
    """What one epoch achieved. Accuracies are fractions in [0, 1]."""

    epoch: int
    train_loss: float
    train_acc: float
    test_loss: float
    test_acc: float
    seconds: float  # training time of the epoch, evaluation excluded
    examples_per_s: float  # training throughput
    lr: float


class History(list):
    """A list of :class:`EpochStats` with a few conveniences."""

    def column(self, name):
        """One field over all epochs, e.g. ``history.column("test_acc")``."""
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

    def to_dicts(self):
        return [asdict(e) for e in self]

    def table(self):
        """The epochs as aligned text, one line each."""
        lines = [f"{'epoch':>5} {'train loss':>10} {'train acc':>9} {'test loss':>9} {'test acc':>8} "
                 f"{'seconds':>8} {'examples/s':>10}"]
        for e in self:
            lines.append(f"{e.epoch:>5} {e.train_loss:>10.4f} {e.train_acc:>9.2%} {e.test_loss:>9.4f} "
                         f"{e.test_acc:>8.2%} {e.seconds:>8.1f} {e.examples_per_s:>10,.0f}")
        return "\n".join(lines)


def _model_device(model):
    try:
        return next(model.parameters()).device
    except StopIteration:
        return get_device()


def _is_channels_last(model):
    """Whether ``fit`` stored the model channels-last (1x1 or one-channel
    kernels are both layouts at once, so look for one that is only that)."""
    return any(p.ndim == 4 and p.is_contiguous(memory_format=torch.channels_last) and not p.is_contiguous()
               for p in model.parameters())


def _prepare_input(x, device, channels_last):
    x = x.to(device, non_blocking=True)
    if channels_last and x.ndim == 4:
        x = x.contiguous(memory_format=torch.channels_last)
    return x


def _channels_last_default(device):
    """Channels-last memory helps convolutions on CUDA (tensor cores) and on
    x86 CPUs (oneDNN): about 1.15-1.4x per training step for the course's
    CNNs on a 2-core CPU. MPS gains little, so it stays contiguous there."""
    return device.type in ("cuda", "cpu")


def _channels_last_works(model, batches, device):
    """Probe one forward pass: code that calls ``.view`` on a conv output
    fails on channels-last tensors; such a model trains contiguous instead."""
    try:
        x, _ = next(iter(batches))
    except StopIteration:
        return True
    if hasattr(batches, "epoch"):
        batches.epoch -= 1  # the probe must not use up an epoch's shuffle
    if x.ndim != 4:
        return False
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(_prepare_input(x[:2], device, True))
    except RuntimeError as err:
        if "view size is not compatible" not in str(err):
            raise
        warnings.warn("the model reshapes a conv output with .view(); training without channels-last memory "
                      "(use .reshape() or nn.Flatten() to get its speed-up)", stacklevel=3)
        model.to(memory_format=torch.contiguous_format)
        return False
    finally:
        model.train(was_training)
    return True


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@torch.no_grad()
def evaluate(model, batches, loss_fn=F.cross_entropy):
    """Mean loss and accuracy of ``model`` over ``batches``.

    Puts the model in eval mode (dropout off, batch norm uses its running
    statistics) and restores the previous mode afterwards.
    """
    device = _model_device(model)
    was_training = model.training
    model.eval()
    total_loss = torch.zeros((), device=device)
    correct = torch.zeros((), device=device, dtype=torch.int64)
    count = 0
    channels_last = _is_channels_last(model)
    try:
        for x, y in batches:
            x, y = _prepare_input(x, device, channels_last), y.to(device)
            with autocast(device):
                logits = model(x)
                loss = loss_fn(logits.float(), y)
            total_loss += loss.detach() * len(y)
            correct += (logits.argmax(dim=1) == y).sum()
            count += len(y)
    finally:
        model.train(was_training)
    if count == 0:
        raise ValueError("evaluate got no batches: the dataset is empty")
    return total_loss.item() / count, correct.item() / count


@torch.no_grad()
def predict(model, batches):
    """Predicted classes and true labels over ``batches``, as CPU tensors."""
    device = _model_device(model)
    was_training = model.training
    model.eval()
    preds, labels = [], []
    try:
        for x, y in batches:
            with autocast(device):
                logits = model(_prepare_input(x, device, _is_channels_last(model)))
            preds.append(logits.argmax(dim=1).cpu())
            labels.append(y.cpu())
    finally:
        model.train(was_training)
    return torch.cat(preds), torch.cat(labels)


def checkpoint_path(name):
    """Where a notebook keeps the checkpoint of a long run: ``<folder>/<profile>/<name>.pt``.

    The folder is ``COURSE_CHECKPOINT_DIR``, or ``checkpoints/`` beside the data
    folder (the repository root in a checkout). Each profile has its own
    subfolder, so a quick smoke run is never resumed by a standard one.
    Pass the result to ``fit(..., checkpoint=...)``.
    """
    from course_utils import profile
    from course_utils.paths import project_folder

    return project_folder("COURSE_CHECKPOINT_DIR", "checkpoints") / profile.current() / f"{name}.pt"


def _fingerprint(model, optimizer):
    """What must match for a checkpoint to belong to this run."""
    shapes = [(k, tuple(v.shape)) for k, v in model.state_dict().items()]
    return {"model": type(model).__name__, "shapes": shapes, "optimizer": type(optimizer).__name__}


def _save_checkpoint(path, model, optimizer, scheduler, scaler, history, train_batches):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {
        "fingerprint": _fingerprint(model, optimizer),
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "scaler": scaler.state_dict(),
        "history": history.to_dicts(),
        "batches_epoch": getattr(train_batches, "epoch", None),
        "torch_rng": torch.get_rng_state(),
        "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
    }
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)  # atomic: an interruption never leaves half a checkpoint


def _load_checkpoint(path, model, optimizer, scheduler, scaler, train_batches):
    """Restore a run; return its history, or ``None`` if the file does not fit."""
    state = torch.load(path, map_location="cpu", weights_only=False)
    if state.get("fingerprint") != _fingerprint(model, optimizer):
        warnings.warn(f"checkpoint {path} belongs to a different model or optimizer; starting over "
                      "(delete the file to silence this warning)", stacklevel=3)
        return None
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    if scheduler is not None and state["scheduler"] is not None:
        scheduler.load_state_dict(state["scheduler"])
    scaler.load_state_dict(state["scaler"])
    if state["batches_epoch"] is not None and hasattr(train_batches, "epoch"):
        train_batches.epoch = state["batches_epoch"]
    torch.set_rng_state(state["torch_rng"])
    if state["cuda_rng"] is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda_rng"])
    return History(EpochStats(**e) for e in state["history"])


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

        from course_utils.plot import plot_history

        fig = plot_history(history)
        if self.handle is None:
            self.handle = display(fig, display_id=True)
        else:
            self.handle.update(fig)
        plt.close(fig)


def fit(model, train_batches, test_batches=None, *, epochs, optimizer, scheduler=None, loss_fn=F.cross_entropy,
        checkpoint=None, live_plot=False, progress=True, log=True, channels_last=None):
    """Train ``model`` and return its :class:`History`.

    Args:
        model: the network; it stays on the device it is on (move it first,
            e.g. ``model.to(get_device())``).
        train_batches: iterable of ``(x, y)``, e.g. ``ImageDataset.train_batches``.
        test_batches: iterable evaluated after each epoch (``None``: skip).
        epochs: total number of epochs (a resumed run counts those done).
        optimizer: a ``torch.optim`` optimizer over the model's parameters.
        scheduler: optional learning-rate scheduler, stepped after every batch.
        loss_fn: ``loss_fn(logits, y)``, mean over the batch.
        checkpoint: file path; state is saved after every epoch and a later
            call with the same path resumes after the last saved epoch.
        live_plot: redraw the learning curves after each epoch (notebooks).
        progress: show a tqdm progress bar.
        log: print one line per epoch.
        channels_last: store conv weights and inputs channels-last (default:
            on CUDA and CPU, where it is faster; off on MPS).
    """
    device = _model_device(model)
    if channels_last is None:
        channels_last = _channels_last_default(device)
    if channels_last:
        model.to(memory_format=torch.channels_last)
        channels_last = _channels_last_works(model, train_batches, device)
    scaler = grad_scaler(device)
    history = History()
    if checkpoint is not None and Path(checkpoint).exists():
        restored = _load_checkpoint(checkpoint, model, optimizer, scheduler, scaler, train_batches)
        if restored is not None:
            history = History(restored[:epochs])
            if log:
                print(f"resumed from {checkpoint}: {len(history)} of {epochs} epochs already done "
                      "(delete the file to train from scratch)")
    plot = _LivePlot() if live_plot else None
    if plot is not None and history:
        plot.update(history)

    steps = len(train_batches) * max(0, epochs - len(history))
    bar = None
    if progress and steps > 0:
        from tqdm import tqdm

        bar = tqdm(total=steps, desc="training", unit="batch", file=sys.stdout, mininterval=2.0, leave=False,
                   dynamic_ncols=False, ncols=100)
    try:
        for epoch in range(len(history) + 1, epochs + 1):
            model.train()
            total_loss = torch.zeros((), device=device)
            correct = torch.zeros((), device=device, dtype=torch.int64)
            count = 0
            _sync(device)
            start = time.perf_counter()
            for x, y in train_batches:
                x, y = _prepare_input(x, device, channels_last), y.to(device, non_blocking=True)
                with autocast(device):
                    logits = model(x)
                    loss = loss_fn(logits.float(), y)
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
                if scheduler is not None:
                    scheduler.step()
                total_loss += loss.detach() * len(y)
                correct += (logits.detach().argmax(dim=1) == y).sum()
                count += len(y)
                if bar is not None:
                    bar.update(1)
            _sync(device)
            seconds = time.perf_counter() - start
            train_loss = total_loss.item() / max(count, 1)
            if not math.isfinite(train_loss):
                raise FloatingPointError(
                    f"the training loss became {train_loss} in epoch {epoch}: lower the learning rate "
                    "or check the inputs' normalisation")
            test_loss, test_acc = evaluate(model, test_batches, loss_fn) if test_batches is not None else (
                math.nan, math.nan)
            stats = EpochStats(epoch, train_loss, correct.item() / max(count, 1), test_loss, test_acc, seconds,
                               count / seconds if seconds > 0 else math.nan, optimizer.param_groups[0]["lr"])
            history.append(stats)
            if checkpoint is not None:
                _save_checkpoint(checkpoint, model, optimizer, scheduler, scaler, history, train_batches)
            if bar is not None:
                bar.set_postfix(loss=f"{train_loss:.3f}", test_acc=f"{test_acc:.1%}")
            if log:
                line = (f"epoch {epoch}/{epochs}  train loss {train_loss:.4f} acc {stats.train_acc:.2%}  "
                        f"test loss {test_loss:.4f} acc {test_acc:.2%}  {seconds:.1f} s  "
                        f"{stats.examples_per_s:,.0f} examples/s")
                if bar is not None:
                    bar.write(line, file=sys.stdout)
                else:
                    print(line)
            if plot is not None:
                plot.update(history)
    finally:
        if bar is not None:
            bar.close()
    return history
