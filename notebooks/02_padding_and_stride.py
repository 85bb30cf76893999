# %% [markdown] slideshow={"slide_type": "slide"}
# # 02 Padding and stride
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/deep-learning-course/conv-to-transformer/blob/main/notebooks/02_padding_and_stride.ipynb)
#
# Notebook 01's convolution shrinks its input (a `k x k` kernel loses `k - 1`
# rows and columns) and visits every position. Two knobs change that:
# **padding** adds a border so the output can keep its size, **stride** skips
# positions so the output shrinks on purpose. This notebook derives the output
# size, the cost of a layer in parameters and multiply-accumulates, and how far
# into the input one output pixel can see (its receptive field), and checks each
# formula against PyTorch on many random configurations.

# %% tags=["setup"] jupyter={"source_hidden": true} cellView="form" slideshow={"slide_type": "skip"}
# @title Set-up: run this cell first (on Colab it installs the course helpers)
# Makes the course helpers (course_utils) importable: from the checkout this notebook
# is in, or (Colab) installed at the version this notebook was written for.
import importlib.util, os, subprocess, sys
COURSE_UTILS_SOURCE = "git+https://github.com/deep-learning-course/conv-to-transformer@1363a9b96452b3e9a4cc8e60f814ad561563fe78"
if importlib.util.find_spec("course_utils") is None:
    if os.path.isdir(os.path.join("..", "course_utils")):  # a checkout, not installed
        sys.path.insert(0, os.path.abspath(".."))
    elif subprocess.run([sys.executable, "-m", "pip", "install", "-q", COURSE_UTILS_SOURCE]).returncode:
        raise RuntimeError("Installing the course helpers failed (pip says why above). Check that this "
                           "runtime is online (Colab: Runtime > Disconnect and delete runtime, then run "
                           f"again); or run in a new cell:  !pip install {COURSE_UTILS_SOURCE}")
importlib.invalidate_caches()  # so that packages installed just now can be imported
# ---- notebook imports ----
import random
import warnings

import matplotlib.cbook
import matplotlib.image
import matplotlib.patches
import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from course_utils import conv, layer_math, results
from course_utils.accounting import count_macs, count_params, print_layer_table
from course_utils.checks import assert_close
from course_utils.exercises import ex02

from course_utils import profile
from course_utils.device import get_device, seed_everything

PROFILE = profile.current()
DEVICE = get_device()
seed_everything(0)
print(f"profile: {PROFILE}   device: {DEVICE}")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Without padding, maps shrink fast
#
# A 3x3 convolution without padding turns `n x n` into `(n - 2) x (n - 2)`.
# Stack them and a 28x28 Fashion-MNIST image is down to 2x2 after 13 layers.

# %%
# NBVAL_CHECK_OUTPUT
x = torch.zeros(1, 1, 28, 28)
sides = [28]
while x.shape[-1] >= 3:
    x = F.conv2d(x, torch.zeros(1, 1, 3, 3))
    sides.append(x.shape[-1])
print("side after each 3x3 conv:", sides)
assert sides == list(range(28, 0, -2)), "each unpadded 3x3 conv removes 2 rows and 2 columns"


# %% [markdown] slideshow={"slide_type": "subslide"}
# ### The border is used less
#
# Count how many output windows each input pixel falls into (the gradient of
# the sum of all outputs with respect to the input, with an all-ones kernel,
# counts exactly that). Without padding a corner pixel is seen once, a central
# pixel nine times: information at the border has less influence. Padding
# evens this out.

# %%
def usage(side, kernel_size, padding):
    x = torch.zeros(1, 1, side, side, requires_grad=True)
    F.conv2d(x, torch.ones(1, 1, kernel_size, kernel_size), padding=padding).sum().backward()
    return x.grad[0, 0]

valid, same = usage(8, 3, padding=0), usage(8, 3, padding=1)
assert valid[0, 0] == 1 and valid[4, 4] == 9 and same[0, 0] == 4 and same[4, 4] == 9
fig, axes = plt.subplots(1, 2, figsize=(6, 3))
for ax, counts, title in zip(axes, (valid, same), ("no padding", "padding 1")):
    im = ax.imshow(counts, cmap="viridis", vmin=0, vmax=9)
    for (i, j), v in zip([(i, j) for i in range(8) for j in range(8)], counts.flatten().tolist()):
        ax.text(j, i, int(v), ha="center", va="center", fontsize=7, color="w" if v < 6 else "k")
    ax.set_title(f"3x3 windows per pixel, {title}", fontsize=9); ax.axis("off")


# %% [markdown] slideshow={"slide_type": "slide"}
# ## The output-size formula
#
# Pad `p` zeros on each side: the input becomes `n + 2p`. A kernel of size `k`
# fits `n + 2p - k + 1` times. With stride `s` we keep every `s`-th of those
# positions, starting with the first:
#
# $$n_\text{out} = \left\lfloor \frac{n + 2p - k}{s} \right\rfloor + 1$$
#
# **Dilation** `d` spreads the kernel's taps `d` pixels apart (a 3x3 kernel
# with `d = 2` covers 5x5 with 9 weights), so `k` becomes the span
# `d (k - 1) + 1`. We verify the formula against `nn.Conv2d` on many random
# configurations of input size, kernel, stride, padding and dilation.

# %%
def output_size(n, kernel_size, stride=1, padding=0, dilation=1):
    span = dilation * (kernel_size - 1) + 1
    return (n + 2 * padding - span) // stride + 1

rng = random.Random(0)
n_configs = profile.pick(smoke=100, standard=500, full=2000)
for _ in range(n_configs):
    k, s, p, d = rng.randint(1, 7), rng.randint(1, 4), rng.randint(0, 3), rng.randint(1, 3)
    n = max(d * (k - 1) + 1 - 2 * p, 1) + rng.randint(0, 30)
    layer = nn.Conv2d(1, 1, k, stride=s, padding=p, dilation=d)
    with torch.no_grad():
        actual = layer(torch.zeros(1, 1, n, n + 3)).shape[2:]
    expected = (output_size(n, k, s, p, d), output_size(n + 3, k, s, p, d))
    assert tuple(actual) == expected, f"n={n}, k={k}, s={s}, p={p}, d={d}: nn.Conv2d gives {tuple(actual)}, formula {expected}"
    assert layer_math.conv_output_size(n, k, s, p, d) == expected[0], "course_utils.layer_math agrees"
print(f"output-size formula matches nn.Conv2d on {n_configs} random configurations")
results.record("02", "output_size_configs_verified", n_configs);

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Padding: "valid" and "same"
#
# - **valid**: no padding, `p = 0`; the map shrinks by `k - 1`.
# - **same**: pad so that (at stride 1) the output has the input's size:
#   `2p = k - 1`, so `p = (k - 1) / 2`.
#
# That `p` is a whole number only for **odd** `k`. An even kernel would need
# more padding on one side than on the other, and it has no centre pixel to
# align with the input's. PyTorch's `padding="same"` does accept even kernels,
# by padding asymmetrically; we check both facts.

# %%
x = torch.randn(1, 2, 9, 11)
for k in (1, 3, 5, 7):
    w = torch.randn(3, 2, k, k)
    p = layer_math.same_padding(k)
    assert p == (k - 1) // 2
    assert_close(F.conv2d(x, w, padding=p), F.conv2d(x, w, padding="same"), rtol=1e-5, atol=1e-5,
                 msg=f"k={k}: padding (k-1)/2 is 'same'")
    assert F.conv2d(x, w, padding=p).shape[2:] == x.shape[2:]

w4 = torch.randn(3, 2, 4, 4)  # even kernel: 3 pixels of padding to share between 2 sides
asymmetric = F.conv2d(F.pad(x, (1, 2, 1, 2)), w4)  # (left, right, top, bottom)
with warnings.catch_warnings():  # PyTorch warns that it must copy the input to pad it unevenly
    warnings.simplefilter("ignore", UserWarning)
    assert_close(F.conv2d(x, w4, padding="same"), asymmetric, rtol=1e-5, atol=1e-5, msg="'same' for k=4 pads 1 then 2")
try:
    layer_math.same_padding(4)
except ValueError as err:
    print("same_padding(4):", err)


# %% [markdown] slideshow={"slide_type": "slide"}
# ## Stride: downsampling
#
# A stride-`s` convolution computes the stride-1 output and keeps every
# `s`-th row and column, without computing the others. It is the cheap way to
# shrink a map: a stride-2 layer does a quarter of the work of its stride-1
# twin and leaves a quarter of the pixels. Let's derive a padded, strided
# convolution from notebook 01's vectorised correlation exactly that way
# (pad, correlate, subsample), and prove it on random configurations.

# %%
def corr2d_pad_stride(x, kernel, stride, padding):  # x: (H, W), kernel: (kH, kW)
    x = F.pad(x, (padding, padding, padding, padding))  # zeros around: (H + 2p, W + 2p)
    return conv.corr2d_vectorised(x, kernel)[::stride, ::stride]  # every stride-th position

for _ in range(profile.pick(smoke=30, standard=200, full=500)):
    k, s, p = rng.randint(1, 5), rng.randint(1, 4), rng.randint(0, 3)
    x, kernel = torch.randn(max(k - 2 * p, 1) + rng.randint(0, 12), max(k - 2 * p, 1) + rng.randint(0, 12)), torch.randn(k, k)
    expected = F.conv2d(x[None, None], kernel[None, None], stride=s, padding=p)[0, 0]
    assert_close(corr2d_pad_stride(x, kernel, s, p), expected, rtol=1e-4, atol=1e-4, msg=f"k={k} s={s} p={p}")
print("pad + correlate + subsample == F.conv2d(stride, padding)")

# %% [markdown]
# On the photograph: a 3x3 blur with stride 1, 2 and 4. The image keeps its
# content while the number of pixels (and the cost of every later layer) falls
# by `s^2`.

# %%
path = matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
gray = torch.from_numpy(matplotlib.image.imread(path).copy()).float().mean(dim=2) / 255  # (600, 512)
blur = torch.full((1, 1, 3, 3), 1 / 9)
fig, axes = plt.subplots(1, 3, figsize=(9, 3.6))
for ax, s in zip(axes, (1, 2, 4)):
    out = F.conv2d(gray[None, None], blur, stride=s, padding=1)[0, 0]
    assert out.shape == (output_size(600, 3, s, 1), output_size(512, 3, s, 1))
    ax.imshow(out, cmap="gray"); ax.set_title(f"stride {s}: {out.shape[0]}x{out.shape[1]}"); ax.axis("off")


# %% [markdown] slideshow={"slide_type": "slide"}
# ## What a layer costs: parameters and multiply-accumulates
#
# A conv layer has one `k x k x C_in` kernel and one bias per output channel:
#
# $$\text{params} = (k^2 C_\text{in} + 1)\, C_\text{out}$$
#
# Each of the `H_out x W_out x C_out` outputs needs `k^2 C_in`
# multiply-accumulates (MACs):
#
# $$\text{MACs} = H_\text{out} W_\text{out}\, k^2 C_\text{in} C_\text{out}$$
#
# A dense layer from `in` to `out` features has `in * out + out` parameters and
# `in * out` MACs. We verify all four against the model's parameters and
# `torch.utils.flop_counter`, which counts 2 FLOPs per MAC (and, by convention,
# not the bias additions).

# %%
def conv_params(c_in, c_out, k):
    return (k * k * c_in + 1) * c_out

def conv_macs(c_in, c_out, k, h_out, w_out):
    return h_out * w_out * k * k * c_in * c_out

def macs_counted(layer, x):
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        out = layer(x)
    return counter.get_total_flops() // 2, out

for _ in range(profile.pick(smoke=20, standard=100, full=300)):
    c_in, c_out, k, s, p = rng.randint(1, 16), rng.randint(1, 16), rng.choice([1, 3, 5, 7]), rng.randint(1, 3), rng.randint(0, 3)
    h, w = k + rng.randint(0, 20), k + rng.randint(0, 20)
    layer = nn.Conv2d(c_in, c_out, k, stride=s, padding=p)
    macs, out = macs_counted(layer, torch.zeros(1, c_in, h, w))
    h_out, w_out = out.shape[2:]
    assert count_params(layer) == conv_params(c_in, c_out, k) == layer_math.conv2d_params(c_in, c_out, k)
    assert macs == conv_macs(c_in, c_out, k, h_out, w_out) == layer_math.conv2d_macs(c_in, c_out, k, (h_out, w_out)), \
        f"Conv2d({c_in}, {c_out}, {k}, stride={s}, padding={p}) on {h}x{w}: counted {macs}"

    n_in, n_out = rng.randint(1, 500), rng.randint(1, 500)
    dense = nn.Linear(n_in, n_out)
    macs, _ = macs_counted(dense, torch.zeros(1, n_in))
    assert count_params(dense) == n_in * n_out + n_out == layer_math.linear_params(n_in, n_out)
    assert macs == n_in * n_out == layer_math.linear_macs(n_in, n_out)
print("parameter and MAC formulas match the model and the FLOP counter")

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Conv layers are cheap to store, expensive to run
#
# Parameters and compute are very different for the two kinds of layer: a
# conv layer re-uses each weight at every position (many MACs per weight), a
# dense layer uses each weight once per example.

# %%
# NBVAL_CHECK_OUTPUT
rows = [
    ("conv 3x3, 64->64 on 56x56 (padding 1)", conv_params(64, 64, 3), conv_macs(64, 64, 3, 56, 56)),
    ("conv 3x3, 64->64 on 56x56, stride 2", conv_params(64, 64, 3), conv_macs(64, 64, 3, 28, 28)),
    ("dense 4096->4096", 4096 * 4096 + 4096, 4096 * 4096),
]
print(f"{'layer':<42}{'params':>12}{'MACs':>16}{'MACs per param':>16}")
for name, params, macs in rows:
    print(f"{name:<42}{params:>12,}{macs:>16,}{macs / params:>16,.0f}")

# %% [markdown]
# The same arithmetic for a whole network, layer by layer; the totals are
# checked against the foundation's counter (`count_macs`, which runs the
# FLOP counter over a forward pass).

# %%
# NBVAL_CHECK_OUTPUT
net = nn.Sequential(
    nn.Conv2d(1, 8, kernel_size=5, padding=2), nn.ReLU(),
    nn.Conv2d(8, 16, kernel_size=3, stride=2, padding=1), nn.ReLU(),
    nn.Conv2d(16, 32, kernel_size=3, stride=2, padding=1), nn.ReLU(),
    nn.Flatten(), nn.Linear(32 * 7 * 7, 10),
)
print_layer_table(net, (1, 1, 28, 28));
side, total_params, total_macs = 28, 0, 0
for layer in net:
    if isinstance(layer, nn.Conv2d):
        k, s, p = layer.kernel_size[0], layer.stride[0], layer.padding[0]
        side = output_size(side, k, s, p)
        total_params += conv_params(layer.in_channels, layer.out_channels, k)
        total_macs += conv_macs(layer.in_channels, layer.out_channels, k, side, side)
    elif isinstance(layer, nn.Linear):
        total_params += layer.in_features * layer.out_features + layer.out_features
        total_macs += layer.in_features * layer.out_features
assert total_params == count_params(net) and total_macs == count_macs(net, (1, 1, 28, 28))


# %% [markdown] slideshow={"slide_type": "slide"}
# ## Receptive field
#
# One output pixel of a 3x3 conv sees a 3x3 window. Put a second 3x3 conv on
# top: each of its outputs sees 3x3 pixels of the first map, each of which saw
# 3x3 of the input, overlapping: together 5x5. A third gives 7x7. In general,
# with `r_0 = 1`:
#
# $$r_l = r_{l-1} + (k_l - 1) \prod_{i<l} s_i$$
#
# The product of the earlier strides is the **jump**: how many input pixels
# apart two neighbouring pixels of layer `l - 1` are. A stride-2 layer doubles
# the jump, so every later layer widens the view twice as fast. (With dilation,
# `k_l` becomes the span `d_l (k_l - 1) + 1`.)

# %%
# NBVAL_CHECK_OUTPUT
def receptive_field(layers):  # layers: (kernel_size, stride) pairs from the input up
    r, jump = 1, 1
    for k, s in layers:
        r += (k - 1) * jump
        jump *= s
    return r

for depth in (1, 2, 3):
    print(f"{depth} stacked 3x3 convs see {receptive_field([(3, 1)] * depth)}x{receptive_field([(3, 1)] * depth)}")
assert [receptive_field([(3, 1)] * n) for n in (1, 2, 3)] == [3, 5, 7]
print("3x3, 2x2 pool (stride 2), 3x3:", receptive_field([(3, 1), (2, 2), (3, 1)]))


# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Verify it from a gradient
#
# Which input pixels can change one output pixel? Exactly those with a
# non-zero gradient. Build random stacks (kernel, stride and dilation drawn at
# random), back-propagate from the centre output pixel and measure the extent
# of the non-zero gradient. All-ones kernels make every path add up, so no
# gradient cancels by accident.

# %% tags=["no-slide"] slideshow={"slide_type": "skip"}
def measured_receptive_field(layers):  # layers: (kernel_size, stride, dilation)
    need = 1  # the input side one output pixel needs, grown backwards through the stack
    for k, s, d in reversed(layers):
        need = (need - 1) * s + d * (k - 1) + 1
    x = torch.zeros(1, 1, need + 8, need + 8, dtype=torch.float64, requires_grad=True)
    out = x
    for k, s, d in layers:
        out = F.conv2d(out, torch.ones(1, 1, k, k, dtype=torch.float64), stride=s, dilation=d)
    out[0, 0, out.shape[2] // 2, out.shape[3] // 2].backward()
    rows = (x.grad[0, 0].abs().sum(dim=1) > 0).nonzero()
    cols = (x.grad[0, 0].abs().sum(dim=0) > 0).nonzero()
    return int(rows.max() - rows.min() + 1), int(cols.max() - cols.min() + 1)

n_stacks = profile.pick(smoke=20, standard=150, full=500)
for _ in range(n_stacks):
    layers = [(rng.randint(1, 5), rng.randint(1, 3), rng.randint(1, 2)) for _ in range(rng.randint(1, 5))]
    r = layer_math.receptive_field(layers)
    assert measured_receptive_field(layers) == (r, r), f"{layers}: formula {r}, measured {measured_receptive_field(layers)}"
    if all(d == 1 for _, _, d in layers):
        assert receptive_field([(k, s) for k, s, _ in layers]) == r
print(f"receptive-field formula matches the gradient on {n_stacks} random stacks")

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### The receptive field on the photograph
#
# Take a small network with random weights: three 3x3 convs, a stride-2 conv
# and two more 3x3 convs. The picture shows where the gradient of one output
# pixel lands on the input (brighter = larger), and the square the formula
# predicts. The gradient fills the square but is concentrated in its middle:
# central pixels reach the output along many more paths (Luo et al., 2016,
# call this the *effective* receptive field).

# %%
torch.manual_seed(0)
stack = nn.Sequential(
    nn.Conv2d(1, 8, 3), nn.ReLU(), nn.Conv2d(8, 8, 3), nn.ReLU(), nn.Conv2d(8, 8, 3), nn.ReLU(),
    nn.Conv2d(8, 8, 3, stride=2), nn.ReLU(), nn.Conv2d(8, 8, 3), nn.ReLU(), nn.Conv2d(8, 1, 3),
)
convs = [m for m in stack if isinstance(m, nn.Conv2d)]
r = layer_math.receptive_field(convs)
image = gray[150:278, 190:318][None, None].clone().requires_grad_(True)  # (1, 1, 128, 128): the face
out = stack(image)
i, j = out.shape[2] // 2, out.shape[3] // 2
out[0, 0, i, j].backward()
grad = image.grad[0, 0].abs()
rows, cols = (grad.sum(1) > 0).nonzero().flatten(), (grad.sum(0) > 0).nonzero().flatten()
top, left = 2 * i, 2 * j  # output (i, j) starts at input (jump * i, jump * j); the jump is 2 here
assert (rows.min(), rows.max(), cols.min(), cols.max()) == (top, top + r - 1, left, left + r - 1), \
    "the gradient should fill exactly the predicted square"
fig, axes = plt.subplots(1, 2, figsize=(7, 3.6))
axes[0].imshow(image.detach()[0, 0], cmap="gray")
margin = 4
zoom = grad[top - margin:top + r + margin, left - margin:left + r + margin]  # the square and a border
axes[1].imshow(zoom, cmap="magma", extent=(left - margin - 0.5, left + r + margin - 0.5, top + r + margin - 0.5, top - margin - 0.5))
for ax in axes:
    ax.add_patch(matplotlib.patches.Rectangle((left - 0.5, top - 0.5), r, r, fill=False, color="cyan", lw=1.5))
    ax.axis("off")
axes[0].set_title(f"receptive field: {r}x{r}"); axes[1].set_title("|gradient| of one output pixel (zoomed)")
print(f"formula: {r}x{r}; gradient extent: {len(rows)}x{len(cols)}")


# %% [markdown] slideshow={"slide_type": "slide"}
# ## Summary
#
# - `n_out = floor((n + 2p - d(k-1) - 1) / s) + 1`; "same" padding is
#   `(k - 1) / 2`, which is why kernels are odd.
# - Stride subsamples the stride-1 output, cutting work and pixels by `s^2`.
# - Conv layer: `(k^2 C_in + 1) C_out` parameters and
#   `H_out W_out k^2 C_in C_out` MACs; dense: `in*out + out` and `in*out`.
# - Receptive fields grow by `(k - 1) x jump` per layer; strides multiply the
#   jump.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Exercises
#
# Replace each `raise NotImplementedError` with your code and run the cell.
# Hints come in three tiers: an exercise not attempted yet prints a nudge (what
# to look at); `ex02.hint("name")` gives the next, the key idea, and so does a
# wrong answer. The third is a recipe: `ex02.hint("name", level=3)`, or a
# third wrong attempt, shows it.

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### 1. Convolution with stride and padding
#
# Write `conv2d(x, weight, stride, padding)` for a batch `x` `(N, C_in, H, W)`
# and `weight` `(C_out, C_in, k, k)` that computes only the output positions
# it needs (unlike `corr2d_pad_stride` above, which computes all of them and
# throws most away). No `F.conv2d`.

# %%
def conv2d(x, weight, stride, padding):
    raise NotImplementedError  # your code here


ex02.check_conv2d_stride_padding(conv2d);


# %% [markdown] slideshow={"slide_type": "subslide"}
# ### 2. How many layers to see that far?
#
# The recurrence above answers "how far does this stack see?". Turn the question around: write
# `layers_needed(field, kernel_size, growth)`, the fewest stride-1 convolutions with kernel
# `kernel_size` and dilations `1, growth, growth**2, ...` (layer by layer) whose receptive field is at
# least `field` pixels (`growth=1`: no dilation). WaveNet (van den Oord et al., 2016) stacks
# convolutions with kernel 2 whose dilation doubles from one layer to the next (1, 2, 4, ..., 512, then
# again): how many such layers see 16,000 samples (one second of audio at 16 kHz), and how many without
# dilation? The checker measures its answers with gradients.

# %%
def layers_needed(field, kernel_size, growth):
    raise NotImplementedError  # your code here


ex02.check_layers_needed(layers_needed);

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### 3. Predict the shapes before running
#
# `ex02.network()` is the network below. Write `predict_shapes(height, width)`
# returning the `(C, H, W)` after each of its five layers for a 3-channel input,
# using only the formula (the checker tries several input sizes).

# %%
print(ex02.network())


def predict_shapes(height, width):
    raise NotImplementedError  # your code here


ex02.check_predict_shapes(predict_shapes);


# %% [markdown] slideshow={"slide_type": "subslide"}
# ### 4. The layer that runs the formula backwards
#
# A **transposed convolution** (`nn.ConvTranspose2d`, used to upsample, e.g. in segmentation and image
# generation) works the other way round: every input pixel scatters a copy of the `k x k` kernel,
# scaled by its value, into the output; the copies of neighbouring input pixels start `stride` output
# pixels apart, overlapping copies add up, and `padding` removes that many rows and columns from each
# border of the result. Its weight has shape `(C_in, C_out, k, k)`, plus one bias per output channel.
# Write `conv_transpose_cost(in_channels, out_channels, kernel_size, height, width, stride, padding)`
# returning `((C_out, H_out, W_out), parameters, multiply_accumulates)` for a `height x width` input.
# Which convolution maps the output's shape back to the input's?

# %%
def conv_transpose_cost(in_channels, out_channels, kernel_size, height, width, stride, padding):
    raise NotImplementedError  # your code here


ex02.check_conv_transpose_cost(conv_transpose_cost);
