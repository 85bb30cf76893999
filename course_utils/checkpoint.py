"""Checkpoints of training runs: where they live, what they hold, whose they are,
and when one is resumed.

A checkpoint is one file per run, written as training goes (``fit``: after
every epoch; the experiment runner: at every point of its curves), so that
running the same ``fit(..., checkpoint=path)`` or the same experiment again
after an interruption resumes instead of starting over. Four questions decide
what that is safe to do:

- **Whose run is it?** Every run has a description as plain JSON data. For
  ``fit`` it is :func:`run_config`: the model's configuration, the optimizer's
  class and every parameter group's hyperparameters, the scheduler (its class
  and ``state_dict()``), the epochs, what the training batches say about
  themselves (their ``describe()``: batch size, size, a fingerprint of the
  contents, seed, augmentation...) and anything the caller adds. For the
  experiment runner it is the run's ``RunConfig``. :func:`config_diff` lists
  how two descriptions differ, e.g. ``optimizer.param_groups.0.lr: 0.1 -> 0.001``.
- **When is it resumed?** One policy, :func:`resume`, for ``fit`` and the
  runner alike:

  1. no file at the path: the run starts fresh;
  2. a file that cannot be read: :class:`CheckpointError`, saying what is
     wrong and how to start over; the file is left alone (never overwritten);
  3. a file of another run (the descriptions differ): the differences are
     printed, the old file is kept as ``<name>.replaced.pt``, and the run
     starts fresh;
  4. the same run: everything saved is restored (weights and buffers,
     optimizer, scheduler, gradient scaler, the position in the data, and
     for ``fit`` the random number generators) and training continues as
     if it had not stopped.

  What counts as "the same" is the caller's to say: ``fit`` continues a run
  saved with fewer epochs than asked for (its first epochs are the same run)
  and starts afresh when fewer are asked for; a scheduler is the same when its
  ``state_dict()`` equals the one the saved run started with (a new process
  building it again) or the one the checkpoint holds (the same objects passed
  to ``fit`` again). The runner's iterations are part of its configuration.
  Only public state is compared and saved: ``state_dict()`` and
  ``load_state_dict()`` of the model, optimizer, scheduler and scaler.
- **Is the file whole?** :func:`save` writes a temporary file and renames it
  over the old one (``os.replace`` is atomic), so a run killed at any moment
  leaves either the previous checkpoint or the new one, never half.
- **Is the file safe to read?** :func:`load` uses
  ``torch.load(..., weights_only=True)``, which unpickles only tensors and
  plain containers: a checkpoint someone hands you cannot run code.
"""

import dataclasses
import json
import os
import random
from pathlib import Path

import numpy as np
import torch

from course_utils import profile
from course_utils.paths import project_folder

FORMAT = "course_utils checkpoint"
VERSION = 1

class CheckpointError(RuntimeError):
    """A checkpoint file exists but cannot be used."""


def checkpoint_path(name):
    """Where a notebook keeps the checkpoint of a long run: ``<folder>/<profile>/<name>.pt``.

    The folder is ``COURSE_CHECKPOINT_DIR``, or ``checkpoints/`` beside the data
    folder (the repository root in a checkout). Each profile has its own
    subfolder, so a quick smoke run is never resumed by a standard one.
    Pass the result to ``fit(..., checkpoint=...)``.
    """
    return project_folder("COURSE_CHECKPOINT_DIR", "checkpoints") / profile.current() / f"{name}.pt"


# ----------------------------------------------------------------------------
# A run's identity
# ----------------------------------------------------------------------------


def _plain(value):
    """``value`` as JSON data: tensors become numbers or lists, tuples lists,
    dataclasses dicts; anything else its ``repr``."""
    if isinstance(value, torch.Tensor):
        return value.item() if value.numel() == 1 else value.tolist()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _plain(dataclasses.asdict(value))
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return repr(value)


def describe_callable(fn):
    """A function (e.g. a loss) as JSON data: a ``functools.partial``'s
    function and arguments, a module's class and plain settings (e.g.
    ``nn.CrossEntropyLoss``'s ``label_smoothing``), or the function's full name."""
    if hasattr(fn, "func") and hasattr(fn, "keywords"):
        return {"function": describe_callable(fn.func), "args": _plain(list(fn.args)),
                "keywords": _plain(fn.keywords)}
    if isinstance(fn, torch.nn.Module):
        settings = {k: v for k, v in vars(fn).items()
                    if not k.startswith("_") and k != "training" and isinstance(v, (bool, int, float, str))}
        return {"module": type(fn).__name__, **settings}
    return f"{getattr(fn, '__module__', None) or ''}.{getattr(fn, '__qualname__', type(fn).__name__)}"


def _describe_model(model):
    """The model's configuration dataclass if it has one (the course's models
    do), else its layers and parameter shapes."""
    config = getattr(model, "config", None)
    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        return {"class": type(model).__name__, "config": _plain(config)}
    # Without a configuration, the leaf modules' descriptions (which name
    # activations and dropout rates) and every tensor's shape stand in for it.
    layers = {name: f"{type(m).__name__}({m.extra_repr()})" for name, m in model.named_modules()
              if not list(m.children())}
    shapes = {name: list(t.shape) for name, t in model.state_dict().items()}
    return {"class": type(model).__name__, "layers": layers, "shapes": shapes}


def _group_hyperparameters(group):
    """One parameter group's settings, without the values a scheduler moves.

    A scheduler records the learning rate it started from as ``initial_lr``
    and changes ``lr`` as it goes; OneCycleLR and CyclicLR also cycle the
    momentum (Adam's first beta) between ``base_momentum`` and ``max_momentum``.
    Those start values are the run's settings; the current values are progress.
    """
    settings = {k: _plain(v) for k, v in group.items() if k != "params"}
    settings["num_tensors"] = len(group["params"])
    if "initial_lr" in settings:
        del settings["lr"]
    if "max_momentum" in settings:
        settings.pop("momentum", None)
        if "betas" in settings:
            settings["betas"] = ["cycled", *settings["betas"][1:]]
    return settings


def describe_scheduler(scheduler, state=None):
    """A scheduler as JSON data: its class and its ``state_dict()`` (or the
    saved ``state`` of one), settings and progress alike; ``None`` for none."""
    if scheduler is None:
        return None
    state = scheduler.state_dict() if state is None else state
    return json.loads(json.dumps({"class": type(scheduler).__name__, **_plain(state)}))


def describe_batches(batches):
    """What a batch source says about itself for a run's identity: its
    ``describe()`` (a dict of JSON data; the course's batch sources have one),
    else the number of batches of a plain iterable that has a length."""
    describe = getattr(batches, "describe", None)
    if callable(describe):
        described = describe()
        if not isinstance(described, dict):
            raise ValueError(f"{type(batches).__name__}.describe() must return a dict of JSON data, got "
                             f"{type(described).__name__}")
        return described
    if hasattr(batches, "__len__"):
        return {"num_batches": len(batches)}
    return {"class": type(batches).__name__}


def run_config(model, optimizer, scheduler, epochs, train_batches, extra=None):
    """Describe a training run as JSON data, to tell one run from another.

    Args:
        model: ``dataclasses.asdict(model.config)`` when the model has a
            dataclass ``config`` (the course's models do); otherwise its class,
            its leaf layers (``"3": "Dropout(p=0.5, inplace=False)"``) and the
            shape of every parameter and buffer. Code in ``forward`` that no
            layer shows (an ``F.relu``) is not seen: pass it in ``extra``.
        optimizer: its class and, for every parameter group, all
            hyperparameters except the parameters themselves (their count is
            kept). Values a scheduler moves during training are described by
            the scheduler's start values (see ``_group_hyperparameters``).
        scheduler: its class and its ``state_dict()``: the settings and
            where the schedule is (``last_epoch``...), see :func:`describe_scheduler`.
            A ``LambdaLR``'s function is not seen (a callable object's
            attributes are): pass a description in ``extra``.
        epochs: the number of epochs asked for.
        train_batches: what the batch source says about itself, its
            ``describe()`` (see :func:`describe_batches`); the course's
            ``Batches`` give their batch size, number of examples, shuffling,
            seed, augmentation, resizing and normalisation, and a fingerprint
            of the labels and images, so that another subset of a dataset differs.
        extra: a dict of more JSON data that defines the run (``fit`` passes
            its loss function, forward function, gradient clipping and
            accumulation and the caller's ``config``).

    Returns:
        ``{"model": ..., "optimizer": ..., "scheduler": ..., "epochs": ...,
        "data": ..., "extra": ...}``, plain JSON data (a JSON round trip
        returns it unchanged).
    """
    if extra is not None:
        try:
            json.dumps(extra)
        except TypeError as err:
            raise ValueError(f"the run's configuration (fit's config=) must be JSON data: numbers, strings, "
                             f"lists, dicts ({err})") from None
    config = {
        "model": _describe_model(model),
        "optimizer": {"class": type(optimizer).__name__,
                      "param_groups": [_group_hyperparameters(g) for g in optimizer.param_groups]},
        "scheduler": describe_scheduler(scheduler),
        "epochs": int(epochs),
        "data": describe_batches(train_batches),
        "extra": extra or {},
    }
    return json.loads(json.dumps(config))  # tuples -> lists: what a stored copy compares equal to


_ABSENT = object()


def _show(value, width=60):
    text = "(absent)" if value is _ABSENT else json.dumps(value)
    return text if len(text) <= width else text[:width - 3] + "..."


def config_diff(old, new, ignore=()):
    """Lines ``"field: old -> new"`` for every field in which two
    :func:`run_config` descriptions differ (empty when they match).

    Fields are dotted paths (``optimizer.param_groups.0.lr``); a field only
    one side has shows ``(absent)`` on the other. ``ignore`` lists fields to
    leave out, e.g. ``("epochs",)``.
    """
    lines = []

    def compare(a, b, field):
        if field in ignore:
            return
        if isinstance(a, dict) and isinstance(b, dict):
            for key in list(a) + [k for k in b if k not in a]:
                compare(a.get(key, _ABSENT), b.get(key, _ABSENT), f"{field}.{key}" if field else str(key))
        elif (isinstance(a, list) and isinstance(b, list) and len(a) == len(b)
              and any(isinstance(v, (dict, list)) for v in a + b)):  # e.g. param groups; a shape stays one field
            for i, (x, y) in enumerate(zip(a, b)):
                compare(x, y, f"{field}.{i}")
        elif a != b:
            lines.append(f"{field}: {_show(a)} -> {_show(b)}")

    compare(old, new, "")
    return lines


# ----------------------------------------------------------------------------
# Resuming
# ----------------------------------------------------------------------------


def resume(path, differences):
    """The saved state at ``path`` if it holds this run, else ``None`` (start fresh).

    The one resume policy of ``fit`` and the experiment runner (the module's
    docstring has it in full): no file, ``None``; an unreadable file raises
    :class:`CheckpointError` and stays; otherwise ``differences(state)``
    lists how the saved run differs from this one (:func:`config_diff`'s
    lines): none, and the state is returned; some, and they are printed
    (always: replacing a checkpoint is never silent), the file is kept as
    ``<name>.replaced.pt`` and ``None`` returned.
    """
    path = Path(path)
    if not path.exists():
        return None
    state = load(path)  # raises CheckpointError, naming the file and how to start over
    lines = differences(state)
    if not lines:
        return state
    kept = path.with_name(path.stem + ".replaced.pt")
    path.replace(kept)
    print(f"{path} holds a different run, so this one starts fresh (the old checkpoint is now {kept.name}). "
          "What differs (checkpoint -> now):\n" + "\n".join(f"  {line}" for line in lines))
    return None


# ----------------------------------------------------------------------------
# Files
# ----------------------------------------------------------------------------


def save(path, state):
    """Write ``state`` (a dict of tensors and plain data) to ``path`` atomically.

    The data goes to ``<path>.tmp`` first, is flushed to disk, and then
    replaces ``path`` in one step, so an interruption never leaves half a
    checkpoint. The file records the format and its version for :func:`load`.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        torch.save({"format": FORMAT, "version": VERSION, **state}, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def load(path):
    """Read a checkpoint written by :func:`save` (onto the CPU) and return its state dict.

    Only tensors and plain data are unpickled (``weights_only=True``), so a
    file from elsewhere cannot run code. Raises :class:`CheckpointError`,
    naming the file, saying what is wrong and how to start over, when the
    file is missing, not a PyTorch file (garbage, or cut short), holds other
    objects than tensors and plain data, or was not written by :func:`save`.
    """
    path = Path(path)
    start_over = f"Delete it to start over (rm '{path}'), or pass another checkpoint path."
    if not path.is_file():
        raise CheckpointError(f"no checkpoint file at {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch.load fails in many ways: UnpicklingError, RuntimeError, EOFError, KeyError...
        text = str(err)
        detail = text.split("WeightsUnpickler error:", 1)[-1].strip()
        detail = f"{type(err).__name__}: {detail.splitlines()[0] if detail else 'no detail'}"
        detail = detail if len(detail) <= 160 else detail[:157] + "..."
        if "allowed global" in text or "Unsupported global" in text:
            what = ("it holds Python objects other than tensors and plain data, which are not loaded because "
                    "loading them could run code (was it written by an older version of the course, or by "
                    "someone else?)")
        else:
            what = "it is not a readable PyTorch file (damaged, cut short, or something else)"
        raise CheckpointError(f"cannot read the checkpoint {path}: {what} [{detail}]. {start_over}") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{path} is a PyTorch file but not a course_utils checkpoint (no "
                              f"'format': {FORMAT!r} entry; a bare state_dict?). {start_over}")
    if state.get("version") != VERSION:
        raise CheckpointError(f"{path} is a checkpoint of format version {state.get('version')}, this "
                              f"course_utils reads version {VERSION}. {start_over}")
    return state


# ----------------------------------------------------------------------------
# Random number generators
# ----------------------------------------------------------------------------


def rng_states():
    """The state of every random number generator a training run may draw
    from (Python's, NumPy's, PyTorch's CPU and CUDA ones), as tensors and
    plain data that :func:`save` can store."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    return {
        "python": random.getstate(),
        "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
    }


def set_rng_states(states):
    """Restore what :func:`rng_states` returned."""
    version, internal, gauss = states["python"]
    random.setstate((version, tuple(internal), gauss))
    n = states["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"],
                         n["cached_gaussian"]))
    torch.set_rng_state(states["torch"])
    if states["cuda"] is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])
