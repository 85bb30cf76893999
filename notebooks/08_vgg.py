# %% [markdown] slideshow={"slide_type": "slide"}
# # 08 VGG: networks built from blocks
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/deep-learning-course/conv-to-transformer/blob/main/notebooks/08_vgg.ipynb)
#
# AlexNet (notebook 07) was designed layer by layer: an 11x11 convolution here, a 5x5 there, channel
# counts picked one at a time. Simonyan and Zisserman (2014, *Very Deep Convolutional Networks for
# Large-Scale Image Recognition*) asked a simpler question: what if the network is **one block,
# repeated**? Their answer, VGG, came second in the ImageNet 2014 classification task and made
# "blocks" the unit in which networks are designed ever since.
#
# In this notebook you will
#
# 1. build the VGG block and the VGG-11/13/16/19 networks, check them against `course_utils` and
#    torchvision;
# 2. see, by counting, why stacks of 3x3 convolutions beat one large kernel;
# 3. find where a VGG spends its memory and where it keeps its parameters;
# 4. train a narrow VGG on Fashion-MNIST.

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
import torchvision
from torch import nn

from course_utils import results
from course_utils.accounting import count_macs, count_params, layer_table, print_layer_table
from course_utils.checks import assert_close
from course_utils.data import load_dataset
from course_utils.exercises import ex08
from course_utils.models import vgg
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
# ## The VGG block
#
# A block is a few **3x3 convolutions with padding 1**, each followed by a ReLU, then a **2x2 max-pool
# with stride 2**. Padding 1 keeps the height and width of a 3x3 convolution (`(n + 2 - 3) / 1 + 1 = n`),
# so only the pool changes the size: it halves it. Inside a block the channels stay fixed.

# %%
def vgg_block(num_convs, in_channels, out_channels, batch_norm=False):
    layers = []
    for _ in range(num_convs):
        layers.append(nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1))
        if batch_norm:
            layers.append(nn.BatchNorm2d(out_channels))
        layers.append(nn.ReLU())
        in_channels = out_channels  # later convs of the block map out -> out
    layers.append(nn.MaxPool2d(kernel_size=2, stride=2, ceil_mode=True))
    return nn.Sequential(*layers)


# %%
# NBVAL_CHECK_OUTPUT
block = vgg_block(2, 64, 128)
print(block)
x = torch.randn(1, 64, 56, 56)
y = block(x)
print(f"{tuple(x.shape)} -> {tuple(y.shape)}")
assert y.shape == (1, 128, 28, 28), "two 3x3 convs keep 56x56, the pool halves it to 28x28"

# %% [markdown]
# `ceil_mode=True` rounds an odd size up (7 -> 4 instead of 3). At 224 pixels every map VGG sees is
# even, so nothing changes there; it lets the same five blocks run on a 28x28 Fashion-MNIST image
# (28 -> 14 -> 7 -> 4 -> 2 -> 1) later in this notebook.
#
# Our block has exactly the layers of `course_utils.models.vgg.vgg_block`, so the reference accepts
# its weights and must give the same output:

# %% tags=["no-slide"] slideshow={"slide_type": "skip"}
reference_block = vgg.vgg_block(2, 64, 128)
reference_block.load_state_dict(block.state_dict())
assert_close(block(x), reference_block(x), msg="hand-built block vs course_utils.models.vgg.vgg_block")
print("same output as course_utils' vgg_block")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Five blocks make a VGG
#
# Every configuration of the paper's Table 1 has five blocks with 64, 128, 256, 512 and 512 channels;
# they differ only in how many convolutions each block repeats. Three dense layers (4096, 4096, 1000)
# follow. The name counts the layers with weights: VGG-11 has 8 convolutions + 3 dense layers.

# %%
# NBVAL_CHECK_OUTPUT
CONFIGS = {  # depth: ((convs in block, channels), ...); the paper's configurations A, B, D, E
    11: ((1, 64), (1, 128), (2, 256), (2, 512), (2, 512)),
    13: ((2, 64), (2, 128), (2, 256), (2, 512), (2, 512)),
    16: ((2, 64), (2, 128), (3, 256), (3, 512), (3, 512)),
    19: ((2, 64), (2, 128), (4, 256), (4, 512), (4, 512)),
}
for depth, blocks in CONFIGS.items():
    convs = sum(n for n, _ in blocks)
    assert convs + 3 == depth, f"VGG-{depth} should have {depth - 3} convolutions, the table gives {convs}"
    print(f"VGG-{depth}: convs per block {[n for n, _ in blocks]} -> {convs} conv + 3 dense = {depth} layers")
assert CONFIGS == vgg.CONFIGS, "our table differs from course_utils.models.vgg.CONFIGS"


# %% [markdown] slideshow={"slide_type": "subslide"}
# ### The network
#
# The blocks form `features`; `classifier` flattens the last feature map and applies the three dense
# layers with dropout (0.5, as in AlexNet). The first dense layer's input size depends on the image
# size: five halvings take 224 to 7, so it sees 512 x 7 x 7 = 25,088 numbers.

# %%
class VGG(nn.Module):
    def __init__(self, blocks, in_channels=3, num_classes=1000, input_size=224, hidden_features=4096,
                 dropout=0.5, batch_norm=False):
        super().__init__()
        layers, side = [], input_size
        for num_convs, out_channels in blocks:
            layers.append(vgg_block(num_convs, in_channels, out_channels, batch_norm))
            in_channels = out_channels
            side = (side + 1) // 2  # each block halves the side, rounding up
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(
            nn.Flatten(),  # (B, C, side, side) -> (B, C * side * side)
            nn.Linear(in_channels * side * side, hidden_features), nn.ReLU(), nn.Dropout(dropout),
            nn.Linear(hidden_features, hidden_features), nn.ReLU(), nn.Dropout(dropout),
            nn.Linear(hidden_features, num_classes),
        )

    def forward(self, x):
        return self.classifier(self.features(x))


my_vgg11 = VGG(CONFIGS[11])

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Layer by layer at 224x224
#
# Output shape, parameters and multiply-adds of every layer (`course_utils.accounting.print_layer_table`
# counts the multiply-adds with PyTorch's FLOP counter):

# %%
# NBVAL_CHECK_OUTPUT
rows11 = print_layer_table(my_vgg11, (1, 3, 224, 224))

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### The same network as the reference and as torchvision
#
# Same parameter count and, with the same weights, the same output as `course_utils.models.vgg`:

# %% tags=["no-slide"] slideshow={"slide_type": "skip"}
reference = vgg.vgg11()
assert count_params(my_vgg11) == count_params(reference), "parameter counts differ"
reference.load_state_dict(my_vgg11.state_dict())  # same names and shapes, or this raises
my_vgg11.eval(), reference.eval()  # dropout off
x = torch.randn(2, 3, 224, 224)
with torch.no_grad():
    assert_close(my_vgg11(x), reference(x), msg="hand-built VGG-11 vs course_utils.models.vgg.vgg11")
print(f"hand-built VGG-11 == course_utils' vgg11: {count_params(my_vgg11):,} parameters, same outputs")
del reference

# %% [markdown]
# torchvision's VGGs are the ones most code loads. Building VGG-16 for real allocates 138 million
# floats; on PyTorch's `meta` device a module gets shapes but no memory, which is all a parameter
# count needs.

# %%
# NBVAL_CHECK_OUTPUT
published = {11: 132_863_336, 13: 133_047_848, 16: 138_357_544, 19: 143_667_240}
with torch.device("meta"):  # shapes only: no memory, no initialisation time
    for depth, expected in published.items():
        ours, mine = vgg.vgg(depth), VGG(CONFIGS[depth])
        theirs = getattr(torchvision.models, f"vgg{depth}")()
        counts = {count_params(ours), count_params(mine), count_params(theirs)}
        assert counts == {expected}, f"VGG-{depth}: expected {expected:,} parameters everywhere, got {counts}"
        print(f"VGG-{depth}: {expected:>12,} parameters (ours, the reference and torchvision agree)")


# %% [markdown]
# The `d2l` package (the library of *Dive into Deep Learning*) does not ship a VGG (the book defines
# one in its text), so torchvision is our outside reference. With batch norm added after each
# convolution (`batch_norm=True`, torchvision's `vgg*_bn`) the counts match as well; the unit tests in
# `tests/test_models_vgg.py` check all eight.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Why stacks of 3x3 convolutions?
#
# Two 3x3 convolutions in a row let each output pixel see a 5x5 patch of the input; three see 7x7.
# The receptive field grows by `kernel_size - 1` per stride-1 layer:
# `r = 1 + n * (3 - 1) = 2n + 1`. We can measure it: make the input require a gradient, backpropagate
# one output pixel, and see which input pixels got a non-zero gradient.

# %%
def measured_receptive_field(layers, size=21):
    x = torch.zeros(1, 1, size, size, requires_grad=True)
    out = x
    for layer in layers:
        out = layer(out)
    out[0, 0, out.shape[2] // 2, out.shape[3] // 2].backward()
    touched = x.grad[0, 0] != 0  # (size, size): pixels the output pixel depends on
    rows = touched.any(dim=1).nonzero()
    return int(rows.max() - rows.min() + 1), touched


def conv_of_ones(kernel_size):
    conv = nn.Conv2d(1, 1, kernel_size, padding=kernel_size // 2, bias=False)
    nn.init.ones_(conv.weight)  # positive weights: no gradient cancels by accident
    return conv


maps = {}
for n in (1, 2, 3):
    side, touched = measured_receptive_field([conv_of_ones(3) for _ in range(n)])
    single, _ = measured_receptive_field([conv_of_ones(2 * n + 1)])
    assert side == single == 2 * n + 1, f"{n} stacked 3x3 convs should see {2 * n + 1}x{2 * n + 1}, got {side}"
    maps[n] = touched
    print(f"{n} x 3x3 conv sees {side}x{side}, like one {single}x{single} conv")

# %%
fig, axes = plt.subplots(1, 3, figsize=(8, 2.8))
for ax, (n, touched) in zip(axes, maps.items()):
    ax.imshow(touched.float(), cmap="Blues", vmin=0, vmax=1.3)
    ax.set_title(f"{n} stacked 3x3: {2 * n + 1}x{2 * n + 1}")
    ax.set_xticks([]), ax.set_yticks([])
fig.suptitle("Input pixels one output pixel depends on")
plt.show()

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Fewer parameters, more non-linearities
#
# For `C` channels in and out (biases aside), one `k x k` convolution has `k*k*C*C` weights. Two 3x3
# layers have `2*9*C*C = 18 C^2` instead of 5x5's `25 C^2` (72%); three 3x3 layers `27 C^2` instead of
# 7x7's `49 C^2` (55%). The multiply-adds shrink by the same factor, since every weight is used once
# per output pixel. And the stack puts a ReLU after each layer: three non-linearities instead of one.
# Counting, with `C = 256` on a 28x28 map:

# %%
# NBVAL_CHECK_OUTPUT
C, side = 256, 28


def stack(kernel_size, n):
    layers = []
    for _ in range(n):
        layers += [nn.Conv2d(C, C, kernel_size, padding=kernel_size // 2, bias=False), nn.ReLU()]
    return nn.Sequential(*layers)


print(f"{'':<14}{'weights':>12}{'mult-adds':>16}{'ReLUs':>7}")
for big, n in ((5, 2), (7, 3)):
    one, small = stack(big, 1), stack(3, n)
    for name, net in ((f"one {big}x{big}", one), (f"{n} x 3x3", small)):
        relus = sum(isinstance(m, nn.ReLU) for m in net)
        print(f"{name:<14}{count_params(net):>12,}{count_macs(net, (1, C, side, side)):>16,}{relus:>7}")
    assert count_params(one) == big * big * C * C and count_params(small) == n * 9 * C * C
    ratio = count_macs(small, (1, C, side, side)) / count_macs(one, (1, C, side, side))
    assert abs(ratio - 9 * n / big**2) < 1e-12, "multiply-adds should shrink like the weights"
    print(f"  -> the stack costs {ratio:.0%} of one {big}x{big}\n")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Where the memory goes, where the parameters are
#
# Training stores every layer's output for the backward pass, so the *activations* decide the memory
# per image; the *parameters* decide the size of the model file and of the optimizer's state. VGG-16
# puts them in opposite places. The layer table gives both (one float32 = 4 bytes):

# %%
vgg16 = vgg.vgg16()
rows16 = layer_table(vgg16, (1, 3, 224, 224))
groups = [f"block {i + 1}" for i in range(5)] + ["dense"]
activations = dict.fromkeys(groups, 0)
params = dict.fromkeys(groups, 0)
macs = dict.fromkeys(groups, 0)
for row in rows16:
    top, index = row["name"].split(".")[:2]
    group = f"block {int(index) + 1}" if top == "features" else "dense"
    activations[group] += torch.Size(row["output_shape"]).numel()  # floats kept for backward
    params[group] += row["params"]
    macs[group] += row["macs"]
total_act, total_params, total_macs = sum(activations.values()), sum(params.values()), sum(macs.values())
assert total_params == count_params(vgg16) == 138_357_544

print(f"{'':<9}{'activations (MB/image)':>24}{'parameters':>16}{'mult-adds':>18}")
for g in groups:
    print(f"{g:<9}{4 * activations[g] / 2**20:>17.1f} ({activations[g] / total_act:4.0%})"
          f"{params[g]:>12,} ({params[g] / total_params:3.0%}){macs[g]:>15,} ({macs[g] / total_macs:3.0%})")

# %%
fig, axes = plt.subplots(1, 3, figsize=(11, 3))
for ax, values, label in zip(axes, (activations, params, macs),
                             ("activations (MB per image)", "parameters (millions)", "multiply-adds (billions)")):
    scale = {"activations (MB per image)": 4 / 2**20, "parameters (millions)": 1e-6,
             "multiply-adds (billions)": 1e-9}[label]
    ax.bar(groups, [values[g] * scale for g in groups], color=["tab:blue"] * 5 + ["tab:orange"])
    ax.set_title(label)
    ax.tick_params(axis="x", rotation=45)
fig.suptitle("VGG-16 at 224x224: memory early, parameters late, compute in the convolutions")
fig.tight_layout()
plt.show()

# %%
early = (activations["block 1"] + activations["block 2"]) / total_act
dense = params["dense"] / total_params
conv_compute = 1 - macs["dense"] / total_macs
assert early > 0.5, "the first two blocks should hold most of the activations"
assert dense > 0.85 and params["block 1"] + params["block 2"] < 0.01 * total_params
assert conv_compute > 0.99
first_dense = rows16[[r["name"] for r in rows16].index("classifier.1")]["params"]
assert first_dense == 512 * 7 * 7 * 4096 + 4096
print(f"blocks 1-2 hold {early:.0%} of the activations but {(params['block 1'] + params['block 2']) / total_params:.2%}"
      f" of the parameters;\nthe dense layers hold {dense:.0%} of the parameters but do "
      f"{1 - conv_compute:.1%} of the multiply-adds;\nthe first dense layer alone holds {first_dense / total_params:.0%}.")
del vgg16

# %% [markdown]
# The first dense layer alone, 25,088 x 4,096 weights, is three quarters of VGG-16. Later networks (NiN and
# GoogLeNet in notebook 09) replace the dense head by global average pooling and drop most of those
# parameters; the large early activations stay, which is why a training batch of 224x224 images fills
# a GPU long before the weights do.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Training a narrow VGG
#
# A full VGG-11 needs about 7.6 billion multiply-adds per 224x224 image: days on a laptop CPU. To see
# it learn in minutes we keep the architecture (five blocks of 3x3 convolutions and 2x2 pools, three
# dense layers) and shrink what does not change its shape:
#
# - **width**: a quarter of the channels (16, 32, 64, 128, 128) in the `standard` profile;
# - **input**: Fashion-MNIST's own 28x28 pixels (five pools take it to 1x1) instead of resizing to 224
#   (the `full` profile does resize, as *Dive into Deep Learning* does);
# - **dense layers**: 256 hidden units instead of 4096 (on a GPU: 4096);
# - **batch norm** after each convolution (Ioffe and Szegedy, 2015), AdamW and a one-cycle learning-rate
#   schedule, so a few epochs suffice;
# - **memory layout**: channels-last, which `benchmarks/memory_layout.py` measured 1.3x faster than the
#   default layout for this network on a CPU (and which CUDA's tensor cores prefer).

# %%
settings = profile.pick(
    smoke=dict(n_train=2_000, n_val=500, n_test=1_000, epochs=2, input_size=28, width=0.25, hidden=256, lr=3e-3,
               bar=0.5),
    standard=dict(n_train=60_000, n_val=5_000, n_test=10_000, epochs=5, input_size=28, width=0.25, hidden=256,
                  lr=3e-3, bar=0.89),
    full=dict(n_train=60_000, n_val=5_000, n_test=10_000, epochs=10, input_size=224, width=0.25, hidden=4096,
              lr=2e-3, bar=0.90),
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
colab_runs = [dict(what="VGG-11", input_shape=(1, 1, settings["input_size"], settings["input_size"]),
                   model=lambda: vgg.vgg11(1, 10, input_size=settings["input_size"], width=settings["width"],
                                           hidden_features=settings["hidden"], batch_norm=True),
                   train=settings["n_train"] - settings["n_val"], epochs=settings["epochs"], eval=settings["n_val"])]

# %%
model = vgg.vgg11(1, 10, input_size=size, width=settings["width"], hidden_features=settings["hidden"],
                  batch_norm=True).to(DEVICE)
input_shape = (1, 1, size, size)
print_layer_table(model, input_shape, depth=2);

# %%
optimizer = torch.optim.AdamW(model.parameters(), lr=settings["lr"], weight_decay=0.05, **optimizer_options(DEVICE))
scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=settings["lr"],
                                                total_steps=settings["epochs"] * len(train_batches))
start = time.perf_counter()
history = fit(model, train_batches, val_batches, epochs=settings["epochs"], optimizer=optimizer,
              scheduler=scheduler, eval_name="val", checkpoint=checkpoint_path("08_vgg11"),
              channels_last=channels_last)
print(f"total {time.perf_counter() - start:.0f} s on {DEVICE}")

# %%
plot_history(history, title=f"narrow VGG-11 (width {settings['width']}, {size}x{size}) on Fashion-MNIST")
plt.show()
print(history.table())

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### The test set, once, and the paper's figures beside it

# %%
accuracy = evaluate(model, test_batches)["acc"]
print(f"narrow VGG-11 with batch norm: validation accuracy {history[-1].val_acc:.2%}, test accuracy "
      f"{accuracy:.2%} on {test_batches.num_examples:,} Fashion-MNIST test images")
assert accuracy >= settings["bar"], (
    f"test accuracy {accuracy:.2%} is below {settings['bar']:.0%} for the {PROFILE} profile")
results.record_training("08", "vgg_test_acc", model, history, input_shape, train_batches, test_batches,
                        description=f"VGG-11 (width {settings['width']}, BN)", test_acc=accuracy);

# %% [markdown]
# The paper's own figures are ImageNet errors (1000 classes, ILSVRC-2012 validation set; Simonyan and
# Zisserman, 2014, Table 3), each network trained on images rescaled to a shorter side of 256 pixels
# and tested at that one scale. They are not one-crop figures. The paper tests by *dense evaluation*
# (its sections 3.2 and 4.1): the dense layers are recast as convolutions (the first as a 7x7, the
# others as 1x1), the network runs over the whole rescaled image, and the class scores are averaged
# over all the positions it produces. (Its Table 5, section 4.3, compares this with averaging over many
# crops.)
#
# | network | paper's name | top-1 error | top-5 error |
# | --- | --- | --- | --- |
# | VGG-11 | A | 29.6% | 10.4% |
# | VGG-11 with LRN | A-LRN | 29.7% | 10.5% |
# | VGG-13 | B | 28.7% | 9.9% |
# | VGG-16 | D | 27.0% | 8.8% |
# | VGG-19 | E | 27.3% | 9.0% |
#
# Depth helped up to 16 layers and then stopped helping at this training scale; LRN (notebook 07) did
# not help at all. Our number is a different task: ten classes of small grey pictures, a quarter of
# the width, five epochs. It says the block design trains well at a small scale, not how VGG does on
# ImageNet.


# %% [markdown]
# The test accuracy and seconds per epoch above are those of the saved standard run on two CPU cores.
# Notebook 09's comparison table sets them beside LeNet, AlexNet and GoogLeNet, all trained for the same
# five epochs. The lesson of VGG is less its accuracy than its *design rule*: choose a block, then
# choose how many.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Exercises
#
# Replace each `raise NotImplementedError` (or `None`) with your answer and run the cell. Hints come
# in three tiers: an exercise not attempted yet prints a nudge (what to look at); `ex08.hint("name")`
# gives the next, the key idea, and so does a wrong answer. The third is a recipe: `ex08.hint("name",
# level=3)`, or a third wrong attempt, shows it.

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### 1. Count VGG's parameters by hand
#
# Write `vgg_params(depth, in_channels, num_classes, input_size, width, hidden_features)` that
# returns the parameter count of `vgg.vgg(depth, in_channels, num_classes, input_size=input_size,
# width=width, hidden_features=hidden_features)` **without building the model**: only the formulas
# `(3*3*C_in + 1)*C_out` per convolution and `in*out + out` per dense layer. Channels are
# `round(channels * width)` (at least 1).

# %%
def vgg_params(depth, in_channels, num_classes, input_size, width, hidden_features):
    raise NotImplementedError  # your code here


ex08.check_vgg_params(vgg_params);


# %% [markdown] slideshow={"slide_type": "subslide"}
# ### 2. Receptive fields of networks you have not seen
#
# Three networks, described in words only. For each, how many input pixels wide is the patch one output
# pixel sees? Answer with a dict of integers (work them out with notebook 02's recurrence, by hand
# or in code; the checker measures the real networks with a gradient):
#
# - `"vgg16_pool5"`: VGG-16 up to its fifth max-pool (blocks of 2, 2, 3, 3 and 3 convolutions of 3x3
#   with padding 1, each block followed by a 2x2 max-pool with stride 2): what one value of the map the
#   dense head reads sees of a 224x224 image;
# - `"resnet_stem"`: the start of ResNet (notebook 10): a 7x7 convolution with stride 2, a 3x3
#   max-pool with stride 2, then four 3x3 convolutions with stride 1;
# - `"context_module"`: the context module of Yu and Koltun (2016, *Multi-Scale Context Aggregation by
#   Dilated Convolutions*): seven 3x3 convolutions with stride 1 and dilations 1, 1, 2, 4, 8, 16 and 1.
#
# Which of them sees the most per layer, and at what price in resolution?

# %%
receptive_fields = {"vgg16_pool5": None, "resnet_stem": None, "context_module": None}  # your answers

ex08.check_receptive_fields(receptive_fields);


# %% [markdown] slideshow={"slide_type": "subslide"}
# ### 3. A 5x5 convolution from two 3x3 ones
#
# Two stacked 3x3 convolutions see 5x5 pixels, like one 5x5 convolution. Without a ReLU between them,
# can they *compute* any 5x5 convolution? Write `two_convs_for(kernel)` that, for a `(5, 5)` kernel,
# returns weights `w1` of shape `(M, 1, 3, 3)` and `w2` of shape `(1, M, 3, 3)` (any number `M` of middle
# channels) such that `F.conv2d(F.conv2d(x, w1), w2) == F.conv2d(x, kernel[None, None])` for every
# single-channel `x`. Then count: with `C` channels in, out and in the middle, two 3x3 layers have
# `18 C^2` weights and one 5x5 layer `25 C^2`; can the stack represent every `C -> C` 5x5 convolution?

# %%
def two_convs_for(kernel):
    raise NotImplementedError  # your code here


ex08.check_two_3x3_as_5x5(two_convs_for);

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### 4. (Open) How narrow can it be?
#
# Train `vgg.vgg11(1, 10, input_size=28, width=w, hidden_features=256, batch_norm=True)` for
# `w` in 1/16, 1/8, 1/4, 1/2 with the settings above and plot validation accuracy against parameters and
# against seconds per epoch. Where does doubling the width stop paying?
