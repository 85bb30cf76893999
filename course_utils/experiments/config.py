"""What defines one run of the ResNet paper's CIFAR-10 experiments.

A run is a frozen :class:`RunConfig`: the network (:class:`Architecture`),
how it is trained (:class:`Recipe`, the paper's section 4.2 by default), how
far it is scaled down to fit the machine (:class:`Scale`) and the seed. Two
runs with equal configurations are the same run: :func:`run_id` names a run
by a hash of its configuration, so a finished run is found again and any
change (a learning rate, a width, a seed) makes a new run.

The paper's recipe (He, Zhang, Ren and Sun, 2015, section 4.2): SGD with
momentum 0.9 and weight decay 1e-4, mini-batches of 128, learning rate 0.1
divided by 10 at 32k and 48k iterations, training stopped at 64k iterations
("determined on a 45k/5k train/val split"); 4 pixels of zero padding, a
random 32x32 crop and a random horizontal flip; for ResNet-110, lr 0.01 "to
warm up the training until the training error is below 80% (about 400
iterations)", then back to 0.1.
"""

import ast
import dataclasses
import hashlib
import json
from dataclasses import dataclass, field

from course_utils.models.resnet import SHORTCUTS

WARMUP_DEPTH = 110  # the paper warms up ResNet-110 (and deeper); shallower nets start at lr 0.1


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class Architecture:
    """The network: a CIFAR-10 ResNet of depth ``6n + 2`` (16/32/64 filters),
    or its plain twin without shortcuts (``plain=True``); ``shortcut`` is the
    paper's option ``"A"`` (zero-padding identity, its CIFAR choice), ``"B"``
    or ``"C"`` (projections, see ``course_utils.models.resnet``)."""

    depth: int = 20
    plain: bool = False
    shortcut: str = "A"

    def __post_init__(self):
        if not _is_int(self.depth) or self.depth < 8 or (self.depth - 2) % 6:
            raise ValueError(f"depth must be 6n+2 (20, 32, 44, 56, 110, ...), got {self.depth!r}")
        if not isinstance(self.plain, bool):
            raise ValueError(f"plain must be True or False, got {self.plain!r}")
        if self.shortcut not in SHORTCUTS:
            raise ValueError(f"shortcut must be one of {SHORTCUTS}, got {self.shortcut!r}")

    @property
    def name(self):
        """``"resnet20"``, ``"resnet20-B"`` (options other than A are named) or ``"plain20"``."""
        if self.plain:
            return f"plain{self.depth}"
        return f"resnet{self.depth}" + ("" if self.shortcut == "A" else f"-{self.shortcut}")


@dataclass(frozen=True)
class Recipe:
    """How a network is trained; the defaults are the paper's.

    ``iterations`` and ``milestones`` count optimizer steps (one mini-batch
    of ``batch_size`` images each); the learning rate is multiplied by
    ``lr_decay`` at each milestone. ``bn_batch`` is the number of images
    each batch norm computes its statistics over (``None``: the whole
    mini-batch); it decides how a run is spread over processes (see
    ``course_utils.experiments.runner``). ``val_size`` training images are
    held out for validation. With ``warmup_lr`` set, training starts at that
    rate and switches to ``lr`` once the training error of the last
    ``warmup_window`` mini-batches is below ``warmup_error``.
    """

    iterations: int = 64_000
    milestones: tuple = (32_000, 48_000)
    lr: float = 0.1
    lr_decay: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 1e-4
    batch_size: int = 128
    bn_batch: int = None
    val_size: int = 5_000
    crop_padding: int = 4
    flip: bool = True
    warmup_lr: float = None
    warmup_error: float = 0.8
    warmup_window: int = 10

    def __post_init__(self):
        object.__setattr__(self, "milestones", tuple(self.milestones))  # a list from JSON or --set
        for name in ("iterations", "batch_size", "warmup_window"):
            if not _is_int(getattr(self, name)) or getattr(self, name) < 1:
                raise ValueError(f"recipe.{name} must be a positive integer, got {getattr(self, name)!r}")
        if not all(_is_int(m) for m in self.milestones) or list(self.milestones) != sorted(set(self.milestones)):
            raise ValueError(f"recipe.milestones must be increasing integers, got {self.milestones!r}")
        if self.milestones and not (0 < self.milestones[0] and self.milestones[-1] < self.iterations):
            raise ValueError(f"recipe.milestones {self.milestones} must lie between 0 and iterations "
                             f"({self.iterations})")
        if self.bn_batch is not None and (not _is_int(self.bn_batch) or self.bn_batch < 2
                                          or self.batch_size % self.bn_batch):
            raise ValueError(f"recipe.bn_batch={self.bn_batch!r} must divide the batch size {self.batch_size} "
                             "and be at least 2 (batch norm needs two images to compute a variance), or None "
                             "for the whole batch")
        for name in ("lr", "momentum", "weight_decay", "lr_decay"):
            if not isinstance(getattr(self, name), (int, float)) or getattr(self, name) < 0:
                raise ValueError(f"recipe.{name} must be a number >= 0, got {getattr(self, name)!r}")
        if not _is_int(self.val_size) or self.val_size < 0:
            raise ValueError(f"recipe.val_size must be an integer >= 0, got {self.val_size!r}")
        if not _is_int(self.crop_padding) or self.crop_padding < 0:
            raise ValueError(f"recipe.crop_padding must be an integer >= 0, got {self.crop_padding!r}")
        if self.warmup_lr is not None and not (isinstance(self.warmup_lr, (int, float)) and self.warmup_lr > 0):
            raise ValueError(f"recipe.warmup_lr must be a positive number or None, got {self.warmup_lr!r}")
        if not 0 < self.warmup_error <= 1:
            raise ValueError(f"recipe.warmup_error is a training error in (0, 1], got {self.warmup_error!r}")

    @property
    def norm_batch(self):
        """Images per batch-norm statistic (``bn_batch``, or the whole batch)."""
        return self.batch_size if self.bn_batch is None else self.bn_batch


@dataclass(frozen=True)
class Scale:
    """How far a run is scaled down from the paper's (the defaults: not at all).

    ``width`` multiplies the 16/32/64 filters. ``iterations`` (``None``: the
    recipe's) shortens the schedule and moves the milestones with it: 640
    instead of 64,000 drops the learning rate at 320 and 480. ``train_size``
    keeps that many of the training images (``None``: all but the
    validation ones). Every ``eval_every`` iterations the curves get a point:
    the training error over those iterations' mini-batches and the error on
    ``eval_size`` validation and test images (``None``: all of them); the
    final errors use ``final_eval_size`` of each (``None``: the whole
    validation and test sets, as everywhere but in the smoke test).
    ``response_images`` test images give the layer responses of Figure 7.
    """

    width: float = 1.0
    iterations: int = None
    train_size: int = None
    eval_every: int = 1_000
    eval_size: int = None
    final_eval_size: int = None
    response_images: int = 1_000

    def __post_init__(self):
        if not isinstance(self.width, (int, float)) or isinstance(self.width, bool) or self.width <= 0:
            raise ValueError(f"scale.width must be a positive number, got {self.width!r}")
        for name in ("iterations", "train_size", "eval_size", "final_eval_size"):
            value = getattr(self, name)
            if value is not None and (not _is_int(value) or value < 1):
                raise ValueError(f"scale.{name} must be a positive integer or None, got {value!r}")
        for name in ("eval_every", "response_images"):
            if not _is_int(getattr(self, name)) or getattr(self, name) < 1:
                raise ValueError(f"scale.{name} must be a positive integer, got {getattr(self, name)!r}")


@dataclass(frozen=True)
class RunConfig:
    """One run: network, recipe, scale and seed. Frozen: change it with
    :meth:`replace` (which makes another run)."""

    arch: Architecture = field(default_factory=Architecture)
    recipe: Recipe = field(default_factory=Recipe)
    scale: Scale = field(default_factory=Scale)
    seed: int = 0

    def __post_init__(self):
        if not _is_int(self.seed) or self.seed < 0:
            raise ValueError(f"seed must be an integer >= 0, got {self.seed!r}")
        if self.scale.iterations is not None:
            milestones = self.milestones
            if len(set(milestones)) != len(milestones) or (milestones and milestones[0] < 1):
                raise ValueError(f"scale.iterations={self.scale.iterations} is too few for the milestones "
                                 f"{self.recipe.milestones} of {self.recipe.iterations} iterations: they "
                                 f"would fall at {milestones}")

    @property
    def iterations(self):
        """Optimizer steps of this run (the scale's, else the recipe's)."""
        return self.recipe.iterations if self.scale.iterations is None else self.scale.iterations

    @property
    def milestones(self):
        """Iterations at which the learning rate drops, moved with the scale."""
        return tuple(round(m * self.iterations / self.recipe.iterations) for m in self.recipe.milestones)

    @property
    def epochs(self):
        """Passes over the training images that ``iterations`` amount to."""
        n_train = 50_000 - self.recipe.val_size
        if self.scale.train_size is not None:
            n_train = min(n_train, self.scale.train_size)
        return self.iterations * self.recipe.batch_size / n_train

    def lr_at(self, iteration, warming_up=False):
        """The learning rate of step ``iteration`` (counted from 0): ``lr``
        divided by ``1 / lr_decay`` once per milestone passed, or
        ``warmup_lr`` while warming up."""
        if warming_up:
            if self.recipe.warmup_lr is None:
                raise ValueError("this run has no warm-up (recipe.warmup_lr is None)")
            return self.recipe.warmup_lr
        drops = sum(iteration >= m for m in self.milestones)
        return self.recipe.lr * self.recipe.lr_decay ** drops

    def to_dict(self):
        """The configuration as JSON data (what :func:`run_id` hashes)."""
        return json.loads(json.dumps(dataclasses.asdict(self)))

    @classmethod
    def from_dict(cls, data):
        """The inverse of :meth:`to_dict`; unknown fields raise ``ValueError``."""
        try:
            return cls(arch=Architecture(**data["arch"]), recipe=Recipe(**data["recipe"]),
                       scale=Scale(**data["scale"]), seed=data["seed"])
        except (KeyError, TypeError) as err:
            raise ValueError(f"not a run configuration ({err}): expected the fields arch, recipe, scale "
                             "and seed as written by RunConfig.to_dict") from None

    def replace(self, **changes):
        """A copy with dotted fields changed: ``config.replace(**{"recipe.lr": 0.05, "seed": 1})``."""
        parts = {"arch": {}, "recipe": {}, "scale": {}}
        top = {}
        for key, value in changes.items():
            group, _, name = key.partition(".")
            if not name:
                if key not in ("arch", "recipe", "scale", "seed"):
                    raise ValueError(f"unknown field {key!r}: use seed, or arch.*, recipe.*, scale.* "
                                     "(e.g. recipe.lr)")
                top[key] = value
                continue
            if group not in parts:
                raise ValueError(f"unknown field {key!r}: the groups are arch, recipe and scale")
            known = {f.name for f in dataclasses.fields(getattr(self, group))}
            if name not in known:
                raise ValueError(f"unknown field {key!r}: {group} has {', '.join(sorted(known))}")
            parts[group][name] = value
        updated = {g: dataclasses.replace(top.get(g, getattr(self, g)), **parts[g]) for g in parts}
        return dataclasses.replace(self, **updated, **({"seed": top["seed"]} if "seed" in top else {}))


def paper_config(depth, plain=False, shortcut="A", scale=None, seed=0):
    """The paper's run of a network: its recipe, with the lr 0.01 warm-up from
    depth 110 on, at ``scale`` (default: the paper's own)."""
    recipe = Recipe(warmup_lr=0.01 if depth >= WARMUP_DEPTH else None)
    return RunConfig(Architecture(depth, plain, shortcut), recipe, scale or Scale(), seed)


def run_id(config):
    """A run's name: readable, and unique to its configuration, e.g.
    ``"resnet20-s0-3f2a9c1b7e"`` (a hash of :meth:`RunConfig.to_dict`)."""
    text = json.dumps(config.to_dict(), sort_keys=True, separators=(",", ":"))
    digest = hashlib.sha256(text.encode()).hexdigest()[:10]
    return f"{config.arch.name}-s{config.seed}-{digest}"


def parse_value(text):
    """A ``--set`` value: a Python literal (``64``, ``0.01``, ``None``,
    ``(16, 24)``, ``True``) or else the text itself (``B``)."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def parse_changes(items):
    """``["recipe.lr=0.05", "seed=1"]`` -> ``{"recipe.lr": 0.05, "seed": 1}``."""
    changes = {}
    for item in items or ():
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--set expects FIELD=VALUE (e.g. recipe.bn_batch=64), got {item!r}")
        changes[key.strip()] = parse_value(value.strip())
    return changes


# How each profile scales the runs. "paper" is the paper's own scale; "quick"
# keeps the paper's networks and takes an eighth of its iterations (the
# notebook's default on a GPU); "standard" fits a 2-core CPU: half the width,
# 5,000 training images and 1,280 iterations (about 33 epochs, the learning
# rate dropped at 640 and 960 as the paper's at 32k and 48k of 64k), so that
# two seeds of plain and residual 8 and 32 train in about 16 minutes on two
# cores; "smoke" only checks that everything runs.
SCALES = {
    "paper": Scale(),
    "quick": Scale(iterations=8_000, eval_every=250, eval_size=2_000),
    "standard": Scale(width=0.5, iterations=1_280, train_size=5_000, eval_every=64, eval_size=500,
                      final_eval_size=5_000, response_images=500),
    "smoke": Scale(width=0.25, iterations=4, train_size=1_024, eval_every=2, eval_size=128, final_eval_size=256,
                   response_images=32),
}


def scale_named(name):
    if name not in SCALES:
        raise ValueError(f"unknown scale {name!r}: choose one of {', '.join(SCALES)}")
    return SCALES[name]


def default_scale_name(profile_name):
    """The scale the command line uses under a course profile: the paper's on
    ``full`` (a GPU), else the profile's own."""
    return {"full": "paper", "standard": "standard", "smoke": "smoke"}[profile_name]
