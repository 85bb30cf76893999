# %% [markdown] slideshow={"slide_type": "slide"}
# # 07 AlexNet (part 1 of 2): deep learning takes over
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/deep-learning-course/conv-to-transformer/blob/main/notebooks/07_alexnet.ipynb)
#
# In 2012 a convolutional network won the ImageNet Large Scale Visual Recognition Challenge (1.2
# million training images, 1000 classes) with a top-5 test error of 15.3%, against 26.2% for the
# second-best entry (Krizhevsky, Sutskever and Hinton, 2012, *ImageNet Classification with Deep
# Convolutional Neural Networks*). Within a few years nearly every entry was a deep network. The
# network, AlexNet, is LeNet's design made deeper and wider -- with a handful of changes that made it
# trainable at that size.
#
# AlexNet takes two lectures. In this first part you will
#
# 1. list what changed since LeNet;
# 2. build AlexNet layer by layer at 224x224, in both its 2012 (two-GPU) and its 2014 (one-GPU,
#    torchvision's) form, and check both against `course_utils` and torchvision;
# 3. find where its 61 million parameters are, and why a GPU helps;
# 4. train a scaled-down AlexNet on Fashion-MNIST.
#
# Part 2 ([07 AlexNet, part 2](07_alexnet_experiments.ipynb)) tests the paper's ingredients one by one
# with experiments: ReLU, dropout, data augmentation, overlapping pooling and local response
# normalisation.

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
import torch
import torch.nn.functional as F
import torchvision
from torch import nn

from course_utils import results
from course_utils.accounting import count_macs, count_params, print_layer_table
from course_utils.checks import assert_close
from course_utils.data import load_dataset
from course_utils.exercises import ex07
from course_utils.models import alexnet
from course_utils.plot import plot_history
from course_utils.checkpoint import checkpoint_path
from course_utils.timing import per_second, time_it
from course_utils.train import evaluate, fit, optimizer_options

from course_utils import profile
from course_utils.device import get_device, seed_everything

PROFILE = profile.current()
DEVICE = get_device()
seed_everything(0)
print(f"profile: {PROFILE}   device: {DEVICE}")


# %% [markdown] slideshow={"slide_type": "slide"}
# ## What changed in 2012
#
# | | LeNet-5 (1998) | AlexNet (2012) |
# | --- | --- | --- |
# | layers with weights | 2 conv + 3 dense | 5 conv + 3 dense |
# | parameters | 61,706 | about 61 million |
# | input | 32x32 grey digits | 224x224 colour photos |
# | activation | sigmoid / tanh | **ReLU**: no saturation for positive inputs, so gradients do not fade |
# | pooling | 2x2 averages | **overlapping max-pooling**: 3x3 windows with stride 2 |
# | regularisation | weight decay | **dropout** in the dense layers, **data augmentation** (random crops and flips, colour jitter), weight decay |
# | normalisation | -- | **local response normalisation** (LRN) after conv 1 and 2 |
# | hardware | CPU | **two GPUs** (NVIDIA GTX 580, 3 GB each), five to six days of training |
#
# The paper measured most changes on ImageNet: overlapping pooling lowered the top-1 / top-5 errors by
# 0.4% / 0.3%, LRN by 1.4% / 1.2%. The ReLU speed-up was measured on CIFAR-10 (its Figure 1): a
# four-layer network with ReLUs reached 25% training error about six times faster than with tanh.
# LRN did not last: Simonyan and Zisserman (2014, the VGG paper) found
# it did not help their deeper networks while costing memory and time, and batch normalisation (2015)
# replaced it. torchvision's AlexNet has no LRN.
#
# This part builds the network and trains it; part 2 makes ReLU, dropout, augmentation and LRN
# measurable with experiments.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## AlexNet layer by layer
#
# Five convolutions, three overlapping max-pools, three dense layers:
#
# - conv 1: 11x11 filters with stride 4 -- a large, coarse first look that shrinks 224 pixels to 55;
# - conv 2: 5x5; conv 3-5: 3x3, all with padding that keeps the size;
# - max-pool 3x3, stride 2 after conv 1, 2 and 5: 55 -> 27 -> 13 -> 6;
# - dense layers of 4096, 4096 and 1000 units, with dropout before the first two.
#
# One class builds both versions: `channels` picks the widths, `groups` the two-GPU connectivity
# (explained below), `lrn` adds local response normalisation after the first two ReLUs.

# %%
class MyAlexNet(nn.Module):
    def __init__(self, channels=(64, 192, 384, 256, 256), groups=(1, 1, 1, 1, 1), lrn=False,
                 in_channels=3, num_classes=1000):
        super().__init__()
        c1, c2, c3, c4, c5 = channels

        def norm():  # the paper's constants (section 3.3): k=2, n=5, alpha=1e-4, beta=0.75
            # PyTorch divides its alpha by n (size), so the paper's alpha is passed multiplied by 5
            return [nn.LocalResponseNorm(size=5, alpha=1e-4 * 5, beta=0.75, k=2.0)] if lrn else []

        self.features = nn.Sequential(
            nn.Conv2d(in_channels, c1, kernel_size=11, stride=4, padding=2), nn.ReLU(), *norm(),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(c1, c2, kernel_size=5, padding=2, groups=groups[1]), nn.ReLU(), *norm(),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(c2, c3, kernel_size=3, padding=1, groups=groups[2]), nn.ReLU(),
            nn.Conv2d(c3, c4, kernel_size=3, padding=1, groups=groups[3]), nn.ReLU(),
            nn.Conv2d(c4, c5, kernel_size=3, padding=1, groups=groups[4]), nn.ReLU(),
            nn.MaxPool2d(kernel_size=3, stride=2),
        )
        self.avgpool = nn.AdaptiveAvgPool2d(6)  # 6x6 whatever the input size (a no-op at 224)
        self.classifier = nn.Sequential(
            nn.Dropout(0.5), nn.Linear(c5 * 6 * 6, 4096), nn.ReLU(),
            nn.Dropout(0.5), nn.Linear(4096, 4096), nn.ReLU(),
            nn.Linear(4096, num_classes),
        )

    def forward(self, x):
        x = self.avgpool(self.features(x))  # (B, c5, 6, 6)
        x = x.flatten(1)  # (B, c5 * 36)
        return self.classifier(x)  # (B, num_classes)


my_alexnet = MyAlexNet()


# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Following one image through
#
# A layer maps a side `n` to `floor((n + 2p - k) / s) + 1`. We trace a 224x224 image and assert every
# side against that formula:

# %%
# NBVAL_CHECK_OUTPUT
def out_size(n, k, s=1, p=0):
    return (n + 2 * p - k) // s + 1


h = torch.randn(1, 3, 224, 224)
side = 224
for layer in my_alexnet.features:
    h = layer(h)
    if isinstance(layer, (nn.Conv2d, nn.MaxPool2d)):
        k, s, p = (layer.kernel_size, layer.stride, layer.padding) if isinstance(layer, nn.MaxPool2d) else (
            layer.kernel_size[0], layer.stride[0], layer.padding[0])
        side = out_size(side, k, s, p)
        assert h.shape[-1] == side, f"{layer}: expected side {side}, got {h.shape[-1]}"
        print(f"{type(layer).__name__:<10} k={k:<2} s={s} p={p}  -> {tuple(h.shape)}")
assert h.shape == (1, 256, 6, 6)

# %% [markdown]
# The paper says its input was 224x224, but an 11x11 stride-4 convolution without padding maps 224 to
# `floor(213 / 4) + 1 = 54`, not the 55 of its figure; the arithmetic works for **227** pixels, or for
# 224 with **padding 2**, which torchvision uses. A classic puzzle, settled by the formula:

# %%
# NBVAL_CHECK_OUTPUT
assert out_size(224, 11, 4) == 54 and out_size(227, 11, 4) == 55 and out_size(224, 11, 4, 2) == 55
print(f"224, no padding: {out_size(224, 11, 4)};  227, no padding: {out_size(227, 11, 4)};  "
      f"224, padding 2: {out_size(224, 11, 4, 2)}")

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### The 224x224 table
#
# Output shape, parameters and multiply-adds of every layer, for one image:

# %%
# NBVAL_CHECK_OUTPUT
rows = print_layer_table(my_alexnet, (1, 3, 224, 224))

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Checked against the reference and torchvision
#
# torchvision's `alexnet()` is the 2014 variant. Its published parameter count is 61,100,840; our
# network and `course_utils.models.alexnet` must have exactly that many, and -- since the layers have
# the same names -- load torchvision's weights and give the same outputs:

# %% tags=["no-slide"] slideshow={"slide_type": "skip"}
torch.manual_seed(0)
theirs = torchvision.models.alexnet()  # random weights: nothing is downloaded
reference = alexnet.alexnet_2014()
assert count_params(my_alexnet) == count_params(reference) == count_params(theirs) == 61_100_840, (
    "every version should have torchvision's 61,100,840 parameters")
my_alexnet.load_state_dict(theirs.state_dict())  # strict: every name and shape must match
reference.load_state_dict(theirs.state_dict())
x = torch.randn(2, 3, 224, 224)
for model in (my_alexnet, reference, theirs):
    model.eval()  # dropout off
with torch.no_grad():
    expected = theirs(x)
    assert_close(my_alexnet(x), expected, rtol=1e-4, atol=1e-5, msg="hand-built AlexNet vs torchvision")
    assert_close(reference(x), expected, rtol=1e-4, atol=1e-5, msg="course_utils alexnet_2014 vs torchvision")
print(f"hand-built == course_utils == torchvision: {count_params(theirs):,} parameters, same outputs")
del theirs, reference

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Where the parameters are
#
# Group the table's rows into convolutions and dense layers:

# %%
conv_params = sum(r["params"] for r in rows if r["type"] == "Conv2d")
dense_params = sum(r["params"] for r in rows if r["type"] == "Linear")
conv_macs = sum(r["macs"] for r in rows if r["type"] == "Conv2d")
dense_macs = sum(r["macs"] for r in rows if r["type"] == "Linear")
total_params, total_macs = conv_params + dense_params, conv_macs + dense_macs
assert total_params == 61_100_840 and total_macs == count_macs(my_alexnet, (1, 3, 224, 224))
first_dense = rows[[r["type"] for r in rows].index("Linear")]["params"]
assert first_dense == 256 * 6 * 6 * 4096 + 4096
dense_share, conv_work = dense_params / total_params, conv_macs / total_macs
assert dense_share > 0.9 and conv_work > 0.9, "the dense layers hold the parameters, the convolutions do the work"
print(f"dense layers: {dense_params:>11,} parameters ({dense_share:.1%}), {dense_macs:>12,} mult-adds ({1 - conv_work:.1%})")
print(f"convolutions: {conv_params:>11,} parameters ({1 - dense_share:.1%}), {conv_macs:>12,} mult-adds ({conv_work:.1%})")
print(f"the first dense layer alone: {first_dense:,} parameters ({first_dense / total_params:.0%})")

# %%
fig, axes = plt.subplots(1, 2, figsize=(10, 3))
names = [r["name"] for r in rows if r["type"] in ("Conv2d", "Linear")]
short = [f"conv{i + 1}" for i in range(5)] + [f"fc{i + 6}" for i in range(3)]
for ax, key, label in ((axes[0], "params", "parameters (millions)"), (axes[1], "macs", "multiply-adds (millions)")):
    values = [r[key] / 1e6 for r in rows if r["type"] in ("Conv2d", "Linear")]
    ax.bar(short, values, color=["tab:blue"] * 5 + ["tab:orange"] * 3)
    ax.set_title(label)
fig.suptitle("AlexNet at 224x224: parameters in the dense layers, work in the convolutions")
fig.tight_layout()
plt.show()

# %% [markdown]
# About 96% of the parameters sit in the three dense layers -- 62% in the first one alone -- while the
# convolutions do about 92% of the multiply-adds. Dropout (below) targets exactly those dense layers,
# and later networks (NiN, GoogLeNet in notebook 09) replaced them with global average pooling.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 2012 and 2014: two sets of channels
#
# The 2012 network did not fit on one 3 GB GPU, so it was split across two: each GPU held **half the
# filters of every layer** (48, 128, 192, 192, 128). The second, fourth and fifth convolutions saw only
# the channels on their own GPU; the third convolution and the dense layers read from both. In PyTorch
# a convolution whose channels are split into independent halves is a **grouped convolution** with
# `groups=2`: each filter has half as many input channels, so the layer has half the weights.
#
# The network torchvision (and most code) calls AlexNet, which this notebook builds (and trains at a
# quarter of its width), is a one-GPU network with 64, 192, 384, 256, 256 channels and no LRN: the
# "2014 variant" here. It is usually credited to Krizhevsky's *One weird trick for parallelizing
# convolutional neural networks* (2014), but that paper's single column (footnote 1, page 5) has 64,
# 192, 384, **384**, 256. The 256 of conv 4 comes from the one-GPU ImageNet configuration of
# Krizhevsky's own code, cuda-convnet2, by way of a Torch reimplementation that torchvision followed;
# torchvision kept it so that its pretrained weights still load (pytorch/vision pull requests 463 and
# 704 trace it). We build torchvision's widths, so that its weights load into ours. The 2012 network
# comes from the same class:

# %%
CHANNELS_2012, GROUPS_2012 = (96, 256, 384, 384, 256), (1, 2, 1, 2, 2)
my_2012 = MyAlexNet(CHANNELS_2012, GROUPS_2012, lrn=True)
reference_2012 = alexnet.alexnet_2012()
assert count_params(my_2012) == count_params(reference_2012) == 60_965_224
reference_2012.load_state_dict(my_2012.state_dict())
my_2012.eval(), reference_2012.eval()
with torch.no_grad():
    assert_close(my_2012(x), reference_2012(x), rtol=1e-4, atol=1e-5, msg="hand-built 2012 AlexNet vs course_utils")
print(f"2012 AlexNet (two-GPU groups, LRN): {count_params(my_2012):,} parameters, same outputs as alexnet_2012()")

# %%
# NBVAL_CHECK_OUTPUT
ungrouped_2012 = alexnet.alexnet_2012(groups=1)
convs = {name: [m for m in model.features if isinstance(m, nn.Conv2d)]
         for name, model in (("2012, two GPUs", my_2012), ("2012, one GPU", ungrouped_2012), ("2014", my_alexnet))}
print(f"{'':<8}" + "".join(f"{name:>26}" for name in convs))
for i in range(5):
    cells = [f"{c[i].out_channels:>4} ch, {c[i].weight.shape[1]:>3} in, {count_params(c[i]):>9,}" for c in convs.values()]
    print(f"conv{i + 1:<4}" + "".join(f"{cell:>26}" for cell in cells))
conv2 = convs["2012, two GPUs"][1]
assert conv2.weight.shape == (256, 48, 5, 5), "each conv2 filter sees the 48 channels of its own GPU"
halved = (256 * 96 * 5 * 5 + 384 * 384 * 3 * 3 + 256 * 384 * 3 * 3) // 2  # half the weights of conv2, 4, 5
assert count_params(ungrouped_2012) - count_params(my_2012) == halved, "groups=2 should halve conv2, 4, 5"
for name, model in (("2012, two GPUs", my_2012), ("2012, one GPU", ungrouped_2012), ("2014", my_alexnet)):
    print(f"{name:<16} {count_params(model):>11,} parameters  {count_macs(model, (1, 3, 224, 224)):>13,} mult-adds")
del ungrouped_2012, reference_2012

# %% [markdown]
# The split halves the weights of three layers and -- the point in 2012 -- let each GPU keep its half
# of the activations in its own memory and exchange data only at conv 3 and the dense layers. What it
# did to accuracy, the paper measured against the network that *would* fit on one GPU, one with half as
# many filters in each convolutional layer: the two-GPU network had 1.7% lower top-1 and 1.2% lower
# top-5 error, and took slightly less time to train (section 3.2). A full-width network on one GPU, the
# comparison that would isolate the cost of the restricted connections, did not fit in 3 GB and was not
# run; the 2014 single-GPU variant changed the channels too, so it does not answer that question either. *Dive into Deep Learning*'s AlexNet is the 2012 channel layout without the split
# (`groups=1`), with padding 1 instead of 2 in conv 1, so its last map is 5x5
# (`alexnet.alexnet_2012(groups=1, lrn=False, stem=(11, 4, 1))` builds the same layers, with dropout
# before rather than after the dense layers' ReLUs).

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Why GPUs help convolution
#
# A convolution layer is a huge number of **independent** multiply-adds: every output pixel of every
# filter is its own dot product, and every weight is reused at every position. Rearranged (im2col,
# notebook 01), the whole layer is one matrix product -- the operation a GPU's thousands of arithmetic
# units are built for. Conv 1 as one matrix product:

# %%
conv1 = my_alexnet.features[0]
img = torch.randn(1, 3, 224, 224)
patches = F.unfold(img, kernel_size=11, stride=4, padding=2)  # (1, 3*11*11, 55*55): one column per position
assert patches.shape == (1, 363, 3025)
weights = conv1.weight.reshape(64, -1)  # (64, 363): one row per filter
with torch.no_grad():
    as_matmul = (weights @ patches[0] + conv1.bias[:, None]).reshape(1, 64, 55, 55)  # (1, 64, 55, 55)
    assert_close(as_matmul, conv1(img), rtol=1e-4, atol=1e-4, msg="conv 1 as one matrix product")
macs = 64 * 363 * 3025
loaded = (weights.numel() + patches.numel() + as_matmul.numel()) * 4
print(f"conv 1 = a (64 x 363) @ (363 x 3,025) matrix product: {macs:,} independent multiply-adds")
print(f"arithmetic intensity: {2 * macs / loaded:.0f} FLOPs per byte moved (a GPU needs tens to stay busy)")

# %% [markdown]
# Now the whole network, forward only, on this machine's CPU and -- when there is one -- on the GPU.
# Training costs about three times a forward pass (the backward pass computes two gradients per layer).

# %%
batch = profile.pick(smoke=2, standard=16, full=64)
model224 = my_alexnet.eval()
x224 = torch.randn(batch, 3, 224, 224)
forward_macs = count_macs(model224, (1, 3, 224, 224))
with torch.no_grad():  # time_it: one untimed warm-up call (it picks algorithms, allocates), then the timed ones
    cpu_time = time_it(lambda: model224(x224), repeats=profile.pick(smoke=1, standard=2, full=3))
cpu_rate = per_second(len(x224), cpu_time.median)
print(f"CPU ({torch.get_num_threads()} threads): {cpu_rate:,.1f} images/s = {1000 / cpu_rate:.0f} ms per image, "
      f"{cpu_rate * forward_macs / 1e9:.1f} G multiply-adds/s")
if torch.cuda.is_available():
    gpu_model, gpu_x = model224.to("cuda"), x224.to("cuda")
    with torch.no_grad():  # the clock waits for the GPU's queued work (time_it synchronises)
        gpu_rate = per_second(len(gpu_x), time_it(lambda: gpu_model(gpu_x), repeats=20, device="cuda").median)
    print(f"GPU ({torch.cuda.get_device_name()}): {gpu_rate:,.0f} images/s, "
          f"{gpu_rate * forward_macs / 1e9:,.0f} G multiply-adds/s -> {gpu_rate / cpu_rate:.0f}x the CPU")
    assert gpu_rate > cpu_rate, "the GPU should be faster than the CPU on AlexNet"
    model224.to("cpu")
else:
    print("no GPU in this run: only the CPU is timed (on a machine with CUDA this cell times both)")
epoch_days = 1.2e6 * 3 / cpu_rate / 86_400
print(f"one ImageNet epoch (1.2M images, ~3x a forward pass each) at this speed: {epoch_days:.2f} days; "
      f"the paper's 90 epochs: {90 * epoch_days:.0f} days (an optimistic bound: training runs slower than inference)")

# %% [markdown]
# In 2012 two GTX 580 GPUs (about 1.6 trillion floating-point operations per second each, at peak)
# did those 90 epochs in five to six days. A 2012 desktop CPU peaked at a few hundred billion, and the CPU
# convolution code of the time reached a fraction of that, so the same training would have taken
# months -- GPUs, more than any single trick, made AlexNet possible. The figure above for this machine
# is far better than a 2012 CPU's per core: current x86 cores have wide vector units (AVX2 does 8
# float multiply-adds per instruction, AVX-512 16), and PyTorch's CPU kernels (oneDNN) use them. A current GPU
# is still one to two orders of magnitude faster again, which is why the `full` profile of this course
# expects one.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Training AlexNet on Fashion-MNIST
#
# The full network at 224x224 needs 0.7 billion multiply-adds per image: a GPU job (the `full`
# profile resizes Fashion-MNIST to 224x224 and trains it, as *Dive into Deep Learning* does). On a
# laptop CPU we keep the architecture -- five convolutions, three overlapping max-pools, ReLU, dropout,
# three dense layers -- and shrink what does not change its shape:
#
# - **input**: the images' own 28x28 pixels. The 11x11 stride-4 first layer would leave 6 pixels, so
#   conv 1 becomes 3x3 with stride 1 (`alexnet.STEM_SMALL`); the pools take 28 -> 13 -> 6 -> 2;
# - **width**: a quarter of the 2014 channels (16, 48, 96, 64, 64) and 512 dense units;
# - **optimizer**: AdamW with a one-cycle schedule, batch 128, a few epochs;
# - **memory layout**: channels-last, which `benchmarks/memory_layout.py` measured 1.1-1.2x faster than
#   the default layout for this network on a CPU (and which CUDA's tensor cores prefer).

# %%
settings = profile.pick(
    smoke=dict(n_train=5_000, n_val=500, epochs=3, input_size=28, width=0.25, hidden=512, lr=3e-3, bar=0.4),
    standard=dict(n_train=60_000, n_val=5_000, epochs=5, input_size=28, width=0.25, hidden=512, lr=2e-3, bar=0.89),
    full=dict(n_train=60_000, n_val=5_000, epochs=10, input_size=224, width=1.0, hidden=4096, lr=5e-4, bar=0.90),
)
batch_size = 128
channels_last = DEVICE.type in ("cpu", "cuda")  # see benchmarks/memory_layout.py
print(settings)
data = load_dataset("fashion_mnist")
size = settings["input_size"]
resize = None if size == 28 else size
train_data = data if settings["n_train"] == len(data.train_labels) else data.subset(settings["n_train"], 10_000)
train_data = train_data.split_validation(settings["n_val"])  # as in notebooks 04-06
train_batches = train_data.train_batches(batch_size, device=DEVICE, resize=resize)
val_batches = train_data.val_batches(500, device=DEVICE, resize=resize)
test_batches = data.test_batches(500, device=DEVICE, resize=resize)  # the full test set, every profile; once
assert test_batches.num_examples == 10_000
print(f"training on {train_batches.num_examples:,} images, validating on {val_batches.num_examples:,}, "
      f"testing (once) on {test_batches.num_examples:,}, at {size}x{size}")

# %% tags=["colab-estimate", "no-slide"] slideshow={"slide_type": "skip"}
# The `full` profile's training, declared for the Colab T4 estimate of benchmarks/colab_time.py
# (CONTRIBUTING, "Colab time"); nothing is built or trained here.
colab_runs = [dict(what="AlexNet", input_shape=(1, 1, settings["input_size"], settings["input_size"]),
                   model=lambda: alexnet.alexnet(1, 10, input_size=settings["input_size"], width=settings["width"],
                                                 hidden_features=settings["hidden"]),
                   train=settings["n_train"] - settings["n_val"], epochs=settings["epochs"], eval=settings["n_val"])]

# %%
model = alexnet.alexnet(1, 10, input_size=size, width=settings["width"], hidden_features=settings["hidden"]).to(DEVICE)
input_shape = (1, 1, size, size)
print_layer_table(model, input_shape);

# %%
seed_everything(0)
model = alexnet.alexnet(1, 10, input_size=size, width=settings["width"], hidden_features=settings["hidden"]).to(DEVICE)
optimizer = torch.optim.AdamW(model.parameters(), lr=settings["lr"], weight_decay=0.05, **optimizer_options(DEVICE))
scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=settings["lr"],
                                                total_steps=settings["epochs"] * len(train_batches))
start = time.perf_counter()
history = fit(model, train_batches, val_batches, epochs=settings["epochs"], optimizer=optimizer,
              scheduler=scheduler, eval_name="val", checkpoint=checkpoint_path("07_alexnet"),
              channels_last=channels_last)
print(f"total {time.perf_counter() - start:.0f} s on {DEVICE}")

# %%
plot_history(history, title=f"AlexNet (width {settings['width']}, {size}x{size}) on Fashion-MNIST")
plt.show()
print(history.table())

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### The test set, once, and the paper's figure beside it

# %%
accuracy = evaluate(model, test_batches)["acc"]
print(f"scaled AlexNet: validation accuracy {history[-1].val_acc:.2%}, test accuracy {accuracy:.2%} "
      f"({test_batches.num_examples:,} Fashion-MNIST test images, 10 classes)")
print("the paper, one AlexNet on ImageNet (1000 classes, ILSVRC-2012 validation set, Table 2): "
      "top-1 error 40.7%, top-5 error 18.2%")
assert accuracy >= settings["bar"], (
    f"test accuracy {accuracy:.2%} is below {settings['bar']:.0%} for the {PROFILE} profile")
results.record_training("07", "alexnet_test_acc", model, history, input_shape, train_batches, test_batches,
                        description=f"AlexNet (width {settings['width']}, {size} px)", test_acc=accuracy);

# %% [markdown]
# The two numbers do not compete: 1000 classes of photographs, where even the top-5 guess missed 18% of
# the time, against ten classes of small grey clothing pictures. What carries over is the recipe, and
# part 2 takes it apart.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Summary

# %%
print(f"profile {PROFILE}, device {DEVICE}")
print(f"AlexNet at 224x224: {total_params:,} parameters ({dense_share:.0%} in the dense layers), "
      f"{total_macs / 1e6:,.0f}M multiply-adds per image ({conv_work:.0%} in the convolutions)")
print(f"scaled AlexNet ({count_params(model):,} parameters, {count_macs(model, input_shape) / 1e6:.1f}M mult-adds, "
      f"{size}x{size}): {accuracy:.2%} on {test_batches.num_examples:,} test images after {settings['epochs']} epochs, "
      f"{history.mean('seconds'):.1f} s/epoch, {history.mean('examples_per_s'):,.0f} examples/s")


# %% [markdown]
# AlexNet took LeNet's design to 1.2 million photographs with ReLU, dropout, augmentation, LRN
# and two GPUs. Part 2 ([07 AlexNet, part 2](07_alexnet_experiments.ipynb)) measures what each of those
# ingredients does; after it, VGG (notebook 08) builds a network from one repeated block.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Exercises
#
# Replace each `raise NotImplementedError` with your code and run the cell. Hints come in three tiers:
# an exercise not attempted yet prints a nudge (what to look at); `ex07.hint("name")` gives the next,
# the key idea, and so does a wrong answer. The third is a recipe: `ex07.hint("name", level=3)`, or a
# third wrong attempt, shows it. Part 2 has two more (LRN and dropout).

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### 1. Which input sizes fit?
#
# The trace above runs the side formula forwards. Turn it around: write `input_range(output_side,
# layers)` for a stack of layers given as `(kernel_size, stride, padding)` triples from the input up (a
# max-pool is a layer too) that returns the smallest and the largest input side whose side after the
# last layer is `output_side`. `ex07.alexnet_layers(stem)` lists AlexNet's eight layers for a first
# convolution `stem`. Which input sides give pool 3 its 6x6 with the paper's first layer, `(11, 4, 0)`,
# and which with torchvision's, `(11, 4, 2)`? Is 224, the size the paper's text gives, among the first?

# %%
print(ex07.alexnet_layers((11, 4, 0)))


def input_range(output_side, layers):
    raise NotImplementedError  # your code here


ex07.check_input_range(input_range);


# %% [markdown] slideshow={"slide_type": "subslide"}
# ### 2. The two-GPU split as two convolutions
#
# Write `grouped_conv2d(x, weight, bias, groups, padding)` (stride 1) **without** `F.conv2d`'s `groups`
# argument: split the input channels and the filters into `groups` equal parts, convolve each part on
# its own -- as each GPU did in 2012 -- and concatenate. `weight` has shape
# `(C_out, C_in / groups, k, k)`.

# %%
def grouped_conv2d(x, weight, bias, groups, padding):
    raise NotImplementedError  # your code here


ex07.check_grouped_conv2d(grouped_conv2d);
