# %% [markdown] slideshow={"slide_type": "slide"}
# # Start here: from convolution to the Transformer
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/deep-learning-course/conv-to-transformer/blob/main/notebooks/00_start_here.ipynb)
#
# Welcome. This notebook tells you what the course covers, how to run it, and checks that your machine is ready: the libraries, the device, the run profile and the datasets.

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
import torch

from course_utils import profile
from course_utils.device import get_device, seed_everything

PROFILE = profile.current()
DEVICE = get_device()
seed_everything(0)
print(f"profile: {PROFILE}   device: {DEVICE}")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## What this course covers
#
# Thirteen topics, each building one idea from scratch and then checking it
# against PyTorch with an assertion, so a wrong implementation cannot pass
# silently. AlexNet takes two lectures, so it has two notebooks.
#
# | # | notebook | the idea |
# | --- | --- | --- |
# | 01 | convolution | cross-correlation by hand, edge filters, a learned kernel, im2col |
# | 02 | padding and stride | output sizes, parameter and multiply-add counts, receptive fields |
# | 03 | pooling | max and average pooling, forward and backward |
# | 04 | fully-connected layers, log-softmax and NLL | dense heads, a numerically stable loss, a first CNN |
# | 05 | manual backpropagation | a whole CNN in NumPy with hand-written gradients |
# | 06 | LeNet | the first convolutional network, original and modern |
# | 07 | AlexNet, part 1 | depth and width, where the parameters are, why GPUs |
# | 07 | AlexNet, part 2 | ReLU, dropout, augmentation, LRN, each tested |
# | 08 | VGG | blocks of 3x3 convolutions |
# | 09 | Inception | 1x1 bottlenecks, parallel branches, efficient blocks |
# | 10 | ResNet | residual learning and batch normalisation |
# | 11 | ResNet on CIFAR-10 | reproducing the paper's experiments |
# | 12 | self-attention | queries, keys, values, multi-head attention |
# | 13 | the Transformer | encoder, decoder, decoding strategies |
#
# Take them in order: each one uses what the earlier ones built.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Three ways to run it
#
# **JupyterLab.** From a clone of the repository, `make lab` creates a virtual
# environment, installs everything and opens JupyterLab on `notebooks/`. Run a
# notebook top to bottom with *Run > Restart Kernel and Run All Cells*.
#
# **Colab.** The badge at the top of each notebook opens it on Colab. The first
# code cell (the set-up cell, shown as a form) installs the course helpers
# `course_utils` at the version the notebook was written for. With *Runtime >
# Change runtime type > GPU* the `full` profile is picked by itself; what it
# costs is below.
#
# **A lecture.** Every notebook is also a slide deck: `##` headings start
# slides, `###` headings sub-slides, and the set-up cell is hidden.
# `make slides` writes decks into `build/slides/` that need no network; in
# JupyterLab, the toolbar's *Render as slideshow* (RISE) presents the notebook
# itself, and its cells still run.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## The set-up cell
#
# Every notebook starts with the same cell (shown collapsed: click it to read
# it): it makes sure `course_utils` can be imported, imports what the notebook needs, reads the **run profile**, picks
# the **device** and seeds every random generator so that reruns repeat. Here is
# what it found on this machine:

# %%
from course_utils.environment import describe

print(describe())

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Run profiles: the same code at three scales
#
# Training a network to the accuracy of its paper takes a GPU and hours; a
# laptop CPU needs minutes; CI needs seconds. Rather than skipping the heavy
# cells, every notebook scales them with `profile.pick`:
#
# | profile | where | what changes |
# | --- | --- | --- |
# | `smoke` | CI | tiny subsets and a few steps; every code path still runs; well under a minute per notebook on 2 CPU cores |
# | `standard` | a laptop CPU | real learning at reduced scale (smaller images or widths, a few epochs); a few minutes per notebook |
# | `full` | a GPU | the published settings: image sizes, epochs, learning-rate schedules |
#
# The profile comes from the `COURSE_PROFILE` environment variable; without it,
# `full` when a CUDA GPU is found and `standard` otherwise. The notebooks in the
# repository are saved with the outputs of a standard run.

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### What `full` costs on Colab's free GPU
#
# Each notebook's `full` run on a T4 is estimated from its training arithmetic
# (multiply-adds x images x epochs) at the rate NVIDIA measured on that GPU, plus
# a cost per step: `python benchmarks/colab_time.py` prints the estimates, and
# the README's table ([What to expect on Colab's free GPU](https://github.com/deep-learning-course/conv-to-transformer#what-to-expect-on-colabs-free-gpu))
# lists them, notebook by notebook, with what dominates each. That table is the
# one place the figures are written (a test checks it against the benchmark), so
# this notebook does not repeat them. Expect them within a factor of two.
#
# No notebook's default run takes more than about an hour. A longer setting
# (notebook 11's grid of paper runs) runs only when you ask for it, and says
# first how long it takes. For a quicker look, set `COURSE_PROFILE` to
# `standard` in a cell above the set-up cell.

# %%
from course_utils import profile

epochs = profile.pick(smoke=1, standard=3, full=30)
train_subset = profile.pick(smoke=2_000, standard=60_000, full=60_000)
print(f"active profile: {PROFILE} -> {epochs} epochs on {train_subset:,} training images")
assert PROFILE in profile.PROFILES

# %% [markdown]
# A misspelt profile is an error that says what is allowed, not a silent
# default:

# %%
import os

os.environ["COURSE_PROFILE"] = "fast"
try:
    profile.current()
except ValueError as err:
    print("ValueError:", err)
finally:
    os.environ["COURSE_PROFILE"] = PROFILE
assert profile.current() == PROFILE

# %% [markdown] slideshow={"slide_type": "slide"}
# ## The datasets
#
# `load_dataset` loads a whole dataset into memory as `uint8` tensors
# `(N, C, H, W)` with `int64` labels. It tries a cache in `data/` first, then
# an offline copy (Debian's `dataset-fashion-mnist` package, or a folder named
# by `COURSE_FASHION_MNIST_DIR`, `COURSE_MNIST_DIR` or `COURSE_CIFAR10_DIR`),
# then torchvision's download. When none works it says what it tried and how to
# fix it.

# %%
import time

from course_utils.data import DatasetUnavailableError, load_dataset

datasets = {}
for name in ("fashion_mnist", "mnist", "cifar10"):
    start = time.perf_counter()
    try:
        ds = load_dataset(name)
    except DatasetUnavailableError as err:
        print(f"{name}: not available here.\n{err}\n")
        continue
    datasets[name] = ds
    print(f"{ds}  loaded in {time.perf_counter() - start:.2f} s")
    n_train, c, h, w = ds.train_images.shape
    assert ds.train_images.dtype == torch.uint8 and ds.train_labels.dtype == torch.int64
    assert ds.test_images.shape[1:] == (c, h, w) and len(ds.classes) == 10
    assert set(ds.train_labels.unique().tolist()) == set(range(10))
assert "fashion_mnist" in datasets, "Fashion-MNIST is needed by most notebooks: see the message above"

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Fashion-MNIST
#
# Zalando's replacement for MNIST (Xiao, Rasul and Vollgraf, 2017): 70,000
# grey-scale 28x28 pictures of clothing in ten classes, harder than handwritten
# digits and the course's workhorse.

# %%
from course_utils.plot import show_images

fmnist = datasets["fashion_mnist"]
first_of_each = [int((fmnist.train_labels == k).nonzero()[0]) for k in range(10)]
show_images(fmnist.train_images[first_of_each], fmnist.train_labels[first_of_each], fmnist.classes, ncols=10);

# %%
# NBVAL_CHECK_OUTPUT
print("train:", tuple(fmnist.train_images.shape), " test:", tuple(fmnist.test_images.shape))
print("images per class (train):", fmnist.train_labels.bincount().tolist())
print(f"pixel mean {fmnist.mean.item():.4f}, std {fmnist.std.item():.4f}")

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### CIFAR-10 and MNIST
#
# CIFAR-10 (Krizhevsky, 2009): 60,000 colour 32x32 photographs in ten classes;
# the ResNet notebooks use it. MNIST: the handwritten digits of LeCun et al.
# (1998). Each is shown if this machine has it.

# %%
for name in ("cifar10", "mnist"):
    if name not in datasets:
        print(f"{name} is not available on this machine; see the message above for how to get it.")
        continue
    ds = datasets[name]
    idx = [int((ds.train_labels == k).nonzero()[0]) for k in range(10)]
    show_images(ds.train_images[idx], ds.train_labels[idx], ds.classes, ncols=10, title=ds.name)

# %% [markdown] slideshow={"slide_type": "slide"}
# ## From tensors to batches
#
# Training reads the data through a batch iterator: the dataset stays in memory
# (in GPU memory when there is a GPU), each epoch draws a new random order of
# indices, and conversion to float, normalisation and augmentation happen on
# whole batches at once. There are no worker processes and no per-image Python
# code, which is why it is fast (see `benchmarks/data_pipeline.py`).

# %%
batches = fmnist.train_batches(batch_size=256, device=DEVICE)
x, y = next(iter(batches))
print(f"{len(batches)} batches per epoch; a batch: x {tuple(x.shape)} {x.dtype} on {x.device}, y {tuple(y.shape)}")
assert x.shape == (256, 1, 28, 28) and y.shape == (256,)
assert x.device.type == DEVICE.type
# Normalised with the training set's statistics: about zero mean and unit spread.
print(f"batch mean {x.mean():.3f}, std {x.std():.3f}")
assert abs(x.mean().item()) < 0.2 and abs(x.std().item() - 1) < 0.2

# %% [markdown]
# Augmentation works on the batch too: each image is padded, cropped back to
# its size at a random offset, and flipped with probability one half.

# %%
sample = fmnist.subset(8, 0, seed=1)
plain = sample.train_batches(8, device="cpu", seed=0)
augmented = sample.train_batches(8, device="cpu", augment=True, seed=0)
(x_plain, y_plain), (x_aug, y_aug) = next(iter(plain)), next(iter(augmented))
assert torch.equal(y_plain, y_aug)  # same seed: same order, different pixels
assert not torch.equal(x_plain, x_aug)
show_images(torch.cat([x_plain, x_aug]), torch.cat([y_plain, y_aug]), fmnist.classes, ncols=8,
            title="top: as stored; bottom: random crop after 4-pixel padding, random flip");

# %% [markdown] slideshow={"slide_type": "slide"}
# ## What every notebook has
#
# - **Derive, then prove.** Each operation is written from scratch and then
#   compared with PyTorch's by `course_utils.checks.assert_close`, whose failure
#   message tells you how far off and where.
# - **Pictures** where looking beats reading.
# - **Training** through `course_utils.train.fit`: a short loop you can read,
#   with a progress bar, learning curves, and checkpoints that let a long run
#   continue after a closed tab.
# - **Three sets kept apart**: train on the training split, choose on a
#   validation split, measure the test set once (notebook 04 explains why).
# - **Exercises** at the end with checkers: an exercise you have not attempted
#   prints a first hint, a nudge; `exNN.hint("name")` gives the next one, and
#   a wrong answer says what is wrong and gives the next hint too.
#
# Next: [01 Convolution](01_convolution.ipynb).
