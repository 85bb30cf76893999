# %% [markdown] slideshow={"slide_type": "slide"}
# # 01 Convolution
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/deep-learning-course/conv-to-transformer/blob/main/notebooks/01_convolution.ipynb)
#
# Every network in this course, from LeNet to ResNet, is built from one
# operation: a small kernel slid over an image. This notebook derives that
# operation from scratch, checks it against PyTorch, and looks at what it does
# to a real photograph.
#
# **You will:** count why dense layers cannot handle images; write 2-D
# cross-correlation with loops, then vectorised, and prove both equal
# `F.conv2d`; see the difference from "true" convolution; apply edge and blur
# filters to a photograph; learn an edge kernel by gradient descent; extend the
# operation to several input and output channels and to 1x1 kernels; rewrite it
# as one matrix product (im2col) and time the three ways of computing it.

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
import logging
import random

import matplotlib.cbook
import matplotlib.image
import matplotlib.pyplot as plt
import scipy.signal
import torch
import torch.nn.functional as F
from torch import nn

logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)  # quiet "no CUDA runtime" on CPU-only machines
from torch.utils import benchmark  # noqa: E402

from course_utils import conv, results
from course_utils.accounting import count_params
from course_utils.checks import assert_close
from course_utils.exercises import ex01
from course_utils.plot import show_feature_maps, show_kernels

from course_utils import profile
from course_utils.device import get_device, seed_everything

PROFILE = profile.current()
DEVICE = get_device()
seed_everything(0)
print(f"profile: {PROFILE}   device: {DEVICE}")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Why not a dense layer?
#
# A dense (fully-connected) layer connects every input to every output. For an
# image that means one weight per *pixel* per hidden unit. Take a modest hidden
# layer of 1,000 units and count.

# %%
# NBVAL_CHECK_OUTPUT
hidden = 1000
print(f"{'image':<14}{'pixels':>10}{'dense weights + biases':>26}{'float32 size':>16}")
for side in (100, 800):
    pixels = side * side
    formula = pixels * hidden + hidden
    with torch.device("meta"):  # shapes only: no memory is allocated
        counted = count_params(nn.Linear(pixels, hidden))
    assert counted == formula, "a dense layer has in * out weights and out biases"
    print(f"{f'{side}x{side}':<14}{pixels:>10,}{counted:>26,}{counted * 4 / 1e9:>13.2f} GB")

# %% [markdown]
# An 800x800 greyscale photo, hardly a large image, already needs 640 million
# weights for a single layer, and a colour image three times as many. Images
# have structure that lets us do much better:
#
# 1. **Locality**: to decide whether there is an edge at a pixel, look at its
#    neighbours, not at the far corner. Each output depends on a small window
#    of the input (its *receptive field*).
# 2. **Weight sharing**: an edge is an edge wherever it appears, so the same
#    small set of weights can be used at every position.
#
# Both together give a convolutional layer. A 3x3 kernel has 9 weights and one
# bias, whatever the image size:

# %%
# NBVAL_CHECK_OUTPUT
layer = nn.Conv2d(in_channels=1, out_channels=1, kernel_size=3)
print("parameters of a 3x3 conv layer:", count_params(layer))
assert count_params(layer) == 3 * 3 + 1

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Locality, measured
#
# The gradient of one output pixel with respect to the input shows which input
# pixels it depends on. For the conv layer that is a 3x3 window; for a dense
# layer, every pixel.

# %%
x = torch.randn(1, 1, 12, 12, requires_grad=True)
layer(x)[0, 0, 4, 6].backward()  # one output pixel
window = (x.grad[0, 0] != 0).nonzero()
print("input rows it depends on:", window[:, 0].unique().tolist(), " columns:", window[:, 1].unique().tolist())
assert len(window) == 9, "one output of a 3x3 conv depends on exactly 3x3 inputs"
assert window[:, 0].unique().tolist() == [4, 5, 6] and window[:, 1].unique().tolist() == [6, 7, 8]

x.grad = None
nn.Linear(144, 144)(x.reshape(1, 144))[0, 4 * 12 + 6].backward()  # (1, 144): the same pixel, dense
print("inputs one dense output depends on:", int((x.grad != 0).sum()), "of", x.numel())
assert int((x.grad != 0).sum()) == 144


# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Translation equivariance
#
# Weight sharing has a consequence: **shift the input, and the output shifts
# the same way**. (At the border the shifted-out pixels are lost, so we use
# wrap-around padding here to make the statement exact.) A dense layer has no
# such property: it treats every position differently.

# %%
def shift(t, dy, dx):
    return torch.roll(t, shifts=(dy, dx), dims=(-2, -1))

torch.manual_seed(0)
image = torch.randn(1, 1, 16, 16)
kernel = torch.randn(1, 1, 3, 3)

def conv_wrap(t):  # convolution with wrap-around ("circular") padding keeps the size
    return F.conv2d(F.pad(t, (1, 1, 1, 1), mode="circular"), kernel)

for dy, dx in [(1, 0), (0, 3), (5, -2)]:
    assert_close(conv_wrap(shift(image, dy, dx)), shift(conv_wrap(image), dy, dx), rtol=1e-5, atol=1e-5,
                 msg=f"conv(shift(x)) should equal shift(conv(x)) for shift {(dy, dx)}")

dense = nn.Linear(256, 256)
def dense_map(t):
    return dense(t.reshape(1, 256)).reshape(1, 1, 16, 16)  # (1, 1, 16, 16) as an image again
gap = (dense_map(shift(image, 1, 0)) - shift(dense_map(image), 1, 0)).abs().max().item()
print(f"convolution: equivariant to every shift tried; dense layer: max difference {gap:.2f}")
assert gap > 0.1, "a random dense layer is not shift-equivariant"


# %% [markdown] slideshow={"slide_type": "slide"}
# ## 2-D cross-correlation, with loops
#
# Slide a `kH x kW` kernel over an `H x W` image. At each position multiply the
# window element-wise with the kernel and sum: that is one output pixel. The
# kernel fits at `H - kH + 1` rows and `W - kW + 1` columns, so that is the
# output size (notebook 02 adds padding and stride).
#
# $$Y[i, j] = \sum_{a=0}^{k_H-1} \sum_{b=0}^{k_W-1} X[i + a, j + b]\, K[a, b]$$

# %%
def corr2d(x, kernel):
    kh, kw = kernel.shape
    out = torch.zeros(x.shape[0] - kh + 1, x.shape[1] - kw + 1)
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = (x[i:i + kh, j:j + kw] * kernel).sum()
    return out


# %% [markdown]
# A case small enough to check by hand: the kernel below subtracts each pixel's
# lower-right neighbour from it. On a ramp that grows by 1 to the right and by
# 5 downwards, every output is `-(5 + 1) = -6`.

# %%
# NBVAL_CHECK_OUTPUT
X = torch.arange(20.0).reshape(4, 5)
K = torch.tensor([[1.0, 0.0], [0.0, -1.0]])
Y = corr2d(X, K)
print(X, Y, sep="\n")
assert Y.shape == (3, 4) and torch.all(Y == -6)

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Prove it against PyTorch
#
# `F.conv2d` takes a batch of multi-channel images `(N, C, H, W)` and a weight
# `(C_out, C_in, kH, kW)`; `[None, None]` adds the two leading axes. We compare
# on many random image and kernel sizes, not one hand-picked case.

# %% tags=["no-slide"] slideshow={"slide_type": "skip"}
rng = random.Random(0)
n_cases = profile.pick(smoke=10, standard=40, full=100)
for _ in range(n_cases):
    kh, kw = rng.randint(1, 5), rng.randint(1, 5)
    x = torch.randn(kh + rng.randint(0, 8), kw + rng.randint(0, 8))
    k = torch.randn(kh, kw)
    expected = F.conv2d(x[None, None], k[None, None])[0, 0]
    assert_close(corr2d(x, k), expected, rtol=1e-4, atol=1e-5, msg=f"corr2d vs F.conv2d, x {tuple(x.shape)}, k {(kh, kw)}")
    assert_close(conv.corr2d(x, k), expected, rtol=1e-4, atol=1e-5, msg="course_utils.conv.corr2d vs F.conv2d")
print(f"corr2d equals F.conv2d on {n_cases} random sizes")


# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Vectorised: loop over the kernel, not the image
#
# The loops above run `H_out * W_out` times: a million times for a 1000x1000
# image. Swap the roles: for each of the `kH * kW` kernel weights, multiply a
# whole *shifted copy* of the image by that weight and add. A 3x3 kernel takes
# 9 tensor operations whatever the image size.

# %%
def corr2d_vectorised(x, kernel):
    kh, kw = kernel.shape
    out_h, out_w = x.shape[0] - kh + 1, x.shape[1] - kw + 1
    out = torch.zeros(out_h, out_w)
    for a in range(kh):
        for b in range(kw):
            out += kernel[a, b] * x[a:a + out_h, b:b + out_w]
    return out

for _ in range(n_cases):
    kh, kw = rng.randint(1, 5), rng.randint(1, 5)
    x, k = torch.randn(kh + rng.randint(0, 30), kw + rng.randint(0, 30)), torch.randn(kh, kw)
    assert_close(corr2d_vectorised(x, k), corr2d(x, k), rtol=1e-4, atol=1e-5, msg="vectorised vs loops")
print(f"vectorised == loops on {n_cases} random sizes")

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Cross-correlation is not "true" convolution
#
# In signal processing, convolution flips the kernel by 180 degrees before
# sliding it: $Y[i, j] = \sum_{a,b} X[i - a, j - b] K[a, b]$. Deep-learning
# libraries skip the flip and still say "convolution". For a *learned* kernel
# it makes no difference (the network learns the flipped kernel), but for a
# hand-designed asymmetric one it does. SciPy's `convolve2d` is the textbook
# convolution: it equals our cross-correlation with the flipped kernel.

# %%
x, k = torch.randn(8, 9, dtype=torch.float64), torch.randn(3, 2, dtype=torch.float64)
true_conv = torch.from_numpy(scipy.signal.convolve2d(x.numpy(), k.numpy(), mode="valid"))
assert_close(conv.corr2d(x, torch.flip(k, dims=(0, 1))), true_conv, msg="convolution = correlation with the flipped kernel")
assert_close(conv.convolve2d(x, k), true_conv, msg="course_utils.conv.convolve2d")
differs = (conv.corr2d(x, k) - true_conv).abs().max().item()
print(f"cross-correlation vs convolution, same kernel: max difference {differs:.2f}")
assert differs > 0.1, "for an asymmetric kernel the two operations differ"

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Hand-designed filters on a photograph
#
# Before networks learned their kernels, image processing designed them. An
# **edge detector** responds where brightness changes: the Prewitt and Sobel
# kernels take a difference across columns (vertical edges) or rows (horizontal
# edges), averaged over three rows (Sobel weighs the middle one twice). A
# **blur** kernel averages a neighbourhood. Matplotlib ships a portrait of
# Grace Hopper that we can use.

# %%
path = matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
rgb = torch.from_numpy(matplotlib.image.imread(path).copy()).permute(2, 0, 1).float() / 255  # (3, 600, 512)
rgb = F.avg_pool2d(rgb[None], 2)[0]  # (3, 300, 256): half size keeps the notebook quick
gray = rgb.mean(dim=0)  # (300, 256)
print("colour image:", tuple(rgb.shape), " greyscale:", tuple(gray.shape))
plt.figure(figsize=(3, 3.5)); plt.imshow(gray, cmap="gray"); plt.axis("off"); plt.title("input");

# %%
sobel_x = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])
filters = {
    "Prewitt x": torch.tensor([[-1.0, 0.0, 1.0]] * 3),
    "Sobel x (vertical edges)": sobel_x,
    "Sobel y (horizontal edges)": sobel_x.T,
    "box blur 5x5": torch.full((5, 5), 1 / 25),
}
maps = {name: corr2d_vectorised(gray, k) for name, k in filters.items()}
for name, k in filters.items():
    assert_close(maps[name], F.conv2d(gray[None, None], k[None, None])[0, 0], rtol=1e-4, atol=1e-5, msg=name)
maps["edge strength"] = (maps["Sobel x (vertical edges)"] ** 2 + maps["Sobel y (horizontal edges)"] ** 2).sqrt()

def center_crop(t, h, w):
    top, left = (t.shape[0] - h) // 2, (t.shape[1] - w) // 2
    return t[top:top + h, left:left + w]

h, w = min(m.shape[0] for m in maps.values()), min(m.shape[1] for m in maps.values())
stack = torch.stack([center_crop(gray, h, w)] + [center_crop(m.abs(), h, w) for m in maps.values()])
show_feature_maps(stack, titles=["input"] + list(maps), ncols=3, size=2.6);

# %% [markdown]
# The x-filters light up on vertical lines (the edges of the face, the
# collar); the y-filter on horizontal ones (eyebrows, mouth, the hat's brim).
# The blur smooths. Each claim can be pinned down on synthetic images:

# %%
step = torch.zeros(10, 10)
step[:, 5:] = 1.0  # a vertical edge between columns 4 and 5
gx, gy = corr2d(step, sobel_x), corr2d(step, sobel_x.T)
assert gy.abs().max() == 0, "Sobel y must not respond to a vertical edge"
assert gx[:, [3, 4]].min() == 4 and gx[:, [0, 1, 2, 5, 6, 7]].abs().max() == 0, "Sobel x fires at the edge only"
assert_close(corr2d(torch.ones(9, 9), filters["box blur 5x5"]), torch.ones(5, 5), msg="blur keeps a flat image")
for name in ("Prewitt x", "Sobel x (vertical edges)", "Sobel y (horizontal edges)"):
    assert filters[name].sum() == 0, f"{name}: an edge detector ignores flat regions (weights sum to 0)"
print("Sobel x at the edge:", gx[0].tolist())

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Learning a kernel
#
# A network does not get its kernels from a textbook: it learns them. Can
# gradient descent recover a known kernel from examples alone? Generate the
# "labels" by filtering the photograph with Sobel x, then start from a zero
# kernel and minimise the squared error between our filter's output and the
# labels.

# %%
x = (gray - gray.mean()) / gray.std()  # standardised input: a better-conditioned problem
x = x[None, None]  # (1, 1, 300, 256)
y = F.conv2d(x, sobel_x[None, None])  # the targets
steps = profile.pick(smoke=300, standard=400, full=1000)

def learn(make_optimizer, steps):
    kernel = torch.zeros(1, 1, 3, 3, requires_grad=True)
    optimizer = make_optimizer([kernel])
    losses, snapshots = [], {}
    for step in range(steps + 1):
        if step in (0, 10, 30, 100, steps):
            snapshots[step] = kernel.detach()[0, 0].clone()
        loss = ((F.conv2d(x, kernel) - y) ** 2).mean()
        losses.append(loss.item())
        if step < steps:
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return losses, snapshots

sgd_losses, _ = learn(lambda p: torch.optim.SGD(p, lr=0.1), steps)
adam_losses, snapshots = learn(lambda p: torch.optim.Adam(p, lr=0.1), steps)
learned = snapshots[steps]
print("learned kernel:\n", learned.numpy().round(3) + 0.0)  # + 0.0 turns -0.0 into 0.0
assert_close(learned, sobel_x, rtol=0, atol=1e-2, msg="gradient descent should recover the Sobel kernel")
assert sgd_losses[-1] < 0.05 * sgd_losses[0], "plain gradient descent should also make steady progress"

# %% [markdown]
# Plain gradient descent (SGD) gets there slowly: neighbouring pixels of a
# photograph are strongly correlated, so some combinations of kernel weights
# barely change the output and their gradient is tiny. Adam (Kingma & Ba, 2015)
# scales each weight's step by its own gradient history and converges within a
# few hundred steps. The kernel snapshots show the edge detector appearing.

# %%
fig, axes = plt.subplots(1, len(snapshots) + 2, figsize=(2.0 * (len(snapshots) + 2), 2.2))
axes[0].semilogy(sgd_losses, label="SGD")
axes[0].semilogy(adam_losses, label="Adam")
axes[0].set_xlabel("step"); axes[0].set_title("squared error"); axes[0].legend(fontsize=7)
for ax, (step, k) in zip(axes[1:], list(snapshots.items()) + [("target", sobel_x)]):
    ax.imshow(k, cmap="bwr", vmin=-2.2, vmax=2.2)
    ax.set_title(f"step {step}" if step != "target" else "Sobel x"); ax.axis("off")
fig.tight_layout()


# %% [markdown] slideshow={"slide_type": "slide"}
# ## Several input channels
#
# A colour image has three channels. A kernel for it has one 2-D slice per
# input channel; each slice is correlated with its channel and the results are
# **summed** into one output map.

# %%
def corr2d_multi_in(x, kernel):  # x: (C, H, W), kernel: (C, kH, kW)
    return sum(corr2d_vectorised(x_c, k_c) for x_c, k_c in zip(x, kernel))

k3 = torch.randn(3, 3, 3)
assert_close(corr2d_multi_in(rgb, k3), F.conv2d(rgb[None], k3[None])[0, 0], rtol=1e-4, atol=1e-4,
             msg="multi-input correlation vs F.conv2d")
# By linearity: Sobel/3 on each colour channel, summed, is Sobel on the grey (mean) image.
sobel_rgb = sobel_x.expand(3, 3, 3) / 3  # (3, 3, 3): the same slice for every channel
assert_close(corr2d_multi_in(rgb, sobel_rgb), corr2d_vectorised(gray, sobel_x), rtol=1e-4, atol=1e-5,
             msg="channel-summed Sobel/3 should equal Sobel on the mean image")
print("summing over channels: checked")


# %% [markdown] slideshow={"slide_type": "slide"}
# ## Several output channels: the 4-D weight
#
# One multi-channel kernel gives one output map. For `C_out` maps, use `C_out`
# kernels: the weight of a conv layer is `(C_out, C_in, kH, kW)`, here 4 edge
# and blur filters applied to the 3 colour channels.

# %%
def corr2d_multi_in_out(x, kernel):  # x: (C_in, H, W), kernel: (C_out, C_in, kH, kW)
    return torch.stack([corr2d_multi_in(x, k) for k in kernel])

three = [filters[name] for name in ("Prewitt x", "Sobel x (vertical edges)", "Sobel y (horizontal edges)")]
three.append(torch.full((3, 3), 1 / 9))  # a 3x3 blur
weight = torch.stack([k.expand(3, 3, 3) / 3 for k in three])  # (4, 3, 3, 3)
layer = nn.Conv2d(in_channels=3, out_channels=4, kernel_size=3, bias=False)
print("nn.Conv2d(3, 4, 3).weight:", tuple(layer.weight.shape), "= (out_channels, in_channels, kH, kW)")
with torch.no_grad():
    layer.weight.copy_(weight)
    by_torch = layer(rgb[None])[0]
out = corr2d_multi_in_out(rgb, weight)
assert_close(out, by_torch, rtol=1e-4, atol=1e-4, msg="corr2d_multi_in_out vs nn.Conv2d")
assert_close(conv.corr2d_multi_in_out(rgb, weight), by_torch, rtol=1e-4, atol=1e-4, msg="course_utils version")
show_kernels(weight[:, :1], ncols=4, size=1.2, title="weight[:, 0]: one kernel per output channel (all 3 input slices equal)");
show_feature_maps(out.abs(), titles=["Prewitt x", "Sobel x", "Sobel y", "blur"], ncols=4, size=2.2);

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 1x1 convolution: a dense layer at every pixel
#
# With `kH = kW = 1` a convolution has no spatial extent: output channel `o` at
# pixel `(i, j)` is $\sum_c W[o, c] X[c, i, j]$. That is a dense layer from
# `C_in` to `C_out` features applied to every pixel separately, with the same
# weights everywhere. Networks use it to mix and compress channels cheaply
# (Network-in-Network, GoogLeNet; notebook 09).

# %%
c_in, c_out = 6, 4
x = torch.randn(c_in, 7, 9)
conv1x1 = nn.Conv2d(c_in, c_out, kernel_size=1)
w, b = conv1x1.weight.detach().reshape(c_out, c_in), conv1x1.bias.detach()  # (C_out, C_in, 1, 1) -> (C_out, C_in)
as_matmul = (w @ x.reshape(c_in, -1) + b[:, None]).reshape(c_out, 7, 9)  # (C_in, H*W) -> (C_out, H, W)
dense = nn.Linear(c_in, c_out)
dense.load_state_dict({"weight": w, "bias": b})
per_pixel = dense(x.permute(1, 2, 0)).permute(2, 0, 1)  # (H, W, C_in) -> (H, W, C_out) -> (C_out, H, W)
with torch.no_grad():
    assert_close(as_matmul, conv1x1(x[None])[0], rtol=1e-5, atol=1e-5, msg="1x1 conv = matrix product over channels")
    assert_close(per_pixel, conv1x1(x[None])[0], rtol=1e-5, atol=1e-5, msg="1x1 conv = nn.Linear at every pixel")
print("1x1 conv == matmul over channels == nn.Linear per pixel")


# %% [markdown] slideshow={"slide_type": "slide"}
# ## im2col: convolution as one matrix product
#
# Matrix multiplication is the most optimised routine on any hardware. To use
# it, copy every receptive-field window into a **column** ("image to
# columns"): a `(C_in * kH * kW, H_out * W_out)` matrix. The weight, flattened
# to `(C_out, C_in * kH * kW)`, times that matrix gives every output pixel of
# every channel at once. Here is the matrix for a 4x4 image and a 2x2 kernel:
# each of the 9 columns is one window.

# %%
def im2col(x, kernel_size):  # x: (N, C, H, W)
    n, c, h, w = x.shape
    kh, kw = kernel_size
    out_h, out_w = h - kh + 1, w - kw + 1
    cols = torch.stack([x[:, :, a:a + out_h, b:b + out_w] for a in range(kh) for b in range(kw)], dim=2)
    return cols.reshape(n, c * kh * kw, out_h * out_w)  # (N, C, kH*kW, H_out, W_out) -> (N, C*kH*kW, L)

def conv2d_im2col(x, weight):
    c_out, _, kh, kw = weight.shape
    out_h, out_w = x.shape[2] - kh + 1, x.shape[3] - kw + 1
    out = weight.reshape(c_out, -1) @ im2col(x, (kh, kw))  # (C_out, C*kH*kW) @ (N, C*kH*kW, L) -> (N, C_out, L)
    return out.reshape(x.shape[0], c_out, out_h, out_w)  # (N, C_out, H_out, W_out)

print(im2col(torch.arange(16.0).reshape(1, 1, 4, 4), (2, 2))[0])

# %% tags=["no-slide"] slideshow={"slide_type": "skip"}
for _ in range(n_cases):
    kh, kw, c_in, c_out = rng.randint(1, 4), rng.randint(1, 4), rng.randint(1, 4), rng.randint(1, 5)
    x = torch.randn(rng.randint(1, 3), c_in, kh + rng.randint(0, 9), kw + rng.randint(0, 9))
    weight = torch.randn(c_out, c_in, kh, kw)
    assert_close(im2col(x, (kh, kw)), F.unfold(x, (kh, kw)), msg="im2col vs F.unfold")
    assert_close(conv2d_im2col(x, weight), F.conv2d(x, weight), rtol=1e-4, atol=1e-4, msg="im2col conv vs F.conv2d")
print(f"im2col convolution equals F.conv2d on {n_cases} random batches, channels and sizes")

# %% [markdown]
# `course_utils.conv.conv2d_im2col` is the same idea with stride, padding and
# dilation (notebook 02) and a bias. It accepts exactly `F.conv2d`'s arguments:

# %% tags=["no-slide"] slideshow={"slide_type": "skip"}
for _ in range(n_cases):
    k, s, p, d = rng.randint(1, 4), rng.randint(1, 3), rng.randint(0, 2), rng.randint(1, 2)
    side = max(d * (k - 1) + 1 - 2 * p, 1) + rng.randint(0, 10)
    x, weight, bias = torch.randn(2, 3, side, side + 1), torch.randn(5, 3, k, k), torch.randn(5)
    assert_close(conv.conv2d_im2col(x, weight, bias, stride=s, padding=p, dilation=d),
                 F.conv2d(x, weight, bias, stride=s, padding=p, dilation=d), rtol=1e-4, atol=1e-4,
                 msg=f"kernel {k}, stride {s}, padding {p}, dilation {d}")
print(f"course_utils.conv.conv2d_im2col equals F.conv2d on {n_cases} random configurations")


# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Timing: loops vs im2col vs `F.conv2d`
#
# Three ways to compute the same batched convolution (8 images, 8 -> 16
# channels, 3x3 kernel): a Python loop over output pixels (each step one small
# tensor contraction), our im2col + one matrix product, and PyTorch's
# `F.conv2d`. `torch.utils.benchmark` repeats each until the measurement is
# stable. The numbers depend on your machine; the *results* must agree, and
# that is what we assert.

# %%
def conv2d_loops(x, weight):  # one window at a time
    c_out, _, kh, kw = weight.shape
    out = x.new_zeros(x.shape[0], c_out, x.shape[2] - kh + 1, x.shape[3] - kw + 1)
    for i in range(out.shape[2]):
        for j in range(out.shape[3]):
            out[:, :, i, j] = torch.einsum("nchw,ochw->no", x[:, :, i:i + kh, j:j + kw], weight)
    return out

sides = profile.pick(smoke=[8, 16], standard=[16, 32, 64], full=[16, 32, 64, 128])
min_run_time = profile.pick(smoke=0.02, standard=0.3, full=1.0)
methods = {"loops": conv2d_loops, "im2col": conv2d_im2col, "F.conv2d": F.conv2d}
timings = {name: [] for name in methods}
for side in sides:
    x, weight = torch.randn(8, 8, side, side), torch.randn(16, 8, 3, 3)
    reference = F.conv2d(x, weight)
    for name, fn in methods.items():
        assert_close(fn(x, weight), reference, rtol=1e-4, atol=1e-4, msg=f"{name} at {side}x{side}")
        timer = benchmark.Timer("fn(x, weight)", globals={"fn": fn, "x": x, "weight": weight})
        timings[name].append(timer.blocked_autorange(min_run_time=min_run_time).median * 1e3)  # ms

print(f"{'image':<10}" + "".join(f"{name + ' (ms)':>16}" for name in methods) + f"{'loops / F.conv2d':>20}")
for i, side in enumerate(sides):
    row = "".join(f"{timings[name][i]:>16.3f}" for name in methods)
    print(f"{f'{side}x{side}':<10}{row}{timings['loops'][i] / timings['F.conv2d'][i]:>19.0f}x")

# %%
fig, ax = plt.subplots(figsize=(5, 3))
for name, ms in timings.items():
    ax.plot(sides, ms, marker="o", label=name)
ax.set_xscale("log", base=2); ax.set_yscale("log"); ax.set_xticks(sides, [str(s) for s in sides])
ax.set_xlabel("image side (pixels)"); ax.set_ylabel("ms per batch"); ax.legend(); ax.set_title("same convolution, three ways")
results.record("01", "loops_vs_conv2d_slowdown", timings["loops"][-1] / timings["F.conv2d"][-1], side=sides[-1],
               im2col_ms=timings["im2col"][-1], conv2d_ms=timings["F.conv2d"][-1], loops_ms=timings["loops"][-1]);


# %% [markdown]
# The loop version pays Python's overhead once per output pixel, so its time
# grows with the image area. im2col replaces all of that with one large matrix
# product; the price is memory (every input pixel is copied up to `kH * kW`
# times). `F.conv2d` calls an optimised library (oneDNN on CPU, cuDNN on
# NVIDIA GPUs) that picks among im2col-like, direct and other algorithms.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Summary
#
# - Dense layers on images need a weight per pixel per unit; convolution uses
#   **locality** and **weight sharing**, and is **equivariant** to shifts.
# - Deep learning's "convolution" is cross-correlation; true convolution flips
#   the kernel.
# - Hand-made kernels detect edges or blur; gradient descent finds such kernels
#   from examples.
# - Weights are `(C_out, C_in, kH, kW)`: sum over input channels, one kernel per
#   output channel; a 1x1 convolution is a per-pixel dense layer.
# - im2col turns convolution into one matrix product.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Exercises
#
# Each exercise gives a stub; replace `raise NotImplementedError` with your
# code and run the cell. A checker compares your answer with PyTorch. Hints
# come in three tiers: an exercise you have not attempted prints the first, a
# nudge (what to look at); `ex01.hint("name")` shows the next, the key idea,
# and so does a wrong answer, after saying what differs. The third is a
# recipe: `ex01.hint("name", level=3)` shows it, and so does a third wrong
# attempt. Try without it first.

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### 1. Two thin passes instead of one square kernel
#
# Sobel x is the outer product of a column `(1, 2, 1)` (smooth vertically)
# and a row `(-1, 0, 1)` (differentiate horizontally):
# `sobel_x == column[:, None] * row[None, :]`. Such a *separable* kernel can be
# applied as two 1-D passes. Write `separable_corr2d(x, column, row)` for an
# `(H, W)` image that gives the same result as correlating with the
# `(kH, kW)` outer product, using only 1-D kernels. How many multiply-adds
# per output pixel does it save for a 7x7 kernel? (Notebook 09 meets the same
# idea as *factorised* convolutions.)

# %%
def separable_corr2d(x, column, row):
    raise NotImplementedError  # your code here


ex01.check_separable_corr2d(separable_corr2d);


# %% [markdown] slideshow={"slide_type": "subslide"}
# ### 2. Design a spot detector
#
# The edge filters above were designed by hand. Design one more: a 3x3
# `spot_detector` that
#
# - gives exactly zero on any *ramp* `a * i + b * j + c` (flat regions and
#   gradual shading are not spots),
# - treats rows and columns alike (rotating it by 90 degrees changes nothing),
# - responds to a single bright pixel.
#
# Then apply it to the photograph with `corr2d_vectorised(gray, ...)` and look:
# what lights up?

# %%
spot_detector = None  # your 3x3 tensor here

ex01.check_spot_detector(spot_detector);


# %% [markdown] slideshow={"slide_type": "subslide"}
# ### 3. A conv layer in one step
#
# Gradient descent found the Sobel kernel above in a few hundred steps. But a
# convolution is *linear in its weights*: given inputs `x` `(N, C_in, H, W)`
# and outputs `y = F.conv2d(x, weight, bias)` of an unknown layer, the weight
# and bias solve a system of linear equations. Write
# `fit_conv(x, y, kernel_size)` returning `(weight, bias)` of shape
# `(C_out, C_in, k, k)` and `(C_out,)`, found without any iterations. The
# checker hides layers with several channels and wants them back exactly.

# %%
def fit_conv(x, y, kernel_size):
    raise NotImplementedError  # your code here


ex01.check_fit_conv(fit_conv);


# %% [markdown] slideshow={"slide_type": "subslide"}
# ### 4. Convolution is a (sparse, shared) matrix
#
# For a single-channel input of size `(H, W)`, cross-correlation with a fixed
# kernel is linear, so it is a matrix `T` with `T @ x.flatten() ==
# corr2d(x, kernel).flatten()`. Write `conv_matrix(kernel, input_size)`
# returning that `(H_out * W_out, H * W)` matrix. Look at it: how many of its
# entries are non-zero, and how many *different* values does it hold? Compare
# with a dense layer of the same shape.

# %%
def conv_matrix(kernel, input_size):
    raise NotImplementedError  # your code here


ex01.check_conv_matrix(conv_matrix);
