"""Checkers for notebook 06 (LeNet)."""

import torch
import torch.nn.functional as F
from torch import nn

from course_utils.accounting import count_params
from course_utils.exercises import ExerciseError, NotAttempted, as_int, checker, expect, hint_function
from course_utils.models import lenet


def _lenet_1998_table():
    """Table I of LeCun et al. (1998): which S2 maps (rows) each C3 map (columns) reads. Maps 0-5 read three
    neighbouring S2 maps, 6-11 four neighbouring ones, 12-14 four non-neighbouring ones, 15 all six."""
    columns = [[c % 6 for c in range(j, j + 3)] for j in range(6)]
    columns += [[c % 6 for c in range(j, j + 4)] for j in range(6)]
    columns += [[0, 1, 3, 4], [1, 2, 4, 5], [0, 2, 3, 5], list(range(6))]
    table = torch.zeros(6, 16, dtype=torch.bool)
    for j, rows in enumerate(columns):
        table[rows, j] = True
    return table


LENET_1998_TABLE = _lenet_1998_table()  # (6, 16): True where C3 map j reads S2 map i


class _Subsampling(nn.Module):
    """S2 / S4 of 1998: per map, a trainable coefficient and bias."""

    def __init__(self, maps):
        super().__init__()
        self.coefficient, self.bias = nn.Parameter(torch.ones(maps)), nn.Parameter(torch.zeros(maps))


class _LeNet1998(nn.Module):
    """The 1998 network's trainable parameters, layer by layer (built to be counted, not run)."""

    def __init__(self, table):
        super().__init__()
        self.c1, self.s2 = nn.Conv2d(1, 6, 5), _Subsampling(6)
        self.c3 = nn.ModuleList(nn.Conv2d(int(column.sum()), 1, 5) for column in table.T)  # one per C3 map
        self.s4, self.c5, self.f6 = _Subsampling(16), nn.Conv2d(16, 120, 5), nn.Linear(120, 84)
        self.register_buffer("rbf_centres", torch.ones(10, 84))  # the output layer: fixed by hand, not trained


def _random_tables(n, seed):
    gen = torch.Generator().manual_seed(seed)
    for _ in range(n):
        table = torch.rand(6, 16, generator=gen) < torch.rand(1, generator=gen)
        table[torch.randint(0, 6, (16,), generator=gen), torch.arange(16)] = True  # every C3 map reads something
        yield table


@checker(hint=(
    "Go through the paper's layers one by one: which of them have trainable parameters, and how many inputs "
    "does each of C3's sixteen maps read?",
    "Count per map: a C3 map that reads m of S2's maps has one 5x5 kernel for each of them and one bias, so "
    "the table's column sums decide C3. The other layers count as usual, the two subsampling layers with one "
    "coefficient and one bias per map, and the output layer's radial-basis centres are fixed by hand, not trained.",
    "C1 (25 + 1) * 6 = 156; S2 2 * 6 = 12; C3 25 * table.sum() + 16; S4 2 * 16 = 32; C5 (25 * 16 + 1) * 120 = "
    "48,120; F6 (120 + 1) * 84 = 10,164; output 0. The paper's table has 60 connections: 1,516 parameters in "
    "C3, 60,000 in all.",
))
def check_lenet1998_params(lenet1998_params):
    """``lenet1998_params(table)``: trainable parameters of the 1998 LeNet-5 whose C3 map j reads the S2 maps
    ``i`` with ``table[i, j]`` (a ``(6, 16)`` boolean tensor)."""
    tables = [("the paper's Table I", LENET_1998_TABLE), ("a full table", torch.ones(6, 16, dtype=torch.bool))]
    tables += [(f"random table {k + 1}", t) for k, t in enumerate(_random_tables(3, seed=1998))]
    for name, table in tables:
        expected = count_params(_LeNet1998(table))
        got = as_int(lenet1998_params(table.clone()), "lenet1998_params(table)")
        if got != expected:
            raise ExerciseError(f"with {name} ({int(table.sum())} S2 -> C3 connections) the 1998 network has "
                                f"{expected:,} trainable parameters, you counted {got:,} (off by {got - expected:+,})")


def _subsample_oracle(x, coefficient, bias):
    """Sum of each 2x2 window = 4 x its mean; then per-channel scale and shift, then sigmoid."""
    sums = 4 * F.avg_pool2d(x, kernel_size=2, stride=2)  # (N, C, H/2, W/2)
    return torch.sigmoid(sums * coefficient[None, :, None, None] + bias[None, :, None, None])


@checker(hint=(
    "Follow one unit of S2: which inputs does it read, which two numbers of its own does it apply to them, and "
    "in what order? Then check the shapes of coefficient and bias against x's.",
    "The unit adds up its 2x2 window (non-overlapping windows, stride 2, an odd last row or column dropped), "
    "multiplies the sum by its channel's coefficient, adds its channel's bias, and squashes with the sigmoid; "
    "the (C,) vectors must be shaped to broadcast along the channel axis of (N, C, H, W).",
    "Sum each non-overlapping 2x2 window (e.g. 4 * F.avg_pool2d(x, 2)), multiply channel c by "
    "coefficient[c] (coefficient.reshape(1, -1, 1, 1)), add bias[c], apply torch.sigmoid.",
))
def check_subsample(subsample):
    """``subsample(x, coefficient, bias)``: the 1998 paper's trainable subsampling layer (S2, S4)."""
    gen = torch.Generator().manual_seed(6)
    for n, c, side in [(2, 6, 28), (1, 16, 10), (3, 2, 7)]:
        x = torch.randn(n, c, side, side, generator=gen)
        coefficient, bias = torch.randn(c, generator=gen), torch.randn(c, generator=gen)
        out = subsample(x.clone(), coefficient.clone(), bias.clone())
        if out is None:
            raise NotImplementedError
        expected = _subsample_oracle(x, coefficient, bias)
        if not isinstance(out, torch.Tensor) or tuple(out.shape) != tuple(expected.shape):
            shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise ExerciseError(
                f"input {tuple(x.shape)} should give {tuple(expected.shape)} (2x2 windows, stride 2, "
                f"an odd last row is dropped), got {shape}")
        expect(out, expected, f"subsample(x) for x of shape {tuple(x.shape)}", rtol=1e-4, atol=1e-6)


_WEIGHTED = (nn.Conv2d, nn.Linear, nn.BatchNorm2d, nn.BatchNorm1d)


def _randomise(model, gen):
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=p.dtype) if p.dim() > 1
                    else torch.rand(p.shape, generator=gen, dtype=p.dtype) + 0.5)


@checker(hint=(
    "In training mode, what does batch norm do to a constant added to every value of one channel?",
    "Batch norm subtracts each channel's batch mean, and a bias adds one constant to every value of its "
    "channel: the mean takes the bias away again. So a bias right before a batch norm can never change the "
    "output, and the batch norm's own shift does its job. Drop exactly those; keep every bias that no batch "
    "norm follows.",
    "The relu_bn LeNet with bias=False in the two convolutions and the two hidden dense layers: Conv2d(1, 6, 5, "
    "padding=2, bias=False), BatchNorm2d(6), ReLU, MaxPool2d(2), Conv2d(6, 16, 5, bias=False), BatchNorm2d(16), "
    "ReLU, MaxPool2d(2), Flatten, Linear(400, 120, bias=False), BatchNorm1d(120), ReLU, Linear(120, 84, "
    "bias=False), BatchNorm1d(84), ReLU, Linear(84, 10): 61,932 parameters, 226 fewer.",
))
def check_lenet_bn_lean(make_lenet_bn_lean):
    """``make_lenet_bn_lean()``: the relu_bn LeNet without the parameters that cannot change its output in
    training mode."""
    model = make_lenet_bn_lean()
    if model is None:
        raise NotAttempted()
    if not isinstance(model, nn.Module):
        raise ExerciseError(f"make_lenet_bn_lean() should return an nn.Module, got {type(model).__name__}")
    reference = lenet.lenet_modern(batch_norm=True)
    mine = [m for m in model.modules() if isinstance(m, _WEIGHTED)]
    theirs = [m for m in reference.modules() if isinstance(m, _WEIGHTED)]
    kinds, expected = [type(m).__name__ for m in mine], [type(m).__name__ for m in theirs]
    if kinds != expected:
        raise ExerciseError(f"keep every layer of the relu_bn LeNet: expected the layers with weights in this "
                            f"order: {expected}; found {kinds}")
    model.double(), reference.double()
    gen = torch.Generator().manual_seed(6)
    _randomise(reference, gen)
    with torch.no_grad():
        for a, b in zip(mine, theirs):
            for name in ("weight", "bias"):
                if getattr(a, name, None) is None:
                    continue
                if getattr(a, name).shape != getattr(b, name).shape:
                    raise ExerciseError(f"a {type(a).__name__} {name} of shape {tuple(getattr(a, name).shape)} where "
                                        f"{tuple(getattr(b, name).shape)} was expected")
                getattr(a, name).copy_(getattr(b, name))
    model.train(), reference.train()
    x = torch.randn(8, 1, 28, 28, generator=gen, dtype=torch.float64)
    with torch.no_grad():
        out, ref = model(x), reference(x)
    if tuple(out.shape) != tuple(ref.shape):
        raise ExerciseError(f"output shape {tuple(out.shape)}, expected {tuple(ref.shape)}")
    if not torch.allclose(out, ref, rtol=1e-8, atol=1e-8):
        raise ExerciseError("given the same values for every parameter you kept, your network computes something "
                            "else than the relu_bn LeNet in training mode: a parameter you removed (or a layer you "
                            "changed) does matter")
    extra = count_params(model) - (count_params(reference) - 226)
    if extra > 0:
        raise ExerciseError(f"right outputs, but {extra:,} of your network's {count_params(model):,} parameters can "
                            "never change them in training mode, whatever their values")


hint = hint_function(__name__)
