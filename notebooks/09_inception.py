# %% [markdown] slideshow={"slide_type": "slide"}
# # 09 Inception, with Network in Network
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/deep-learning-course/conv-to-transformer/blob/main/notebooks/09_inception.ipynb)
#
# VGG (notebook 08) showed that a network can be built from one repeated block, and also where such a
# network wastes its budget: three quarters of VGG-16's parameters sit in one dense layer, and most of its
# multiply-adds in wide 3x3 convolutions. This notebook follows the ideas that cut both:
#
# 1. **1x1 convolutions**, and Network in Network (Lin, Chen and Yan, 2013), which uses them and replaces
#    the dense head by global average pooling;
# 2. the **Inception block** and **GoogLeNet** (Szegedy et al., 2014), which won ImageNet 2014 with
#    about 5% of VGG-16's parameters;
# 3. the cheaper blocks that followed: **factorised** convolutions, the **bottleneck**, the
#    **depthwise-separable** convolution and the **inverted residual**;
# 4. training a GoogLeNet, and a **comparison table** of every network trained in notebooks 06-09.
#
# Every cost below is computed by hand and then checked by counting (`count_params`, and
# `count_macs`, which runs PyTorch's FLOP counter).

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
from pathlib import Path

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
import torchvision
from matplotlib.ticker import EngFormatter
from torch import nn
from torchvision.models.mobilenetv2 import InvertedResidual as TorchvisionInvertedResidual

import course_utils
from course_utils import results
from course_utils.accounting import count_macs, count_params, layer_table, print_layer_table
from course_utils.checks import assert_close
from course_utils.data import load_dataset
from course_utils.exercises import ex09
from course_utils.models import blocks, googlenet, nin, vgg
from course_utils.plot import plot_history
from course_utils.checkpoint import checkpoint_path
from course_utils.train import evaluate, fit, optimizer_options

from course_utils import profile
from course_utils.device import get_device, seed_everything

PROFILE = profile.current()
DEVICE = get_device()
seed_everything(0)
print(f"profile: {PROFILE}   device: {DEVICE}")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 1x1 convolutions
#
# A 1x1 convolution looks at one pixel at a time: every output channel is a weighted sum of the input
# channels *at that pixel*. It is a dense layer applied at every pixel with the same weights. We can
# prove it by doing the dense layer by hand:

# %%
conv1x1 = nn.Conv2d(192, 16, kernel_size=1)
x = torch.randn(2, 192, 28, 28)
pixels = x.permute(0, 2, 3, 1)  # (B, H, W, C_in): one 192-vector per pixel
dense = pixels @ conv1x1.weight[:, :, 0, 0].T + conv1x1.bias  # (B, H, W, C_out)
assert_close(dense.permute(0, 3, 1, 2), conv1x1(x),  # back to (B, C_out, H, W)
             msg="a 1x1 convolution should equal a dense layer applied at every pixel")
print("1x1 convolution == per-pixel dense layer over the channels")

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### A 1x1 bottleneck makes big kernels affordable
#
# Mixing channels is cheap, so a 1x1 layer can first *reduce* the channels that an expensive
# convolution then reads. The example of the GoogLeNet paper's setting: a 28x28 map with 192 channels
# goes into 32 filters of 5x5. Each output value costs `5*5*192` multiply-adds, and there are
# `28*28*32` of them. With a 1x1 reduction to 16 channels first, the 5x5 filters read 16 channels
# instead of 192:

# %%
# NBVAL_CHECK_OUTPUT
side, c_in, c_mid, c_out = 28, 192, 16, 32
direct_formula = side * side * c_out * 5 * 5 * c_in
reduced_formula = side * side * c_mid * c_in + side * side * c_out * 5 * 5 * c_mid

direct = nn.Conv2d(c_in, c_out, 5, padding=2, bias=False)
reduced = nn.Sequential(nn.Conv2d(c_in, c_mid, 1, bias=False), nn.Conv2d(c_mid, c_out, 5, padding=2, bias=False))
direct_counted = count_macs(direct, (1, c_in, side, side))
reduced_counted = count_macs(reduced, (1, c_in, side, side))
assert direct_counted == direct_formula and reduced_counted == reduced_formula, "formula and count disagree"
print(f"5x5 on 192 channels:           {direct_counted:>12,} multiply-adds (~{direct_counted / 1e6:.0f}M)")
print(f"1x1 to 16 channels, then 5x5:  {reduced_counted:>12,} multiply-adds (~{reduced_counted / 1e6:.1f}M)")
print(f"{direct_counted / reduced_counted:.1f}x cheaper, and the same output shape")
assert direct(x[:1]).shape == reduced(x[:1]).shape == (1, 32, 28, 28)


# %% [markdown] slideshow={"slide_type": "slide"}
# ## Network in Network
#
# Lin, Chen and Yan (2013) put two 1x1 convolutions after every ordinary convolution, a small
# multilayer perceptron run at each pixel (their "mlpconv" layer), and removed the dense head: the last
# block has one output channel per class, and **global average pooling** turns each channel into that
# class's score. The layout below uses AlexNet's first kernel sizes (11, 5, 3) and channels 96-256-384.

# %%
def nin_block(in_channels, out_channels, kernel_size, stride=1, padding=0):
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=padding), nn.ReLU(),
        nn.Conv2d(out_channels, out_channels, kernel_size=1), nn.ReLU(),  # per-pixel MLP
        nn.Conv2d(out_channels, out_channels, kernel_size=1), nn.ReLU(),
    )


class NiN(nn.Module):
    def __init__(self, in_channels=1, num_classes=10):
        super().__init__()
        self.features = nn.Sequential(
            nin_block(in_channels, 96, kernel_size=11, stride=4),
            nn.MaxPool2d(3, stride=2),
            nin_block(96, 256, kernel_size=5, padding=2),
            nn.MaxPool2d(3, stride=2),
            nin_block(256, 384, kernel_size=3, padding=1),
            nn.MaxPool2d(3, stride=2),
            nn.Dropout(0.5),
            nin_block(384, num_classes, kernel_size=3, padding=1),  # one map per class
        )
        self.head = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),  # (B, num_classes, h, w) -> (B, num_classes, 1, 1)
            nn.Flatten(),  # (B, num_classes)
        )

    def forward(self, x):
        return self.head(self.features(x))


my_nin = NiN()

# %%
# NBVAL_CHECK_OUTPUT
rows_nin = print_layer_table(my_nin, (1, 1, 224, 224), depth=2)

# %% tags=["no-slide"] slideshow={"slide_type": "skip"}
reference = nin.nin(1, 10, input_size=224)
assert count_params(my_nin) == count_params(reference) == 1_992_166
reference.load_state_dict(my_nin.state_dict())
my_nin.eval(), reference.eval()
x = torch.randn(2, 1, 224, 224)
with torch.no_grad():
    assert_close(my_nin(x), reference(x), msg="hand-built NiN vs course_utils.models.nin.nin")

# What a dense head (AlexNet/VGG style, 4096-4096-10) on the last 384 x 5 x 5 map would cost:
dense_head = 384 * 5 * 5 * 4096 + 4096 + 4096 * 4096 + 4096 + 4096 * 10 + 10
print(f"NiN: {count_params(my_nin):,} parameters, same outputs as course_utils' nin; "
      f"its head has none.\nA 4096-4096-10 dense head alone would add {dense_head:,}.")


# %% [markdown]
# torchvision has no NiN, and neither has the `d2l` package, so the reference and the formula in
# `tests/test_models_googlenet.py` are the checks here.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## The Inception block
#
# Which kernel size is right, 1x1, 3x3 or 5x5? GoogLeNet's answer: all of them, side by side. Four
# branches read the same input:
#
# 1. a 1x1 convolution;
# 2. a 1x1 reduction, then a 3x3 convolution (padding 1);
# 3. a 1x1 reduction, then a 5x5 convolution (padding 2);
# 4. a 3x3 max-pool (stride 1, padding 1), then a 1x1 projection.
#
# The padding keeps every branch at the input's height and width, so the outputs can be **stacked along
# the channels**. The 1x1 layers in branches 2-4 are the bottlenecks from above.

# %%
def draw_inception(ax, in_channels, c1, r3, c3, r5, c5, pool_proj, side):
    def box(x, y, text, color):
        ax.add_patch(plt.Rectangle((x - 0.9, y - 0.3), 1.8, 0.6, color=color, alpha=0.85))
        ax.text(x, y, text, ha="center", va="center", fontsize=8)

    def arrow(x0, y0, x1, y1):
        ax.annotate("", xy=(x1, y1), xytext=(x0, y0), arrowprops=dict(arrowstyle="->", lw=0.8))

    box(3, 0, f"input {in_channels} x {side} x {side}", "lightgrey")
    columns = [[f"1x1 conv, {c1}"], [f"1x1 conv, {r3}", f"3x3 conv, {c3}"],
               [f"1x1 conv, {r5}", f"5x5 conv, {c5}"], ["3x3 max-pool", f"1x1 conv, {pool_proj}"]]
    colors = {"1x1": "tab:orange", "3x3": "tab:blue", "5x5": "tab:green"}
    for i, layers in enumerate(columns):
        x = 2 * i
        arrow(3, 0.3, x, 0.7)
        for j, text in enumerate(layers):
            color = "khaki" if "pool" in text else colors[text[:3]]
            box(x, 1 + j, text, color)
            if j:
                arrow(x, j + 0.3, x, j + 0.7)
        arrow(x, len(layers) + 0.3, 3, 3.7)
    box(3, 4, f"concatenate: {c1}+{c3}+{c5}+{pool_proj} = {c1 + c3 + c5 + pool_proj} x {side} x {side}",
        "lightgrey")
    ax.set_xlim(-1.2, 7.2), ax.set_ylim(-0.6, 4.6), ax.axis("off")


fig, ax = plt.subplots(figsize=(9, 3.6))
draw_inception(ax, 192, 64, 96, 128, 16, 32, 32, side=28)
ax.set_title("Inception 3a (the paper's Table 1)")
plt.show()


# %% [markdown] slideshow={"slide_type": "subslide"}
# ### The block, by hand
#
# Each convolution is followed by batch normalisation and a ReLU. Batch norm came a year after
# GoogLeNet (Ioffe and Szegedy, 2015), but torchvision's GoogLeNet has it, with the convolution's bias
# dropped (the norm's shift does its job) and `eps=0.001`; we follow it so that parameter counts and
# weights match. `kernel_size_5` lets us choose the third branch's kernel: 5 in the paper, 3 in
# torchvision, which kept a slip from its original port for compatibility with its pretrained weights
# (pytorch/vision issue #906).

# %%
class ConvBNReLU(nn.Module):
    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=padding, bias=False)
        self.bn = nn.BatchNorm2d(out_channels, eps=0.001)
        self.relu = nn.ReLU()

    def forward(self, x):
        return self.relu(self.bn(self.conv(x)))


class Inception(nn.Module):
    def __init__(self, in_channels, ch1x1, ch3x3_reduce, ch3x3, ch5x5_reduce, ch5x5, pool_proj, kernel_size_5=5):
        super().__init__()
        self.branch1 = ConvBNReLU(in_channels, ch1x1, 1)
        self.branch2 = nn.Sequential(ConvBNReLU(in_channels, ch3x3_reduce, 1),
                                     ConvBNReLU(ch3x3_reduce, ch3x3, 3, padding=1))
        self.branch3 = nn.Sequential(ConvBNReLU(in_channels, ch5x5_reduce, 1),
                                     ConvBNReLU(ch5x5_reduce, ch5x5, kernel_size_5, padding=kernel_size_5 // 2))
        self.branch4 = nn.Sequential(nn.MaxPool2d(3, stride=1, padding=1, ceil_mode=True),
                                     ConvBNReLU(in_channels, pool_proj, 1))

    def forward(self, x):
        outputs = [self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)]
        return torch.cat(outputs, dim=1)  # (B, sum of branch channels, H, W)


# %%
# NBVAL_CHECK_OUTPUT
block = Inception(192, 64, 96, 128, 16, 32, 32)
x = torch.randn(1, 192, 28, 28)
for name in ("branch1", "branch2", "branch3", "branch4"):
    print(f"{name}: {tuple(getattr(block, name)(x).shape)}")
y = block(x)
print(f"concatenated: {tuple(y.shape)}")
assert y.shape == (1, 64 + 128 + 32 + 32, 28, 28), "the branches should keep 28x28 and stack 256 channels"

reference_block = googlenet.Inception(192, 64, 96, 128, 16, 32, 32, ch5x5_kernel_size=5)
reference_block.load_state_dict(block.state_dict())
block.eval(), reference_block.eval()
assert_close(block(x), reference_block(x), msg="hand-built Inception vs course_utils.models.googlenet.Inception")
print("same output as course_utils' Inception")

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### What the reductions save
#
# Per branch, from the layer table, against a "naive" block with the same output channels that runs
# the 3x3 and 5x5 convolutions straight on all 192 input channels (and passes the pooled 192 channels
# through, as the paper's first sketch does):

# %%
# NBVAL_CHECK_OUTPUT
rows = layer_table(block, (1, 192, 28, 28), depth=1)
print(f"{'branch':<10}{'out channels':>14}{'parameters':>12}{'mult-adds':>14}")
for row in rows:
    print(f"{row['name']:<10}{row['output_shape'][0]:>14}{row['params']:>12,}{row['macs']:>14,}")
with_reductions = sum(r["macs"] for r in rows)
assert with_reductions == count_macs(block, (1, 192, 28, 28))

naive = 28 * 28 * 192 * (64 + 3 * 3 * 128 + 5 * 5 * 32)  # 1x1, 3x3 and 5x5 on 192 channels; pool is free
print(f"\nwith 1x1 reductions: {with_reductions:,} multiply-adds, 256 output channels")
print(f"naive block:         {naive:,} multiply-adds, {64 + 128 + 32 + 192} output channels")
print(f"the reductions cut the block's cost to {with_reductions / naive:.0%}")
by_formula = 28 * 28 * (192 * 64 + 192 * 96 + 9 * 96 * 128 + 192 * 16 + 25 * 16 * 32 + 192 * 32)  # H*W*k*k*C_in*C_out
assert with_reductions == by_formula == 128_049_152
print(f"the paper's Table 1, inception (3a): 128M ops; counted here: {with_reductions / 1e6:.1f}M multiply-adds")


# %% [markdown]
# The GoogLeNet paper's Table 1 lists the cost of every layer; for inception (3a) its "ops" column says
# 128M, and the count above agrees: the table's ops are the multiply-adds of the convolutions (the
# pooling, the ReLUs and the biases are not counted, and neither are they by PyTorch's FLOP counter).

# %% [markdown] slideshow={"slide_type": "slide"}
# ## GoogLeNet
#
# A stem of ordinary convolutions (7x7 with stride 2, max-pool, 1x1, 3x3, max-pool) takes a 224x224
# image to 28x28x192; nine Inception blocks follow in three stages (3a-3b at 28x28, 4a-4e at 14x14,
# 5a-5b at 7x7) separated by max-pools; then NiN's idea: global average pooling and a single dense
# layer. The channel numbers are the paper's Table 1. The paper also trains two auxiliary classifiers
# on 4a and 4d; they are dropped at test time and we leave them out (torchvision's `aux_logits=False`).

# %%
class GoogLeNet(nn.Module):
    def __init__(self, in_channels=3, num_classes=1000, kernel_size_5=3):
        super().__init__()
        k = kernel_size_5
        self.conv1 = ConvBNReLU(in_channels, 64, 7, stride=2, padding=3)
        self.maxpool1 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.conv2 = ConvBNReLU(64, 64, 1)
        self.conv3 = ConvBNReLU(64, 192, 3, padding=1)
        self.maxpool2 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.inception3a = Inception(192, 64, 96, 128, 16, 32, 32, k)
        self.inception3b = Inception(256, 128, 128, 192, 32, 96, 64, k)
        self.maxpool3 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.inception4a = Inception(480, 192, 96, 208, 16, 48, 64, k)
        self.inception4b = Inception(512, 160, 112, 224, 24, 64, 64, k)
        self.inception4c = Inception(512, 128, 128, 256, 24, 64, 64, k)
        self.inception4d = Inception(512, 112, 144, 288, 32, 64, 64, k)
        self.inception4e = Inception(528, 256, 160, 320, 32, 128, 128, k)
        self.maxpool4 = nn.MaxPool2d(2, stride=2, ceil_mode=True)
        self.inception5a = Inception(832, 256, 160, 320, 32, 128, 128, k)
        self.inception5b = Inception(832, 384, 192, 384, 48, 128, 128, k)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(0.2)
        self.fc = nn.Linear(1024, num_classes)

    def forward(self, x):
        x = self.maxpool1(self.conv1(x))
        x = self.maxpool2(self.conv3(self.conv2(x)))
        x = self.maxpool3(self.inception3b(self.inception3a(x)))
        for stage4 in (self.inception4a, self.inception4b, self.inception4c, self.inception4d, self.inception4e):
            x = stage4(x)
        x = self.inception5b(self.inception5a(self.maxpool4(x)))
        x = torch.flatten(self.avgpool(x), 1)  # (B, 1024, 1, 1) -> (B, 1024)
        return self.fc(self.dropout(x))


my_googlenet = GoogLeNet()

# %%
# NBVAL_CHECK_OUTPUT
rows_g = print_layer_table(my_googlenet, (1, 3, 224, 224), depth=1)

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### The same network as the reference and as torchvision
#
# Our attribute names are torchvision's, so torchvision's own weights load into the hand-built network:

# %%
# NBVAL_CHECK_OUTPUT
reference = googlenet.googlenet()
theirs = torchvision.models.googlenet(aux_logits=False, init_weights=True)  # random weights, no download
assert count_params(my_googlenet) == count_params(reference) == count_params(theirs) == 6_624_904

my_googlenet.load_state_dict(theirs.state_dict())  # strict: every name and shape must match
reference.load_state_dict(my_googlenet.state_dict())
for model in (my_googlenet, reference, theirs):
    model.eval()
x = torch.randn(2, 3, 224, 224)
with torch.no_grad():
    out = my_googlenet(x)
    assert_close(out, theirs(x), rtol=1e-4, atol=1e-5, msg="hand-built GoogLeNet vs torchvision")
    assert_close(reference(x), out, rtol=1e-4, atol=1e-5, msg="course_utils googlenet vs hand-built")
print(f"hand-built == course_utils == torchvision: {count_params(my_googlenet):,} parameters, same outputs")

paper_kernel = count_params(GoogLeNet(kernel_size_5=5))
paper = count_params(googlenet.googlenet(batch_norm=False, ch5x5_kernel_size=5))  # biases, no batch norm
print(f"with the paper's 5x5 kernels: {paper_kernel:,}; with biases instead of batch norm as in 2014: {paper:,}")
print(f"the dense layer: {count_params(my_googlenet.fc):,} parameters "
      f"({count_params(my_googlenet.fc) / count_params(my_googlenet):.0%} of the network)")

# %%
# NBVAL_CHECK_OUTPUT
googlenet_macs = sum(r["macs"] for r in rows_g)
with torch.device("meta"):  # notebook 08's VGGs, shapes only: the FLOP counter needs no real numbers
    vgg11_macs = count_macs(vgg.vgg11(), (1, 3, 224, 224))
    vgg16_macs, vgg16_params = count_macs(vgg.vgg16(), (1, 3, 224, 224)), count_params(vgg.vgg16())
print(f"GoogLeNet: {googlenet_macs / 1e9:.2f}G multiply-adds = {googlenet_macs / vgg11_macs:.0%} of VGG-11's, "
      f"{googlenet_macs / vgg16_macs:.0%} of VGG-16's;")
print(f"           {count_params(my_googlenet) / 1e6:.2f}M parameters = {count_params(my_googlenet) / vgg16_params:.1%} of VGG-16's")
assert 0.15 < googlenet_macs / vgg11_macs < 0.25 and 0.05 < googlenet_macs / vgg16_macs < 0.15
assert count_params(my_googlenet) / vgg16_params < 0.05

# %% [markdown]
# GoogLeNet needs about 1.5 billion multiply-adds per image, a fifth of VGG-11 and a tenth of VGG-16,
# with 5% of VGG-16's parameters; its dense layer is 1.0M parameters where VGG-16's head has 123.6M.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Cheaper convolutions after Inception
#
# The same trick, "do the expensive thing on fewer numbers", came back in several forms. Each block
# below lives in `course_utils.models.blocks`; for each we compute the cost by hand and count it.

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Factorised convolutions (Inception v3)
#
# Szegedy et al. (2015, *Rethinking the Inception Architecture*) replace an `n x n` convolution by a
# `1 x n` followed by an `n x 1`: `2n` weights per channel pair instead of `n^2`. For 7x7 that is
# 14/49 = 29% of the cost, for 3x3 6/9 = 67%.

# %%
# NBVAL_CHECK_OUTPUT
C, side = 64, 17
for n, percent in ((7, 29), (3, 67)):
    full = nn.Conv2d(C, C, n, padding=n // 2, bias=False)
    factorised = blocks.FactorisedConv2d(C, C, n)
    assert count_params(full) == n * n * C * C and count_params(factorised) == 2 * n * C * C
    ratio = count_macs(factorised, (1, C, side, side)) / count_macs(full, (1, C, side, side))
    assert round(100 * ratio) == percent
    print(f"{n}x{n}: {count_params(full):>8,} weights;  1x{n} + {n}x1: {count_params(factorised):>7,}  "
          f"-> {ratio:.1%} of the weights and multiply-adds")

# %% [markdown]
# Without the ReLU between them, the two thin convolutions *are* one `n x n` convolution: the pair is
# linear, it commutes with shifts, and each output pixel depends on an `n x n` window, the three
# properties that make a convolution. Its kernel is a sum of column-times-row products, so factorising
# restricts which kernels can be learnt, which is why it works best on layers that do not need the full
# freedom. The three properties, checked (exercise 3 asks you for the kernel itself):

# %%
pair = blocks.FactorisedConv2d(3, 4, 5, mid_channels=6, activation=False)
a, b = torch.randn(2, 3, 12, 12), torch.randn(2, 3, 12, 12)
assert_close(pair(2 * a - 3 * b), 2 * pair(a) - 3 * pair(b), rtol=1e-4, atol=1e-4, msg="linear")
shifted = torch.roll(a, shifts=(2, 3), dims=(2, 3))
inner = (slice(None), slice(None), slice(5, -5), slice(5, -5))  # away from the zero padding at the borders
assert_close(pair(shifted)[inner], torch.roll(pair(a), shifts=(2, 3), dims=(2, 3))[inner], rtol=1e-4, atol=1e-4,
             msg="shift-equivariant")
probe = torch.zeros(1, 3, 15, 15, requires_grad=True)
pair(probe)[0, 0, 7, 7].backward()  # which input pixels reach one output pixel?
rows, cols = (probe.grad[0].abs().sum(0) > 0).nonzero().unbind(1)
window = (int(rows.max() - rows.min() + 1), int(cols.max() - cols.min() + 1))
assert window == (5, 5), f"one output pixel should see a 5x5 window, saw {window}"
print("1x5 followed by 5x1 (no ReLU): linear, shift-equivariant, a 5x5 window per output pixel: one 5x5 convolution")

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### The bottleneck: 1x1 - 3x3 - 1x1
#
# The residual networks of notebook 10 wrap a 3x3 convolution between two 1x1 layers: reduce 512
# channels to 128, filter, expand back to 512. Weights: `512*128 + 9*128*128 + 128*512` instead of
# `9*512*512`. `blocks.PlainBottleneck` is that stack alone; notebook 10's ResNet `Bottleneck` adds
# the shortcut around it.

# %%
# NBVAL_CHECK_OUTPUT
plain = nn.Conv2d(512, 512, 3, padding=1, bias=False)
bottleneck = blocks.PlainBottleneck(512, 128, 512)
assert count_params(plain) == 9 * 512 * 512 == 2_359_296
assert count_params(bottleneck) == 512 * 128 + 9 * 128 * 128 + 128 * 512 == 278_528
print(f"3x3, 512 -> 512:         {count_params(plain):>9,} weights")
print(f"1x1-3x3-1x1, 512-128-512: {count_params(bottleneck):>9,} weights ({count_params(bottleneck) / count_params(plain):.1%})")

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Depthwise-separable convolution (MobileNet)
#
# Howard et al. (2017) split a convolution's two jobs: a **depthwise** `k x k` convolution filters each
# channel on its own (`groups=in_channels`: one filter per channel), then a **pointwise** 1x1
# convolution mixes the channels. For 16 -> 32 channels and 3x3: `9*16 + 16*32` weights instead of
# `9*16*32`.

# %%
# NBVAL_CHECK_OUTPUT
plain = nn.Conv2d(16, 32, 3, padding=1, bias=False)
separable = blocks.DepthwiseSeparableConv2d(16, 32)
assert count_params(plain) == 9 * 16 * 32 == 4_608
assert count_params(separable) == 9 * 16 + 16 * 32 == 656
ratio = count_macs(separable, (1, 16, 32, 32)) / count_macs(plain, (1, 16, 32, 32))
assert abs(ratio - 656 / 4608) < 1e-12, "multiply-adds should shrink like the weights"
print(f"3x3 conv 16 -> 32: {count_params(plain):,} weights; depthwise-separable: {count_params(separable):,} "
      f"({ratio:.1%}, multiply-adds too)")

# The depthwise step really is one filter per channel: channel 5 of the output depends only on channel 5.
x = torch.randn(1, 16, 8, 8)
depthwise = separable.depthwise[0]
single = F.conv2d(x[:, 5:6], depthwise.weight[5:6], padding=1)
assert_close(depthwise(x)[:, 5:6], single, rtol=1e-5, atol=1e-6, msg="depthwise channel 5")

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Inverted residual (MobileNetV2)
#
# Sandler et al. (2018) turn the bottleneck inside out: **expand** a narrow input with a 1x1 (6x the
# channels), filter with a cheap **depthwise** 3x3 in the wide space, **project** back with a 1x1 that
# has *no* ReLU (a ReLU on few channels throws information away), and add the input back when the
# shapes match. The block is narrow where tensors are stored between blocks and wide only inside.
# Our block has torchvision's structure; with the same weights it gives the same output:

# %%
# NBVAL_CHECK_OUTPUT
ours = blocks.InvertedResidual(24, 24, stride=1, expand_ratio=6)
theirs = TorchvisionInvertedResidual(24, 24, 1, 6)
with torch.no_grad():
    for a, b in zip(ours.state_dict().values(), theirs.state_dict().values()):  # same order of tensors
        a.copy_(b)
ours.eval(), theirs.eval()
x = torch.randn(2, 24, 14, 14)
with torch.no_grad():
    assert_close(ours(x), theirs(x), msg="InvertedResidual vs torchvision's")
assert count_params(ours) == count_params(theirs)
print(f"inverted residual 24 -> 144 -> 24: {count_params(ours):,} parameters (torchvision: {count_params(theirs):,}); "
      f"shortcut used: {ours.use_shortcut}")

# %% [markdown]
# What is it cheaper *than*? Not than a plain 3x3 convolution from 24 to 24 channels, which has fewer
# weights than the block. The block's point is that its 3x3 filtering happens on 144 channels. The fair
# comparison is the same block, same widths (expand 24 -> 144, filter, project 144 -> 24), with an
# ordinary 3x3 convolution in the middle instead of the depthwise one:

# %%
# NBVAL_CHECK_OUTPUT
hidden = 24 * 6
expanded_plain = nn.Sequential(  # the same expand-filter-project block with a full 3x3 in the middle
    nn.Conv2d(24, hidden, 1, bias=False), nn.BatchNorm2d(hidden), nn.ReLU6(),
    nn.Conv2d(hidden, hidden, 3, padding=1, bias=False), nn.BatchNorm2d(hidden), nn.ReLU6(),
    nn.Conv2d(hidden, 24, 1, bias=False), nn.BatchNorm2d(24),
)
plain_24 = nn.Conv2d(24, 24, 3, padding=1, bias=False)
assert count_params(expanded_plain) - count_params(ours) == 9 * hidden * hidden - 9 * hidden, "only the 3x3 differs"
assert count_params(plain_24) < count_params(ours) < count_params(expanded_plain)
for name, module in (("plain 3x3, 24 -> 24", plain_24), ("inverted residual, 24-144-24", ours),
                     ("same block, full 3x3 in the middle", expanded_plain)):
    print(f"{name:<36}{count_params(module):>9,} parameters{count_macs(module, (1, 24, 14, 14)):>13,} mult-adds")

# %%
comparison = {  # (the plain version, its efficient replacement), in parameters; same inputs and outputs
    "7x7 -> 1x7+7x1\n(64 ch)": (7 * 7 * 64 * 64, 2 * 7 * 64 * 64),
    "3x3 -> bottleneck\n(512-128-512)": (2_359_296, 278_528),
    "3x3 -> depthwise-sep.\n(16 -> 32)": (4_608, 656),
    "24-144-24 block: full 3x3\n-> depthwise (inv. residual)": (count_params(expanded_plain), count_params(ours)),
}
fig, ax = plt.subplots(figsize=(9, 3.2))
names = list(comparison)
positions = range(len(names))
ax.bar([p - 0.2 for p in positions], [v[0] for v in comparison.values()], width=0.4, label="plain version")
ax.bar([p + 0.2 for p in positions], [v[1] for v in comparison.values()], width=0.4, label="efficient block")
for p, (plain_w, cheap_w) in zip(positions, comparison.values()):
    ax.text(p + 0.2, cheap_w, f"{cheap_w / plain_w:.0%}", ha="center", va="bottom", fontsize=8)
ax.set_xticks(list(positions), names, fontsize=8)
ax.set_yscale("log")
ax.set_ylabel("parameters")
ax.legend()
ax.set_title("Parameters of a plain layer or block and of its cheaper replacement (same input and output)")
fig.tight_layout()
plt.show()

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Training a GoogLeNet
#
# The published network expects 224x224 images, and *Dive into Deep Learning* trains it on
# Fashion-MNIST resized to 96x96, which the `full` profile does on a GPU (full width, published stem).
# On two CPU cores (`standard`) we keep all nine Inception blocks but
#
# - use a quarter of every channel count (`width=0.25`: 16-wide stem, 64 channels out of 3a, 256 out of 5b);
# - feed the 28x28 images directly, with a 3x3 stride-1 first convolution instead of 7x7 stride 2,
#   so the three stages run at 7x7, 3x3 and 2x2 (`course_utils.models.googlenet` picks this stem for
#   inputs below 64 pixels);
# - train with batch norm, AdamW and a one-cycle schedule for a few epochs, with images and weights stored
#   channels-last, which `benchmarks/memory_layout.py` measured 1.7-1.8x faster than the default layout
#   for this network on a CPU (and which CUDA's tensor cores prefer).

# %%
settings = profile.pick(
    smoke=dict(n_train=4_000, n_val=500, n_test=1_000, epochs=3, input_size=28, width=0.25, lr=3e-3, bar=0.5),
    standard=dict(n_train=60_000, n_val=5_000, n_test=10_000, epochs=5, input_size=28, width=0.25, lr=3e-3,
                  bar=0.89),
    full=dict(n_train=60_000, n_val=5_000, n_test=10_000, epochs=10, input_size=96, width=1.0, lr=2e-3, bar=0.90),
)
batch_size = 128
channels_last = DEVICE.type in ("cpu", "cuda")  # see benchmarks/memory_layout.py
print(settings)

data = load_dataset("fashion_mnist")
if settings["n_train"] < len(data.train_labels) or settings["n_test"] < len(data.test_labels):
    data = data.subset(settings["n_train"], settings["n_test"])
data = data.split_validation(settings["n_val"])  # choose on validation, test once (notebook 04)
size = settings["input_size"]
resize = None if size == 28 else size
train_batches = data.train_batches(batch_size, device=DEVICE, resize=resize)
val_batches = data.val_batches(500, device=DEVICE, resize=resize)
test_batches = data.test_batches(500, device=DEVICE, resize=resize)
print(data, f"-> training on {train_batches.num_examples:,} images, validating on {val_batches.num_examples:,}, "
      f"testing (once) on {test_batches.num_examples:,}")

# %% tags=["colab-estimate", "no-slide"] slideshow={"slide_type": "skip"}
# The `full` profile's training, declared for the Colab T4 estimate of benchmarks/colab_time.py
# (CONTRIBUTING, "Colab time"); nothing is built or trained here.
colab_runs = [dict(what="GoogLeNet", input_shape=(1, 1, settings["input_size"], settings["input_size"]),
                   model=lambda: googlenet.googlenet(1, 10, input_size=settings["input_size"], width=settings["width"]),
                   train=settings["n_train"] - settings["n_val"], epochs=settings["epochs"], eval=settings["n_val"])]

# %%
model = googlenet.googlenet(1, 10, input_size=size, width=settings["width"]).to(DEVICE)
input_shape = (1, 1, size, size)
print_layer_table(model, input_shape, depth=1);

# %%
optimizer = torch.optim.AdamW(model.parameters(), lr=settings["lr"], weight_decay=0.05, **optimizer_options(DEVICE))
scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=settings["lr"],
                                                total_steps=settings["epochs"] * len(train_batches))
start = time.perf_counter()
history = fit(model, train_batches, val_batches, epochs=settings["epochs"], optimizer=optimizer,
              scheduler=scheduler, eval_name="val", checkpoint=checkpoint_path("09_googlenet"),
              channels_last=channels_last)
print(f"total {time.perf_counter() - start:.0f} s on {DEVICE}")

# %%
plot_history(history, title=f"GoogLeNet (width {settings['width']}, {size}x{size}) on Fashion-MNIST")
plt.show()
print(history.table())

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### The test set, once, and the paper's figures beside it

# %%
accuracy = evaluate(model, test_batches)["acc"]
print(f"GoogLeNet (width {settings['width']}): validation accuracy {history[-1].val_acc:.2%}, test accuracy "
      f"{accuracy:.2%} on {test_batches.num_examples:,} Fashion-MNIST test images")
assert accuracy >= settings["bar"], (
    f"test accuracy {accuracy:.2%} is below {settings['bar']:.0%} for the {PROFILE} profile")
results.record_training("09", "googlenet_test_acc", model, history, input_shape, train_batches, test_batches,
                        description=f"GoogLeNet (width {settings['width']})", test_acc=accuracy);

# %% [markdown]
# The paper reports ImageNet top-5 errors only (Szegedy et al., 2014, Table 3, ILSVRC-2014): **10.07%**
# for one GoogLeNet evaluated on one crop per image, 7.89% with 144 crops per image, and 6.67% for the
# competition entry, seven GoogLeNets with 144 crops each. VGG-16's top-5 error in its own paper, 8.8%
# (its Table 3; notebook 08), is not a one-crop figure: it comes from dense evaluation at a single
# scale, the network run over the whole image rescaled to a shorter side of 256 pixels, its class
# scores averaged over all positions (Simonyan and Zisserman, sections 3.2 and 4.1). So the two figures
# were not measured alike (the papers also differ in their training scales), and 8.8% against 10.07%
# is an approximate comparison, of a network with 20 times the parameters and ten times the
# multiply-adds. Our number is a different task again, Fashion-MNIST at a quarter width.
#
# Per multiply-add, this GoogLeNet is much slower on a CPU than the narrow VGG of notebook 08: dozens of
# small convolutions, each launched separately, keep two cores busier with overhead than with arithmetic.
# Multiply-adds are a guide to cost, not a stopwatch.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Notebooks 06-09 side by side
#
# Notebooks 06-09 each record their trained model with `course_utils.results.record_training`, into
# `build/results/<profile>/NN.json`, one folder per profile: LeNet (the variant chosen on validation in
# 06), AlexNet (07), VGG-11 (08) and this GoogLeNet. In the `standard` profile all four train on the
# same 55,000 images for the **same five epochs** with AdamW, a one-cycle schedule and batch 128 (each
# with its notebook's learning rate and weight decay), validate on the same 5,000 images and are tested
# once on the 10,000 test images. So the table compares them at equal epochs, and the time columns show
# what each epoch cost on this machine. (All the networks are compared on CIFAR-10 in notebook 10.)
# To regenerate it, run the notebooks in order under one profile, then this one:
#
#     python tools/nb.py run notebooks/06_lenet.ipynb notebooks/07_alexnet.ipynb \
#         notebooks/08_vgg.ipynb notebooks/09_inception.ipynb --profile standard --output-dir build
#
# (`make course` runs every notebook, these included). In Jupyter, running the four notebooks
# top to bottom does the same. On Colab every notebook runs on a machine of its own, which keeps its
# results to itself: there the table holds this notebook's model alone (this notebook's saved output, in
# the repository, holds the comparison of a standard run).

# %%
NOTEBOOKS = {"06": "06_lenet.ipynb", "07": "07_alexnet.ipynb", "08": "08_vgg.ipynb", "09": "09_inception.ipynb"}
SHORT = {"06": "LeNet-5", "07": "AlexNet", "08": "VGG-11", "09": "GoogLeNet"}

table, missing = [], []
stored = results.load()
for number in NOTEBOOKS:
    entries = [e for e in stored.get(number, {}).values() if "seconds_per_epoch" in e]  # trained models only
    if not entries:
        missing.append(number)
    for entry in entries:
        table.append(dict(notebook=number, model=entry["model"], params=entry["params"], macs=entry["macs"],
                          epochs=entry["epochs"], seconds=entry["seconds_per_epoch"],
                          total=entry.get("train_seconds", entry["seconds_per_epoch"] * entry["epochs"]),
                          val=entry.get("val_acc"), accuracy=entry["value"], profile=entry["profile"]))


def show(value, fmt):
    return "-" if value is None else format(value, fmt)


print(f"{'nb':<4}{'model':<34}{'parameters':>11}{'mult-adds':>12}{'epochs':>7}{'s/epoch':>8}{'train s':>8}"
      f"{'val acc':>9}{'test acc':>9}")
for r in table:
    print(f"{r['notebook']:<4}{str(r['model'])[:33]:<34}{show(r['params'], ','):>11}{show(r['macs'], ','):>12}"
          f"{r['epochs']:>7}{show(r['seconds'], '.1f'):>8}{show(r['total'], '.0f'):>8}{show(r['val'], '.2%'):>9}"
          f"{r['accuracy']:>9.2%}")
in_checkout = (Path(course_utils.__file__).resolve().parent.parent / "tools" / "nb.py").exists()
for number in missing:
    if in_checkout:
        print(f"\nno results from notebook {number} yet: run notebooks/{NOTEBOOKS[number]} first "
              f"(e.g. python tools/nb.py run notebooks/{NOTEBOOKS[number]} --profile {PROFILE}), then this cell again.")
    else:
        print(f"\nno results from notebook {number} here (on Colab each notebook runs on its own machine, which "
              "keeps its results): run notebooks 06-08 in this same Jupyter, or in a checkout of the repository")
assert any(r["notebook"] == "09" for r in table), "this notebook's own result should be in the table"
unequal = sorted({r["epochs"] for r in table})
if len(unequal) > 1:
    print(f"\nnote: these runs trained for different numbers of epochs ({unequal}): compare with care")
elif PROFILE != "smoke" and not missing:
    assert unequal == [settings["epochs"]], "in this profile all four train for the same number of epochs"

# %%
plotted = [r for r in table if r["params"] and r["total"]]
fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), sharey=True)
for ax, key, label in ((axes[0], "params", "parameters"), (axes[1], "total", "training time (s, this machine)")):
    for r in plotted:
        ax.scatter(r[key], 100 * r["accuracy"], s=40)
        ax.annotate(SHORT.get(r["notebook"], r["model"]), (r[key], 100 * r["accuracy"]), xytext=(6, 4),
                    textcoords="offset points", fontsize=10)  # each point labelled where it is
    values = [r[key] for r in plotted]
    if values and max(values) > 20 * min(values):  # LeNet to VGG spans orders of magnitude
        ax.set_xscale("log")
        label += " (log scale)"
    if key == "params":
        ax.xaxis.set_major_formatter(EngFormatter())  # 60k, 1M, ...
    ax.margins(x=0.2, y=0.2)
    ax.set_xlabel(label)
    ax.grid(alpha=0.3)
axes[0].set_ylabel("test accuracy (%)")
epochs_shown = sorted({r["epochs"] for r in plotted})
fig.suptitle(f"Networks of notebooks 06-09 on Fashion-MNIST, {' / '.join(map(str, epochs_shown))} epochs "
             f"({PROFILE} profile)")
fig.tight_layout()
plt.show()


# %% [markdown]
# In the saved standard run, with the same five epochs each, all four land within two points of each
# other on the test set: GoogLeNet (92.3%) and VGG-11 (92.1%) first, then LeNet-5 with batch norm
# (91.1%) and AlexNet (90.5%), the one network without batch norm, last. What an epoch costs differs
# far more: in the table's `s/epoch` column GoogLeNet's epoch takes several times as long as LeNet-5's.
# Each of those figures comes from one run of its own notebook and moves with whatever else the machine
# was doing at the time (notebook 06 compares training steps fairly, timed in turn under the same
# load). The scaled-down GoogLeNet has about half the parameters and 60% of the multiply-adds of
# notebook 08's narrow VGG, yet takes longer per epoch on two CPU cores. On 28x28 clothing images the
# differences that made GoogLeNet famous, accuracy per parameter and per multiply-add on ImageNet, show
# up in the arithmetic above more than in this table; notebook 10 compares the networks on CIFAR-10,
# where they differ more.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Exercises
#
# Replace each `raise NotImplementedError` with your code and run the cell. Hints come in three tiers:
# an exercise not attempted yet prints a nudge (what to look at); `ex09.hint("name")` gives the next,
# the key idea, and so does a wrong answer. The third is a recipe: `ex09.hint("name", level=3)`, or a
# third wrong attempt, shows it.

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### 1. The cost of a block that subsamples
#
# ResNet-50 (notebook 10) halves the map inside some of its bottleneck blocks: 1x1 reduce, 3x3, 1x1
# expand, as the `PlainBottleneck` above. The ResNet paper's original implementation puts the stride 2
# on the first 1x1 convolution; torchvision puts it on the 3x3 (a comment in its source calls this
# "ResNet V1.5"). Write `bottleneck_macs(in_channels, mid_channels, out_channels, side, stride,
# stride_in)`: the multiply-adds of the three convolutions (no bias; padding 1 on the 3x3) on a
# `side x side` input, with the stride on the `"1x1"` or on the `"3x3"` (`stride_in`). How much more
# does torchvision's choice cost in ResNet-50's first block of conv3_x (256 -> 128 -> 512 on 56x56),
# and which input pixels does the strided 1x1 never look at?

# %%
def bottleneck_macs(in_channels, mid_channels, out_channels, side, stride, stride_in):
    raise NotImplementedError  # your code here


ex09.check_bottleneck_macs(bottleneck_macs);


# %% [markdown] slideshow={"slide_type": "subslide"}
# ### 2. A depthwise-separable convolution with `F.conv2d`
#
# Write `depthwise_separable(x, depthwise_weight, pointwise_weight)` with two calls to `F.conv2d`:
# `depthwise_weight` has shape `(C_in, 1, k, k)` (one filter per channel), `pointwise_weight`
# `(C_out, C_in, 1, 1)`; pad so the height and width stay; no bias, no activation. The checker compares
# with a channel-by-channel loop.

# %%
def depthwise_separable(x, depthwise_weight, pointwise_weight):
    raise NotImplementedError  # your code here


ex09.check_depthwise_separable(depthwise_separable);


# %% [markdown] slideshow={"slide_type": "subslide"}
# ### 3. The kernel behind a factorised pair
#
# Given the weights of a `1 x n` convolution, `row_weight` of shape `(M, C_in, 1, n)`, and of the `n x 1`
# convolution after it, `column_weight` of shape `(C_out, M, n, 1)`, return the `(C_out, C_in, n, n)`
# kernel of the single convolution they make together (no activation in between).

# %%
def compose(row_weight, column_weight):
    raise NotImplementedError  # your code here


ex09.check_compose_factorised(compose);


# %% [markdown] slideshow={"slide_type": "subslide"}
# ### 4. Parameters of an inverted residual
#
# Write `inverted_residual_params(in_channels, out_channels, expand_ratio)`: the parameter count of
# MobileNetV2's block with its batch norms (2 parameters per channel each), checked against
# torchvision's. With `expand_ratio=1` there is no expanding 1x1.

# %%
def inverted_residual_params(in_channels, out_channels, expand_ratio):
    raise NotImplementedError  # your code here


ex09.check_inverted_residual_params(inverted_residual_params);

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### 5. (Open) Train the paper's block
#
# Train `googlenet.googlenet(1, 10, input_size=28, width=0.25, ch5x5_kernel_size=5)` with the settings
# above. Does the 5x5 kernel change the accuracy? The time per epoch? Then try
# `batch_norm=False` (the 2014 network): what learning rate does it need?
