"""FROZEN TEST FIXTURE, not course code: ``course_utils/train.py`` exactly as it
was at commit 2969b46, before issue 20 gave ``fit`` the batch seam
(``forward=``, batch sources that describe themselves) and moved its step into
the one training step it now shares with the experiment runner.

Why it is here: that refactoring promised that nothing ``fit`` computes
changes. ``tests/test_train_legacy.py`` trains the same tiny runs with this
copy and with the current ``fit``, in the same process on the same machine
(floating-point results can differ between CPU types, so no stored digest
could serve), and compares weights, buffers and histories bit for bit. Only
the module docstring and this header differ from the original; do not edit
the code below (fix the current ``fit`` instead).
"""

import math
import statistics
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F

from course_utils import checkpoint as ckpt
from course_utils.device import autocast, get_device, grad_scaler, seed_everything
from course_utils.modes import eval_mode
from course_utils.plot import plot_history

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


def _prepare_input(x, device, channels_last):
    x = x.to(device, non_blocking=True)
    if channels_last and x.ndim == 4:
        x = x.contiguous(memory_format=torch.channels_last)  # same (B, C, H, W), strides of (B, H, W, C)
    return x


def _forward(model, x, channels_last):
    """``model(x)`` under autocast; with channels-last memory, a failure says what to try."""
    try:
        with autocast(x.device):
            return model(x)
    except RuntimeError as err:
        if not channels_last:
            raise
        raise RuntimeError(
            f"{err}\n\nThe model failed with channels_last=True (inputs and weights stored channels-last). "
            "If it calls .view() on a convolution's output, that is the cause: use .reshape() or nn.Flatten() "
            "in the model, or train with channels_last=False.") from err


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# ----------------------------------------------------------------------------
# Evaluation
# ----------------------------------------------------------------------------


@torch.no_grad()
def evaluate(model, batches, loss_fn=F.cross_entropy, metrics=None):
    """The mean loss and metrics of ``model`` over ``batches``, as a dict.

    ``evaluate(model, test_batches)`` returns ``{"loss": ..., "acc": ...}``
    for a classifier. ``loss_fn`` and ``metrics`` work as in :func:`fit`
    (default ``{"acc": accuracy}``): each value is the exact mean over all
    examples (or, for a sequence task, all real tokens). The model is in eval
    mode meanwhile (dropout off, batch norm uses its running statistics) and
    returns to its previous mode afterwards.
    """
    metrics = {"acc": accuracy} if metrics is None else metrics
    device = _model_device(model)
    channels_last = _is_channels_last(model)
    sums = _Sums()
    with eval_mode(model):
        for x, y in batches:
            x, y = _prepare_input(x, device, channels_last), y.to(device)
            outputs = _forward(model, x, channels_last)
            loss, count = _loss_and_count(loss_fn, outputs.float(), y)
            sums.add_batch(loss, count, metrics, outputs, y)
    if not sums.counts:
        raise ValueError("evaluate got no batches: the dataset is empty")
    return sums.means()


@torch.no_grad()
def predict(model, batches):
    """Predicted classes (argmax over the last dimension) and targets over
    ``batches``, as CPU tensors."""
    device = _model_device(model)
    channels_last = _is_channels_last(model)
    preds, targets = [], []
    with eval_mode(model):
        for x, y in batches:
            outputs = _forward(model, _prepare_input(x, device, channels_last), channels_last)
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


def _resume(path, config, model, optimizer, scheduler, scaler, train_batches, log):
    """Restore the run saved at ``path`` if it is this run; return its history.

    A checkpoint of another run (any field of :func:`~course_utils.checkpoint.run_config`
    differs) is never continued: the old file is renamed to ``<name>.replaced.pt``,
    the differences are printed, and training starts fresh. Asking for more
    epochs than the checkpoint has done continues it (the first epochs of a
    longer run are the same run); asking for fewer starts fresh.
    """
    path = Path(path)
    if not path.exists():
        return History()
    state = ckpt.load(path)  # raises CheckpointError, naming the file and how to start over
    done = len(state["history"])
    differences = ckpt.config_diff(state["config"], config, ignore=("epochs",) if done <= config["epochs"] else ())
    if differences:
        kept = path.with_name(path.stem + ".replaced.pt")
        path.replace(kept)
        print(f"{path} holds a different run, so this one starts fresh (the old checkpoint is now {kept.name}). "
              "What differs (checkpoint -> now):\n" + "\n".join(f"  {line}" for line in differences))
        return History()
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    if scheduler is not None:
        scheduler.load_state_dict(state["scheduler"])
    scaler.load_state_dict(state["scaler"])
    if state["batches_epoch"] is not None and hasattr(train_batches, "epoch"):
        train_batches.epoch = state["batches_epoch"]
    ckpt.set_rng_states(state["rng"])
    if log:
        print(f"resumed from {path}: {done} of {config['epochs']} epochs already done "
              "(delete the file to train from scratch)")
    return History.from_dicts(state["history"])


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
        metrics=None, eval_name="val", checkpoint=None, config=None, channels_last=False, clip_grad_norm=None,
        live_plot=False, progress=True, log=True):
    """Train ``model`` and return its :class:`History` (about 80 lines of code under this docstring: read them).

    Args:
        model: the network; it stays on the device it is on (move it first,
            e.g. ``model.to(get_device())``).
        train_batches: iterable of ``(x, y)``, e.g. ``ImageDataset.train_batches``.
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
        live_plot: redraw the learning curves after each epoch (notebooks).
        progress: show a tqdm progress bar.
        log: print one line per epoch, and whether the run resumed.
    """
    device = _model_device(model)
    metrics = {"acc": accuracy} if metrics is None else dict(metrics)
    if "loss" in metrics:
        raise ValueError("metrics may not be named 'loss': fit reports loss_fn's value under that name")
    if eval_name == "train" or not eval_name:
        raise ValueError(f"eval_name={eval_name!r} would mix up the evaluated set with the training set: "
                         "use e.g. 'val' or 'test'")
    model.to(memory_format=torch.channels_last if channels_last else torch.contiguous_format)
    scaler = grad_scaler(device)
    history = History()
    if config is not None and not isinstance(config, dict):
        raise ValueError(f"config must be a dict of JSON data, e.g. {{'label_smoothing': 0.1}}; got {type(config)}")
    if checkpoint is not None:
        extra = {"loss_fn": ckpt.describe_callable(loss_fn), "clip_grad_norm": clip_grad_norm, "config": config or {}}
        this_run = ckpt.run_config(model, optimizer, scheduler, epochs, train_batches, extra=extra)
        history = _resume(checkpoint, this_run, model, optimizer, scheduler, scaler, train_batches, log)
    sets = ["train"] + ([eval_name] if eval_batches is not None else [])
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
            sums, examples = _Sums(), 0
            _sync(device)
            start = time.perf_counter()
            for x, y in train_batches:
                x, y = _prepare_input(x, device, channels_last), y.to(device, non_blocking=True)
                outputs = _forward(model, x, channels_last)
                loss, count = _loss_and_count(loss_fn, outputs.float(), y)
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                if clip_grad_norm is not None:
                    scaler.unscale_(optimizer)  # clip the true gradients, not the float16-scaled ones
                    torch.nn.utils.clip_grad_norm_(model.parameters(), clip_grad_norm)
                scaler.step(optimizer)
                scaler.update()
                if scheduler is not None:
                    scheduler.step()
                with torch.no_grad():
                    sums.add_batch(loss, count, metrics, outputs.detach(), y)
                examples += len(x)
                if bar is not None:
                    bar.update(1)
            _sync(device)
            seconds = time.perf_counter() - start
            if examples == 0:
                raise ValueError("train_batches yielded no batches: the training set is empty")
            values = {f"train_{name}": v for name, v in sums.means().items()}
            if not math.isfinite(values["train_loss"]):
                raise FloatingPointError(
                    f"the training loss became {values['train_loss']} in epoch {epoch}: lower the learning rate "
                    "or check the inputs' normalisation")
            if eval_batches is not None:
                scores = evaluate(model, eval_batches, loss_fn, metrics)
                values.update({f"{eval_name}_{name}": v for name, v in scores.items()})
            stats = EpochStats(epoch, seconds, examples / seconds if seconds > 0 else math.nan,
                               optimizer.param_groups[0]["lr"], values)
            history.append(stats)
            if checkpoint is not None:
                _save_run(checkpoint, this_run, model, optimizer, scheduler, scaler, history, train_batches)
            if bar is not None:
                bar.set_postfix(loss=f"{values['train_loss']:.3f}")
            if log:
                line = _epoch_line(stats, epochs, sets)
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
