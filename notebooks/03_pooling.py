# %% [markdown] slideshow={"slide_type": "slide"}
# # 03 Pooling
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/deep-learning-course/conv-to-transformer/blob/main/notebooks/03_pooling.ipynb)
#
# Convolutions find local patterns; **pooling** summarises them. A pooling
# layer slides a window over each channel and replaces it by one number, its
# maximum or its mean. It has no weights, it makes the maps (and so every later
# layer) smaller, and it makes the network care less about exactly where a
# pattern is. This notebook writes both kinds from scratch, forward and
# backward, and checks them against PyTorch and autograd.

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

import matplotlib.cbook
import matplotlib.image
import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from torch import nn

from course_utils import conv, layer_math, results
from course_utils.accounting import count_macs, count_params
from course_utils.checks import assert_close, grad_check
from course_utils.exercises import ex03

from course_utils import profile
from course_utils.device import get_device, seed_everything

PROFILE = profile.current()
DEVICE = get_device()
seed_everything(0)
print(f"profile: {PROFILE}   device: {DEVICE}")


# %% [markdown] slideshow={"slide_type": "slide"}
# ## Pooling from scratch
#
# Pooling uses the same window arithmetic as a convolution (notebook 02):
# a `k x k` window, a stride `s` (by default `k`: windows side by side, not
# overlapping) and padding `p`. Output side: `floor((n + 2p - k) / s) + 1`.
# Unlike a convolution it works on **each channel separately**, and instead of
# a weighted sum it takes the window's max or mean. Padding for max pooling is
# `-inf` (it must never win); for average pooling PyTorch pads with zeros that
# count in the mean (`count_include_pad=True`).

# %%
def pool2d(x, kernel_size, stride=None, padding=0, mode="max"):  # x: (N, C, H, W)
    k, p = kernel_size, padding
    s = stride or kernel_size
    fill = float("-inf") if mode == "max" else 0.0
    xp = F.pad(x, (p, p, p, p), value=fill)  # (N, C, H + 2p, W + 2p)
    out_h, out_w = (xp.shape[2] - k) // s + 1, (xp.shape[3] - k) // s + 1
    out = x.new_empty(x.shape[0], x.shape[1], out_h, out_w)
    for i in range(out_h):
        for j in range(out_w):
            window = xp[:, :, i * s:i * s + k, j * s:j * s + k]  # (N, C, k, k)
            out[:, :, i, j] = window.amax(dim=(2, 3)) if mode == "max" else window.mean(dim=(2, 3))
    return out


# %%
# NBVAL_CHECK_OUTPUT
X = torch.tensor([[1.0, 3.0, 2.0, 0.0],
                  [5.0, 4.0, 1.0, 1.0],
                  [0.0, 2.0, 6.0, 8.0],
                  [1.0, 1.0, 7.0, 5.0]])[None, None]  # (1, 1, 4, 4)
print("2x2 max:\n", pool2d(X, 2)[0, 0])
print("2x2 mean:\n", pool2d(X, 2, mode="avg")[0, 0])
assert pool2d(X, 2)[0, 0].tolist() == [[5.0, 2.0], [2.0, 8.0]]
assert pool2d(X, 2, mode="avg")[0, 0].tolist() == [[3.25, 1.0], [1.0, 6.5]]

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Prove it against PyTorch
#
# Random batches, channels, sizes, windows, strides (overlapping and not) and
# paddings; `F.max_pool2d` and `F.avg_pool2d` are the references, and the
# vectorised versions in `course_utils.conv` (built on notebook 01's im2col)
# must agree too.

# %% tags=["no-slide"] slideshow={"slide_type": "skip"}
rng = random.Random(0)
n_cases = profile.pick(smoke=20, standard=150, full=500)
for _ in range(n_cases):
    k, s = rng.randint(1, 4), rng.randint(1, 4)
    p = rng.randint(0, k // 2)  # PyTorch allows at most half the window
    x = torch.randn(rng.randint(1, 3), rng.randint(1, 4), k + rng.randint(0, 9), k + rng.randint(0, 9))
    where = f"k={k} s={s} p={p} x={tuple(x.shape)}"
    assert_close(pool2d(x, k, s, p), F.max_pool2d(x, k, s, p), msg=f"max pool, {where}")
    assert_close(pool2d(x, k, s, p, mode="avg"), F.avg_pool2d(x, k, s, p), rtol=1e-5, atol=1e-6, msg=f"avg pool, {where}")
    assert_close(conv.max_pool2d(x, k, s, p), F.max_pool2d(x, k, s, p), msg=f"course_utils max pool, {where}")
    assert_close(conv.avg_pool2d(x, k, s, p), F.avg_pool2d(x, k, s, p), rtol=1e-5, atol=1e-6, msg=f"course_utils avg pool, {where}")
print(f"max and average pooling equal PyTorch's on {n_cases} random configurations")

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### On the photograph
#
# Max pooling keeps the strongest response in each window; average pooling
# keeps the mean. On an image the mean looks like a blurred, smaller copy; the
# max brightens, because the brightest pixel of each window wins. On an edge
# map (below, Sobel edge strength) max pooling keeps thin edges alive that
# averaging would wash out.

# %%
path = matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
gray = torch.from_numpy(matplotlib.image.imread(path).copy()).float().mean(dim=2)[None, None] / 255  # (1, 1, 600, 512)
gray = F.avg_pool2d(gray, 2)  # (1, 1, 300, 256)
sobel_x = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])
sobel = torch.stack([sobel_x, sobel_x.T])[:, None]  # (2, 1, 3, 3): vertical and horizontal edges
edges = F.conv2d(gray, sobel, padding=1).pow(2).sum(dim=1, keepdim=True).sqrt()  # (1, 1, 300, 256)
k = 6
panels = [gray, conv.max_pool2d(gray, k), conv.avg_pool2d(gray, k), edges, conv.max_pool2d(edges, k), conv.avg_pool2d(edges, k)]
fig, axes = plt.subplots(2, 3, figsize=(8, 6.4))
titles = ["image", f"{k}x{k} max", f"{k}x{k} mean", "edges", f"edges, {k}x{k} max", f"edges, {k}x{k} mean"]
for n, (ax, img, title) in enumerate(zip(axes.flat, panels, titles)):
    top = 1.0 if n < 3 else edges.max().item()  # one brightness scale per row, so max and mean compare
    ax.imshow(img[0, 0], cmap="gray", vmin=0, vmax=top); ax.set_title(f"{title}: {img.shape[2]}x{img.shape[3]}", fontsize=9); ax.axis("off")
fig.tight_layout()
assert conv.max_pool2d(edges, k).mean() > conv.avg_pool2d(edges, k).mean(), "the max of a window is at least its mean"

# %% [markdown] slideshow={"slide_type": "slide"}
# ## No parameters, cheaper later layers
#
# A pooling layer learns nothing: it has no weights. What it buys is size. A
# 2x2 pool quarters the pixels, so every layer after it does a quarter of the
# work (and stores a quarter of the activations).

# %%
# NBVAL_CHECK_OUTPUT
print("parameters: MaxPool2d", count_params(nn.MaxPool2d(2)), "| AvgPool2d", count_params(nn.AvgPool2d(2)))
assert count_params(nn.MaxPool2d(2)) == count_params(nn.AvgPool2d(2)) == 0
conv_layer = nn.Conv2d(32, 64, kernel_size=3, padding=1)
without = count_macs(nn.Sequential(conv_layer), (1, 32, 28, 28))
with_pool = count_macs(nn.Sequential(nn.MaxPool2d(2), conv_layer), (1, 32, 28, 28))
print(f"3x3 conv, 32->64 channels: on 28x28 {without:,} MACs; after a 2x2 pool (14x14) {with_pool:,} MACs")
assert without == 4 * with_pool == layer_math.conv2d_macs(32, 64, 3, 28)


# %% [markdown] slideshow={"slide_type": "slide"}
# ## Tolerance to small shifts
#
# Move a pattern by one pixel and a convolution's output moves with it
# (notebook 01: equivariance), so, compared position by position, the feature
# map changes a lot. After max pooling, a strong response that stays inside its
# window gives the same output. Let's measure, on the photograph's edge map,
# how much the features change when the image shifts by one pixel, with and
# without pooling.

# %%
def relative_change(f, dy, dx):
    shifted = torch.roll(gray, shifts=(dy, dx), dims=(2, 3))
    a = f(F.conv2d(gray, sobel, padding=1).abs())[..., 8:-8, 8:-8]  # ignore the wrapped border
    b = f(F.conv2d(shifted, sobel, padding=1).abs())[..., 8:-8, 8:-8]
    return ((a - b).norm() / a.norm()).item()

shifts = [(0, 1), (1, 0), (1, 1), (0, 2), (2, 1)]
poolings = {
    "no pooling": lambda t: t,
    "2x2 max": lambda t: conv.max_pool2d(t, 2),
    "4x4 max": lambda t: conv.max_pool2d(t, 4),
    "4x4 mean": lambda t: conv.avg_pool2d(t, 4),
    "8x8 max": lambda t: conv.max_pool2d(t, 8),
}
change = {name: sum(relative_change(f, dy, dx) for dy, dx in shifts) / len(shifts) for name, f in poolings.items()}
print("mean relative change of the features after a 1-2 pixel shift:")
for name, value in change.items():
    print(f"  {name:<11} {value:.3f}")
assert change["2x2 max"] < change["no pooling"] and change["4x4 max"] < change["2x2 max"] < change["no pooling"]
assert change["8x8 max"] < change["4x4 max"], "larger windows tolerate shifts better"
results.record("03", "shift_change_ratio_4x4_max", change["4x4 max"] / change["no pooling"]);


# %% [markdown]
# Tolerance, not invariance: a pattern that crosses a window boundary still
# changes the output, and strided pooling makes the result depend on where the
# grid falls (Zhang, 2019, *Making Convolutional Networks Shift-Invariant
# Again*, measures and reduces this). A single bright pixel shows both cases
# exactly:

# %%
# NBVAL_CHECK_OUTPUT
def dot(i, j):
    x = torch.zeros(1, 1, 8, 8)
    x[0, 0, i, j] = 1.0
    return x

base = conv.max_pool2d(dot(2, 2), 2)
inside = conv.max_pool2d(dot(3, 3), 2)  # moved, but still in the window rows 2-3, columns 2-3
across = conv.max_pool2d(dot(2, 4), 2)  # moved into the next window
print("shift inside a window  -> same output:", torch.equal(base, inside))
print("shift across a boundary -> same output:", torch.equal(base, across))
assert torch.equal(base, inside) and not torch.equal(base, across)


# %% [markdown] slideshow={"slide_type": "slide"}
# ## The backward pass
#
# During training the loss's gradient flows back through the pooling layer.
# Each output is a function of its window only, so:
#
# - **max pooling**: the output *is* one input (the arg-max). Its gradient goes
#   to that input only; the others in the window did not affect the output and
#   get zero. The forward pass must therefore **remember where each maximum
#   was**.
# - **average pooling**: the output is the mean of `k^2` inputs, so each of
#   them receives `1 / k^2` of its gradient.
#
# Where windows overlap, an input collects gradient from every window it
# belongs to.

# %%
def max_pool_forward(x, k, s):  # x: (N, C, H, W), no padding; also returns flat arg-max indices
    n, c, h, w = x.shape
    out_h, out_w = (h - k) // s + 1, (w - k) // s + 1
    out = x.new_empty(n, c, out_h, out_w)
    argmax = torch.empty(n, c, out_h, out_w, dtype=torch.long)
    for i in range(out_h):
        for j in range(out_w):
            window = x[:, :, i * s:i * s + k, j * s:j * s + k].reshape(n, c, k * k)  # (N, C, k*k)
            out[:, :, i, j], pos = window.max(dim=2)
            argmax[:, :, i, j] = (i * s + pos // k) * w + (j * s + pos % k)  # row * W + column in the input
    return out, argmax

def max_pool_backward(grad_out, argmax, input_size):  # route each gradient to its arg-max
    n, c = grad_out.shape[:2]
    grad = grad_out.new_zeros(n, c, input_size[0] * input_size[1])
    grad.scatter_add_(2, argmax.reshape(n, c, -1), grad_out.reshape(n, c, -1))  # += (overlaps add up)
    return grad.reshape(n, c, *input_size)  # (N, C, H, W)

def avg_pool_backward(grad_out, input_size, k, s):  # spread each gradient evenly over its window
    grad = grad_out.new_zeros(*grad_out.shape[:2], *input_size)
    for i in range(grad_out.shape[2]):
        for j in range(grad_out.shape[3]):
            grad[:, :, i * s:i * s + k, j * s:j * s + k] += grad_out[:, :, i, j, None, None] / (k * k)
    return grad


# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Gradient routing, drawn
#
# A 6x6 input, 2x2 max pooling, and an upstream gradient with a different
# value for each of the 9 outputs. Every output's gradient lands on exactly
# one input, its window's maximum (circled); average pooling spreads the same
# gradients evenly over each window.

# %%
torch.manual_seed(3)
x = torch.randint(0, 10, (1, 1, 6, 6)).float() + torch.rand(1, 1, 6, 6) * 0.1  # no ties
out, argmax = max_pool_forward(x, 2, 2)
grad_out = torch.arange(1.0, 10.0).reshape(1, 1, 3, 3)
grad_max = max_pool_backward(grad_out, argmax, (6, 6))
grad_avg = avg_pool_backward(grad_out, (6, 6), 2, 2)

fig, axes = plt.subplots(1, 4, figsize=(12, 3.2))
panels = [(x, "input (max of each window circled)", "viridis"), (grad_out, "upstream gradient (3x3)", "Oranges"),
          (grad_max, "max pool: gradient to the input", "Oranges"), (grad_avg, "avg pool: gradient to the input", "Oranges")]
for ax, (t, title, cmap) in zip(axes, panels):
    ax.imshow(t[0, 0], cmap=cmap)
    for (i, j), v in zip([(i, j) for i in range(t.shape[2]) for j in range(t.shape[3])], t[0, 0].flatten().tolist()):
        ax.text(j, i, f"{v:.0f}" if v == int(v) else f"{v:.2f}", ha="center", va="center", fontsize=8)
    if t.shape[2] == 6:
        for edge in (1.5, 3.5):
            ax.axhline(edge, color="k", lw=1); ax.axvline(edge, color="k", lw=1)
    ax.set_title(title, fontsize=9); ax.set_xticks([]); ax.set_yticks([])
rows, cols = argmax.flatten() // 6, argmax.flatten() % 6
axes[0].scatter(cols, rows, s=300, facecolors="none", edgecolors="r", lw=1.5)
fig.tight_layout()

assert (grad_max != 0).sum() == 9, "max pooling: exactly one input per window receives gradient"
assert_close(grad_max.flatten()[argmax.flatten()], grad_out.flatten(), msg="each gradient lands on its arg-max")
assert_close(grad_avg, grad_out.repeat_interleave(2, 2).repeat_interleave(2, 3) / 4, msg="average pooling spreads by 1/4")


# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Verify against autograd
#
# For random inputs, windows, strides (overlapping ones included) and
# upstream gradients, our backward functions must give what PyTorch's
# autograd computes for `F.max_pool2d` and `F.avg_pool2d`. The same check
# covers the package's versions, which also handle padding.

# %% tags=["no-slide"] slideshow={"slide_type": "skip"}
def autograd_input_grad(pool, x, seed):  # (upstream gradient, dL/dx by autograd)
    x = x.clone().requires_grad_(True)
    out = pool(x)
    grad_out = torch.randn(out.shape, generator=torch.Generator().manual_seed(seed), dtype=x.dtype)
    out.backward(grad_out)
    return grad_out, x.grad

for case in range(n_cases):
    k, s = rng.randint(1, 4), rng.randint(1, 4)
    x = torch.randn(rng.randint(1, 2), rng.randint(1, 3), k + rng.randint(0, 8), k + rng.randint(0, 8), dtype=torch.float64)
    size, where = tuple(x.shape[2:]), f"k={k} s={s} x={tuple(x.shape)}"
    grad_out, expected = autograd_input_grad(lambda t: F.max_pool2d(t, k, s), x, case)
    _, argmax = max_pool_forward(x, k, s)
    assert_close(max_pool_backward(grad_out, argmax, size), expected, msg=f"max-pool backward, {where}")
    grad_out, expected = autograd_input_grad(lambda t: F.avg_pool2d(t, k, s), x, case)
    assert_close(avg_pool_backward(grad_out, size, k, s), expected, msg=f"avg-pool backward, {where}")

    p = rng.randint(0, k // 2)
    grad_out, expected = autograd_input_grad(lambda t: F.max_pool2d(t, k, s, p), x, case)
    _, indices = conv.max_pool2d(x, k, s, p, return_indices=True)
    assert_close(conv.max_pool2d_backward(grad_out, indices, size), expected, msg=f"course_utils max backward, p={p}, {where}")
    grad_out, expected = autograd_input_grad(lambda t: F.avg_pool2d(t, k, s, p), x, case)
    assert_close(conv.avg_pool2d_backward(grad_out, size, k, s, p), expected, msg=f"course_utils avg backward, p={p}, {where}")
print(f"pooling gradients equal autograd's on {n_cases} random configurations")

# %% [markdown]
# Autograd is one oracle; finite differences are another that knows nothing
# about PyTorch's backward code. Average pooling is smooth, so its gradient can
# be checked numerically too (max pooling is not differentiable where two
# inputs tie, but random inputs never tie).

# %% tags=["no-slide"] slideshow={"slide_type": "skip"}
x = torch.randn(1, 2, 6, 5, dtype=torch.float64)
print("avg pool, relative error vs finite differences:", f"{grad_check(lambda t: conv.avg_pool2d(t, 3, 2, 1), x):.1e}")
print("max pool, relative error vs finite differences:", f"{grad_check(lambda t: conv.max_pool2d(t, 2, 1), x):.1e}")

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### A check that can fail
#
# An assertion only proves something if a wrong implementation would trip it.
# A classic mistake: treating max pooling's backward like average pooling's,
# spreading the gradient over the window. The same comparison catches it:

# %%
x = torch.randn(1, 1, 6, 6, dtype=torch.float64)
grad_out, expected = autograd_input_grad(lambda t: F.max_pool2d(t, 2), x, 0)
spread = avg_pool_backward(grad_out, (6, 6), 2, 2)  # the wrong backward for max pooling
try:
    assert_close(spread, expected, msg="max-pool backward that spreads the gradient")
    raise RuntimeError("the check should have failed")
except AssertionError as err:
    print("caught:", str(err)[:160], "...")


# %% [markdown] slideshow={"slide_type": "slide"}
# ## Summary
#
# - Pooling slides a window over each channel and keeps its max or mean; same
#   output-size formula as a convolution; no parameters.
# - It shrinks the maps (a 2x2 pool cuts later layers' work by 4) and makes
#   features tolerant of small shifts, not invariant to them.
# - Backward: max pooling routes each gradient to the remembered arg-max;
#   average pooling spreads it evenly; overlapping windows add up.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Exercises
#
# Replace each `raise NotImplementedError` with your code and run the cell.
# Hints come in three tiers: an exercise not attempted yet prints a nudge (what
# to look at); `ex03.hint("name")` gives the next, the key idea, and so does a
# wrong answer. The third is a recipe: `ex03.hint("name", level=3)`, or a
# third wrong attempt, shows it.

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### 1. Max pooling with `ceil_mode`
#
# `F.max_pool2d(x, 2)` on a 7x7 map gives 3x3 and never looks at the last row
# and column. With `ceil_mode=True` (VGG and GoogLeNet in notebooks 08-09 use
# it) the output size rounds *up* instead, so the last window hangs over the
# edge and takes the maximum of the part inside. Write
# `max_pool2d_ceil(x, kernel_size, stride)` (no padding) that matches
# `F.max_pool2d(x, kernel_size, stride, ceil_mode=True)`. One of the checker's
# cases has a stride larger than the window: find PyTorch's extra rule.

# %%
def max_pool2d_ceil(x, kernel_size, stride):
    raise NotImplementedError  # your code here


ex03.check_max_pool2d_ceil(max_pool2d_ceil);


# %% [markdown] slideshow={"slide_type": "subslide"}
# ### 2. The backward pass of another pooling
#
# Max and average are not the only choices: **L2 pooling** keeps the root of
# the sum of squares of each window, `sqrt(sum x^2)`, PyTorch's
# `F.lp_pool2d(x, 2, kernel_size, stride)`. Derive its backward pass with the
# chain rule and write `lp_pool_backward(x, grad_output, kernel_size, stride)`
# returning `dL/dx`. Some of the checker's windows overlap.

# %%
def lp_pool_backward(x, grad_output, kernel_size, stride):
    raise NotImplementedError  # your code here


ex03.check_lp_pool_backward(lp_pool_backward);


# %% [markdown] slideshow={"slide_type": "subslide"}
# ### 3. The backward pass of adaptive average pooling
#
# `nn.AdaptiveAvgPool2d(output_size)` fixes the *output* size instead of the window: torchvision's
# AlexNet ends its features with `AdaptiveAvgPool2d((6, 6))` so that other input sizes reach the dense
# layers with 6x6 maps, and ResNet ends with `AdaptiveAvgPool2d(1)`. Its windows are chosen by PyTorch
# from the input and output sizes (find out how). Write
# `adaptive_avg_pool_backward(grad_output, input_size)` returning `dL/dx` of
# `F.adaptive_avg_pool2d(x, grad_output.shape[-2:])` for `x` of height and width `input_size`. The
# checker's cases include sizes that do not divide evenly and outputs larger than their inputs.

# %%
def adaptive_avg_pool_backward(grad_output, input_size):
    raise NotImplementedError  # your code here


ex03.check_adaptive_avg_pool_backward(adaptive_avg_pool_backward);
