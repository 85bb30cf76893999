# %% [markdown] slideshow={"slide_type": "slide"}
# # 10 ResNet: residual learning
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/deep-learning-course/conv-to-transformer/blob/main/notebooks/10_resnet.ipynb)
#
# VGG (notebook 08) reached 19 layers and GoogLeNet (notebook 09) 22. Stacking more layers should
# only help, yet it did not: deeper networks trained *worse*. He, Zhang, Ren and Sun (2015, *Deep
# Residual Learning for Image Recognition*) fixed this with one addition, a shortcut that adds a
# block's input to its output, and trained networks of 152 layers on ImageNet and 1202 on CIFAR-10.
# Their residual networks won ImageNet 2015 (3.57% top-5 error with an ensemble) and became the default
# backbone of computer vision.
#
# In this notebook you will
#
# 1. see the **degradation problem**: the paper's figures, and a small measurement of our own;
# 2. build **batch normalisation** from scratch and check it against `nn.BatchNorm2d` in both modes;
# 3. build the **residual block**, its projection shortcut and the **bottleneck** block, and count
#    what they cost;
# 4. measure **gradient flow** through deep plain and residual stacks (default and He initialisation,
#    batch norm), and through the **pre-activation** ResNet;
# 5. build **ResNet-18** and check it, and ResNet-34/50, against torchvision and the paper's Table 1;
# 6. train a **ResNet on CIFAR-10**, the paper's own small-image experiment;
# 7. compare **every network of the course on CIFAR-10** on the same short budget, and see what such a
#    budget can and cannot tell apart.

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
import functools

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
import torchvision
from matplotlib.patches import FancyBboxPatch
from torch import nn

from course_utils import results
from course_utils.accounting import count_macs, count_params, layer_table
from course_utils.checkpoint import checkpoint_path
from course_utils.checks import assert_close
from course_utils.data import load_dataset
from course_utils.exercises import ex10
from course_utils.models import alexnet, blocks, googlenet, lenet, resnet, resnet9, vgg
from course_utils.plot import plot_history
from course_utils.timing import per_second, time_it
from course_utils.train import evaluate, fit

from course_utils import profile
from course_utils.device import get_device, seed_everything

PROFILE = profile.current()
DEVICE = get_device()
seed_everything(0)
print(f"profile: {PROFILE}   device: {DEVICE}")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## The degradation problem
#
# The paper's Figure 1 plots the training error (left) and test error (right) on CIFAR-10 of two
# "plain" networks, stacks of 3x3 convolutions with batch norm and ReLU, 20 and 56 layers deep. The
# **56-layer network has the higher training error** for the whole run, and therefore the higher test
# error. This is not overfitting: an overfitting network has *lower* training error and higher test
# error. The deeper network simply fits its training data worse. The paper calls it the
# *degradation* problem and sees it on ImageNet too (Table 2, top-1 error of the 10-crop test):
#
# | network | 18 layers | 34 layers |
# | --- | --- | --- |
# | plain | 27.94% | 28.54% |
# | ResNet | 27.88% | **25.03%** |
#
# The plain network gets worse with depth; the residual network, the same layers with shortcuts
# added, gets better.

# %% [markdown] slideshow={"slide_type": "notes"}
# Speaker notes. Open with the puzzle: more layers, more parameters, and a *higher* training error.
# Ask the room: is the 56-layer network overfitting? (No: overfitting means lower training error and
# higher test error; here both are higher.) Keep Table 2 on screen: plain gets worse from 18 to 34
# layers, ResNet better.

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Nested function classes, and residual learning
#
# A deeper network *can* do everything a shallower one does: copy the shallow network's layers and
# make every extra layer compute the identity. So the deeper network's best training error is at most
# the shallower one's. The solver does not find such a solution, and the paper reads that as a hint, not
# a proof: the degradation "suggests that the solvers might have difficulties in approximating identity
# mappings by multiple nonlinear layers" (He et al., 2015, section 3.1).
#
# The paper's remedy is to change what the layers must learn. If the desired mapping of a block is
# `H(x)`, let the layers learn the **residual** `F(x) = H(x) - x` and add the input back:
#
# $$\text{output} = \mathrm{ReLU}\big(F(x) + x\big).$$
#
# The identity is now `F = 0`: all weights at zero, the easiest thing for weight decay and SGD to reach.
# Below, `block` is the residual block of `course_utils.models.resnet` with the scale `gamma` of its
# last batch norm set to zero; on a non-negative input (every block's input is the output of a ReLU) it
# is exactly the identity, while a plain block with the same weights outputs zeros. Starting every
# residual branch this way is a training trick of its own, the **zero-initialised last batch-norm
# scale** (Goyal et al., 2017, *Accurate, Large Minibatch SGD*; torchvision's
# `resnet50(zero_init_residual=True)`): the network starts as a shallow one and grows its branches as
# it learns. The course's ResNets keep the paper's `gamma = 1`; here it only makes `F = 0` visible.

# %%
residual_block = resnet.BasicBlock(16, 16)
plain_block = resnet.BasicBlock(16, 16, plain=True)
plain_block.load_state_dict(residual_block.state_dict())  # the same convolutions and norms
with torch.no_grad():
    residual_block.bn2.weight.zero_()  # the last batch norm's scale gamma = 0 (zero_init_residual): F(x) = 0
    plain_block.bn2.weight.zero_()
x = torch.relu(torch.randn(2, 16, 8, 8))  # the output of a ReLU: non-negative
residual_block.eval(), plain_block.eval()
with torch.no_grad():
    assert torch.equal(residual_block(x), x), "with F = 0 the residual block should be the identity"
    assert torch.count_nonzero(plain_block(x)) == 0, "the plain block with F = 0 should output zeros"
print("F = 0: residual block -> identity, plain block -> zeros")

# %% [markdown] slideshow={"slide_type": "notes"}
# Speaker notes. Do the construction argument on the board: copy the shallow network, make the extra
# layers identities, and the deeper network matches it. So a deeper network *can* fit at least as
# well; the solver just does not find it. Stress that the paper only says this "suggests" that
# identities are hard for a stack of nonlinear layers. Then F = 0: ask what a block computes when all
# its weights are zero, with and without the shortcut.

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Degradation, measured
#
# We can watch the beginning of it on CIFAR-10, the dataset of the paper's Figure 1: 50,000 training
# and 10,000 test colour images of 32x32 pixels in ten classes. (The course reads an offline copy stored
# as JPEG files, whose lossy compression changes the pixels slightly from the original's; every CIFAR-10
# accuracy in this notebook is on that copy.) We keep 5,000 training images aside as a **validation
# split**, 500 per class, for choosing settings; the test set is used once per model, at the end.

# %%
data = load_dataset("cifar10").split_validation(5_000)  # class-stratified: 500 images of each class
print(data)
assert data.val_labels.bincount().tolist() == [500] * 10 and len(data.train_labels) == 45_000


def cifar_train_batches(n_train, batch_size=128, seed=0):
    """Shuffled batches of n_train training images (all, or a class-stratified subset), augmented as
    the paper does: 4 pixels of zero padding, a random 32x32 crop, a random horizontal flip."""
    subset = data if n_train == len(data.train_labels) else data.subset(n_train)
    return subset.train_batches(batch_size, device=DEVICE, augment=True, seed=seed)

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Three networks, trained the same way

# %% [markdown]
# Three of the paper's CIFAR networks (built by `course_utils.models.resnet`; we build their block below),
# at half the paper's width (8, 16 and 32 channels) to fit the budget: a shallow plain network, a deep
# plain one and the deep residual one, each trained the same way on a small subset (same data order,
# optimiser and schedule), and their training loss recorded per epoch:

# %%
demo = profile.pick(
    # smoke only exercises the code: 500 images for one epoch are too few to show the effect
    smoke=dict(n_train=500, epochs=1, shallow=8, deep=20, width=0.25, check=False),
    standard=dict(n_train=5_000, epochs=4, shallow=8, deep=44, width=0.5, check=True),
    full=dict(n_train=45_000, epochs=10, shallow=20, deep=56, width=1.0, check=True),
)
print(demo)
demo_batches = cifar_train_batches(demo["n_train"])


def train_for_curves(depth, plain, seed=0):
    seed_everything(seed)
    model = resnet.resnet_cifar(depth, plain=plain, width=demo["width"]).to(DEVICE)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
    demo_batches.epoch = 0  # every network sees the same batches
    return fit(model, demo_batches, epochs=demo["epochs"], optimizer=optimizer,
               channels_last=DEVICE.type in ("cpu", "cuda"), progress=False, log=False)


curves = {
    f"plain-{demo['shallow']}": train_for_curves(demo["shallow"], plain=True),
    f"plain-{demo['deep']}": train_for_curves(demo["deep"], plain=True),
    f"ResNet-{demo['deep']}": train_for_curves(demo["deep"], plain=False),
}
for name, history in curves.items():
    print(f"{name:>10}: training loss per epoch " + "  ".join(f"{v:.3f}" for v in history.column("train_loss")))

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Training curves of the three

# %%
fig, ax = plt.subplots(figsize=(6, 3.2))
for name, history in curves.items():
    ax.plot(history.column("epoch"), [100 * (1 - a) for a in history.column("train_acc")], "o-", label=name)
ax.set(xlabel="epoch", ylabel="training error (%)", title=f"{demo['n_train']:,} CIFAR-10 images, width {demo['width']}")
ax.xaxis.get_major_locator().set_params(integer=True)
ax.legend()
plt.show()

shallow, deep, residual = (curves[name].final.train_loss for name in curves)
assert torch.isfinite(torch.tensor([shallow, deep, residual])).all(), "a training loss diverged"
print(f"final training loss: deep plain - residual {deep - residual:.3f}; |residual - shallow plain| "
      f"{abs(residual - shallow):.3f}")
if demo["check"]:
    assert deep > shallow, f"the deep plain network should fit worse than the shallow one: {deep:.3f} vs {shallow:.3f}"
    assert residual < deep, f"the residual network should fit better than the plain one of its depth: {residual:.3f} vs {deep:.3f}"
    assert abs(residual - shallow) < 0.5 * (deep - residual), (
        f"the residual network should fit about as well as the shallow plain one ({residual:.3f} vs {shallow:.3f}), "
        f"far closer than to the deep plain one ({deep:.3f})")

# %% [markdown] slideshow={"slide_type": "notes"}
# Speaker notes. Before running, ask the room to predict the order of the three final losses. The
# asserted result is deliberately modest: the deep plain network fits worst; the residual one of the
# same depth fits about as well as the shallow plain one. Four epochs on 5,000 images cannot show
# depth helping a ResNet; notebook 11 takes that question on.

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### What the curves show

# %% [markdown]
# The deeper plain network has the *higher* training loss, on the same data, with more parameters: the
# degradation problem, in the first epochs. With shortcuts, the network of the same depth fits far better
# than the plain one of its depth and about as well as the shallow one: the cell asserts that the gap
# between the residual and the shallow network is less than half the gap between the deep plain network
# and the residual one. Whether depth then *helps* a residual network takes longer runs than these four
# epochs (notebook 11 repeats the paper's experiment).

# %% [markdown] slideshow={"slide_type": "notes"}
# Speaker notes. Point back to the three curves: every network there has batch norm, which is the next
# topic. The plain-44 network's trouble is therefore not a missing normalisation.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Batch normalisation
#
# Every convolution of a ResNet is followed by **batch normalisation** (Ioffe and Szegedy, 2015). In
# training mode, for each channel `c` it takes the mean and variance over the batch and all pixels,
# normalises, and applies a learned scale and shift:
#
# $$\hat x = \frac{x - \mu_c}{\sqrt{\sigma_c^2 + \epsilon}}, \qquad y = \gamma_c \hat x + \beta_c .$$
#
# Every layer then sees inputs with a steady scale however the weights before it change, which allows
# larger learning rates and makes deep networks trainable. A prediction must not depend on which other
# images share its batch, so the layer also keeps **running averages** of the mean and variance
# (`running = (1 - momentum) * running + momentum * batch statistic`, with `momentum = 0.1`), and in
# **eval mode** it normalises with those instead. PyTorch stores the *unbiased* variance
# (divided by `n - 1`) in the running average, but normalises the batch with the biased one (divided by
# `n`).

# %%
def batch_norm_2d(x, gamma, beta, running_mean, running_var, training, momentum=0.1, eps=1e-5):
    """Batch norm of x (B, C, H, W); updates running_mean and running_var in place when training."""
    if training:
        mean = x.mean(dim=(0, 2, 3))  # (C,): over the batch and the pixels
        var = x.var(dim=(0, 2, 3), unbiased=False)  # (C,): biased, to normalise this batch
        n = x.numel() // x.shape[1]  # values per channel
        with torch.no_grad():
            running_mean.mul_(1 - momentum).add_(momentum * mean)
            running_var.mul_(1 - momentum).add_(momentum * var * n / (n - 1))  # unbiased, for later
    else:
        mean, var = running_mean, running_var
    x_hat = (x - mean[None, :, None, None]) / torch.sqrt(var[None, :, None, None] + eps)  # (B, C, H, W)
    return gamma[None, :, None, None] * x_hat + beta[None, :, None, None]


# %%
torch.manual_seed(0)
reference = nn.BatchNorm2d(6)
with torch.no_grad():  # a scale and shift that are not 1 and 0, so that they are tested too
    reference.weight.uniform_(0.5, 1.5)
    reference.bias.normal_()
gamma, beta = reference.weight.detach().clone(), reference.bias.detach().clone()
running_mean, running_var = torch.zeros(6), torch.ones(6)

reference.train()
for step in range(3):  # three training batches with different statistics
    x = torch.randn(8, 6, 5, 5) * (step + 1) + step
    assert_close(batch_norm_2d(x, gamma, beta, running_mean, running_var, training=True),
                 reference(x).detach(), msg=f"training mode, step {step}")
assert_close(running_mean, reference.running_mean, msg="running mean after 3 steps")
assert_close(running_var, reference.running_var, msg="running variance after 3 steps")

reference.eval()
x = torch.randn(4, 6, 5, 5)
assert_close(batch_norm_2d(x, gamma, beta, running_mean, running_var, training=False),
             reference(x).detach(), msg="eval mode")
print("batch_norm_2d == nn.BatchNorm2d in training mode (3 steps, running statistics too) and in eval mode")

# %% [markdown] slideshow={"slide_type": "notes"}
# Speaker notes. The point of this slide is the two modes. Ask: in training mode, what does one
# image's output depend on? (Its batch.) Mention the biased variance for normalising and the unbiased
# one in the running average once; it is a classic source of tiny mismatches against PyTorch.

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Train mode and eval mode
#
# The two modes answer differently for the same image. In training mode an image's output depends on
# the rest of its batch; in eval mode it does not. Forgetting `model.eval()` before testing is a classic
# bug: the predictions change with the batch size and the batch's content. (`course_utils.train`'s
# `evaluate` switches to eval mode and back.)

# %%
image = torch.randn(1, 6, 5, 5)
batch_a = torch.cat([image, torch.randn(7, 6, 5, 5)])
batch_b = torch.cat([image, 3 * torch.randn(7, 6, 5, 5) + 2])
reference.train()
with torch.no_grad():
    difference_train = (reference(batch_a)[0] - reference(batch_b)[0]).abs().max().item()
reference.eval()
with torch.no_grad():
    difference_eval = (reference(batch_a)[0] - reference(batch_b)[0]).abs().max().item()
print(f"same image, two different batches: output differs by {difference_train:.3f} in train mode, "
      f"by {difference_eval:.1g} in eval mode")
assert difference_train > 0.1 and difference_eval == 0, "train mode depends on the batch, eval mode must not"

# %% [markdown] slideshow={"slide_type": "slide"}
# ## The residual block

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### The simplest residual block
#
# The smallest version of the idea: one convolution with batch norm and ReLU, and the input added to
# its output, `x + relu(bn(conv(x)))`. Padding 1 keeps the height and width, and the channels stay,
# so the sum is defined. A deep stack of such blocks is what we will use to look at gradients.

# %%
class SimpleResidual(nn.Module):
    def __init__(self, channels, batch_norm=True):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, kernel_size=3, padding=1, bias=not batch_norm)
        self.bn = nn.BatchNorm2d(channels) if batch_norm else nn.Identity()

    def forward(self, x):
        return x + torch.relu(self.bn(self.conv(x)))  # (B, C, H, W): the shapes must agree


# NBVAL_CHECK_OUTPUT
stack = nn.Sequential(*[SimpleResidual(16) for _ in range(10)])
x = torch.randn(2, 16, 32, 32)
print(f"10 simple residual blocks: {tuple(x.shape)} -> {tuple(stack(x).shape)}, {count_params(stack):,} parameters")

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### The basic block, and a projection when the shape changes
#
# ResNet-18 and -34 use the paper's **basic block**: two 3x3 convolutions with batch norm, a ReLU
# between them, the input added, and a ReLU after the addition (the paper's Figure 2).
#
# When a block halves the height and width (stride 2) and doubles the channels, `x` no longer has
# the output's shape. The paper's fix that torchvision uses (option B, below) is a **projection**: a 1x1
# convolution with the same stride, followed by batch norm, on the shortcut of that block only.

# %%
class Residual(nn.Module):
    def __init__(self, in_channels, out_channels, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.projection = None
        if stride != 1 or in_channels != out_channels:  # the shortcut must change shape too
            self.projection = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                nn.BatchNorm2d(out_channels),
            )

    def forward(self, x):
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        shortcut = x if self.projection is None else self.projection(x)
        return torch.relu(out + shortcut)


# %%
# NBVAL_CHECK_OUTPUT
for in_channels, out_channels, stride in [(64, 64, 1), (64, 128, 2)]:
    block = Residual(in_channels, out_channels, stride)
    x = torch.randn(4, in_channels, 56, 56)
    print(f"Residual({in_channels}, {out_channels}, stride={stride}): {tuple(x.shape)} -> "
          f"{tuple(block(x).shape)}, projection: {block.projection is not None}, "
          f"{count_params(block):,} parameters")

# %% [markdown]
# The reference block, `course_utils.models.resnet.BasicBlock`, has the same tensors in the same
# order (it calls the projection `shortcut`). With the weights copied, the outputs agree in both
# batch-norm modes:

# %%
mine, reference_block = Residual(64, 128, 2), resnet.BasicBlock(64, 128, 2)
with torch.no_grad():
    for (k1, a), (k2, b) in zip(mine.state_dict().items(), reference_block.state_dict().items()):
        assert a.shape == b.shape, (k1, k2)
        b.copy_(a)
x = torch.randn(4, 64, 28, 28)
for train in (True, False):
    mine.train(train), reference_block.train(train)
    with torch.no_grad():
        assert_close(mine(x), reference_block(x), msg=f"Residual vs resnet.BasicBlock (train={train})")
print("hand-built Residual == course_utils' BasicBlock, in training and in eval mode")

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Three ways to match the shapes
#
# The paper's section 3.3 and Table 3 compare three shortcuts for the blocks that change shape:
#
# - **A**: the identity, made to fit: take every second pixel and append zero channels. No parameters.
#   The paper's CIFAR-10 networks use it.
# - **B**: a projection where the shape changes, the identity elsewhere (above; torchvision's choice).
# - **C**: a projection on every block.
#
# On ImageNet (ResNet-34, Table 3) B was slightly better than A and C marginally better than B; the
# paper concludes that projections are not essential to fix the degradation and keeps B for its deep
# networks. On the CIFAR-10 ResNet-20 (16, 32 and 64 channels) the options cost:

# %%
# NBVAL_CHECK_OUTPUT
counts = {option: count_params(resnet.resnet_cifar(20, shortcut=option)) for option in "ABC"}
for option, count in counts.items():
    print(f"ResNet-20, option {option}: {count:,} parameters")
two_projections = (16 * 32 + 2 * 32) + (32 * 64 + 2 * 64)  # 1x1 conv + batch norm, into stages 2 and 3
assert counts["A"] == 269_722, "option A: the paper's Table 6 lists 0.27M"
assert counts["B"] - counts["A"] == two_projections, "option B adds exactly two projections"

# %% [markdown] slideshow={"slide_type": "notes"}
# Speaker notes. Draw x, F(x) and the addition. Ask: what must be true for x + F(x) to be defined?
# (The same shape.) That leads to the three options. Ask which of A, B, C adds parameters and how many
# (the printed counts answer it).

# %% [markdown] slideshow={"slide_type": "slide"}
# ## The bottleneck block
#
# For ResNet-50 and deeper the paper replaces the basic block by a **bottleneck** (its Figure 5): a 1x1
# convolution reduces 256 channels to 64, a 3x3 convolution works on 64, and a 1x1 convolution expands
# back to 256; the shortcut adds the 256-channel input. It is notebook 09's
# `blocks.PlainBottleneck` with a shortcut. The paper's point: a bottleneck on 256 channels costs about
# as much as a basic block on 64, so the network can be deeper *and* wider for the same budget. On a
# 56x56 map, counted by PyTorch's FLOP counter and by hand:

# %%
# NBVAL_CHECK_OUTPUT
side = 56
basic_64 = resnet.BasicBlock(64, 64)
bottleneck_256 = resnet.Bottleneck(256, 64, 256)
basic_256 = resnet.BasicBlock(256, 256)
per_pixel = {  # multiply-adds per output pixel, from the kernel sizes and channels
    "basic block, 64 channels": 2 * 9 * 64 * 64,
    "bottleneck, 256-64-256": 256 * 64 + 9 * 64 * 64 + 64 * 256,
    "basic block, 256 channels": 2 * 9 * 256 * 256,
}
counted = {}
for (name, formula), block in zip(per_pixel.items(), (basic_64, bottleneck_256, basic_256)):
    counted[name] = count_macs(block, (1, block.in_channels, side, side))
    assert counted[name] == side * side * formula, f"{name}: the count disagrees with the formula"
    print(f"{name:<28}{counted[name]:>15,} multiply-adds  {count_params(block):>9,} parameters")
ratio = counted["bottleneck, 256-64-256"] / counted["basic block, 64 channels"]
assert 0.9 < ratio < 1.0, "the bottleneck on 256 channels should cost slightly less than a basic block on 64"
assert counted["basic block, 256 channels"] > 16 * counted["bottleneck, 256-64-256"]
print(f"bottleneck / basic-64: {ratio:.2f};  basic-256 / bottleneck: "
      f"{counted['basic block, 256 channels'] / counted['bottleneck, 256-64-256']:.0f}x")
# the same weights as notebook 09's PlainBottleneck with batch norm: the identity shortcut adds none
assert count_params(bottleneck_256) == count_params(blocks.PlainBottleneck(256, 64, 256, batch_norm=True))

# %% [markdown]
# The 1x1 layers do the cheap channel mixing and the 3x3 the spatial work on few channels: the same
# idea as GoogLeNet's reductions (notebook 09), now inside every block of ResNet-50, -101 and -152.

# %% [markdown] slideshow={"slide_type": "notes"}
# Speaker notes. Let the room estimate the multiply-adds per output pixel before showing the numbers:
# 2 x 9 x 64 x 64 for the basic block against 256 x 64 + 9 x 64 x 64 + 64 x 256 for the bottleneck.
# The punch line: a bottleneck on 256 channels costs about as much as a basic block on 64.

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### The two blocks, drawn
#
# The paper's Figures 2 and 5 as the code above builds them (`resnet.BasicBlock`,
# `resnet.Bottleneck`), read from the bottom up: the branch `F(x)` on the left, the identity shortcut on
# the right, the ReLU after the addition.

# %% tags=["no-slide"] slideshow={"slide_type": "skip"}
def draw_residual_blocks():
    """The paper's Figure 2 (basic block) and Figure 5 (bottleneck), drawn bottom-up: what the code builds."""
    conv, norm, add = "#cfe2f3", "#fff2cc", "tab:blue"
    panels = {
        "basic block (ResNet-18, -34)": ("x: 64 channels", [("3x3 conv, 64", conv), ("batch norm, ReLU", norm),
                                                            ("3x3 conv, 64", conv), ("batch norm", norm)]),
        "bottleneck (ResNet-50 and deeper)": ("x: 256 channels", [
            ("1x1 conv, 64 (reduce)", conv), ("batch norm, ReLU", norm), ("3x3 conv, 64", conv),
            ("batch norm, ReLU", norm), ("1x1 conv, 256 (expand)", conv), ("batch norm", norm)]),
    }
    fig, axes = plt.subplots(1, 2, figsize=(10, 5.2))
    for ax, (title, (source, layers)) in zip(axes, panels.items()):
        top = len(layers) + 2.2
        ax.set(xlim=(0, 10), ylim=(-1.0, top + 0.6), title=title)
        ax.axis("off")
        ax.text(4, -0.6, source, ha="center", va="center", fontsize=10)
        heights = [i + 0.5 for i in range(len(layers))]
        for y, (label, color) in zip(heights, layers):
            ax.add_patch(FancyBboxPatch((1.5, y - 0.3), 5, 0.6, boxstyle="round,pad=0.05", fc=color, ec="black"))
            ax.text(4, y, label, ha="center", va="center", fontsize=10)
        plus, relu = len(layers) + 0.5, len(layers) + 1.5
        ax.text(4, plus, "+", ha="center", va="center", color=add, fontsize=13,
                bbox=dict(boxstyle="circle,pad=0.15", fc="white", ec=add))
        ax.add_patch(FancyBboxPatch((2.5, relu - 0.3), 3, 0.6, boxstyle="round,pad=0.05", fc=norm, ec="black"))
        ax.text(4, relu, "ReLU", ha="center", va="center", fontsize=10)
        ax.text(4, top, "output: x + F(x), then ReLU", ha="center", va="center", fontsize=10)
        stops = [-0.35] + heights + [plus, relu, top - 0.25]
        for low, high in zip(stops, stops[1:]):  # the data flows upwards
            start = low + (0.0 if low == -0.35 else 0.28 if low == plus else 0.37)
            end = high - (0.28 if high == plus else 0.0 if high == top - 0.25 else 0.37)
            ax.annotate("", (4, end), (4, start), arrowprops=dict(arrowstyle="->"))
        ax.plot([4, 8.2, 8.2], [-0.2, -0.2, plus], color=add)  # the shortcut, around the branch F
        ax.annotate("", (4.3, plus), (8.2, plus), arrowprops=dict(arrowstyle="->", color=add))
        ax.text(8.4, (plus - 0.2) / 2, "identity\nshortcut", color=add, fontsize=10, va="center")
        ax.text(0.2, (heights[0] + heights[-1]) / 2, "F(x)", fontsize=12, va="center", style="italic")
    fig.tight_layout()
    return fig


# %%
draw_residual_blocks();

# %% [markdown] slideshow={"slide_type": "notes"}
# Speaker notes. Walk the figure bottom up: the branch F on the left, the shortcut on the right, the
# addition, then the ReLU. The ReLU after the addition comes back in the pre-activation slides.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Gradient flow
#
# Why does the shortcut help the optimiser? Differentiate a residual block: `d(x + F(x))/dx = I + dF/dx`.
# The gradient reaching a block's input is the gradient at its output *plus* what flows through the
# layers, so it reaches the first layer of a deep stack through the chain of identities, however small
# the layers' own factors are. In a plain stack the gradient is a product of one factor per layer.
#
# We measure the gradient norm of the first convolution's weights at initialisation, for stacks of 30
# layers of 3x3 convolutions and ReLUs (16 channels), plain and residual, on a batch of 16 random 16x16
# images, for five seeds, in three settings: PyTorch's default initialisation without batch norm (the
# setting in which deep networks were known to be hard to train), **He initialisation** without batch
# norm, and **batch norm** with the default initialisation.

# %%
class Stack(nn.Module):
    """A first convolution, `depth` layers of conv + ReLU (plain) or SimpleResidual blocks, a classifier."""

    def __init__(self, depth, residual, batch_norm=False, channels=16):
        super().__init__()
        self.first = nn.Conv2d(3, channels, 3, padding=1)
        if residual:
            layers = [SimpleResidual(channels, batch_norm) for _ in range(depth)]
        else:
            layers = [nn.Sequential(nn.Conv2d(channels, channels, 3, padding=1, bias=not batch_norm),
                                    nn.BatchNorm2d(channels) if batch_norm else nn.Identity(), nn.ReLU())
                      for _ in range(depth)]
        self.layers = nn.Sequential(*layers)
        self.head = nn.Linear(channels, 10)

    def forward(self, x):
        x = self.layers(self.first(x))  # (B, C, H, W)
        return self.head(x.mean(dim=(2, 3)))  # global average pool: (B, C) -> (B, 10)


def he_init(model):
    """He et al. (2015, "Delving Deep into Rectifiers"): conv weights of variance 2 / fan_in, zero biases."""
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
            if module.bias is not None:
                nn.init.zeros_(module.bias)
    return model


def first_layer_gradient(model, seed):
    gen = torch.Generator().manual_seed(1000 + seed)
    x, y = torch.randn(16, 3, 16, 16, generator=gen), torch.randint(0, 10, (16,), generator=gen)
    model.zero_grad()
    F.cross_entropy(model(x), y).backward()
    return model.first.weight.grad.norm().item()

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Default init, He init, batch norm: measured

# %%
GRADIENT_SETTINGS = {"default init": dict(he=False, batch_norm=False), "He init": dict(he=True, batch_norm=False),
                     "batch norm": dict(he=False, batch_norm=True)}
gradients = {}
for setting, options in GRADIENT_SETTINGS.items():
    for kind in ("plain", "residual"):
        gradients[setting, kind] = []
        for seed in range(5):
            torch.manual_seed(seed)
            model = Stack(30, residual=kind == "residual", batch_norm=options["batch_norm"])
            gradients[setting, kind].append(first_layer_gradient(he_init(model) if options["he"] else model, seed))
        print(f"{setting:>12}, {kind:>8}: first-layer gradient norm "
              + "  ".join(f"{g:.1e}" for g in gradients[setting, kind]))
ratios = [r / max(p, 1e-300) for p, r in zip(gradients["default init", "plain"], gradients["default init", "residual"])]
assert max(gradients["default init", "plain"]) < 1e-10, "default init: the plain stack's gradient should vanish"
assert min(ratios) > 1e3, f"default init: the residual stack's gradient should be >1000x the plain one's, got {ratios}"
assert all(1e-3 < g < 1 for g in gradients["He init", "plain"]), "He init: the plain stack's gradient should not vanish"
assert min(gradients["He init", "residual"]) > 1e3, "He init without a norm: the residual sums should explode"
assert all(0.1 < g < 100 for setting_kind in (("batch norm", "plain"), ("batch norm", "residual"))
           for g in gradients[setting_kind]), "batch norm: both stacks' first-layer gradients should be of order 1"

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### What each one fixes
#
# - **Default initialisation** (`kaiming_uniform_` with `a = sqrt(5)`: weights of variance
#   `1 / (3 fan_in)`): each convolution and ReLU shrinks the signal's second moment about 6 times (a
#   third from the weights, a half from the ReLU), forward and backward. After 30 layers the plain
#   stack's first-layer gradient is about `1e-14`. The shortcuts alone rescue it: the residual stack's
#   gradient reaches the first layer through the identities.
# - **He initialisation** (He, Zhang, Ren and Sun, 2015, *Delving Deep into Rectifiers*, the ResNet
#   paper's reference [13]; `kaiming_normal_`, variance `2 / fan_in`, the 2 making up for the ReLU's
#   half) keeps the second moment steady through any number of layers: the plain stack's first-layer
#   gradient is `1e-2` to `1e-1`. That paper trained plain ReLU networks of 30 layers this way. Without
#   a normalisation it does not suit the residual stack: every block *adds* its branch to the sum, whose
#   variance about doubles per block, and the gradient explodes instead.
# - **Batch norm** rescales every layer's input whatever the weights: both stacks get first-layer
#   gradients of order 1.
#
# So at initialisation the vanishing gradient of a deep plain stack is a matter of initialisation, which
# He initialisation or batch norm removes. The paper's plain networks have both, and still degrade.

# %% [markdown] slideshow={"slide_type": "notes"}
# Speaker notes. Three rows, three lessons. Default initialisation vanishes (about 6x per layer in the
# second moment), He initialisation fixes the plain stack but makes the un-normalised residual stack
# explode, batch norm fixes both. Ask: if batch norm removes the vanishing gradient, why does plain-56
# still train worse than ResNet-56? That is the open question of the next slides.

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### With batch normalisation: not vanishing, but uneven
#
# The paper's plain networks have batch norm, and it argues that their trouble is **not** vanishing
# gradients: batch norm keeps the forward signals' variance away from zero, and the authors checked that
# the backward gradients have healthy norms. We can see this in the paper's own CIFAR networks, plain-56
# and ResNet-56 (`resnet.resnet_cifar(56, plain=True)` and `resnet.resnet_cifar(56)`): per 3x3 layer, the
# gradient norm of its weights at initialisation, on a batch of 16 random images, for three seeds (16x16
# images instead of CIFAR's 32x32 keep it cheap; global average pooling accepts either).
# In the plain network the gradient does not vanish; it *grows* towards the input, by three orders of
# magnitude (a known effect of batch norm in deep plain networks: Yang et al., 2019, *A Mean Field
# Theory of Batch Normalization*). In the residual network it stays within a small factor across all 55
# layers. Either way, the shortcut gives every layer a gradient of about the same size.

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Gradient norms layer by layer: plain-56 and ResNet-56

# %%
def conv_gradient_norms(model, seed):
    gen = torch.Generator().manual_seed(2000 + seed)
    x, y = torch.randn(16, 3, 16, 16, generator=gen), torch.randint(0, 10, (16,), generator=gen)
    F.cross_entropy(model(x), y).backward()
    return [m.weight.grad.norm().item() for m in model.modules() if isinstance(m, nn.Conv2d)]


spread = {"plain-56": [], "ResNet-56": []}
profiles = {}
for seed in range(3):
    for name in spread:
        torch.manual_seed(seed)
        model = resnet.resnet_cifar(56, plain=name == "plain-56")
        norms = conv_gradient_norms(model, seed)
        spread[name].append(max(norms) / min(norms))
        profiles.setdefault(name, norms)
for name, values in spread.items():
    print(f"{name:>9}: largest / smallest layer gradient norm " + "  ".join(f"{v:8.1f}" for v in values))
assert min(spread["plain-56"]) > 100, "plain-56: the gradients should differ by more than 100x across layers"
assert max(spread["ResNet-56"]) < 50, "ResNet-56: the gradients should stay within a factor of 50"

fig, ax = plt.subplots(figsize=(7, 3))
for name, norms in profiles.items():
    ax.semilogy(range(1, len(norms) + 1), norms, marker=".", label=name)
ax.set_xlabel("3x3 layer (1 = next to the input)")
ax.set_ylabel("gradient norm of the weights")
ax.set_title("Gradients at initialisation, seed 0")
ax.legend()
plt.show()

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Pre-activation: nothing after the addition
#
# In the paper's block a ReLU follows the addition: `x_{l+1} = ReLU(x_l + F(x_l))`. He, Zhang, Ren and
# Sun (2016, *Identity Mappings in Deep Residual Networks*) move every batch norm and ReLU in front of its
# convolution (**pre-activation**), so that nothing follows the addition: `x_{l+1} = x_l + F(x_l)`.
# Unrolled from block `l` to any later block `L` of a stage (identity shortcuts), and differentiated:
#
# $$x_L = x_l + \sum_{i=l}^{L-1} F(x_i), \qquad
#   \frac{\partial E}{\partial x_l} = \frac{\partial E}{\partial x_L}
#   \Big(1 + \frac{\partial}{\partial x_l} \sum_{i=l}^{L-1} F(x_i)\Big).$$
#
# A later block's input is an earlier block's input plus a sum of residuals, and the gradient at `x_l`
# contains the gradient at `x_L` itself (the 1 in the bracket), whatever the weights: for it to cancel,
# the second term would have to be exactly -1 for every example of a batch, which the paper calls
# unlikely. In the original block, the ReLU after every addition multiplies this direct term by a 0/1
# mask, block after block.

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### The pre-activation network
#
# A pre-activation block with option A's shortcut, and ResNet-56 rebuilt from it: `course_utils`'s
# network with every block replaced, and a batch norm and ReLU before the pooling (as in the paper:
# no block ends in one now). The stem keeps its batch norm and ReLU.

# %%
class PreActBlock(nn.Module):
    """`shortcut(x) + conv2(relu(bn2(conv1(relu(bn1(x))))))`: nothing after the addition (He et al., 2016)."""

    def __init__(self, in_channels, out_channels, stride=1):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_channels)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.shortcut = resnet.make_shortcut("A", in_channels, out_channels, stride)

    def forward(self, x):
        out = self.conv1(torch.relu(self.bn1(x)))
        out = self.conv2(torch.relu(self.bn2(out)))
        return self.shortcut(x) + out  # (B, C_out, H', W'): nothing after the addition


def preact_resnet_cifar(depth):
    model = resnet.resnet_cifar(depth)
    for stage in model.stages:
        for j, block in enumerate(stage):
            stage[j] = PreActBlock(block.in_channels, block.out_channels, stride=block.conv1.stride[0])
    model.pool = nn.Sequential(nn.BatchNorm2d(model.fc.in_features), nn.ReLU(), nn.AdaptiveAvgPool2d(1))
    model.reset_parameters()  # He initialisation, batch norms at 1 and 0, as the original's
    return model


def conv_weights(model):
    return sum(m.weight.numel() for m in model.modules() if isinstance(m, nn.Conv2d))


preact56, original56 = preact_resnet_cifar(56), resnet.resnet_cifar(56)
assert conv_weights(preact56) == conv_weights(original56), "the same convolutions, in another order"
print(f"pre-activation ResNet-56: {count_params(preact56):,} parameters (original: {count_params(original56):,}; "
      "the batch norms differ a little)")

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### The gradient through the first stage, measured
#
# For both networks at initialisation, three seeds, a batch of 16 random 16x16 images: the gradient
# arriving at the first block's input divided by the gradient leaving the first stage (nine blocks with
# identity shortcuts, so both have the same shape). Once along the **shortcuts alone** (every branch's
# input is detached, so only the direct term flows), once along **all paths**.

# %%
def stage_gradient_ratio(model, seed, shortcuts_only):
    """|dE/d(input of the first block)| / |dE/d(output of the first stage)| at initialisation."""
    gen = torch.Generator().manual_seed(3000 + seed)
    x, y = torch.randn(16, 3, 16, 16, generator=gen), torch.randint(0, 10, (16,), generator=gen)
    stage, seen = model.stages[0], {}
    hooks = [stage.register_forward_pre_hook(lambda module, args: seen.update(first=args[0])),
             stage.register_forward_hook(lambda module, args, out: seen.update(last=out))]
    if shortcuts_only:  # each branch reads a detached copy of its input: no gradient flows through it
        hooks += [(block.bn1 if isinstance(block, PreActBlock) else block.conv1).register_forward_pre_hook(
            lambda module, args: (args[0].detach(),)) for block in stage]
    loss = F.cross_entropy(model(x), y)
    for hook in hooks:
        hook.remove()
    first, last = torch.autograd.grad(loss, [seen["first"], seen["last"]])
    return (first.norm() / last.norm()).item()


through = {}
for name, build in (("original", resnet.resnet_cifar), ("pre-activation", preact_resnet_cifar)):
    for paths in ("shortcuts alone", "all paths"):
        through[name, paths] = []
        for seed in range(3):
            torch.manual_seed(seed)
            through[name, paths].append(stage_gradient_ratio(build(56), seed, paths == "shortcuts alone"))
        print(f"{name:>14}, {paths:<15}: first block / end of stage "
              + "  ".join(f"{r:6.3f}" for r in through[name, paths]))
assert all(abs(r - 1) < 1e-5 for r in through["pre-activation", "shortcuts alone"]), "the direct term arrives whole"
assert all(0.2 < r < 0.8 for r in through["original", "shortcuts alone"]), "the ReLUs after the additions cut it"
assert all(r > 2 for name in ("original", "pre-activation") for r in through[name, "all paths"]), \
    "along all paths the gradient should grow towards the input in both networks"
assert all(p < o for p, o in zip(through["pre-activation", "all paths"], through["original", "all paths"])), \
    "along all paths it should grow less in the pre-activation network"

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### What the measurement shows
#
# Along the shortcuts alone, the gradient leaving the first stage reaches its first block unchanged in
# the pre-activation network (a ratio of exactly 1: the derivation's direct term) and at about half its
# norm in the original, whose ReLUs after the additions zero part of it. Along all paths the gradient
# *grows* towards the input in both networks at initialisation, a little less with pre-activation, as
# the ResNet-56 profile above showed for the original: with batch norm neither network starts with a
# vanishing gradient. What the clean path buys shows in training very deep networks: the paper trains
# a 1001-layer pre-activation network to 4.62% CIFAR-10 test error (its abstract), and its Figure 1
# shows the original 1001-layer network training worse. Exercise 3 applies the rule to the bottleneck.

# %% [markdown] slideshow={"slide_type": "notes"}
# Speaker notes. Write x_L = x_l + sum of F on the board and differentiate it with the room. Ask: in
# the original block, what else sits between x_l and x_L besides the additions? (The ReLUs.) The
# measurement shows the direct term arriving whole with pre-activation and at about half its norm in
# the original. Be clear that at initialisation neither network has a vanishing gradient: the gain of
# the clean path is shown by the paper in training 1001-layer networks, not here.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## ResNet-18
#
# The ImageNet ResNets (the paper's Table 1) share one layout: a 7x7 convolution with stride 2 and a
# 3x3 max-pool with stride 2 (224 -> 56 pixels), four stages of blocks with 64, 128, 256 and 512
# channels (each stage after the first halves the height and width in its first block), global average
# pooling and one dense layer. ResNet-18 has two basic blocks per stage: 1 + 2 x 8 + 1 = 18 weight
# layers. Built from our `Residual` block:

# %%
def resnet_stage(in_channels, out_channels, num_blocks, stride):
    layers = [Residual(in_channels, out_channels, stride)]  # the first block changes the shape
    layers += [Residual(out_channels, out_channels) for _ in range(num_blocks - 1)]
    return nn.Sequential(*layers)


class MyResNet18(nn.Module):
    def __init__(self, in_channels=3, num_classes=1000):
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, 64, 7, stride=2, padding=3, bias=False), nn.BatchNorm2d(64), nn.ReLU(),
            nn.MaxPool2d(3, stride=2, padding=1),
        )
        self.stages = nn.Sequential(
            resnet_stage(64, 64, 2, stride=1),
            resnet_stage(64, 128, 2, stride=2),
            resnet_stage(128, 256, 2, stride=2),
            resnet_stage(256, 512, 2, stride=2),
        )
        self.fc = nn.Linear(512, num_classes)

    def forward(self, x):
        x = self.stages(self.stem(x))  # (B, 512, 7, 7) at 224 px
        return self.fc(x.mean(dim=(2, 3)))  # global average pool: (B, 512) -> (B, num_classes)


# %%
my_resnet18 = MyResNet18()
reference18 = resnet.resnet18()
torchvision18 = torchvision.models.resnet18()
assert count_params(my_resnet18) == count_params(reference18) == count_params(torchvision18) == 11_689_512
with torch.no_grad():  # random batch-norm statistics, so that a swapped norm cannot hide
    for module in torchvision18.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.normal_(0, 0.1), module.running_var.uniform_(0.5, 1.5), module.bias.normal_(0, 0.1)
    reference18.load_state_dict(resnet.from_torchvision_state_dict(torchvision18.state_dict()))
    for (k1, a), (k2, b) in zip(my_resnet18.state_dict().items(), reference18.state_dict().items()):
        assert a.shape == b.shape, (k1, k2)  # same tensors in the same order
        a.copy_(b)
for model in (my_resnet18, reference18, torchvision18):
    model.eval()
x = torch.randn(2, 3, 224, 224)
with torch.no_grad():
    expected = torchvision18(x)
    assert_close(reference18(x), expected, rtol=1e-4, atol=1e-4, msg="course_utils resnet18 vs torchvision")
    assert_close(my_resnet18(x), expected, rtol=1e-4, atol=1e-4, msg="MyResNet18 vs torchvision")
print("MyResNet18 == course_utils' resnet18 == torchvision's resnet18 (11,689,512 parameters, same outputs)")

# %% [markdown] slideshow={"slide_type": "notes"}
# Speaker notes. Count the layers with the room: 1 + 2 x 8 + 1 = 18. Ask where most parameters are
# (the last stage) and where most multiply-adds are (the early, large maps); the tables on the next
# slides answer.

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### ResNet-18, -34 and -50 beside the paper's Table 1
#
# ResNet-34 has 3, 4, 6 and 3 basic blocks per stage; ResNet-50 the same numbers of bottleneck blocks,
# whose outputs are four times wider (256 ... 2048 channels). The parameter counts equal torchvision's;
# the multiply-adds for one 224x224 image are next to the paper's Table 1, whose "FLOPs" are
# multiply-adds (its VGG-19 figure, 19.6 billion, is VGG-19's multiply-add count).
#
# One difference: torchvision's bottleneck puts the stride of its stage's first block on the 3x3
# convolution ("ResNet v1.5"), the paper on the first 1x1. The 3x3 then runs on the large map, which
# costs more but is a little more accurate. `stride_in_1x1=True` builds the paper's layout.

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### The stage tables

# %%
# NBVAL_CHECK_OUTPUT
TABLE_1_GFLOPS = {18: 1.8, 34: 3.6, 50: 3.8}  # the paper's Table 1, "FLOPs" (multiply-adds), x 10^9
STAGE_NAMES = {"stem": "conv1", "stages.0": "conv2_x", "stages.1": "conv3_x", "stages.2": "conv4_x",
               "stages.3": "conv5_x", "pool": "pool", "fc": "fc"}


def stage_table(model):
    """Rows of the paper's Table 1: output size, parameters and multiply-adds per stage."""
    rows = {}
    for row in layer_table(model, (1, 3, 224, 224), depth=2):
        key = row["name"] if row["name"].startswith("stages") else row["name"].split(".")[0]  # stem.conv -> stem
        entry = rows.setdefault(STAGE_NAMES[key], {"size": row["output_shape"], "params": 0, "macs": 0})
        entry["params"] += row["params"]  # the size stays the first layer's: conv1 is the 7x7 convolution
        entry["macs"] += row["macs"]
    return rows


tables, paper_layout = {}, {}
for depth in (18, 34, 50):
    with torch.device("meta"):  # shapes only: counting needs no memory and no arithmetic
        tables[depth] = stage_table(resnet.resnet(depth))
        ours, theirs = resnet.resnet(depth), getattr(torchvision.models, f"resnet{depth}")()
        assert count_params(ours) == count_params(theirs), f"ResNet-{depth}: parameters differ from torchvision's"
        paper_layout[depth] = count_macs(resnet.resnet(depth, stride_in_1x1=True), (1, 3, 224, 224))
    assert abs(paper_layout[depth] / 1e9 - TABLE_1_GFLOPS[depth]) < 0.07, f"ResNet-{depth}: far from Table 1"
    print(f"ResNet-{depth}: {paper_layout[depth] / 1e9:.2f} G multiply-adds in the paper's layout; "
          f"Table 1: {TABLE_1_GFLOPS[depth]} G")
totals = {depth: (sum(r["params"] for r in rows.values()), paper_layout[depth]) for depth, rows in tables.items()}
more_params, more_macs = (totals[50][i] / totals[34][i] - 1 for i in range(2))
print(f"ResNet-50 vs ResNet-34: {more_params:+.0%} parameters, {more_macs:+.0%} multiply-adds (paper's layout)")
assert 0.15 < more_params < 0.2 and 0.03 < more_macs < 0.07, "ResNet-50 should cost little more than ResNet-34"


def print_stage_table(depth):
    print(f"ResNet-{depth}            output     parameters   multiply-adds")
    for name, row in tables[depth].items():
        size = "x".join(map(str, row["size"][1:])) if len(row["size"]) == 3 else "-"
        print(f"  {name:<10}{size:>16}{row['params']:>15,}{row['macs']:>16,}")
    total_macs = sum(r["macs"] for r in tables[depth].values())
    print(f"  {'total':<10}{'':>16}{totals[depth][0]:>15,}{total_macs:>16,}")
    print(f"  {total_macs / 1e9:.2f} G multiply-adds (stride in 3x3, torchvision), "
          f"{paper_layout[depth] / 1e9:.2f} G (stride in 1x1, the paper);  Table 1: {TABLE_1_GFLOPS[depth]} G\n")

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### ResNet-18 and ResNet-34, stage by stage

# %%
# NBVAL_CHECK_OUTPUT
print_stage_table(18)
print_stage_table(34)

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### ResNet-50, stage by stage

# %%
# NBVAL_CHECK_OUTPUT
print_stage_table(50)

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Reading the tables

# %% [markdown]
# Three things to read in the tables: the stem and the first stage work on the largest maps, so they
# cost many multiply-adds with few parameters; the last stage holds most of the parameters; and going
# from ResNet-34 to ResNet-50 adds 16 layers for 17% more parameters and, in the paper's layout, 5% more
# multiply-adds, because the bottleneck's 3x3 convolutions work on a quarter of the channels. The
# paper's Table 3 (ImageNet, 10-crop top-1 error) shows what the depth buys: ResNet-34 (option B)
# 24.52%, ResNet-50 22.85%, ResNet-101 21.75%, ResNet-152 21.43%.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Training a ResNet on CIFAR-10
#
# The paper's CIFAR-10 recipe (section 4.2): ResNet-20 with option A shortcuts, SGD with momentum 0.9,
# weight decay 0.0001, batches of 128, learning rate 0.1 divided by 10 after 32,000 and 48,000
# iterations, stop at 64,000, a schedule "determined on a 45k/5k train/val split", and augmentation by
# 4-pixel padding, a random 32x32 crop and a random horizontal flip. It reaches 8.75% test error
# (Table 6). The paper does not say whether the final runs trained on the 45,000 images or on all
# 50,000; the course reads it as the 45,000 (64,000 iterations are then 182 epochs; on 50,000 they
# would be 164). The paper's inputs have "the per-pixel mean subtracted" (a mean image of 32x32x3
# values); the course's batches subtract each channel's mean and divide by its standard deviation
# (three values each), a small difference that a batch norm after the first convolution largely
# absorbs. The `full` profile runs this recipe on a GPU.
#
# Two CPU cores cannot afford 182 epochs, nor even ten epochs of ResNet-20 within this notebook's
# budget of a quarter of an hour. On a CPU the time of a training step follows the multiply-adds, so
# the network to train in a few minutes is the one that gets the most accuracy from few multiply-adds in
# few epochs. A well-known answer is **ResNet-9** (D. Page, "How to train your ResNet", 2018, built for
# DAWNBench, Stanford's benchmark of the time it takes to train CIFAR-10 to 94%): eight 3x3 convolutions that halve the maps early
# with max-pools, and two residual blocks whose shortcut is the identity (each keeps its input's shape).
# At a quarter of its width (16, 32, 64 and 128 channels) it costs fewer than two-thirds of ResNet-20's
# multiply-adds per image. ResNet-20 is in `course_utils.models.resnet`, ResNet-9 in
# `course_utils.models.resnet9`; we time one training step of each (`course_utils.timing`):

# %% tags=["colab-estimate"]
CIFAR_NETWORKS = {  # the two candidates, by name; each factory takes the width multiplier
    "ResNet-20": functools.partial(resnet.resnet_cifar, 20),
    "ResNet-9": resnet9.resnet9,
}


def training_step(model, batch_size=128):
    """One SGD step (forward, backward, update) of `model` on a batch of random 32x32 images, channels-last."""
    model = model.to(DEVICE, memory_format=torch.channels_last).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    x = torch.randn(batch_size, 3, 32, 32, device=DEVICE).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (batch_size,), device=DEVICE)

    def step():
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
    return step


# %%
candidates = {"ResNet-20": CIFAR_NETWORKS["ResNet-20"](), "ResNet-9, width 0.25": CIFAR_NETWORKS["ResNet-9"](width=0.25)}
cost = {name: count_macs(net, (1, 3, 32, 32)) for name, net in candidates.items()}
for name, net in candidates.items():
    step_time = time_it(training_step(net), repeats=3, warmup=1, device=DEVICE)  # the first step warms up the kernels
    print(f"{name:<21} {count_params(net):>8,} parameters {cost[name] / 1e6:5.1f}M multiply-adds"
          f"  {per_second(128, step_time.median):6.0f} training images/s on {DEVICE.type}")
assert cost["ResNet-9, width 0.25"] < 0.6 * cost["ResNet-20"]

# %% [markdown] slideshow={"slide_type": "notes"}
# Speaker notes. The paper's recipe is 64,000 iterations; on two CPU cores we have minutes. Ask: what
# would you change to get the most accuracy per second? Then ResNet-9, the one-cycle schedule and
# label smoothing. Mention the two readings of the 45k/5k split and the per-pixel against per-channel
# normalisation: neither changes the lesson.

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### The standard profile's recipe

# %% [markdown]
# So the `standard` profile trains ResNet-9 at width 0.25 on the 45,000 training images for fifteen
# epochs with a **one-cycle** schedule (Smith and Topin, 2019: the learning rate climbs to its peak and
# anneals to almost zero, which gets far in few epochs), Nesterov momentum, a larger weight decay for the
# short run and **label smoothing** 0.1 (Szegedy et al., 2016: the target puts 0.9 on the right class and
# spreads 0.1 over all ten, which keeps a short run from growing over-confident). The test set is
# evaluated once, at the end; the validation split is what a learner changing these settings should
# watch. The augmentation runs on whole batches of the in-memory uint8 tensors (`train_batches(...,
# augment=True)` gives `Batches` with `Augment()`), not per image. The `full` profile runs the paper's recipe on ResNet-20.

# %%
settings = profile.pick(
    smoke=dict(model="ResNet-9", width=0.25, n_train=2_000, epochs=2, schedule="one-cycle", lr=0.01,
               weight_decay=5e-4, label_smoothing=0.1, bar=0.2),
    standard=dict(model="ResNet-9", width=0.25, n_train=45_000, epochs=15, schedule="one-cycle", lr=0.2,
                  weight_decay=5e-4, label_smoothing=0.1, bar=0.84),
    full=dict(model="ResNet-20", width=1, n_train=45_000, epochs=182, schedule="paper", lr=0.1,
              weight_decay=1e-4, label_smoothing=0.0, bar=0.90),
)
print(settings)
train_batches = cifar_train_batches(settings["n_train"])
val_batches = data.val_batches(500, device=DEVICE)
test_batches = data.test_batches(500, device=DEVICE)

seed_everything(0)
model = CIFAR_NETWORKS[settings["model"]](width=settings["width"]).to(DEVICE)
model_name = settings["model"] + (f", width {settings['width']}" if settings["width"] != 1 else "")
optimizer = torch.optim.SGD(model.parameters(), lr=settings["lr"], momentum=0.9,
                            nesterov=settings["schedule"] == "one-cycle", weight_decay=settings["weight_decay"])
steps = settings["epochs"] * len(train_batches)
if settings["schedule"] == "paper":  # divide by 10 at 32k and 48k iterations; 182 epochs = 64,064 iterations
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=[32_000, 48_000], gamma=0.1)
else:
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=settings["lr"], total_steps=steps)
loss_fn = functools.partial(F.cross_entropy, label_smoothing=settings["label_smoothing"])
print(f"{model_name}: {count_params(model):,} parameters, {count_macs(model, (1, 3, 32, 32)):,} multiply-adds "
      f"per image; {steps:,} iterations of {train_batches.batch_size}")

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Fifteen epochs

# %%
channels_last = DEVICE.type in ("cpu", "cuda")  # faster for these ResNets (benchmarks/memory_layout.py)
history = fit(model, train_batches, val_batches, epochs=settings["epochs"], optimizer=optimizer,
              scheduler=scheduler, loss_fn=loss_fn, eval_name="val", channels_last=channels_last,
              checkpoint=checkpoint_path("10_resnet_cifar"), config=settings)

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### The curves

# %%
plot_history(history, title=f"{model_name} on CIFAR-10 (validation split)")
plt.show()
print(history.table())

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### The test set, once

# %% [markdown]
# Now, once, the test set. We also report the common **flip test-time augmentation**: average the
# predicted probabilities of each image and of its mirror image, which the training augmentation made
# equally familiar to the network.

# %%
def flip_tta_accuracy(model, batches):
    """Accuracy when each image's class probabilities are averaged with its horizontal mirror's."""
    model.eval()
    correct = total = 0
    with torch.no_grad():
        for x, y in batches:
            x = x.to(DEVICE).contiguous(memory_format=torch.channels_last) if channels_last else x.to(DEVICE)
            probs = model(x).softmax(1) + model(x.flip(3)).softmax(1)
            correct += (probs.argmax(1) == y.to(DEVICE)).sum().item()
            total += len(y)
    return correct / total


test = evaluate(model, test_batches)
tta = flip_tta_accuracy(model, test_batches)
print(f"{model_name}, {len(history)} epochs: validation accuracy {history.final.val_acc:.2%}, "
      f"test accuracy {test['acc']:.2%} ({tta:.2%} with flip test-time augmentation) on the 10,000 test "
      "images (the JPEG copy of CIFAR-10)")
assert test["acc"] >= settings["bar"], (
    f"test accuracy {test['acc']:.2%} is below {settings['bar']:.0%} for the {PROFILE} profile")
_ = results.record("10", "resnet_cifar10_test_acc", round(test["acc"], 4), model=f"{model_name} on CIFAR-10",
                   params=count_params(model), macs=count_macs(model, (1, 3, 32, 32)), input_size=32,
                   seconds_per_epoch=round(history.mean("seconds"), 2),
                   examples_per_s=round(history.mean("examples_per_s")), epochs=len(history),
                   n_train=train_batches.num_examples, n_test=len(data.test_labels),
                   val_acc=round(history.final.val_acc, 4), flip_tta_acc=round(tta, 4), device=str(DEVICE),
                   dataset="cifar10 (JPEG copy)")  # _ =: the Key result line is printed, not the whole record

# %% [markdown]
# The paper's ResNet-20 reaches 91.25% (8.75% error, Table 6) after 182 epochs; Page's full-width
# ResNet-9 reached 94% in 24 epochs on a GPU. Fifteen epochs of a quarter-width ResNet-9 on two CPU
# cores get most of the way; the remaining points cost many more epochs and a wider network (the `full`
# profile pays them on a GPU).

# %% [markdown] slideshow={"slide_type": "notes"}
# Speaker notes. The test set is used once, at the end; the validation split is what to watch while
# changing settings. Flip test-time augmentation is a free point or so: ask why it helps (training saw
# mirrored images).

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Every network of the course on CIFAR-10
#
# On Fashion-MNIST (notebook 09's table) every network from VGG on lands within a point or two of the
# others: 28x28 grey clothing is too easy to tell architectures apart. CIFAR-10's colour photographs are
# harder; how much of the published ranking does a short run show? Here are the five networks of
# notebooks 06-10, each at a width the profile affords (the `full` profile uses wider ones), trained
# with **the same budget**: the same images, epochs, batch size, augmentation, optimiser (AdamW) and
# one-cycle schedule, and then tested once. The same budget means the same data and epochs, not the
# same compute: their multiply-adds per image differ by more than a factor of 40 (the table below).

# %% tags=["colab-estimate"]
compare = profile.pick(
    smoke=dict(n_train=500, epochs=1, width=0.25),
    standard=dict(n_train=8_000, epochs=3, width=0.25),
    full=dict(n_train=45_000, epochs=30, width=1.0),
)
print(compare)
w = compare["width"]
NETWORKS = {
    "LeNet-5 (ReLU, max-pool)": lambda: lenet.lenet_modern(3, 10, input_size=32),
    f"AlexNet (width {w})": lambda: alexnet.alexnet(3, 10, input_size=32, width=w, hidden_features=512),
    f"VGG-11 (width {w}, BN)": lambda: vgg.vgg11(3, 10, input_size=32, width=w, hidden_features=256, batch_norm=True),
    f"GoogLeNet (width {w})": lambda: googlenet.googlenet(3, 10, input_size=32, width=w),
    "ResNet-20": lambda: resnet.resnet_cifar(20),
}

# %% tags=["colab-estimate", "no-slide"] slideshow={"slide_type": "skip"}
# The `full` profile's training, declared for the Colab T4 estimate of benchmarks/colab_time.py
# (CONTRIBUTING, "Colab time"); nothing is built or trained here.
cifar_image = dict(input_shape=(1, 3, 32, 32))
colab_runs = [dict(what=f"{'plain' if plain else 'ResNet'}-{depth} (degradation)", train=demo["n_train"],
                   model=lambda depth=depth, plain=plain: resnet.resnet_cifar(depth, plain=plain, width=demo["width"]),
                   epochs=demo["epochs"], **cifar_image)
              for depth, plain in ((demo["shallow"], True), (demo["deep"], True), (demo["deep"], False))]
colab_runs.append(dict(what=f"{settings['model']} (width {settings['width']})", train=settings["n_train"],
                       model=lambda: CIFAR_NETWORKS[settings["model"]](width=settings["width"]),
                       epochs=settings["epochs"], eval=5_000, **cifar_image))  # validated on the 5,000 every epoch
colab_runs += [dict(what=f"{name} (comparison)", model=build, train=compare["n_train"], epochs=compare["epochs"],
                    **cifar_image) for name, build in NETWORKS.items()]  # each tested once, at the end (not counted)

# %%
compare_batches = cifar_train_batches(compare["n_train"])
rows = []
for name, build in NETWORKS.items():
    seed_everything(0)
    net = build().to(DEVICE)
    opt = torch.optim.AdamW(net.parameters(), lr=2e-3, weight_decay=5e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=2e-3, total_steps=compare["epochs"] * len(compare_batches))
    compare_batches.epoch = 0  # the same batches for every network
    net_history = fit(net, compare_batches, epochs=compare["epochs"], optimizer=opt, scheduler=sched,
                      channels_last=channels_last, progress=False, log=False)  # all five: faster channels-last
    rows.append(dict(name=name, params=count_params(net), macs=count_macs(net, (1, 3, 32, 32)),
                     seconds=net_history.mean("seconds"), acc=evaluate(net, test_batches)["acc"]))
    print(f"{name:<28} trained: {rows[-1]['seconds']:.1f} s per epoch, test accuracy {rows[-1]['acc']:.2%}")

# %% [markdown] slideshow={"slide_type": "notes"}
# Speaker notes. Ask the room to predict the ranking before showing the table. Then: what does the
# same budget hide? The same data and epochs, but ResNet-20 spends more than 40 times LeNet-5's
# multiply-adds per image.

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### The table, and accuracy against cost

# %%
print(f"{'network':<28}{'parameters':>12}{'mult-adds':>14}{'s/epoch':>9}{'test acc':>10}")
for r in rows:
    print(f"{r['name']:<28}{r['params']:>12,}{r['macs']:>14,}{r['seconds']:>9.1f}{r['acc']:>10.2%}")
ranking = sorted(rows, key=lambda r: -r["acc"])
print("ranking on CIFAR-10:", " > ".join(r["name"].split(" (")[0] for r in ranking))
acc = {r["name"].split(" (")[0]: r["acc"] for r in rows}
if compare["n_train"] >= 5_000:  # the smoke profile's 500 images are too few for either claim
    assert min(acc.values()) > 0.25, f"every network should be well above chance (10%): {acc}"
    assert acc["ResNet-20"] > acc["LeNet-5"] + 0.03, f"ResNet-20 should clearly beat LeNet-5: {acc}"

fig, ax = plt.subplots(figsize=(7, 4))
for r in rows:
    ax.scatter(r["macs"], 100 * r["acc"], s=30 + r["params"] / 2e4)
    ax.annotate(r["name"], (r["macs"], 100 * r["acc"]), textcoords="offset points", xytext=(6, -3), fontsize=8)
ax.set_xscale("log")
ax.set_xlabel("multiply-adds per 32x32 image (log scale)")
ax.set_ylabel("test accuracy (%)")
ax.set_title(f"CIFAR-10, {compare['n_train']:,} images x {compare['epochs']} epochs each ({PROFILE} profile);"
             "\nmarker area ~ parameters", fontsize=9)
ax.margins(x=0.25, y=0.15)
ax.grid(alpha=0.3)
plt.show()

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Against the published ranking

# %% [markdown]
# How does this compare with the published ranking? On ImageNet each of these networks beat the one
# before it in the ILSVRC competition (top-5 test error, ensembles of several networks): AlexNet 15.3%
# (Krizhevsky et al., 2012), VGG 7.3% (Simonyan and Zisserman, 2015), GoogLeNet 6.67% (Szegedy et al.,
# 2015) and ResNet 3.57% (He et al., 2016); LeNet was never entered. In the saved run above, on a budget
# of 8,000 images for three epochs, the two ends agree: ResNet-20 is the most accurate and AlexNet the
# least, behind even LeNet-5, while VGG-11, GoogLeNet and LeNet-5 lie within two points of each other.
# The cell asserts only what such a budget can show, that ResNet-20 beats LeNet-5 clearly. Two things
# make a short run unlike ImageNet. The networks are scaled to a quarter of their width, except
# ResNet-20, which is already small, so it spends by far the most multiply-adds here. And AlexNet is the
# only one of the four ImageNet networks here without batch normalisation, which let Ioffe and Szegedy
# (2015) reach an Inception network's accuracy in 14 times fewer training steps. The `full` profile
# trains every network at full width on all 45,000 images for 30 epochs, where the ranking has room to
# show.

# %% [markdown] slideshow={"slide_type": "notes"}
# Speaker notes. Only one claim is asserted here: ResNet-20 clearly beats LeNet-5. Three of the
# networks land within two points of each other and AlexNet below LeNet-5: ask why a short run at a
# quarter width cannot reproduce the ImageNet ranking (width, batch norm, compute).

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Exercises
#
# Replace each `raise NotImplementedError` with your code and run the cell. Hints come in three tiers:
# an exercise not attempted yet prints a nudge (what to look at); `ex10.hint("name")` gives the next,
# the key idea, and so does a wrong answer. The third is a recipe: `ex10.hint("name", level=3)`, or a
# third wrong attempt, shows it.

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### 1. Parameters of a bottleneck stage
#
# Write `bottleneck_stage_params(in_channels, mid_channels, num_blocks)`: the parameter count of one
# stage of ResNet-50's kind, **without building it**. The stage has `num_blocks` bottleneck blocks
# (1x1 to `mid_channels`, 3x3, 1x1 to `4 * mid_channels`, convolutions without bias, a batch norm after
# each convolution) and a projection shortcut (option B) where the shape changes. For example, ResNet-50's
# `conv3_x` is `bottleneck_stage_params(256, 128, 4)`. The checker counts torchvision's blocks.

# %%
def bottleneck_stage_params(in_channels, mid_channels, num_blocks):
    raise NotImplementedError  # your code here


ex10.check_bottleneck_stage_params(bottleneck_stage_params);

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### 2. A shortcut that averages
#
# Option A's shortcut keeps one pixel of every `stride x stride` patch and drops the others; option B's
# strided 1x1 convolution reads the same pixels and drops the same others. He et al. (2019, *Bag of
# Tricks for Image Classification*, section 4.2 and Figure 2c, "ResNet-D") average each patch first
# and project after. Write `average_shortcut(x, weight, stride)` for `x` of shape `(N, C_in, H, W)` and a 1x1
# `weight` of shape `(C_out, C_in, 1, 1)`: each output pixel is the average of the input patch it
# stands for, projected by `weight`, and the result must have the shape of the block's output (a 3x3
# convolution with padding 1 and stride `stride`) for every input side, odd ones too.

# %%
def average_shortcut(x, weight, stride):
    raise NotImplementedError  # your code here


ex10.check_average_shortcut(average_shortcut);

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### 3. The pre-activation rule, on the bottleneck
#
# He, Zhang, Ren and Sun (2016, *Identity Mappings in Deep Residual Networks*) moved each batch norm
# and ReLU *before* its convolution, so that nothing but the addition touches the shortcut path: a
# block computes `x + F(x)` and nothing after the sum. Apply that rule to the bottleneck block of
# exercise 1 (1x1 to `mid_channels`, 3x3 with the stride, 1x1 to `4 * mid_channels`, convolutions
# without bias): write `PreActBottleneck(in_channels, mid_channels, stride)`. Call the convolutions
# `conv1`, `conv2`, `conv3` in the order they run and the batch norm that belongs to `convK` `bnK`;
# where the identity does not fit, `shortcut` is a 1x1 convolution with the stride (no bias) that
# reads the same input as `conv1`, as in the paper's code. The checker sets random batch-norm
# statistics and compares your block, in eval mode, with the rule computed by `torch.nn.functional`.

# %%
class PreActBottleneck(nn.Module):
    def __init__(self, in_channels, mid_channels, stride=1):
        super().__init__()
        raise NotImplementedError  # your code here

    def forward(self, x):
        raise NotImplementedError  # your code here


ex10.check_preact_bottleneck(PreActBottleneck);

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### 4. Batch norm folded into the convolution
#
# In eval mode a batch norm is a fixed affine map per channel, so it can be merged into the
# convolution before it: one convolution with a new weight and bias computes `bn(conv(x))`. Inference
# libraries do this to save a pass over memory. Write `fold_batch_norm(conv, bn)` that returns that
# `(weight, bias)` pair (the convolution may or may not have a bias of its own).

# %%
def fold_batch_norm(conv, bn):
    raise NotImplementedError  # your code here


ex10.check_fold_batch_norm(fold_batch_norm);

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### 5. (Open) How deep before plain networks fail?
#
# Train `resnet.resnet_cifar(depth, plain=True)` and `resnet.resnet_cifar(depth)` for `depth` in 8,
# 20, 32 and 44 on a 10,000-image subset of CIFAR-10 for a few epochs, and plot the final training
# loss against depth. At what depth does the plain network start to lose to the shallower ones on
# your machine's budget? Notebook 11 runs the paper's full version of this experiment.
