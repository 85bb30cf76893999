# %% [markdown] slideshow={"slide_type": "slide"}
# # 11 The ResNet paper's CIFAR-10 experiments
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/deep-learning-course/conv-to-transformer/blob/main/notebooks/11_resnet_paper.ipynb)
#
# He, Zhang, Ren and Sun (2015, *Deep Residual Learning for Image Recognition*, section 4.2) did not
# only win ImageNet. To study *very deep* networks, they trained a family of small networks on CIFAR-10,
# plain and residual, from 20 to 1202 layers. Their Figure 6 shows two findings: plain networks get
# **worse** on their own training set as they get deeper (the degradation problem), while deeper
# residual networks reach a *lower* training error. Their Table 6 lists the residual networks' test
# errors.
#
# This notebook runs those experiments at three scales: a small version for a 2-core CPU (the
# `standard` profile: plain and residual networks of depth 8 and 32, half as wide, about 33 epochs of
# 5,000 images, two seeds each), a shortened one on a GPU (`full`: the paper's networks with an eighth
# of its iterations) and the paper's own schedule when you ask for it. The small version checks both
# findings on every seed, at its scale, and says what it cannot show. In this notebook you will
#
# 1. build the paper's CIFAR-10 networks (depth 6n+2, shortcut options A, B and C) and count them;
# 2. check the training recipe piece by piece: schedule, warm-up, augmentation;
# 3. measure degradation and the gain from depth (Figure 6), the layer responses (Figure 7) and the
#    test errors (Table 6), each beside the paper's;
# 4. then see how the runs were made: the experiment runner (runs as configurations, resumable, spread
#    over processes, GPUs or machines).

# %% [markdown] slideshow={"slide_type": "notes"}
# Speaker notes. Put the paper's Figure 6 on screen first and ask the room what they expect when a
# 20-layer plain network gets 36 more layers: better, worse, the same? Then say what this lecture can
# run in class (depth 8 against 32, two seeds, about 18 minutes on a laptop) and that every claim is
# checked per seed.

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
import queue
import tempfile
import threading
import time
from pathlib import Path

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F

import course_utils
from course_utils import budget, experiments, results
from course_utils.accounting import count_params
from course_utils.data import load_dataset
from course_utils.exercises import ex11
from course_utils.models import resnet
from course_utils.paths import repo_root
from course_utils.timing import cpu_threads

from course_utils import profile
from course_utils.device import get_device, seed_everything

PROFILE = profile.current()
DEVICE = get_device()
seed_everything(0)
NOTEBOOK_START = time.perf_counter()
print(f"profile: {PROFILE}   device: {DEVICE}")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## The networks: depth 6n+2
#
# The paper's CIFAR-10 networks take 32x32 images. A 3x3 convolution with 16 filters comes first, then
# three stages of `2n` 3x3 convolutions each, on maps of 32x32, 16x16 and 8x8 pixels with 16, 32 and
# 64 filters; each stage after the first starts with a stride-2 convolution. Global average pooling and
# a 10-way dense layer end the network. That makes `1 + 6n + 1 = 6n + 2` layers with weights:
# n = 3, 5, 7, 9, 18 give the depths 20, 32, 44, 56 and 110 of the paper (and n = 200 its 1202).
#
# In the residual version every pair of 3x3 convolutions is a block with a shortcut around it;
# the *plain* version is the same stack without the shortcuts. `course_utils.models.resnet`
# (notebook 10) builds both.

# %%
# NBVAL_CHECK_OUTPUT
def weight_layers(model):
    """3x3 convolutions and dense layers (a projection shortcut is not counted, as in the paper)."""
    return sum(isinstance(m, torch.nn.Linear) or (isinstance(m, torch.nn.Conv2d) and m.kernel_size == (3, 3))
               for m in model.modules())


for n in (3, 5, 7, 9, 18):
    depth = 6 * n + 2
    for plain in (False, True):
        model = resnet.resnet_cifar(depth, plain=plain)
        assert weight_layers(model) == depth, f"{'plain' if plain else 'ResNet'}-{depth}: {weight_layers(model)} layers"
    print(f"n = {n:>2}: {depth:>3} layers with weights (residual and plain)")

# %% [markdown]
# The shapes after each stage, for one image:

# %%
# NBVAL_CHECK_OUTPUT
model = resnet.resnet_cifar(20)
shapes = []
hooks = [stage.register_forward_hook(lambda m, args, out: shapes.append(tuple(out.shape[1:]))) for stage in model.stages]
with torch.no_grad():
    model(torch.zeros(1, 3, 32, 32))
for hook in hooks:
    hook.remove()
print("stem (16, 32, 32) -> stages", shapes)
assert shapes == [(16, 32, 32), (32, 16, 16), (64, 8, 8)], "16/32/64 filters on 32/16/8-pixel maps"

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### The network as stages, drawn
#
# The whole family in one picture (the paper's section 4.2 describes it in words and a small table): a
# 3x3 convolution, three stages of `n` blocks of two 3x3 convolutions each, pooling and the classifier.
# Depth comes only from `n`; the widths 16, 32, 64 and the map sizes 32, 16, 8 stay.

# %% tags=["no-slide"] slideshow={"slide_type": "skip"}
def draw_cifar_resnet():
    """The paper's CIFAR-10 network (section 4.2) as stages: what `resnet.resnet_cifar(6n + 2)` builds."""
    fig, ax = plt.subplots(figsize=(11, 3.4))
    ax.set(xlim=(0, 22.6), ylim=(0, 6.0))
    ax.axis("off")

    def layer(x, label, color):
        ax.text(x, 3, label, ha="center", va="center", fontsize=9,
                bbox=dict(boxstyle="round,pad=0.35", ec="black", fc=color))

    def arrow(x0, x1, y=3, color="black"):
        ax.annotate("", (x1, y), (x0, y), arrowprops=dict(arrowstyle="->", color=color))

    layer(1.0, "image\n32x32x3", "#eeeeee")
    layer(3.2, "3x3 conv\n16", "#cfe2f3")
    arrow(1.75, 2.55)
    arrow(3.85, 4.45)
    for x, filters, side, first in ((6.7, 16, 32, "stride 1"), (11.4, 32, 16, "the first with stride 2"),
                                   (16.1, 64, 8, "the first with stride 2")):
        ax.add_patch(plt.Rectangle((x - 2.2, 1.3), 4.4, 3.7, fill=False, ls="--", ec="gray"))
        layer(x - 1.0, f"3x3 conv\n{filters}", "#cfe2f3")
        layer(x + 0.45, f"3x3 conv\n{filters}", "#cfe2f3")
        ax.text(x + 1.55, 3, "+", ha="center", va="center", color="tab:blue", fontsize=12,
                bbox=dict(boxstyle="circle,pad=0.1", fc="white", ec="tab:blue"))
        arrow(x - 0.4, x - 0.15)
        arrow(x + 1.05, x + 1.35)
        ax.plot([x - 1.9, x - 1.9, x + 1.55], [3, 4.3, 4.3], color="tab:blue")  # the shortcut around two layers
        ax.annotate("", (x + 1.55, 3.25), (x + 1.55, 4.3), arrowprops=dict(arrowstyle="->", color="tab:blue"))
        ax.text(x - 0.2, 4.5, "shortcut (option A)", ha="center", fontsize=8, color="tab:blue")
        ax.text(x, 1.75, f"x n blocks, {first}", ha="center", fontsize=8)
        ax.text(x, 0.75, f"{filters} filters, {side}x{side} maps", ha="center", fontsize=9)
        arrow(x + 1.8, x + 2.45)
    layer(19.7, "global\naverage pool", "#fff2cc")
    arrow(20.6, 21.1)
    layer(21.8, "10-way\nfc", "#d9ead3")
    ax.set_title("The paper's CIFAR-10 network: 1 + 2n + 2n + 2n + 1 = 6n + 2 layers with weights (n = 3: ResNet-20)\n"
                 "each conv is followed by batch norm and a ReLU (in a block, the second ReLU comes after the addition); "
                 "the plain network has no shortcuts", fontsize=9)
    fig.tight_layout()
    return fig


# %%
draw_cifar_resnet();

# %% [markdown] slideshow={"slide_type": "notes"}
# Speaker notes. Read the figure left to right and count the weight layers with the room: 1 + 2n +
# 2n + 2n + 1 = 6n + 2. Ask: what changes from ResNet-20 to ResNet-110? (Only n: 3 against 18; widths
# and map sizes stay.) And what does the plain network lack? (The blue shortcuts, nothing else: with
# option A both have exactly the same parameters.)

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Parameters: the paper's Table 6
#
# Table 6 prints each ResNet's parameter count, rounded. Counting ours (PyTorch's `meta` device builds
# the shapes without memory, which is all a count needs):

# %%
# NBVAL_CHECK_OUTPUT
for depth, published in experiments.TABLE6.items():
    with torch.device("meta"):
        count = count_params(resnet.resnet_cifar(depth))
    rounded = f"{count / 1e6:.2f}M" if count < 1e6 else f"{count / 1e6:.1f}M"
    print(f"ResNet-{depth:<5} {count:>12,} parameters -> {rounded:>6} (paper: {published['params']})")
    assert rounded == published["params"], f"ResNet-{depth}: {rounded} differs from the paper's {published['params']}"

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Shortcut options A, B and C
#
# Where a stage starts, the block's output has twice the channels and half the pixels of its input,
# so the shortcut `x` no longer fits. The paper (section 3.3) names three ways out:
#
# - **A**: keep every second pixel and append zero channels: no parameters. Its CIFAR-10 experiments
#   use A throughout, "so our residual models have exactly the same depth, width, and number of
#   parameters as the plain counterparts";
# - **B**: a projection (1x1 convolution with stride 2, here followed by batch norm) where the shape
#   changes, identity elsewhere;
# - **C**: a projection on every block.
#
# Option A's shortcut, checked against its definition:

# %%
block = model.stages[1][0]  # the first block of the second stage: 16 -> 32 channels, 32 -> 16 pixels
x = torch.randn(2, 16, 32, 32)
expected = torch.cat([x[:, :, ::2, ::2], torch.zeros(2, 16, 16, 16)], dim=1)
assert torch.equal(block.shortcut(x), expected), "option A: every second pixel, then 16 zero channels"
print(f"{block.shortcut}: (2, 16, 32, 32) -> {tuple(block.shortcut(x).shape)}, the new channels all zero")

# %% [markdown]
# And the parameters each option adds, counted by hand: a projection from `C_in` to `C_out` channels
# has `C_in * C_out` weights and a batch norm with `2 * C_out` parameters (scale and shift).

# %%
# NBVAL_CHECK_OUTPUT
def projection(c_in, c_out):
    return c_in * c_out + 2 * c_out


counts = {option: count_params(resnet.resnet_cifar(20, shortcut=option)) for option in "ABC"}
counts["plain"] = count_params(resnet.resnet_cifar(20, plain=True))
n = 3
by_hand_b = counts["A"] + projection(16, 32) + projection(32, 64)
by_hand_c = by_hand_b + n * projection(16, 16) + (n - 1) * (projection(32, 32) + projection(64, 64))
for name, count in counts.items():
    print(f"ResNet-20 {name:>5}: {count:>7,} parameters ({count - counts['A']:+,} against option A)")
assert counts["plain"] == counts["A"], "option A adds no parameters: plain and residual nets are the same size"
assert counts["B"] == by_hand_b and counts["C"] == by_hand_c, "B and C add exactly the projections counted"

# %% [markdown] slideshow={"slide_type": "slide"}
# ## The recipe
#
# Section 4.2 trains every network the same way: SGD with momentum 0.9 and weight decay 1e-4,
# mini-batches of 128, learning rate 0.1, divided by 10 at 32k and 48k iterations, stop at 64k (a
# schedule "determined on a 45k/5k train/val split"; whether the final runs then trained on all 50,000
# images the paper does not say, and the course reads it as the 45,000); He initialisation and batch
# norm, no dropout.
# `course_utils.experiments` holds it as a frozen dataclass whose defaults are the paper's:

# %%
recipe = experiments.Recipe()
print(recipe)
assert (recipe.lr, recipe.momentum, recipe.weight_decay, recipe.batch_size) == (0.1, 0.9, 1e-4, 128)
assert (recipe.milestones, recipe.iterations, recipe.val_size) == ((32_000, 48_000), 64_000, 5_000)
epochs = experiments.paper_config(20).epochs
print(f"64,000 iterations of 128 images = {epochs:.0f} passes over 45,000 training images")

# %% [markdown]
# `bn_batch` (how many images each batch norm averages over) and the warm-up fields come up below.
# The learning rate of every step, checked at the milestones:

# %%
config = experiments.paper_config(20)
steps = list(range(0, 64_000, 100))
for step, expected in ((0, 0.1), (31_999, 0.1), (32_000, 0.01), (47_999, 0.01), (48_000, 0.001), (63_999, 0.001)):
    assert abs(config.lr_at(step) - expected) < 1e-12, f"iteration {step}: lr {config.lr_at(step)}, expected {expected}"
fig, ax = plt.subplots(figsize=(5.5, 2.6))
ax.semilogy(steps, [config.lr_at(s) for s in steps])
ax.set(xlabel="iteration", ylabel="learning rate", title="The paper's schedule: 0.1, /10 at 32k and 48k")
ax.grid(alpha=0.3)
plt.show()

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### ResNet-110's warm-up
#
# For 110 layers the paper found 0.1 "slightly too large to start converging": it trains at 0.01 until
# the training error is below 80% (about 400 iterations), then returns to 0.1. The runner reads
# "training error" as the mean error of the last 10 mini-batches, and records the iteration at which
# the warm-up ended. Only depth 110 and more warm up:

# %%
for depth in (20, 56, 110):
    c = experiments.paper_config(depth)
    rate = c.lr_at(0, warming_up=True) if c.recipe.warmup_lr else c.lr_at(0)
    print(f"ResNet-{depth}: first learning rate {rate}, warm-up {'until the error is below 80%' if c.recipe.warmup_lr else 'none'}")
assert experiments.paper_config(110).lr_at(0, warming_up=True) == 0.01 and experiments.paper_config(56).recipe.warmup_lr is None

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Augmentation, image by image
#
# "4 pixels are padded on each side, and a 32x32 crop is randomly sampled from the padded image or its
# horizontal flip"; the test images are used as they are. The runner draws the training batch of every
# iteration from the seed and the iteration number (so a resumed run sees the very batches it would have
# seen). The 45k/5k split is one fixed split for every run:

# %%
cifar = load_dataset("cifar10")
train_idx, val_idx = experiments.split(len(cifar.train_labels), recipe.val_size)
assert len(train_idx) == 45_000 and len(val_idx) == 5_000 and not set(train_idx.tolist()) & set(val_idx.tolist())
batches = experiments.IterationBatches(cifar.train_images[train_idx], cifar.train_labels[train_idx], 128, mean=None, std=None,
                           device="cpu", crop_padding=4, flip=True, seed=0)
x, y = batches[0]  # iteration 0; mean=None: pixels in [0, 1], not normalised, to look at them
order = batches.order(0)[:128]
padded = F.pad(cifar.train_images[train_idx][order], (4, 4, 4, 4)).float() / 255  # (128, 3, 40, 40)
found = []
for i in range(128):  # find each augmented image in its padded original: 9 x 9 offsets, flipped or not
    for dy in range(9):
        for dx in range(9):
            window = padded[i, :, dy:dy + 32, dx:dx + 32]
            for flip in (False, True):
                if torch.equal(x[i], window.flip(2) if flip else window):
                    found.append((dy - 4, dx - 4, flip))
    assert len(found) == i + 1, f"image {i} is not a 32x32 crop of its padded original (or of its mirror image)"
assert torch.equal(y, cifar.train_labels[train_idx][order]), "labels must follow their images"
flips = sum(f for _, _, f in found)
print(f"all 128 images are crops of their padded originals; {flips} flipped, "
      f"{len(set((dy, dx) for dy, dx, _ in found))} different offsets")

# %%
fig, axes = plt.subplots(2, 8, figsize=(10, 2.8))
for k in range(8):
    axes[0, k].imshow(cifar.train_images[train_idx][order[k]].permute(1, 2, 0))
    axes[1, k].imshow(x[k].permute(1, 2, 0))
    axes[1, k].set_title(f"{found[k][0]:+d},{found[k][1]:+d}{' flip' if found[k][2] else ''}", fontsize=8)
for ax in axes.flat:
    ax.set_xticks([]), ax.set_yticks([])
axes[0, 0].set_ylabel("original"), axes[1, 0].set_ylabel("iteration 0")
fig.suptitle("Pad 4, crop 32x32, flip half: offsets (rows, columns) under each image")
plt.show()

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Figure 6: plain against residual, shallow against deep
#
# The paper trains plain and residual networks of depth 20, 32, 44 and 56 for 64,000 iterations each.
# Each profile runs a reduced but real version of it (the `full` profile the paper's four depths; the
# `standard` one depth 8, that is n = 1, against depth 32):

# %%
settings = profile.pick(
    smoke=dict(scale="smoke", grid="degradation", seeds=(0,)),
    standard=dict(scale="standard", grid="degradation", seeds=(0, 1)),
    full=dict(scale="quick", grid="figure6", seeds=(0,)),
)
SCALE = experiments.SCALES[settings["scale"]]
SEEDS = settings["seeds"]
DEPTHS = experiments.DEGRADATION_DEPTHS if settings["grid"] == "degradation" else experiments.DEPTHS
SHALLOW, DEEP = DEPTHS[0], DEPTHS[-1]
RUNS = experiments.runs_dir()
PROCESSES = 2 if DEVICE.type == "cpu" else 1  # one process per GPU; on a CPU one per core ("How the runs were made")
TRAIN_OPTIONS = PROFILE != "standard"  # options B and C: see "Options A, B and C"
example = experiments.paper_config(DEEP, scale=SCALE)
widths = ", ".join(str(max(1, round(c * SCALE.width))) for c in (16, 32, 64))
print(f"profile {PROFILE}: scale '{settings['scale']}', grid '{settings['grid']}': depths {DEPTHS}, plain and "
      f"residual, seeds {SEEDS}")
print(f"  width x{SCALE.width:g}: {widths} filters instead of 16, 32, 64")
print(f"  {example.iterations:,} iterations instead of 64,000 ({example.epochs:.1f} epochs), batch 128, lr 0.1 "
      f"divided by 10 at {example.milestones[0]:,} and {example.milestones[1]:,}")
print(f"  curves: a point every {SCALE.eval_every} iterations, on {SCALE.eval_size or 'all'} validation and test "
      f"images; final errors on {SCALE.final_eval_size or 'all 5,000 validation and 10,000'} "
      f"{'of each' if SCALE.final_eval_size else 'test images'}")


def shown(path):
    """`path` as printed: relative to the course folder, or to the checkpoint folder (a test run's is a
    temporary folder, a path of the machine that ran it)."""
    path = Path(path)
    for root, name in ((repo_root(), ""), (os.environ.get("COURSE_CHECKPOINT_DIR"), "$COURSE_CHECKPOINT_DIR/")):
        if root and path.is_relative_to(root):
            return name + str(path.relative_to(root))
    return str(path)


print(f"  runs folder: {shown(RUNS)}")

# %% tags=["colab-estimate", "no-slide"] slideshow={"slide_type": "skip"}
# The `full` profile's training (the runner's, one pass of each run's iterations), declared for the
# Colab T4 estimate of benchmarks/colab_time.py (CONTRIBUTING, "Colab time"); nothing runs here: the
# grid, then options B and C at depth 20 (option A's run is the full grid's ResNet-20), as trained below.
colab_runs = [dict(what=f"{'plain' if c.arch.plain else 'ResNet'}-{c.arch.depth}"
                        f"{'' if c.arch.plain or c.arch.shortcut == 'A' else ' option ' + c.arch.shortcut} "
                        f"({settings['scale']} scale)",
                   model=lambda c=c: experiments.build_model(c), input_shape=(1, 3, 32, 32), epochs=1,
                   train=c.iterations * c.recipe.batch_size, eval=experiments.eval_images(c),
                   batch_size=c.recipe.batch_size)
              for c in experiments.grid(settings["grid"], experiments.SCALES[settings["scale"]], settings["seeds"])
              + [c for c in experiments.grid("shortcuts", experiments.SCALES[settings["scale"]])
                 if c.arch.shortcut != "A"]]

# %% [markdown]
# In the `standard` profile that is half the width (8/16/32 filters: a quarter of the multiply-adds),
# 5,000 of the 45,000 training images and 1,280 iterations instead of 64,000 (about 33 passes over those
# images), with the learning rate dropping at the same fractions of the schedule as the paper's (50% and
# 75%: iterations 640 and 960). A smaller training set lets the networks see each image many times
# within the budget, and Figure 6's findings are about how well a network fits its *training* set.
# Why depths 8 and 32, not the paper's 20 and 56? At this width plain-20 ended within a point of plain-8
# in a development run: 20 layers are not yet deep enough for the trouble to show in so short a
# schedule, 32 are. Every network trains with **two seeds** (different initial
# weights, batch order and augmentation); each comparison below is checked seed by seed, and the
# figures show the mean with the seeds' range. The errors will be far above the paper's; the comparisons
# between the networks are the point.

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### The expected time

# %% [markdown]
# Before training, the expected time of the runs (the grid, then, outside the `standard` profile,
# options B and C), from a few measured steps of one thread, shared among the processes:

# %%
steps = profile.pick(smoke=1, standard=3, full=3)
configs = experiments.grid(settings["grid"], SCALE, SEEDS)
option_configs = [c for c in experiments.grid("shortcuts", SCALE) if c.arch.shortcut != "A" and TRAIN_OPTIONS]
with cpu_threads(1, DEVICE):
    estimate = experiments.estimate_seconds(configs + option_configs,
                                            lambda c: experiments.seconds_per_iteration(c, DEVICE, steps=steps, warmup=1))
expected_seconds = sum(estimate.values()) / PROCESSES
print(f"{len(configs) + len(option_configs)} runs in {PROCESSES} process(es): expected "
      f"{experiments.describe_time(expected_seconds)} on {DEVICE}")
for name in sorted({c.arch.name for c in configs + option_configs}, key=lambda n: (len(n), n)):
    one = next(c for c in configs + option_configs if c.arch.name == name)
    print(f"  {name:<11} {experiments.describe_time(estimate[experiments.run_id(one)])} per run")

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Training: one shard per process

# %% [markdown]
# The training itself is the course's command line, one *shard* (a share of the runs) per process:
# on a CPU one process per core, each with one thread (why, and how the same command spreads over GPUs
# and machines: "How the runs were made", after the results). Each process prints a line when a run
# starts and a summary when it ends, shown here as they come (the expected time above says how long it
# should take). The deck leaves this cell out (its output is the processes' log); the notebook shows it:

# %% slideshow={"slide_type": "skip"} tags=["no-slide"]
def run_in_shards(grid_name, seeds=None, processes=PROCESSES):
    """Train a named grid at this profile's scale with `processes` shard processes at once, printing their
    output line by line as it comes."""
    command = [sys.executable, "-m", "course_utils.experiments", "grid", grid_name, "--scale", settings["scale"],
               "--no-progress", "--runs", str(RUNS)] + (["--seeds", ",".join(map(str, seeds))] if seeds else [])
    env = dict(os.environ, PYTHONPATH=str(Path(course_utils.__file__).parent.parent), PYTHONUNBUFFERED="1")
    if DEVICE.type == "cpu":
        env["OMP_NUM_THREADS"] = "1"
    print("$ " + " ".join(["python", *command[1:]]).replace(str(RUNS), shown(RUNS)) + f" --shard I/{processes}")
    shards = [subprocess.Popen(command + ["--shard", f"{i}/{processes}"], env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True) for i in range(1, processes + 1)]
    lines = queue.Queue()  # (shard, line), and (shard, None) when its output ends

    def forward(i, shard):
        for line in shard.stdout:
            lines.put((i, line.rstrip()))
        lines.put((i, None))

    for i, shard in enumerate(shards, 1):
        threading.Thread(target=forward, args=(i, shard), daemon=True).start()
    output, running = {i: [] for i in range(1, processes + 1)}, processes
    while running:
        i, line = lines.get()
        if line is None:
            running -= 1
        elif line.strip():
            output[i].append(line)
            print(f"shard {i}/{processes}: {line}", flush=True)
    for i, shard in enumerate(shards, 1):
        assert shard.wait() == 0, f"shard {i}/{processes} failed:\n" + "\n".join(output[i])


start = time.perf_counter()
run_in_shards(settings["grid"], SEEDS)
if TRAIN_OPTIONS:
    run_in_shards("shortcuts")  # options A, B and C at depth 20 (on `full`, A's seed 0 is done already)
grid_seconds = time.perf_counter() - start
print(f"all runs: {experiments.describe_time(grid_seconds)} (expected {experiments.describe_time(expected_seconds)}; "
      "runs found done take no time)")

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Reading the results

# %% [markdown]
# Every run left its result file in the runs folder; the rest of the notebook reads them from there,
# as `python -m course_utils.experiments table` does:

# %%
by_run = {}
for config in configs:
    result = experiments.result_of(config, RUNS)
    assert result is not None, f"{experiments.run_id(config)} has no result file in {shown(RUNS)}"
    by_run[config.arch.name, config.seed] = result
NAMES = [f"{kind}{depth}" for kind in ("plain", "resnet") for depth in DEPTHS]


def over_seeds(name, value):
    """`value(result)` for every seed of network `name`."""
    return [value(by_run[name, seed]) for seed in SEEDS]


def mean_spread(values):
    """Mean and sample standard deviation (0 for one value)."""
    values = torch.tensor(values, dtype=torch.float64)
    return values.mean().item(), (values.std().item() if len(values) > 1 else 0.0)

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### The curves, in the paper's style
#
# Dashed: training error (the mean over the mini-batches since the previous point, on augmented images,
# as the net trains); solid: test error (a fixed subset of the test set, in eval mode). Each line is the
# mean over the seeds; the band around the training error spans the seeds' lowest to highest.

# %%
colors = dict(zip(DEPTHS, ["tab:orange", "tab:blue", "tab:red", "tab:green"]))
fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
for ax, kind in zip(axes, ("plain", "resnet")):
    for depth in DEPTHS:
        name = f"{kind}{depth}"
        iterations = by_run[name, SEEDS[0]]["curves"]["iteration"]
        train = torch.tensor(over_seeds(name, lambda r: r["curves"]["train_error"])) * 100
        test = torch.tensor(over_seeds(name, lambda r: r["curves"]["test_error"])) * 100
        label = f"{'plain' if kind == 'plain' else 'ResNet'}-{depth}"
        ax.plot(iterations, train.mean(0), "--", color=colors[depth], lw=1)
        ax.fill_between(iterations, train.min(0).values, train.max(0).values, color=colors[depth], alpha=0.15)
        ax.plot(iterations, test.mean(0), "-", color=colors[depth], lw=2, label=label)
    for milestone in example.milestones:
        ax.axvline(milestone, color="gray", lw=0.5, ls=":")
    ax.set(xlabel="iteration", title=f"{'plain' if kind == 'plain' else 'residual'} networks ({PROFILE} profile, "
                                     f"{len(SEEDS)} seed{'s' if len(SEEDS) > 1 else ''})")
    ax.grid(alpha=0.3), ax.legend()
axes[0].set_ylabel("error (%)")
fig.suptitle(f"Figure 6's experiment at {example.epochs:.0f} epochs ({example.iterations:,} iterations, width "
             f"{SCALE.width:g}): dashed = training error, solid = test error")
fig.tight_layout()
plt.show()

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Degradation and the gain from depth, seed by seed

# %%
end = {name: over_seeds(name, lambda r: r["curves"]["train_error"][-1]) for name in NAMES}
print(f"{'network':<10}{'final training error':>26}{'test error':>20}   per seed (training)")
for name in NAMES:
    train_mean, train_std = mean_spread(end[name])
    test_mean, test_std = mean_spread(over_seeds(name, lambda r: r["test_error"]))
    print(f"{name:<10}{train_mean:>17.2%} ± {train_std:.2%}{test_mean:>12.2%} ± {test_std:.2%}   "
          + "  ".join(f"{e:.1%}" for e in end[name]))
    results.record("11", f"{name}_train_error", round(train_mean, 4), std=round(train_std, 4),
                   test_error=round(test_mean, 4), seeds=len(SEEDS), iterations=example.iterations,
                   width=SCALE.width)
gaps = {f"plain-{DEEP} - plain-{SHALLOW}": [d - s for d, s in zip(end[f"plain{DEEP}"], end[f"plain{SHALLOW}"])],
        f"ResNet-{DEEP} - ResNet-{SHALLOW}": [d - s for d, s in zip(end[f"resnet{DEEP}"], end[f"resnet{SHALLOW}"])],
        f"ResNet-{DEEP} - plain-{DEEP}": [r - p for r, p in zip(end[f"resnet{DEEP}"], end[f"plain{DEEP}"])]}
print("\nfinal training error, differences:")
for what, values in gaps.items():
    mean, spread = mean_spread(values)
    print(f"  {what:<22}{mean:+.2%} ± {spread:.2%} (per seed: {', '.join(f'{v:+.1%}' for v in values)})")
best = min(NAMES, key=lambda name: mean_spread(end[name])[0])
print(f"best network: {best}, final training error {mean_spread(end[best])[0]:.1%} (guessing: 90%)")
if PROFILE == "standard":  # checked on every seed; the full profile's curves are printed, not checked (no GPU run yet)
    degradation, depth_gain, shortcut_gain = gaps.values()
    for seed, plain_gap, res_gap, fix in zip(SEEDS, degradation, depth_gain, shortcut_gain):
        assert plain_gap > 0, (f"degradation, seed {seed}: plain-{DEEP} should end with a higher training error "
                               f"than plain-{SHALLOW}")
        assert res_gap <= 0, (f"the gain from depth, seed {seed}: ResNet-{DEEP} should end with a training error "
                              f"no higher than ResNet-{SHALLOW}'s")
        assert fix < 0, f"seed {seed}: ResNet-{DEEP} should end with a lower training error than plain-{DEEP}"

# %% [markdown] slideshow={"slide_type": "notes"}
# Speaker notes. Read the three difference lines aloud, seed by seed. Ask: which line says
# degradation, which says the shortcuts help, which says depth helps *with* shortcuts? Then point at
# the best network's training error: a third of its training images wrong, so these are short runs,
# not the paper's results.

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### What the curves show

# %% [markdown]
# The training error at the end (the last point: the mean over the 64 mini-batches since the previous
# one, on augmented images) is what the assertions above compare, on **every seed** of the `standard`
# profile. (The smoke test's 4 iterations are too few to show anything; the `full` profile's curves are
# printed, not checked, since no GPU run has checked them yet.) Three things hold on every seed:
#
# - **Degradation**: plain-32 fits its own training images worse than plain-8. Not overfitting, which
#   would show as a *lower* training error with a higher test error, but an optimisation difficulty.
# - **The gain from depth**: ResNet-32 ends with a training error no higher than ResNet-8's (lower, in
#   the saved run): with shortcuts the 24 extra layers help instead of hurting.
# - ResNet-32 ends far below plain-32: the same layers and parameters; the shortcuts are the only
#   difference.
#
# What this small version does not show: trained networks. After 33 epochs of 5,000 images the best of
# them still misclassifies about a third of its training images (printed above; the paper's reach a few
# percent),
# so the figures say how fast each network learns at this budget, with the gaps far larger than the
# spread between seeds, not where full training ends. Nor does it show the paper's depths: plain-20
# ended within a point of plain-8 in a development run at this width (1,500 iterations, one seed:
# 40.6% against 40.2% training error), too close to check on every seed, which is why this profile
# compares depth 8 with depth 32.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Figure 7: the responses of the layers
#
# Why does the residual network train better? The paper's Figure 7 looks at the standard deviation of
# each 3x3 layer's response ("after BN and before other nonlinearity (ReLU/addition)") on the test set:
# the residual functions, it argues, are generally closer to zero than the non-residual ones. The runner
# stores those standard deviations at the end of each run (`layer_responses` of notebook 10's
# `resnet` module, eval mode, on a fixed set of test images). Lines: the mean over the seeds.

# %%
fig, axes = plt.subplots(2, 1, figsize=(9, 6))
for kind in ("plain", "resnet"):
    for depth in DEPTHS:
        stds = torch.tensor(over_seeds(f"{kind}{depth}", lambda r: r["responses"]["std"])).mean(0)
        style = dict(ls="--" if kind == "plain" else "-", color=colors[depth], label=f"{kind}-{depth}")
        axes[0].plot(range(1, len(stds) + 1), stds, **style)
        axes[1].plot(range(1, len(stds) + 1), stds.sort(descending=True).values, **style)
axes[0].set(xlabel="layer index (original order)", ylabel="std")
axes[1].set(xlabel="layer index (sorted by magnitude)", ylabel="std")
for ax in axes:
    ax.legend(ncol=4), ax.grid(alpha=0.3)
fig.suptitle(f"Figure 7's measurement at {example.epochs:.0f} epochs: standard deviation of each 3x3 layer's response")
fig.tight_layout()
plt.show()

# %% [markdown] slideshow={"slide_type": "notes"}
# Speaker notes. Ask what "a layer's response" is here (the output of a 3x3 convolution after batch
# norm, before the ReLU or the addition) and why a residual branch might answer more quietly (it only
# has to add a correction to what the shortcut carries). The check is on depth 32 only; depth 8's
# ratio is close to 1.

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Residual against plain, seed by seed

# %%
def mean_response(result):
    return sum(result["responses"]["std"]) / len(result["responses"]["std"])


ratios = {}
for depth in DEPTHS:
    per_seed = [r / p for r, p in zip(over_seeds(f"resnet{depth}", mean_response),
                                      over_seeds(f"plain{depth}", mean_response))]
    ratio, spread = ratios[depth] = mean_spread(per_seed)
    print(f"depth {depth}: mean response std, residual / plain = {ratio:.2f} ± {spread:.2f} "
          f"(per seed: {', '.join(f'{v:.2f}' for v in per_seed)})")
    results.record("11", f"response_ratio_{depth}", round(ratio, 3), std=round(spread, 3), seeds=len(SEEDS))
if PROFILE == "standard":
    deep_ratios = [r / p for r, p in zip(over_seeds(f"resnet{DEEP}", mean_response),
                                         over_seeds(f"plain{DEEP}", mean_response))]
    assert max(deep_ratios) < 1, f"ResNet-{DEEP}'s responses should be smaller than plain-{DEEP}'s on every seed"
deeper = [d / s for d, s in zip(over_seeds(f"resnet{DEEP}", mean_response), over_seeds(f"resnet{SHALLOW}", mean_response))]
print(f"ResNet-{DEEP} / ResNet-{SHALLOW}, mean response std: per seed " + ", ".join(f"{v:.2f}" for v in deeper))

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### What the responses show

# %% [markdown]
# As in the paper, **the deep residual network's responses are smaller than its plain counterpart's**:
# ResNet-32's mean response is below plain-32's on every seed of the `standard` profile (asserted;
# the `full` profile prints its ratios without a check, as for Figure 6). At depth 8 the two are
# closer (the first line above). The paper also reports that deeper ResNets
# have smaller responses still, since with more layers each one modifies the signal less. The last
# line above compares ResNet-32 with ResNet-8 seed by seed; with two seeds of short runs that is a
# reading, not a check, and nothing is asserted about it.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## At the paper's scale
#
# The paper's grid (Table 6, Figure 6 and the three shortcut options; 15 runs, five of them ResNet-110)
# takes hours on a GPU, so the notebook starts it only when asked (the course's rule for runs longer than
# an hour, also on Colab, where the `full` profile is the default). Its expected time on this machine,
# from a few measured training steps of the shallowest and the deepest network (the others interpolated
# by depth; an evaluated image counts a third of a trained one):

# %%
# the smoke test only goes through the motions, with the three ResNet-20s at the smoke scale
paper_grid = experiments.grid("paper") if PROFILE != "smoke" else experiments.grid("shortcuts", experiments.SCALES["smoke"])
with cpu_threads(1, DEVICE):
    paper_estimate = experiments.estimate_seconds(
        paper_grid, lambda c: experiments.seconds_per_iteration(c, DEVICE, steps=1, warmup=1))
total = sum(paper_estimate.values())
print(f"{len(paper_grid)} runs of {paper_grid[0].iterations:,} iterations: about {experiments.describe_time(total)} "
      f"on {DEVICE}{' (one thread; shards on k cores take about 1/k of it)' if DEVICE.type == 'cpu' else ''} "
      f"({experiments.describe_time(min(paper_estimate.values()))} to "
      f"{experiments.describe_time(max(paper_estimate.values()))} per run)")
results.record("11", "paper_grid_estimate_hours", round(total / 3600, 1), device=str(DEVICE))
# runs longer than an hour start only when COURSE_LONG_RUNS names them (or says all): course_utils.budget
if budget.long_run("11-paper-grid", total / 3600, "the paper's grid", where=f"here ({DEVICE.type})"):
    experiments.run_grid(paper_grid, RUNS, dataset=cifar, device=DEVICE)  # interrupt at will: this cell resumes it
else:
    print("(or run it from the command line, below)")

# %% [markdown]
# To produce the paper-scale column of Table 6 (every command resumes where it stopped; the results
# are JSON files in the runs folder, `checkpoints/runs/` by default or `--runs DIR`):
#
# - **one GPU**: `python -m course_utils.experiments grid paper` (or `grid table6` for the table only);
# - **several GPUs of one machine**: one shard per GPU, e.g. for four:
#   `CUDA_VISIBLE_DEVICES=0 python -m course_utils.experiments grid paper --shard 1/4 &`, and the same
#   with 1 and `2/4`, 2 and `3/4`, 3 and `4/4`; shards never overlap and take about equally long;
# - **several machines**: the same shards on different machines, then copy the `*.json` files into one
#   folder and point `COURSE_PAPER_RUNS` (below) or `table --runs` at it;
# - **one run on several GPUs**: `torchrun --nproc-per-node 4 -m course_utils.experiments run --depth 110`
#   (across machines add `--nnodes 2 --node-rank 0|1 --master-addr HOST --master-port 29500`).
#
# `python -m course_utils.experiments status paper` lists what is done, and `estimate paper` repeats the
# estimate above on the machine at hand.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Table 6: test errors beside the paper's
#
# Every result in the runs folder (and in `COURSE_PAPER_RUNS`, if set) goes into the table; each column
# is one setting, labelled with its scale, iterations, seeds, hardware and time per run.

# %%
folders = [RUNS] + ([Path(os.environ["COURSE_PAPER_RUNS"])] if os.environ.get("COURSE_PAPER_RUNS") else [])
all_results = experiments.load_results(*folders)
rows, columns = experiments.table6(all_results)
print(experiments.format_table6(rows, columns))
paper_column = [key for key, name, _ in columns if name == "paper"]
if not paper_column:
    print("\nno paper-scale results yet: see 'At the paper's scale' below for how to produce them")
mine = next((key for key, name, _ in columns if name == settings["scale"]), None)  # smoke: no Table 6 depth
for row in rows:
    if mine is not None and row[mine] is not None:
        results.record("11", f"table6_resnet{row['depth']}_test_error", round(row[mine]["best"], 2),
                       paper=row["paper"], scale=settings["scale"])

# %% [markdown] slideshow={"slide_type": "notes"}
# Speaker notes. Stress the column labels: scale, iterations, seeds, hardware. A 39% test error beside
# the paper's 7.5% is not a failed reproduction; it is 2% of the paper's training on a ninth of its
# images at half width. Ask what the `full` profile and the paper scale would change.

# %% [markdown]
# The `standard` profile fills one row of its column, ResNet-32 (its other network, ResNet-8, is not in
# the paper's table): half as wide, trained on 5,000 images for 2% of the paper's iterations, on a
# CPU. Its error is several times the paper's and says nothing about how close a full run comes. The
# paper gives no table for the plain networks: their errors are the curves of its Figure 6 (plain-110's
# "higher than 60%" is not even drawn), which is why the measured plain networks appear in Figure 6
# above and not here. The `full` profile's `quick` column (full width, an eighth of the iterations) and
# the `paper` column come from a GPU. The saved run's CIFAR-10 is the course's JPEG copy of the dataset
# (`COURSE_CIFAR10_DIR`); torchvision's download is the original, lossless one.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Options A, B and C
#
# The paper compared the shortcut options on ImageNet (Table 3, ResNet-34, top-1 error with 10-crop
# testing), not on CIFAR-10: B slightly better than A, C marginally better than B, and it concluded that
# projections are "not essential for addressing the degradation problem". Its CIFAR-10 experiments all
# use A. The three options on CIFAR-10 at depth 20 and the profile's scale (trained in the `full` and
# smoke profiles, one seed each; the `standard` profile spends its budget on Figure 6 and only counts
# them):

# %%
print(f"CIFAR-10 ({PROFILE} profile){'':<10}{'parameters':>11}{'test error':>12}")
for option in "ABC":
    config = experiments.paper_config(experiments.SHORTCUT_DEPTH, shortcut=option, scale=SCALE)
    r = experiments.result_of(config, RUNS) if TRAIN_OPTIONS else None
    params = count_params(experiments.build_model(config))
    assert r is None or r["params"] == params
    error = f"{r['test_error']:.2%}" if r is not None else "not trained"
    print(f"  ResNet-{experiments.SHORTCUT_DEPTH} option {option}{'':<14}{params:>11,}{error:>12}")
    if r is not None:
        results.record("11", f"option_{option}_test_error", round(r["test_error"], 4),
                       depth=experiments.SHORTCUT_DEPTH, params=params, seeds=1)
print("The paper's Table 3 (ImageNet, not CIFAR-10: ResNet-34, top-1 error, 10-crop testing): "
      + ", ".join(f"{o} {experiments.TABLE3[f'ResNet-34 {o}']['top1']:.2f}%" for o in "ABC"))

# %% [markdown] slideshow={"slide_type": "notes"}
# Speaker notes. Two traps to name: the paper's option comparison is on ImageNet (top-1 error),
# not CIFAR-10, so the two tables never share a column; and one run per option cannot rank
# differences of half a point. What the table does show exactly: what each projection costs in
# parameters.

# %% [markdown]
# One run per option cannot rank them: the differences the paper found on ImageNet (0.5 and 0.3 points
# of top-1 error) are smaller than what a second seed moves a short CIFAR-10 run, so nothing here ranks
# the options, and the two datasets' errors are not compared with each other. What the table does show
# exactly is the parameter counts: they differ by the projections counted at the start.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## How the runs were made: the experiment runner
#
# The results are in; now the machinery behind them. The paper's grid is 15 networks, most trained for
# 64,000 iterations: hours on a GPU, more than one sitting. `course_utils.experiments` makes that
# practical:
#
# - **A run is a configuration**: a frozen `RunConfig` of the network (`Architecture`), the recipe
#   (`Recipe`), how far it is scaled down (`Scale`) and the seed. Its name is a hash of all of them.
# - **Results by file**: `<run id>.json` (curves, final errors, layer responses, time, hardware) is
#   written when the run ends; `<run id>.pt`, the checkpoint, at every point of the curves.
# - **Killed at any point, the same command resumes**; a finished run is never repeated; a changed
#   configuration is a new run.
#
# Why not `course_utils.train.fit`? The recipe counts iterations, not epochs; ResNet-110 warms up
# until a condition holds; the curves get a point every so many iterations; and one run may be spread
# over several processes. The runner's loop is the same forward-loss-backward-step as `fit`'s, with
# those four differences, built from the course's pieces (the data package's images and augmentation,
# the device module's mixed precision, the checkpoint module's atomic files).

# %% [markdown] slideshow={"slide_type": "notes"}
# Speaker notes. This is the engineering half of the lecture; skip it in a short session. The one
# idea to keep: a run is its configuration (hash = name), so results from different machines and
# processes merge, and a killed run resumes by running the same command again.

# %%
base = experiments.paper_config(20)
print(base)
print(experiments.run_id(base), "<- the paper's ResNet-20")
print(experiments.run_id(base.replace(**{"recipe.lr": 0.05})), "<- the same with lr 0.05: another run")
assert experiments.run_id(base) == experiments.run_id(experiments.paper_config(20)) != experiments.run_id(base.replace(**{"recipe.lr": 0.05}))

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### The command line
#
# Outside the notebook, `python -m course_utils.experiments` runs single runs or named grids, splits a
# grid into shards for several GPUs or machines, shows which runs are done, prints Table 6 from the
# result files and estimates a grid's time on your hardware:

# %%
print(experiments.command_line_parser().format_help())

# %% [markdown] slideshow={"slide_type": "slide"}
# ## One run on several processes
#
# A grid spreads over GPUs or machines most simply by shards: each takes whole runs. To make *one* run
# faster, PyTorch's own engine spreads it: `torchrun --nproc-per-node 2 -m course_utils.experiments run
# ...` starts two processes. Each holds the model wrapped in `DistributedDataParallel` (DDP), computes
# the same global batch of the iteration and keeps its half, and DDP averages the two halves' gradients
# during the backward pass (NCCL between GPUs, gloo between CPU processes), so both copies take the same
# step. Only process 0 evaluates and writes files. Several machines: the same command on each, with
# `--nnodes`, `--node-rank` and `--master-addr` (see the README).

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Batch norm decides what "the same run" means
#
# Batch norm is the one layer that looks across images: on two processes each normalises over its own
# 64 images unless the model uses `SyncBatchNorm`, which shares the statistics (on GPUs only: PyTorch
# has no CPU version). So the runner makes it part of the configuration: `recipe.bn_batch` is the
# number of images per batch-norm statistic, and the processes arrange themselves to compute exactly
# that:

# %%
# NBVAL_CHECK_OUTPUT
print(f"{'bn_batch':>9}{'processes':>10}{'device':>7}   plan")
for bn_batch, world, device in ((None, 1, "cpu"), (64, 1, "cpu"), (64, 2, "cpu"), (None, 2, "cuda"), (None, 2, "cpu")):
    try:
        plan = experiments.batch_norm_plan(experiments.Recipe(bn_batch=bn_batch), world, device)
        text = (f"{plan.local_batch} images per process in {plan.chunks} pass(es)"
                + (", SyncBatchNorm over all processes" if plan.sync else ""))
    except ValueError as err:
        text = "refused: " + str(err).split(". ")[0][:70] + "..."
    print(f"{str(bn_batch):>9}{world:>10}{device:>7}   {text}")

# %% [markdown]
# **The decision for GPUs**: a configuration asking for statistics over the whole batch (the default,
# what one GPU computes) gets `SyncBatchNorm` when it runs on several GPUs; one asking for 64 gets
# plain batch norm on each of two GPUs, or two half-batch passes on one. The reason is the runner's
# rule: the configuration, not the hardware, defines a run, so a result does not change with the number
# of GPUs that computed it, and shards from different machines merge into one table. The price is a
# little communication per batch-norm layer; to avoid it, ask for `--set recipe.bn_batch=64` on two
# GPUs, which is most likely what the paper's own two-GPU training (section 4.2) computed, but that is
# then a different run.

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Two CPU processes equal one
#
# A real check, on this machine: ResNet-8 trained for 8 iterations by **two gloo processes under
# torchrun**, each normalising its 16 images, against **one process normalising each half of the
# 32-image batch separately** (the plan's two passes), and against one process normalising all 32 at once.

# %%
demo = experiments.paper_config(8, scale=experiments.Scale(width=0.25, iterations=8, eval_every=4, eval_size=200,
                                                           final_eval_size=500, response_images=16)).replace(
    **{"recipe.batch_size": 32, "recipe.bn_batch": 16})
demo_dir = Path(tempfile.mkdtemp(prefix="11_ddp_"))
command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2",
           "-m", "course_utils.experiments", *experiments.command_for(demo), "--no-progress", "--runs", str(demo_dir / "two")]
print(" ".join(["torchrun", *command[3:]]).replace(str(demo_dir), "DEMO_DIR"), " # DEMO_DIR: a temporary folder")
# CPU processes talking over gloo, even where there is a GPU: one GPU cannot host two NCCL ranks
env = dict(os.environ, OMP_NUM_THREADS="1", CUDA_VISIBLE_DEVICES="",
           PYTHONPATH=str(Path(course_utils.__file__).parent.parent))
start = time.perf_counter()
done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
assert done.returncode == 0, done.stdout + done.stderr
print([line for line in done.stdout.splitlines() if "test error" in line][0])
print(f"({time.perf_counter() - start:.0f} s, most of it starting two Python processes)")

# %%
threads = torch.get_num_threads()
torch.set_num_threads(1)  # like each torchrun process: sums in the same order
one = experiments.run(demo, demo_dir / "one", dataset=cifar, device="cpu", progress=False, log=False)
whole = experiments.run(demo.replace(**{"recipe.bn_batch": None}), demo_dir / "whole", dataset=cifar, device="cpu",
                   progress=False, log=False)
torch.set_num_threads(threads)


def weights(folder, config):
    """The trained parameters (not the batch-norm running statistics) from the run's checkpoint."""
    return {name: p.detach() for name, p in experiments.load_model(config, folder).named_parameters()}


w_two, w_one = weights(demo_dir / "two", demo), weights(demo_dir / "one", demo)
w_whole = weights(demo_dir / "whole", demo.replace(**{"recipe.bn_batch": None}))
gap = max((w_two[k] - w_one[k]).abs().max().item() for k in w_one)
gap_whole = max((w_whole[k] - w_one[k]).abs().max().item() for k in w_one)
print(f"largest weight difference, 2 processes vs 1 process in two halves: {gap:.1e}")
print(f"largest weight difference, 1 process over the whole batch vs in two halves: {gap_whole:.1e}")
assert gap < 1e-5, "two DDP processes should compute what one process does with the same batch-norm groups"
assert gap_whole > 100 * max(gap, 1e-7), "the comparison should tell batch-norm groupings apart"

# %% [markdown]
# Same weights to float precision (the unit tests in `tests/test_experiments_distributed.py` check it
# the same way); batch-norm statistics over 32 images instead of 16 give visibly different ones. The
# tests also kill a run with SIGKILL mid-way and check that the same command resumes it to the very
# results of an uninterrupted run, and that a grid split into 2 shards leaves the same files as in one.

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Two processes with one thread each
#
# On a CPU the grid above ran as two processes of one thread each, one per core. PyTorch could instead
# use both cores in one process (two threads), but then the threads meet at every operation, and each
# waits for the slower; two *processes* never wait for each other: that is the runner's shards again, on
# one machine. Small layers also split poorly over threads. A training step of the shallow network both
# ways, measured now (the comparison depends on the machine and on what else runs on it: the closing
# note prints the load):

# %%
step_time = {}
for threads in (1, 2):
    with cpu_threads(threads, DEVICE):  # on a GPU the thread count is left alone
        step_time[threads] = experiments.seconds_per_iteration(experiments.paper_config(SHALLOW, scale=SCALE), DEVICE,
                                                               steps=steps, warmup=1)
    print(f"{threads} thread{'s' if threads > 1 else ''}: {1000 * step_time[threads]:.0f} ms per step of "
          f"ResNet-{SHALLOW} at width {SCALE.width:g}")
print(f"-> {PROCESSES} process(es) of one thread: {PROCESSES / step_time[1]:.1f} steps per second together, "
      f"against {1 / step_time[2]:.1f} for one process of two threads")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Closing note: performance
#
# What this notebook measured about speed, on the machine that ran it. The first line says how busy that
# machine was (the load average: about the number of processes that wanted a core; this notebook's
# training alone keeps two busy), since every figure after it depends on that:

# %%
if hasattr(os, "getloadavg"):
    print(f"{os.cpu_count()} cores, load average over 1/5/15 min now: "
          + " / ".join(f"{x:.1f}" for x in os.getloadavg()))
shallow_runs = over_seeds(f"resnet{SHALLOW}", lambda r: r)
throughput = mean_spread([r["examples_per_s"] for r in shallow_runs])
print(f"ResNet-{SHALLOW} at width {SCALE.width:g}, one process of one thread (the other process training beside "
      f"it): {throughput[0]:,.0f} ± {throughput[1]:,.0f} training images/s over {len(SEEDS)} run(s), "
      f"{shallow_runs[0]['hardware']['device']}")
paper20 = next(c for c in paper_grid if c.arch.name == "resnet20")
seconds20 = paper_estimate[experiments.run_id(paper20)]
print(f"ResNet-20 at width {paper20.scale.width:g}: {paper20.recipe.batch_size * paper20.iterations / seconds20:,.0f} "
      f"images/s from the estimate above (evaluation included), {experiments.describe_time(seconds20)} for "
      f"{paper20.iterations:,} iterations")
print(f"the training above: {experiments.describe_time(grid_seconds)} for {len(configs) + len(option_configs)} runs in "
      f"{PROCESSES} process(es)")
print(f"the paper's grid ({len(paper_grid)} runs): about {experiments.describe_time(total)} on {DEVICE}")
print(f"this notebook so far: {experiments.describe_time(time.perf_counter() - NOTEBOOK_START)}")

# %% [markdown]
# The same cells on a GPU (the `full` profile) measure the GPU instead: the estimate of the paper's grid
# there is the figure to plan a full reproduction with. No GPU was at hand when the saved outputs were
# made, so this notebook does not yet report a measured full ResNet-20 run on a GPU; the command is
# `python -m course_utils.experiments run --depth 20 --scale paper`, and its result lands in Table 6's
# `paper` column.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Exercises
#
# Replace each `raise NotImplementedError` with your code and run the cell. Hints come in three tiers:
# an exercise not attempted yet prints a nudge (what to look at); `ex11.hint("name")` gives the next,
# the key idea, and so does a wrong answer. The third is a recipe: `ex11.hint("name", level=3)`, or a
# third wrong attempt, shows it.

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### 1. The recipe for a larger batch
#
# You train on eight GPUs with 128 images each: batches of 1,024, eight times the paper's. Write
# `recipe_for_batch(batch_size)` returning the paper's `Recipe` (its defaults) adapted to batches of
# `batch_size`: training sees as many images as the paper's before each learning-rate drop and before
# the end, and the learning rate follows the *linear scaling rule* of Goyal et al. (2017, *Accurate,
# Large Minibatch SGD: Training ImageNet in 1 Hour*, section 2.1). Why linear: compare one SGD step on
# a batch of 1,024 with eight steps on batches of 128. Where does that argument break down, and what
# did Goyal et al. add for it (their section 2.2)?

# %%
from course_utils.experiments import Recipe

print(Recipe())  # a frozen dataclass: dataclasses.replace(Recipe(), ...) changes some fields


def recipe_for_batch(batch_size):
    raise NotImplementedError  # your code here


ex11.check_recipe_for_batch(recipe_for_batch);

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### 2. Option B's parameters
#
# Write `option_b_params(depth, width)`: the parameter count of `resnet.resnet_cifar(depth,
# shortcut="B", width=width)`, from the formulas only (channels are `round(16 * width)` etc., at least 1).

# %%
def option_b_params(depth, width=1.0):
    raise NotImplementedError  # your code here


ex11.check_option_b_params(option_b_params);

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### 3. Reading a degradation curve
#
# `shallow` and `deep` are dicts with the lists `"train_error"` and `"test_error"` of a shallower and a
# deeper network, over the same iterations. Write `diagnose(shallow, deep)` returning
# `"degradation"`, `"overfitting"` or `"deeper is better"`. The checker uses curves shaped like the
# paper's (plain-20 against plain-56, ResNet-110 against ResNet-1202, ResNet-20 against ResNet-56) and
# two that cross on the way.

# %%
def diagnose(shallow, deep):
    raise NotImplementedError  # your code here


ex11.check_diagnosis(diagnose);

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### 4. (Open) A schedule for a short budget
#
# The `standard` runs scale the paper's schedule down: the learning rate drops after half of 1,280
# iterations. From the command line, run plain-32 and ResNet-32 at the standard scale
# (`python -m course_utils.experiments run --depth 32 --plain --scale standard`, then without `--plain`)
# once as they are, once with twice the iterations (`--set scale.iterations=2560`) and once with the
# drops pushed to the end (`--set recipe.milestones="(60000, 62000)"`). Which change gains more, and
# does the gap between plain and residual networks grow or shrink with a longer schedule?
