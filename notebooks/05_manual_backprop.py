# %% [markdown] slideshow={"slide_type": "slide"}
# # 05 Manual backpropagation: a CNN in NumPy
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/deep-learning-course/conv-to-transformer/blob/main/notebooks/05_manual_backprop.ipynb)
#
# Until now `loss.backward()` has computed every gradient for us. This notebook
# computes them **by hand**: a small CNN written in NumPy alone (convolution,
# ReLU, max-pooling, flatten, linear and softmax cross-entropy), each layer with
# a forward and a backward pass, for batches and several channels. Every
# formula is derived on a tiny example you can follow with pen and paper, then
# checked twice: against finite differences (which know nothing about calculus)
# and against PyTorch autograd on the very same weights. Finally the NumPy CNN
# learns Fashion-MNIST.
#
# The layers live in `course_utils/numpy_nn.py` (no PyTorch inside); this
# notebook derives them and then uses them, so you can compare your own version
# with the reference.

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
import time

import matplotlib.pyplot as plt
import numpy as np
import scipy.signal
import torch
import torch.nn.functional as F

from course_utils import numpy_nn, results
from course_utils.checks import assert_close, numerical_gradient, relative_error
from course_utils.data import load_dataset
from course_utils.plot import plot_history
from course_utils.train import EpochStats, History

from course_utils import profile
from course_utils.device import get_device, seed_everything

PROFILE = profile.current()
DEVICE = get_device()
seed_everything(0)
print(f"profile: {PROFILE}   device: {DEVICE}")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## The plan: the chain rule, one layer at a time
#
# The network is a chain `x -> conv -> ReLU -> max-pool -> flatten -> linear -> z
# -> loss L`. Backpropagation walks it backwards. Each layer `y = f(x)` receives
# the **upstream gradient** `g = dL/dy` (how the loss changes with its output),
# multiplies it by its **local gradient** `dy/dx` (how its output changes with
# its input, known from the forward pass alone) and hands `dL/dx` down to the
# layer below; layers with parameters also produce `dL/dW` and `dL/db`.
#
# So every layer needs exactly three things:
#
# - `forward(x)`: compute `y`, **remember** what the backward pass needs;
# - `backward(g)`: return `dL/dx`, store `dL/dW`, `dL/db`;
# - a check that `backward` is right.

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Two independent judges
#
# 1. **Finite differences**: nudge one number by `eps` and watch the loss,
#    `(L(w + eps) - L(w - eps)) / (2 eps)`. Slow (two forward passes per
#    number) but it knows nothing about our derivation.
# 2. **PyTorch autograd** on identical weights and inputs.
#
# We use float64 and the relative error `max|a - b| / max(|a|, |b|)`; a correct
# gradient gives about `1e-9` against finite differences and `1e-15` against
# autograd, a wrong one gives something near 1. Our bar is `1e-6`. To test a
# layer on its own we use the loss `L = sum(y * g)` for a random fixed `g`:
# then `dL/dy` is exactly `g`, any upstream gradient we like.

# %%
TOL = 1e-6
rng = np.random.default_rng(0)


def t64(a, grad=False):
    """A float64 tensor copy of a NumPy array (the autograd twin)."""
    return torch.tensor(a, dtype=torch.float64, requires_grad=grad)


def judge(name, mine, finite_diff, autograd):
    """Print both relative errors and assert they are below TOL."""
    e_fd, e_ag = relative_error(mine, finite_diff), relative_error(mine, autograd)
    print(f"  {name:<12} vs finite differences {e_fd:8.1e}   vs autograd {e_ag:8.1e}")
    assert e_fd < TOL, f"{name}: relative error {e_fd:.2e} against finite differences"
    assert e_ag < TOL, f"{name}: relative error {e_ag:.2e} against autograd"


# %% [markdown] slideshow={"slide_type": "slide"}
# ## The loss: softmax cross-entropy
#
# For one example with logits $z$ and true class $y$,
#
# $$L = -\log p_y = -z_y + \log \sum_j e^{z_j}.$$
#
# Differentiate with respect to $z_k$:
#
# - the first term gives $-1$ if $k = y$, else $0$;
# - the second gives $e^{z_k} / \sum_j e^{z_j} = p_k$.
#
# So
#
# $$\frac{\partial L}{\partial z_k} = p_k - [k = y], \qquad
# \frac{\partial L}{\partial z} = \mathrm{softmax}(z) - \mathrm{onehot}(y),$$
#
# and for the mean over a batch of $N$, `(softmax - onehot) / N`. This is where
# every backward pass starts: the first upstream gradient.
#
# **On paper**: `z = (2, 1, 0)`, `y = 0`. `exp(z) = (7.389, 2.718, 1)`, sum
# `11.107`, so `p = (0.665, 0.245, 0.090)` and `dL/dz = (-0.335, 0.245, 0.090)`:
# push the true class up, the others down by their probability.

# %%
loss_fn = numpy_nn.SoftmaxCrossEntropy()
loss = loss_fn.forward(np.array([[2.0, 1.0, 0.0]]), np.array([0]))
grad_z = loss_fn.backward()
print("loss:", round(loss, 4), "  dL/dz:", grad_z.round(3))
assert_close(grad_z, [[-0.335, 0.245, 0.090]], atol=5e-4, msg="the paper example")

# %% tags=["no-slide"] slideshow={"slide_type": "skip"}
for n, k in [(1, 3), (8, 10), (5, 4)]:
    z, y = rng.standard_normal((n, k)) * 3, rng.integers(0, k, n)
    loss_fn = numpy_nn.SoftmaxCrossEntropy()
    loss_fn.forward(z, y)
    mine = loss_fn.backward()
    fd = numerical_gradient(lambda: numpy_nn.SoftmaxCrossEntropy().forward(z, y), z)
    zt = t64(z, True)
    F.cross_entropy(zt, torch.tensor(y)).backward()
    print(f"logits {z.shape}:")
    judge("dL/dz", mine, fd, zt.grad)

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Linear (dense): `y = x W^T + b`
#
# With `x` of shape `(N, in)`, `W` of shape `(out, in)` and the upstream
# gradient `g = dL/dy` of shape `(N, out)`. Each output is
#
# $$y_{n,i} = \sum_j x_{n,j} W_{i,j} + b_i,$$
#
# so:
#
# - `W[i, j]` multiplies `x[n, j]` in output `y[n, i]` for every example `n`:
#   $\partial L / \partial W_{i,j} = \sum_n g_{n,i}\, x_{n,j}$, i.e. **`dL/dW = g^T x`**;
# - `b[i]` is added to `y[n, i]` for every `n`: **`dL/db = sum_n g[n, :]`**;
# - `x[n, j]` reaches every output `i` through `W[i, j]`:
#   **`dL/dx = g W`**.
#
# A shape check catches most mistakes: `g^T x` is `(out, N) @ (N, in) = (out,
# in)`, the shape of `W`, as it must be.
#
# **On paper**: `x = (1, 2)`, `W = [[1, 0], [-1, 3]]`, `g = (1, -1)`.
# `dL/dW = [[1, 2], [-1, -2]]`, `dL/db = (1, -1)`, `dL/dx = (1*1 + (-1)(-1),
# 1*0 + (-1)*3) = (2, -3)`.

# %%
linear = numpy_nn.Linear(2, 2, dtype=np.float64)
linear.weight[...] = [[1, 0], [-1, 3]]
linear.forward(np.array([[1.0, 2.0]]))
grad_x = linear.backward(np.array([[1.0, -1.0]]))
print("dL/dW =", linear.grad_weight.tolist(), " dL/db =", linear.grad_bias.tolist(), " dL/dx =", grad_x.tolist())
assert_close(linear.grad_weight, [[1, 2], [-1, -2]], msg="paper example dL/dW")
assert_close(linear.grad_bias, [1, -1], msg="paper example dL/db")
assert_close(grad_x, [[2, -3]], msg="paper example dL/dx")

# %% tags=["no-slide"] slideshow={"slide_type": "skip"}
for n, fin, fout in [(1, 3, 2), (4, 7, 5), (6, 20, 10)]:
    linear = numpy_nn.Linear(fin, fout, dtype=np.float64, rng=rng)
    linear.bias[...] = rng.standard_normal(fout)
    x = rng.standard_normal((n, fin))
    g = rng.standard_normal((n, fout))
    linear.forward(x)
    grad_x = linear.backward(g)

    def loss():
        return float((linear.forward(x) * g).sum())

    fd_x, fd_w, fd_b = (numerical_gradient(loss, a) for a in (x, linear.weight, linear.bias))
    xt, wt, bt = t64(x, True), t64(linear.weight, True), t64(linear.bias, True)
    F.linear(xt, wt, bt).backward(t64(g))
    print(f"Linear({fin}, {fout}) on x {x.shape}:")
    judge("dL/dx", grad_x, fd_x, xt.grad)
    judge("dL/dW", linear.grad_weight, fd_w, wt.grad)
    judge("dL/db", linear.grad_bias, fd_b, bt.grad)

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Flatten and ReLU: a reshape and a mask
#
# **Flatten** only rearranges numbers, so its backward pass rearranges the
# gradient back: `g.reshape(x.shape)`.
#
# **ReLU** `y = max(0, x)` has local gradient 1 where `x > 0` and 0 elsewhere.
# The forward pass remembers that mask; the backward pass is `g * mask`. A unit
# that was off in the forward pass passes no gradient back ("dead" for this
# example).
#
# **On paper**: `x = (-1, 2, 0.5, -3)`, `g = (10, 20, 30, 40)` gives
# `dL/dx = (0, 20, 30, 0)`.

# %%
relu = numpy_nn.ReLU()
relu.forward(np.array([-1.0, 2.0, 0.5, -3.0]))
grad_x = relu.backward(np.array([10.0, 20.0, 30.0, 40.0]))
assert_close(grad_x, [0, 20, 30, 0], msg="paper example ReLU")
print("ReLU dL/dx:", grad_x)

for shape in [(2, 3, 4, 4), (5, 7)]:
    x = rng.standard_normal(shape)
    x[np.abs(x) < 1e-3] = 0.5  # finite differences need a step away from the kink at 0
    g = rng.standard_normal(shape)
    relu.forward(x)
    mine = relu.backward(g)
    fd = numerical_gradient(lambda: float((relu.forward(x) * g).sum()), x)
    xt = t64(x, True)
    F.relu(xt).backward(t64(g))
    print(f"ReLU on {shape}:")
    judge("dL/dx", mine, fd, xt.grad)

flatten = numpy_nn.Flatten()
x = rng.standard_normal((2, 3, 4, 4))
assert np.array_equal(flatten.backward(flatten.forward(x)), x), "flatten's backward must undo its forward"

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Max-pooling: route the gradient to the winner
#
# Each output of a max-pool is a copy of one input, the largest of its window.
# A small change to that input changes the output one-for-one; a small change
# to any other input of the window changes nothing. So the local gradient is 1
# at the **arg-max** and 0 elsewhere: the backward pass sends each `g[i, j]` to
# the position that won window `(i, j)` in the forward pass, which is why the
# forward pass must remember it (recomputing it from `y` would be ambiguous).
# If windows overlap, a position that wins several windows collects the sum.
#
# **On paper** (2x2 windows, stride 2):

# %%
# NBVAL_CHECK_OUTPUT
x = np.array([[1, 3, 2, 0],
              [4, 2, 1, 5],
              [0, 1, 7, 2],
              [6, 2, 3, 1]], dtype=np.float64)[None, None]  # (1, 1, 4, 4)
pool = numpy_nn.MaxPool2d(2)
y = pool.forward(x)
g = np.array([[10.0, 20.0], [30.0, 40.0]])[None, None]
grad_x = pool.backward(g)
print("y =\n", y[0, 0])
print("dL/dx =\n", grad_x[0, 0])
assert_close(grad_x[0, 0], [[0, 0, 0, 0], [10, 0, 0, 20], [0, 0, 40, 0], [30, 0, 0, 0]],
             msg="each gradient goes to its window's maximum")

# %% tags=["no-slide"] slideshow={"slide_type": "skip"}
for shape, k, s, p in [((2, 3, 8, 8), 2, 2, 0), ((1, 2, 7, 9), 3, 2, 1), ((2, 2, 6, 5), 3, 1, 0)]:
    pool = numpy_nn.MaxPool2d(k, stride=s, padding=p)
    x = rng.standard_normal(shape)
    g = rng.standard_normal(pool.forward(x).shape)
    mine = pool.backward(g)
    fd = numerical_gradient(lambda: float((pool.forward(x) * g).sum()), x)
    xt = t64(x, True)
    F.max_pool2d(xt, k, s, p).backward(t64(g))
    print(f"MaxPool2d(kernel_size={k}, stride={s}, padding={p}) on {shape}:")
    judge("dL/dx", mine, fd, xt.grad)


# %% [markdown] slideshow={"slide_type": "slide"}
# ## Convolution: the heart of the matter
#
# One input channel, one kernel, stride 1, no padding (we generalise after):
#
# $$y_{i,j} = \sum_{u,v} x_{i+u,\,j+v}\; w_{u,v} + b.$$
#
# Three gradients to find, given the upstream gradient `g = dL/dy`, which has
# the shape of `y`.

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### `dL/db`: add up the upstream gradient
#
# `b` is added to every output pixel, so `dL/db = sum_{i, j} g[i, j]` (and, with
# a batch and several channels, the sum over examples and positions of its own
# output channel).

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### `dL/dW`: correlate the input with the upstream gradient
#
# Weight `w[u, v]` multiplies input `x[i + u, j + v]` in output `y[i, j]`, for
# **every** output position `(i, j)` (weight sharing). The chain rule adds up
# all those uses:
#
# $$\frac{\partial L}{\partial w_{u,v}} = \sum_{i,j} g_{i,j}\; x_{i+u,\,j+v}.$$
#
# Read it as a formula you already know: it is the *cross-correlation of the
# input `x` with `g`*, the upstream gradient sliding over the input like a
# kernel. Its output has the kernel's size.
#
# **On paper**: a 3x3 input, a 2x2 kernel, so a 2x2 output and `g`:

# %%
def correlate(a, k):
    """Plain 2-D cross-correlation, valid positions only: loops, like notebook 01."""
    kh, kw = k.shape
    out = np.zeros((a.shape[0] - kh + 1, a.shape[1] - kw + 1))
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = (a[i:i + kh, j:j + kw] * k).sum()
    return out


x = np.array([[1.0, 2.0, 0.0], [0.0, 1.0, 3.0], [2.0, 1.0, 1.0]])
w = np.array([[1.0, -1.0], [2.0, 0.0]])
g = np.array([[1.0, 0.0], [-1.0, 2.0]])  # upstream gradient, the shape of y
y = correlate(x, w)
grad_w = correlate(x, g)
print("y = correlate(x, w) =\n", y)
print("dL/dw = correlate(x, g) =\n", grad_w)
# by hand: dL/dw[0, 0] = 1*x[0,0] + 0*x[0,1] - 1*x[1,0] + 2*x[1,1] = 1 + 0 - 0 + 2 = 3
assert grad_w[0, 0] == 3.0

# %%
conv = numpy_nn.Conv2d(1, 1, kernel_size=2, dtype=np.float64)
conv.weight[...] = w
assert_close(conv.forward(x[None, None])[0, 0], y, msg="Conv2d forward vs the loops")
grad_x_layer = conv.backward(g[None, None])
assert_close(conv.grad_weight[0, 0], grad_w, msg="Conv2d's dL/dW vs correlate(x, g)")
assert conv.grad_bias[0] == g.sum(), "dL/db is the sum of g"
print("numpy_nn.Conv2d agrees with the paper example: dL/dW =", conv.grad_weight[0, 0].tolist())


# %% [markdown] slideshow={"slide_type": "subslide"}
# ### `dL/dX`: the padded gradient, correlated with the rotated kernel
#
# Input pixel `x[a, b]` is used by every output `y[i, j]` whose window covers
# it, with weight `w[a - i, b - j]`. Two ways to organise the same sum:
#
# - **Scatter** (think forward): for each output position, add `g[i, j] * w`
#   onto the window it came from.
# - **Gather** (think about one input pixel):
#   $\dfrac{\partial L}{\partial x_{a,b}} = \sum_{i,j} g_{i,j}\; w_{a-i,\,b-j}$
#   (terms whose kernel index falls outside the kernel are zero). The index `a - i` runs
#   *backwards* through the kernel: this sum is a true convolution of `g` with
#   `w` (notebook 01's flipped-kernel operation), which is the same thing as
#   a **cross-correlation** of `g` with the kernel **rotated by 180 degrees**.
#   The code does the second: rotate once, then correlate (rotating *and*
#   calling it a convolution would flip the kernel twice). And because the
#   border pixels are covered by fewer windows, we first pad `g` with `k - 1`
#   zeros on every side (a "full" correlation, every position where the two
#   overlap at all), so that every input position gets a complete window.
#
# The picture shows the gather view for our example: the padded `g`, the
# rotated kernel, and the result.

# %%
def show_matrices(named, title=None):
    """Small matrices as annotated heat maps, side by side."""
    fig, axes = plt.subplots(1, len(named), figsize=(2.3 * len(named), 2.6))
    for ax, (name, m) in zip(axes, named.items()):
        ax.imshow(m, cmap="coolwarm", vmin=-np.abs(m).max() - 1e-9, vmax=np.abs(m).max() + 1e-9)
        for (r, c), v in np.ndenumerate(m):
            ax.text(c, r, f"{v:g}", ha="center", va="center", fontsize=9)
        ax.set_title(name, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


k = w.shape[0]
g_padded = np.pad(g, k - 1)  # (2 + 2(k-1))^2 = 4x4
w_rot = w[::-1, ::-1]  # 180-degree rotation
grad_x_gather = correlate(g_padded, w_rot)  # back to the 3x3 input size

grad_x_scatter = np.zeros_like(x)
for i in range(g.shape[0]):
    for j in range(g.shape[1]):
        grad_x_scatter[i:i + k, j:j + k] += g[i, j] * w

show_matrices({"w": w, "rot180(w)": w_rot, "g padded by k-1": g_padded, "dL/dx = corr(g_pad, rot w)": grad_x_gather},
              title="the input gradient, gather view")
true_convolution = scipy.signal.convolve2d(g, w, mode="full")  # the textbook convolution: it flips w itself
assert_close(grad_x_gather, true_convolution, msg="correlating with rot180(w) = truly convolving with w")
plt.show()
assert_close(grad_x_gather, grad_x_scatter, msg="gather (rotated kernel) and scatter views must agree")
assert_close(grad_x_layer[0, 0], grad_x_gather, msg="numpy_nn.Conv2d's dL/dx vs the full convolution")
assert grad_x_gather[0, 0] == 1 and grad_x_gather[1, 1] == 3, "the two entries worked out by hand below"
print("dL/dx =\n", grad_x_gather)


# %% [markdown]
# Check one entry by hand: `x[0, 0]` is only in the window of `y[0, 0]`, with
# weight `w[0, 0] = 1`, so `dL/dx[0, 0] = g[0, 0] * 1 = 1`. The centre pixel
# `x[1, 1]` is in all four windows: `g[0,0] w[1,1] + g[0,1] w[1,0] + g[1,0]
# w[0,1] + g[1,1] w[0,0] = 0 + 0 + 1 + 2 = 3`.
#
# The rotation matters: for a kernel that is not symmetric, correlating with
# `w` itself gives an array of the right shape and the wrong numbers, which
# only a judge (finite differences, autograd) notices.

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Batches and channels
#
# With a batch of `N` images, `C` input and `F` output channels (`W` has shape
# `(F, C, k, k)`), the same formulas hold per channel pair and the chain rule
# adds up every path:
#
# $$\frac{\partial L}{\partial W_{f,c}} = \sum_n x_{n,c} \star g_{n,f}
# \qquad \text{(each kernel sees every example)},$$
#
# $$\frac{\partial L}{\partial X_{n,c}} = \sum_f \mathrm{pad}_{k-1}(g_{n,f}) \star \mathrm{rot}_{180}(W_{f,c})
# \qquad \text{(each input channel feeds every output channel)},$$
#
# $$\frac{\partial L}{\partial b_f} = \sum_{n,i,j} g_{n,f,i,j},$$
#
# where $\star$ is the (valid) cross-correlation of notebook 01.
#
# Here they are as loops straight from the formulas, checked against
# `numpy_nn.Conv2d`, which computes the same thing with one matrix product per
# gradient (im2col, notebook 01): rotate-and-correlate reuses the forward
# pass's machinery.

# %%
def conv_backward_loops(x, weight, g):
    """Stride 1, no padding; every sum written out as in the formulas above."""
    n_batch, n_in = x.shape[:2]
    n_out, _, k, _ = weight.shape
    grad_w = np.zeros_like(weight)
    grad_x = np.zeros_like(x)
    for n in range(n_batch):
        for f in range(n_out):
            for c in range(n_in):
                grad_w[f, c] += correlate(x[n, c], g[n, f])
                grad_x[n, c] += correlate(np.pad(g[n, f], k - 1), weight[f, c, ::-1, ::-1])
    grad_b = g.sum(axis=(0, 2, 3))
    return grad_x, grad_w, grad_b


conv = numpy_nn.Conv2d(3, 4, kernel_size=3, dtype=np.float64, rng=rng)
x = rng.standard_normal((2, 3, 6, 5))
g = rng.standard_normal(conv.forward(x).shape)  # (2, 4, 4, 3)
grad_x = conv.backward(g)
loops = conv_backward_loops(x, conv.weight, g)
for name, fast, slow in zip(("dL/dx", "dL/dW", "dL/db"), (grad_x, conv.grad_weight, conv.grad_bias), loops):
    assert_close(fast, slow, rtol=1e-10, msg=f"{name}: im2col version vs the loops")
print("loops over (n, f, c) and the im2col version agree on x", x.shape, "and W", conv.weight.shape)

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Padding and stride
#
# - **Padding**: the forward pass convolves the padded input `x_pad`, so the
#   formulas give `dL/dx_pad`; the padding zeros are constants, so we simply cut
#   their border off.
# - **Stride `s`**: output `(i, j)` used the window at `(s*i, s*j)`. Insert `s -
#   1` zeros between the entries of `g` ("dilate" it): the gradient then sits at
#   the window positions it belongs to, and the stride-1 formulas apply
#   unchanged. Input rows that no window reached (when `s` does not divide the
#   size) get zero gradient.

# %%
# NBVAL_CHECK_OUTPUT
g_small = np.array([[1.0, 2.0], [3.0, 4.0]])[None, None]
print("g with stride 2, dilated:\n", numpy_nn.dilate(g_small, 2)[0, 0])

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### The convolution layer, checked
#
# Random shapes with odd sizes, several channels, strides that do not divide
# the input and padding, against both judges.

# %% tags=["no-slide"] slideshow={"slide_type": "skip"}
conv_cases = [  # (N, C_in, H, W), C_out, kernel_size, stride, padding
    ((2, 3, 7, 7), 4, 3, 1, 0),
    ((1, 2, 8, 9), 3, 3, 2, 1),
    ((2, 1, 6, 5), 2, 5, 1, 2),
    ((3, 2, 9, 7), 2, 2, 3, 0),
]
for shape, c_out, k, s, p in conv_cases:
    conv = numpy_nn.Conv2d(shape[1], c_out, k, stride=s, padding=p, dtype=np.float64, rng=rng)
    conv.bias[...] = rng.standard_normal(c_out)
    x = rng.standard_normal(shape)
    g = rng.standard_normal(conv.forward(x).shape)
    grad_x = conv.backward(g)

    def loss():
        return float((conv.forward(x) * g).sum())

    fd_x, fd_w, fd_b = (numerical_gradient(loss, a) for a in (x, conv.weight, conv.bias))
    xt, wt, bt = t64(x, True), t64(conv.weight, True), t64(conv.bias, True)
    F.conv2d(xt, wt, bt, stride=s, padding=p).backward(t64(g))
    print(f"Conv2d({shape[1]}, {c_out}, kernel_size={k}, stride={s}, padding={p}) on x {shape}:")
    judge("dL/dx", grad_x, fd_x, xt.grad)
    judge("dL/dW", conv.grad_weight, fd_w, wt.grad)
    judge("dL/db", conv.grad_bias, fd_b, bt.grad)


# %% [markdown] slideshow={"slide_type": "slide"}
# ## The whole network, one backward pass
#
# Now chain the layers: `Sequential.backward` calls each layer's `backward` in
# reverse order, each handing its `dL/dx` to the layer below. The PyTorch twin
# below is built from `torch.nn.functional` on copies of the same weights, so
# autograd and our hand-written chain must produce the same numbers for every
# parameter.

# %%
def numpy_cnn(in_channels=1, width=8, image_size=28, num_classes=10, dtype=np.float32, rng=None):
    """conv -> ReLU -> max-pool, twice, then flatten -> linear.

    Args:
        in_channels: channels of the input images.
        width: channels of the first conv layer (the second has twice as many).
        image_size: height = width of the input; must be divisible by 4.
        num_classes: number of logits.
        dtype: np.float32 to train, np.float64 to check gradients.
        rng: a np.random.Generator for the initial weights.
    """
    side = image_size // 4
    return numpy_nn.Sequential(
        numpy_nn.Conv2d(in_channels, width, 3, padding=1, dtype=dtype, rng=rng),  # (N, width, S, S)
        numpy_nn.ReLU(),
        numpy_nn.MaxPool2d(2),  # (N, width, S/2, S/2)
        numpy_nn.Conv2d(width, 2 * width, 3, padding=1, dtype=dtype, rng=rng),
        numpy_nn.ReLU(),
        numpy_nn.MaxPool2d(2),  # (N, 2*width, S/4, S/4)
        numpy_nn.Flatten(),  # (N, 2*width*(S/4)^2)
        numpy_nn.Linear(2 * width * side * side, num_classes, dtype=dtype, rng=rng),
    )


def torch_twin(params, x):
    """The same network in PyTorch, on float64 copies of the NumPy parameters."""
    w1, b1, w2, b2, w3, b3 = params
    h = F.max_pool2d(F.relu(F.conv2d(x, w1, b1, padding=1)), 2)
    h = F.max_pool2d(F.relu(F.conv2d(h, w2, b2, padding=1)), 2)
    return F.linear(h.flatten(1), w3, b3)  # (N, classes)


# %%
for n, c, size, width in [(4, 1, 12, 3), (3, 2, 8, 2)]:
    net = numpy_cnn(c, width, size, num_classes=5, dtype=np.float64, rng=rng)
    for p in net.params()[1::2]:
        p[...] = rng.standard_normal(p.shape) * 0.1  # non-zero biases, so their gradients are tested too
    x, y = rng.standard_normal((n, c, size, size)), rng.integers(0, 5, n)
    loss_fn = numpy_nn.SoftmaxCrossEntropy()
    loss = loss_fn.forward(net.forward(x), y)
    grad_x = net.backward(loss_fn.backward())

    def full_loss():
        return numpy_nn.SoftmaxCrossEntropy().forward(net.forward(x), y)

    twins = [t64(p, True) for p in net.params()]
    xt = t64(x, True)
    loss_t = F.cross_entropy(torch_twin(twins, xt), torch.tensor(y))
    loss_t.backward()
    assert abs(loss - loss_t.item()) < 1e-12, "the NumPy and PyTorch losses differ"
    print(f"CNN on x {x.shape}, {net.num_params()} parameters, loss {loss:.4f}:")
    names = ["conv1.W", "conv1.b", "conv2.W", "conv2.b", "linear.W", "linear.b"]
    for name, param, grad, twin in zip(names, net.params(), net.grads(), twins):
        grad = grad.copy()  # the finite differences below re-run forward passes
        judge(name, grad, numerical_gradient(full_loss, param), twin.grad)
    judge("input", grad_x, numerical_gradient(full_loss, x), xt.grad)

# %% [markdown]
# Every gradient of every layer agrees with both judges to about ten digits.
# That is the whole of backpropagation: nothing but the chain rule, applied
# layer by layer, with each layer remembering what it needs from its forward
# pass.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Training the NumPy CNN on Fashion-MNIST
#
# Same network in float32 (the speed PyTorch trains at), minibatch SGD with
# momentum (`numpy_nn.SGD`, the update rule of `torch.optim.SGD`), on a
# class-balanced subset of Fashion-MNIST. As in notebook 04, a validation split
# carved out of the training images is measured after every epoch, and the
# test images once, at the end. The training loop is all here.

# %%
n_train, n_val, n_test = profile.pick(smoke=(1000, 500, 500), standard=(10000, 2000, 2000),
                                      full=(55000, 5000, 10000))
epochs = profile.pick(smoke=1, standard=5, full=10)
fmnist = load_dataset("fashion_mnist")
data = fmnist.subset(n_train + n_val, n_test, seed=0).split_validation(n_val)
mean = data.mean.numpy().reshape(1, -1, 1, 1)  # (1, C, 1, 1): broadcasts over (N, C, H, W)
std = data.std.numpy().reshape(1, -1, 1, 1)  # (1, C, 1, 1)


def to_numpy(images):
    """uint8 tensor (N, C, H, W) -> normalised float32 array."""
    return ((images.numpy().astype(np.float32) / 255 - mean) / std).astype(np.float32)


x_train, y_train = to_numpy(data.train_images), data.train_labels.numpy()
x_val, y_val = to_numpy(data.val_images), data.val_labels.numpy()
x_test, y_test = to_numpy(data.test_images), data.test_labels.numpy()
print(f"train {x_train.shape}, validation {x_val.shape}, test {x_test.shape}; "
      f"training images per class: {np.bincount(y_train).tolist()}")


# %% tags=["colab-estimate", "no-slide"] slideshow={"slide_type": "skip"}
# For the Colab estimate of benchmarks/colab_time.py (CONTRIBUTING, "Colab time"): this notebook's
# work does not move to a GPU, so its estimate scales the standard run's time by this number.
colab_cpu_work = n_train * epochs  # the NumPy network runs on the CPU on every profile: its time grows with this

# %%
def evaluate_numpy(net, x, y, batch_size=500):
    """Mean loss and accuracy over (x, y), in batches."""
    loss_fn, total, correct = numpy_nn.SoftmaxCrossEntropy(), 0.0, 0
    for i in range(0, len(x), batch_size):
        logits = net.forward(x[i:i + batch_size])
        total += loss_fn.forward(logits, y[i:i + batch_size]) * len(logits)
        correct += (logits.argmax(axis=1) == y[i:i + batch_size]).sum()
    return total / len(x), correct / len(x)


net = numpy_cnn(rng=np.random.default_rng(0))
start_loss = numpy_nn.SoftmaxCrossEntropy().forward(net.forward(x_train[:1000]), y_train[:1000])
spread = net.forward(x_train[:1000]).std(axis=1).mean()  # how far apart the ten logits of an image are
print(f"initial loss {start_loss:.2f} on 1,000 training images (ln 10 = {np.log(10):.2f}); "
      f"the logits of an image spread over {spread:.1f} (standard deviation)")
assert start_loss > np.log(10) + 0.3, "with these initial weights the loss starts well above ln 10"

# %% [markdown]
# Notebook 04's first sanity check fails: a network that knows nothing should
# start near `ln 10 = 2.30`, and ours starts much higher. Nothing is broken;
# the initial weights make the first predictions confidently random. The He
# initialisation of the convolutions keeps the activations' scale through the
# ReLUs, so the 784 features reaching the linear layer are of order 1 and,
# after the ReLUs, all positive; the linear layer (weights of variance
# `1 / in_features`) adds them up into logits that differ by one or two
# units. Confident wrong guesses cost more than `ln 10`, and the first SGD
# steps are spent undoing them. The usual remedy is to start the *last* layer
# small, so that all ten logits start about equal:

# %%
net.params()[-2][...] *= 0.1  # the linear layer's weight (params: conv1 W, b, conv2 W, b, linear W, b)
start_loss = numpy_nn.SoftmaxCrossEntropy().forward(net.forward(x_train[:1000]), y_train[:1000])
print(f"with the last layer's initial weights scaled by 0.1: initial loss {start_loss:.3f}")
assert abs(start_loss - np.log(10)) < 0.05, "equal logits give a loss of ln 10"
optimizer = numpy_nn.SGD(net, lr=0.01, momentum=0.9)
loss_fn = numpy_nn.SoftmaxCrossEntropy()
batch_size = 64
history, step_losses = History(), []
order_rng = np.random.default_rng(1)
for epoch in range(1, epochs + 1):
    start, seen, total, correct = time.perf_counter(), 0, 0.0, 0
    order = order_rng.permutation(len(x_train))
    for i in range(0, len(order), batch_size):
        idx = order[i:i + batch_size]
        logits = net.forward(x_train[idx])  # forward: every layer remembers its inputs
        loss = loss_fn.forward(logits, y_train[idx])
        net.backward(loss_fn.backward())  # backward: (softmax - onehot) / N, down the chain
        optimizer.step()  # W <- W - lr * velocity
        step_losses.append(loss)
        total, correct, seen = total + loss * len(idx), correct + (logits.argmax(1) == y_train[idx]).sum(), seen + len(idx)
    seconds = time.perf_counter() - start
    val_loss, val_acc = evaluate_numpy(net, x_val, y_val)
    history.append(EpochStats(epoch, seconds, examples_per_s=seen / seconds, lr=optimizer.lr,
                              metrics={"train_loss": total / seen, "train_acc": correct / seen,
                                       "val_loss": val_loss, "val_acc": val_acc}))
    print(f"epoch {epoch}: train loss {total / seen:.4f}  validation accuracy {val_acc:.2%}  ({seconds:.1f} s, "
          f"{seen / seconds:,.0f} examples/s)")

# %%
fig, ax = plt.subplots(figsize=(6, 3))
ax.plot(step_losses, alpha=0.35, label="per batch")
window = min(50, len(step_losses))
ax.plot(np.arange(window - 1, len(step_losses)), np.convolve(step_losses, np.ones(window) / window, "valid"),
        label=f"mean of {window}")
ax.axhline(np.log(10), ls=":", color="gray", label="chance: log 10")
ax.set(xlabel="SGD step", ylabel="training loss", title="the NumPy CNN learning")
ax.legend()
plt.show()
plot_history(history, title="NumPy CNN on a Fashion-MNIST subset")
plt.show()

# %% [markdown]
# Training is done; the test images, once:

# %%
_, final_acc = evaluate_numpy(net, x_test, y_test)
bar = profile.pick(smoke=0.40, standard=0.75, full=0.85)
print(f"validation accuracy {history[-1].val_acc:.2%} on {len(y_val):,} images; test accuracy {final_acc:.2%} on "
      f"{len(y_test):,} (chance 10%, this profile's bar {bar:.0%})")
assert final_acc >= bar, f"the NumPy CNN reached only {final_acc:.2%}, below {bar:.0%}"
assert np.mean(step_losses[-10:]) < np.mean(step_losses[:10]), "the training loss should fall"
_ = results.record("05", "numpy_cnn_test_acc", round(float(final_acc), 4), params=int(net.num_params()),
                   train_images=n_train, val_acc=round(float(history[-1].val_acc), 4), test_images=n_test,
                   epochs=epochs, seconds=round(sum(history.column("seconds")), 1))

# %% [markdown]
# A network whose every gradient we wrote by hand learns to tell clothes apart.
# Notebook 04's PyTorch CNN scores higher, but it also trains on the whole
# training set, with batch normalisation and Adam; its gradients are the same
# numbers we computed here, as the checks above showed. What PyTorch adds is
# speed and not having to write `backward` ourselves.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Summary
#
# - Backpropagation = upstream gradient times local gradient, layer by layer,
#   from `dL/dz = (softmax - onehot) / N` down to the input.
# - Linear: `dL/dW = g^T x`, `dL/db = sum g`, `dL/dx = g W`.
# - ReLU: multiply by the mask of positive inputs. Max-pool: route to the
#   remembered arg-max. Flatten: reshape back.
# - Convolution: `dL/dW` = correlation of the input with `g`; `dL/dX` = full
#   cross-correlation of `g` (padded by `k - 1`) with the 180-degree rotated
#   kernel, i.e. the full true convolution of `g` with the kernel itself;
#   stride by dilating `g`, padding by cropping.
# - Finite differences and autograd agree with every hand-written gradient to
#   below `1e-6` relative error in float64.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Exercises
#
# Replace each `raise NotImplementedError` with your code (NumPy only) and run
# the cell; the checker compares your answer with PyTorch autograd. Hints come
# in three tiers: an exercise not attempted yet prints a nudge (what to look
# at); `ex05.hint("name")` gives the next, the key idea, and so does a wrong
# answer. The third is a recipe: `ex05.hint("name", level=3)`, or a third
# wrong attempt, shows it.

# %%
from course_utils.exercises import ex05


# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Exercise 1: the linear layer's backward pass
#
# Write `linear_backward(x, weight, grad_output)` for `y = x W^T + b`, returning
# `(grad_input, grad_weight, grad_bias)`. This one is **recall, by design**:
# the section *Linear (dense)* above derived it. Redo the derivation from
# memory, on paper, before exercise 3 asks for one you have not seen; then
# check the shapes.

# %%
def linear_backward(x, weight, grad_output):
    raise NotImplementedError


ex05.check_linear_backward(linear_backward);


# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Exercise 2: find the bug
#
# `ex05.buggy_conv_backward(x, weight, grad_output, padding)` returns
# `(grad_input, grad_weight, grad_bias)` for a stride-1 convolution, and one of
# the three is wrong. Find the culprit **with a judge**, not by reading the
# code: compare each gradient with `numerical_gradient` of the loss below.
# Then name it.

# %%
x = rng.standard_normal((1, 2, 5, 5))
conv = numpy_nn.Conv2d(2, 3, 3, padding=1, dtype=np.float64, rng=rng)
g = rng.standard_normal((1, 3, 5, 5))
suspects = ex05.buggy_conv_backward(x, conv.weight.copy(), g, padding=1)


def loss():
    return float((conv.forward(x) * g).sum())


# Your turn: compare suspects[0] with numerical_gradient(loss, x), suspects[1] with
# numerical_gradient(loss, conv.weight), suspects[2] with numerical_gradient(loss, conv.bias).
which_gradient_is_wrong = None  # "grad_input", "grad_weight" or "grad_bias"
ex05.check_which_gradient_is_wrong(which_gradient_is_wrong);


# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Exercise 3: a convolution layer's backward pass, from a stub
#
# Write the `backward` of a convolution layer with **any stride and
# padding**, in NumPy: fill in the class below (it inherits `forward`,
# which keeps the padded input in `self._x_padded`, and the parameters from
# `numpy_nn.Conv2d`). `backward(grad_output)` must set `self.grad_weight` and
# `self.grad_bias` and return `dL/dx`. The checker runs it with strides 1 to 3
# and paddings 0 to 2 against autograd, and refuses a `backward` that calls the
# reference's.

# %%
class MyConv2d(numpy_nn.Conv2d):
    def backward(self, grad_output):
        raise NotImplementedError  # your code here


ex05.check_conv2d_backward(MyConv2d);
