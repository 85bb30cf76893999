# %% [markdown] slideshow={"slide_type": "slide"}
# # 07 AlexNet (part 2 of 2): the ingredients, tested
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/deep-learning-course/conv-to-transformer/blob/main/notebooks/07_alexnet_experiments.ipynb)
#
# Part 1 ([07 AlexNet, part 1](07_alexnet.ipynb)) built AlexNet and trained a scaled-down version on
# Fashion-MNIST. The paper credits its result to a handful of ingredients. This part tests them one by
# one, each with a small experiment on the same scaled-down network:
#
# 1. **ReLU** instead of saturating activations: what happens to the gradient, layer by layer;
# 2. **dropout** and 3. **data augmentation** against overfitting;
# 4. **overlapping pooling**;
# 5. **local response normalisation**, with the paper's constants, and why it went away.
#
# Every experiment runs over three seeds and compares on a **validation** split carved out of the
# training images; nothing here looks at the test set. Assertions check only what holds for every seed
# (or for the mean, where a single seed is too noisy to say).

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
import math
import statistics

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from torch import nn

from course_utils import results
from course_utils.data import Augment, load_dataset, random_crop, random_flip
from course_utils.exercises import ex07
from course_utils.models import alexnet
from course_utils.plot import show_images
from course_utils.timing import time_interleaved
from course_utils.train import fit, optimizer_options

from course_utils import profile
from course_utils.device import get_device, seed_everything

PROFILE = profile.current()
DEVICE = get_device()
seed_everything(0)
print(f"profile: {PROFILE}   device: {DEVICE}")


# %% [markdown] slideshow={"slide_type": "slide"}
# ## The set-up of the experiments
#
# The network of part 1 (AlexNet at a quarter width, 512 dense units, a 3x3 first convolution for
# 28x28 images) trained on small subsets so that each run takes seconds: 6,000 training and 2,000
# validation images for the activation and LRN experiments, 1,000 training and 1,000 validation images
# for dropout and augmentation, where overfitting is the point. Three seeds each (one in the `smoke`
# profile).

# %%
settings = profile.pick(
    smoke=dict(n_exp=1_000, n_val=500, exp_epochs=1, grid_epochs=1, n_small=500, n_small_val=500, small_epochs=2,
               seeds=(0,)),
    standard=dict(n_exp=6_000, n_val=2_000, exp_epochs=2, grid_epochs=1, n_small=1_000, n_small_val=1_000,
                  small_epochs=20, seeds=(0, 1, 2)),
    full=dict(n_exp=6_000, n_val=2_000, exp_epochs=3, grid_epochs=2, n_small=1_000, n_small_val=2_000,
              small_epochs=40, seeds=(0, 1, 2)),
)
SEEDS = settings["seeds"]
batch_size = 128
channels_last = DEVICE.type in ("cpu", "cuda")  # see benchmarks/memory_layout.py
print(settings)
data = load_dataset("fashion_mnist")
exp_data = data.subset(settings["n_exp"] + settings["n_val"], 0).split_validation(settings["n_val"])
small_data = data.subset(settings["n_small"] + settings["n_small_val"], 0, seed=1).split_validation(
    settings["n_small_val"])
exp_val = exp_data.val_batches(500, device=DEVICE)
small_val = small_data.val_batches(500, device=DEVICE)
print(f"activation and LRN experiments: {exp_data}")
print(f"dropout and augmentation:       {small_data}")

# %% tags=["colab-estimate"]
def small_alexnet(**kwargs):
    """The scaled-down AlexNet of part 1 (28x28 grey images, ten classes)."""
    return alexnet.alexnet(1, 10, input_size=28, width=0.25, hidden_features=512, **kwargs).to(DEVICE)


def mean_and_spread(values):
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


# %% tags=["colab-estimate", "no-slide"] slideshow={"slide_type": "skip"}
# The `full` profile's training, declared for the Colab T4 estimate of benchmarks/colab_time.py
# (CONTRIBUTING, "Colab time"); nothing is built or trained here.
n_seeds = len(settings["seeds"])
colab_runs = [  # every run validates once per epoch (the learning-rate race once at its end, counted as per epoch)
    dict(what="activation learning rates", model=small_alexnet, input_shape=(1, 1, 28, 28), train=settings["n_exp"],
         epochs=settings["grid_epochs"], eval=settings["n_val"], repeats=3 * 3),  # 3 activations x 3 rates, seed 0
    dict(what="activations (ReLU, tanh, sigmoid)", model=small_alexnet, input_shape=(1, 1, 28, 28),
         train=settings["n_exp"], epochs=settings["exp_epochs"], eval=settings["n_val"], repeats=3 * n_seeds),
    dict(what="dropout 0.5 / 0, augmentation", model=small_alexnet, input_shape=(1, 1, 28, 28),
         train=settings["n_small"], epochs=settings["small_epochs"], eval=settings["n_small_val"],
         repeats=3 * n_seeds, batch_size=32),
    dict(what="LRN on / off", model=small_alexnet, input_shape=(1, 1, 28, 28), train=settings["n_exp"],
         epochs=settings["exp_epochs"], eval=settings["n_val"], repeats=2 * n_seeds),
]

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Experiment: ReLU against saturating activations
#
# The paper's Figure 1 shows a four-layer CNN with ReLUs reaching 25% training error on CIFAR-10 six
# times faster than the same network with tanh. The argument: a saturating unit (tanh, sigmoid) has a
# slope near zero for large inputs, and the backward pass multiplies the gradient by that slope at
# every layer; a ReLU's slope is 1 wherever it is active. We run the comparison on our eight-layer
# network with ReLU, tanh or sigmoid after every layer, trained with plain SGD and momentum as in the
# paper (an adaptive optimiser like Adam partly hides small gradients by rescaling them).
#
# Two things make it a fair comparison. First, each network is **initialised for its activation**: He
# et al. (2015) for ReLU (weights with variance `2 / fan_in`, which keeps the size of the activations
# through a ReLU layer), Glorot and Bengio (2010) for tanh (with PyTorch's gain 5/3) and for sigmoid;
# biases zero; and the last layer starts small, so that every network starts at a loss of `ln 10`
# (notebook 04's sanity check). Second, each activation gets its own learning rate (below).

# %%
GLOROT_GAIN = {"tanh": nn.init.calculate_gain("tanh"), "sigmoid": nn.init.calculate_gain("sigmoid")}
ACTIVATIONS = ("relu", "tanh", "sigmoid")
LAYER_NAMES = ["conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8"]


def weighted_layers(net):
    return [m for m in net.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


def network_for(activation, seed):
    """The small AlexNet with ``activation`` everywhere, initialised for it."""
    torch.manual_seed(seed)
    net = small_alexnet(activation=activation)
    layers = weighted_layers(net)
    for layer in layers:
        if activation == "relu":
            nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")  # He et al. (2015)
        else:
            nn.init.xavier_normal_(layer.weight, gain=GLOROT_GAIN[activation])  # Glorot and Bengio (2010)
        nn.init.zeros_(layer.bias)
    with torch.no_grad():
        layers[-1].weight.mul_(0.01)  # start near equal logits: a loss of about ln 10
    return net


x_probe, y_probe = next(iter(exp_data.train_batches(256, device=DEVICE, seed=0)))
start_losses = {a: F.cross_entropy(network_for(a, 0)(x_probe), y_probe).item() for a in ACTIVATIONS}
print("loss at initialisation:", {a: round(v, 3) for a, v in start_losses.items()}, f"(ln 10 = {math.log(10):.3f})")
assert all(abs(v - math.log(10)) < 0.1 for v in start_losses.values())

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Gradients at initialisation, layer by layer
#
# One backward pass on 256 training images, for three seeds; the size (norm) of each layer's weight
# gradient, from the first convolution to the last dense layer:

# %%
init_norms = {}
for activation in ACTIVATIONS:
    for seed in SEEDS:
        net = network_for(activation, seed)
        F.cross_entropy(net(x_probe), y_probe).backward()
        init_norms[activation, seed] = [layer.weight.grad.norm().item() for layer in weighted_layers(net)]

fig, ax = plt.subplots(figsize=(7, 3.2))
for activation, color in zip(ACTIVATIONS, ("tab:blue", "tab:orange", "tab:green")):
    for seed in SEEDS:
        ax.semilogy(LAYER_NAMES, init_norms[activation, seed], "o-", color=color, alpha=0.7,
                    label=activation if seed == SEEDS[0] else None)
ax.set(xlabel="layer (input -> output)", ylabel="weight-gradient norm", title="gradients at initialisation")
ax.legend(), ax.grid(alpha=0.3)
plt.show()
for activation in ACTIVATIONS:
    first = [init_norms[activation, s][0] for s in SEEDS]
    print(f"{activation:<8} conv1 gradient {statistics.fmean(first):.1e} (mean over seeds); "
          f"fc8 {statistics.fmean(init_norms[activation, s][-1] for s in SEEDS):.1e}")

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### How much each layer shrinks the gradient

# %% tags=["no-slide"] slideshow={"slide_type": "skip"}
def shrink(norms, upper):
    """How many times smaller the gradient norm is one layer below ``upper``."""
    return norms[upper] / norms[upper - 1]


def conv1_vs_middle(norms):
    """conv1's gradient norm over the median of conv2-conv5's."""
    return norms[0] / statistics.median(norms[1:5])



# %%
uppers = range(len(LAYER_NAMES) - 1, 0, -1)  # fc8 -> fc7, ..., conv2 -> conv1
print("how many times the gradient shrinks from each layer to the one below (mean over seeds):")
print(f"{'':<8}" + "".join(f"{LAYER_NAMES[u] + '/' + LAYER_NAMES[u - 1]:>12}" for u in uppers)
      + f"{'conv1/middle':>14}")
for activation in ACTIVATIONS:
    per_seed = [init_norms[activation, s] for s in SEEDS]
    print(f"{activation:<8}" + "".join(f"{statistics.fmean(shrink(n, u) for n in per_seed):>12.1f}" for u in uppers)
          + f"{statistics.fmean(conv1_vs_middle(n) for n in per_seed):>14.3f}")
for seed in SEEDS:
    sig, relu, tanh = (init_norms[a, seed] for a in ("sigmoid", "relu", "tanh"))
    assert all(a < b for a, b in zip(sig, sig[1:])), "through sigmoids the gradient shrinks at every layer"
    assert all(2.5 < shrink(sig, u) < 9 for u in range(2, 7)), "sigmoid: from fc7 to conv2, a few times per layer"
    assert sig[0] < 1e-3 * min(relu[0], tanh[0]), "conv1's gradient: sigmoid's is orders of magnitude smaller"
    for norms in (relu, tanh):
        assert conv1_vs_middle(norms) > 0.04, "with ReLU or tanh conv1 gets at least a 25th of the middle layers'"
    assert conv1_vs_middle(relu) < 0.25, "with ReLU conv1 gets several times less than the middle layers"

# %% [markdown]
# With sigmoids the gradient shrinks at every layer on its way down: a few times per layer from fc7 to
# conv2 (about four to six in the table above), and more at the two ends, about 240
# times from fc8 to fc7 and about 13 times from conv2 to conv1. The two ends are not the sigmoid's doing
# alone, as the other rows show: in every network fc8's weights start a hundred times smaller (so that
# the loss starts at `ln 10`), and the gradient that passes back through them shrinks with them; and
# conv1 has far fewer weights than conv2 (144 against 19,200), which also makes the norm of its
# gradient smaller. Altogether the sigmoid network's conv1 gets a gradient four to five orders of
# magnitude smaller than the other two networks' conv1: the **vanishing gradient**. With ReLU (He
# initialisation) or tanh (Glorot initialisation) the gradient keeps its size through the middle
# layers, and conv1 gets several times less than they do, about ten times less with ReLU and three to
# four times less with tanh (the last column), far from the sigmoid's collapse.

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Learning rates
#
# A learning rate that suits one network can be too large for another, and a fair race gives each its
# own. A short run (one epoch in the standard profile, seed 0) for each activation at three learning
# rates; each then trains at the one with the best validation accuracy:

# %%
def train_activation(activation, seed, lr, epochs, log_every=10):
    """SGD with momentum; the loss of every step and the gradient norms every ``log_every`` steps."""
    net = network_for(activation, seed)
    optimizer = torch.optim.SGD(net.parameters(), lr=lr, momentum=0.9, **optimizer_options(DEVICE))
    batches = exp_data.train_batches(batch_size, device=DEVICE, seed=seed)
    losses, norms = [], []
    for _ in range(epochs):
        net.train()
        for x, y in batches:
            loss = F.cross_entropy(net(x), y)
            optimizer.zero_grad()
            loss.backward()
            if len(losses) % log_every == 0:
                norms.append([layer.weight.grad.norm().item() for layer in weighted_layers(net)])
            optimizer.step()
            losses.append(loss.item())
    val_acc = evaluate_accuracy(net, exp_val)
    steps = len(batches)
    epoch_losses = [statistics.fmean(losses[i * steps:(i + 1) * steps]) for i in range(epochs)]
    return dict(losses=losses, epoch_losses=epoch_losses, norms=norms, val_acc=val_acc)


@torch.no_grad()
def evaluate_accuracy(net, batches):
    net.eval()
    return sum((net(x).argmax(1) == y).sum().item() for x, y in batches) / batches.num_examples


LEARNING_RATES = (0.005, 0.01, 0.02)
grid = {(a, lr): train_activation(a, 0, lr, settings["grid_epochs"])["val_acc"]
        for a in ACTIVATIONS for lr in LEARNING_RATES}
best_lr = {a: max(LEARNING_RATES, key=lambda lr: grid[a, lr]) for a in ACTIVATIONS}
for a in ACTIVATIONS:
    print(f"{a:<8} validation accuracy at lr " + ", ".join(f"{lr}: {grid[a, lr]:.1%}" for lr in LEARNING_RATES)
          + f"  -> lr {best_lr[a]}")

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### The race, three seeds each

# %%
runs = {(a, seed): train_activation(a, seed, best_lr[a], settings["exp_epochs"]) for a in ACTIVATIONS for seed in SEEDS}
fig, axes = plt.subplots(1, 2, figsize=(11, 3.4))
window = 20
for activation, color in zip(ACTIVATIONS, ("tab:blue", "tab:orange", "tab:green")):
    for seed in SEEDS:
        losses = runs[activation, seed]["losses"]
        smooth = [statistics.fmean(losses[max(0, i - window + 1):i + 1]) for i in range(len(losses))]
        axes[0].plot(smooth, color=color, alpha=0.8, label=f"{activation} (lr {best_lr[activation]})"
                     if seed == SEEDS[0] else None)
        conv1 = [n[0] for n in runs[activation, seed]["norms"]]
        axes[1].semilogy([10 * i for i in range(len(conv1))], conv1, color=color, alpha=0.8,
                         label=activation if seed == SEEDS[0] else None)
axes[0].axhline(math.log(10), color="gray", ls=":", label="chance (ln 10)")
axes[0].set(xlabel="SGD step", ylabel=f"training loss (mean of {window} steps)", title="training loss, 3 seeds each")
axes[1].set(xlabel="SGD step", ylabel="conv1 weight-gradient norm", title="conv1's gradient during training")
for ax in axes:
    ax.legend(fontsize=8), ax.grid(alpha=0.3)
fig.tight_layout()
plt.show()
for activation in ACTIVATIONS:
    finals = [runs[activation, s]["epoch_losses"][-1] for s in SEEDS]
    firsts = [runs[activation, s]["epoch_losses"][0] for s in SEEDS]
    accs = [runs[activation, s]["val_acc"] for s in SEEDS]
    (m1, s1), (mf, sf), (ma, sa) = mean_and_spread(firsts), mean_and_spread(finals), mean_and_spread(accs)
    print(f"{activation:<8} training loss epoch 1 {m1:.3f} ± {s1:.3f}, last epoch {mf:.3f} ± {sf:.3f}; "
          f"validation accuracy {ma:.1%} ± {sa:.1%}")

# %% tags=["no-slide"] slideshow={"slide_type": "skip"}
if PROFILE != "smoke":  # the race's claims, checked on every seed
    for seed in SEEDS:
        assert runs["sigmoid", seed]["epoch_losses"][-1] > 2.2, "eight sigmoid layers should stay near chance"
        for activation in ("relu", "tanh"):
            assert runs[activation, seed]["epoch_losses"][-1] < 1.5, f"the {activation} network should learn"
            norms = runs[activation, seed]["norms"]
            assert min(n[0] for n in norms) > 1e-3, f"{activation}: conv1 keeps getting gradient while training"
        assert max(n[0] for n in runs["sigmoid", seed]["norms"]) < 1e-3, "sigmoid: conv1's gradient stays tiny"
        assert runs["tanh", seed]["epoch_losses"][-1] < runs["relu", seed]["epoch_losses"][-1], (
            f"seed {seed}: in this short run the tanh network should be ahead of the ReLU one (see below)")

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### What holds on every seed

# %% [markdown]
# What holds on every seed is the failure ReLU was the answer to: eight sigmoid layers do not learn at
# all in this budget, at any of the three learning rates, and their first layer's gradient stays tiny
# throughout training, while ReLU and tanh, each initialised for its activation, both learn.
#
# The paper's other claim, that ReLU learns several times faster than tanh, does **not** reproduce here:
# on every seed the tanh network is ahead after this short run. ReLU's best learning rate was the
# smallest of the three (a larger one makes this eight-layer network without normalisation unstable;
# exercise 5 tries smaller ones), so it may simply need more steps. The paper's Figure 1 is a four-layer
# network on CIFAR-10 and does not say how it was initialised; Glorot's initialisation (2010) keeps tanh
# units out of saturation at the start, which removes much of the handicap a tanh network had with
# small random weights. The lasting reason for ReLU is depth: with it, He initialisation and later batch
# norm, networks of dozens of layers train (notebook 10).

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Experiment: what dropout does
#
# Dropout (Hinton et al., 2012; Srivastava et al., 2014) sets each unit of a dense layer to zero with
# probability `p` during training and scales the survivors by `1 / (1 - p)`, so no unit can rely on
# particular others; at test time nothing is dropped. AlexNet used `p = 0.5` in its first two dense
# layers; the paper reports that without it the network overfit substantially. Overfitting needs a
# small training set, so we train on a thousand images for many epochs in batches of 32 (enough steps
# to fit them closely), with and without dropout, three seeds each, and compare the gap between
# training and validation accuracy and the validation loss:

# %%
def train_small(seed, dropout=0.5, augment=False):
    """The small AlexNet on the 1,000-image training set: AdamW, one-cycle, many epochs."""
    seed_everything(seed)
    net = small_alexnet(dropout=dropout)
    batches = small_data.train_batches(32, device=DEVICE, seed=seed, augment=augment)  # 32 steps an epoch
    opt = torch.optim.AdamW(net.parameters(), lr=2e-3, weight_decay=0.05, **optimizer_options(DEVICE))
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=2e-3, total_steps=settings["small_epochs"] * len(batches))
    return fit(net, batches, small_val, epochs=settings["small_epochs"], optimizer=opt, scheduler=sched,
               eval_name="val", channels_last=channels_last, progress=False, log=False)


def gap(h):
    return h[-1].train_acc - h[-1].val_acc


def summary_line(name, histories):
    (mt, _), (mv, sv), (mg, sg), (ml, sl) = (mean_and_spread([f(h) for h in histories]) for f in (
        lambda h: h[-1].train_acc, lambda h: h[-1].val_acc, gap, lambda h: h[-1].val_loss))
    print(f"{name:<22} train acc {mt:.1%}, validation acc {mv:.1%} ± {sv:.1%}, gap {mg:+.1%} ± {sg:.1%}, "
          f"validation loss {ml:.3f} ± {sl:.3f}")


dropout_runs = {(p, seed): train_small(seed, dropout=p) for p in (0.5, 0.0) for seed in SEEDS}
for p in (0.5, 0.0):
    summary_line(f"dropout {p}", [dropout_runs[p, s] for s in SEEDS])
_ = results.record("07", "dropout_gap_reduction", round(statistics.fmean(
    gap(dropout_runs[0.0, s]) - gap(dropout_runs[0.5, s]) for s in SEEDS), 4), seeds=len(SEEDS),
    train_images=small_data.train_labels.numel(), epochs=settings["small_epochs"])

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### The curves of one seed

# %%
fig, axes = plt.subplots(1, 2, figsize=(10, 3.2))
for p, color in ((0.5, "tab:blue"), (0.0, "tab:red")):
    h = dropout_runs[p, SEEDS[0]]  # one seed drawn; one colour per run, training solid, validation dashed
    axes[0].plot(h.column("epoch"), [100 * a for a in h.column("train_acc")], "-", color=color,
                 label=f"dropout {p}, training")
    axes[0].plot(h.column("epoch"), [100 * a for a in h.column("val_acc")], "--", color=color,
                 label=f"dropout {p}, validation")
    axes[1].plot(h.column("epoch"), h.column("val_loss"), "--", color=color, label=f"dropout {p}")
axes[0].set(xlabel="epoch", ylabel="accuracy (%)",
            title=f"{small_data.train_labels.numel():,} training images (seed {SEEDS[0]})")
axes[1].set(xlabel="epoch", ylabel="validation loss", title="validation loss")
for ax in axes:
    ax.grid(alpha=0.3), ax.legend(fontsize=8)
fig.tight_layout()
plt.show()
print("validation loss with minus without dropout, seed by seed: "
      + ", ".join(f"{dropout_runs[0.5, s][-1].val_loss - dropout_runs[0.0, s][-1].val_loss:+.3f}" for s in SEEDS))
if PROFILE != "smoke":
    for seed in SEEDS:
        assert gap(dropout_runs[0.5, seed]) < gap(dropout_runs[0.0, seed]), f"seed {seed}: dropout should shrink the gap"
    assert statistics.fmean(dropout_runs[0.5, s][-1].val_loss - dropout_runs[0.0, s][-1].val_loss for s in SEEDS) < 0, (
        "on average over the seeds dropout should lower the validation loss")

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### What dropout changed

# %% [markdown]
# Without dropout the network fits its thousand training images more closely: the gap between training
# and validation accuracy is wider on every seed, and its validation loss is higher on average (on every
# seed of the saved run): it is more confident where it is wrong. Its validation *accuracy* is not
# lower, though: in the saved run it is higher without dropout, 79.0% ± 0.3 against 77.9% ± 1.2.
# Dropout narrowed the gap by lowering the training accuracy (87% against 93%), not by raising the
# validation accuracy.

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### What a short run can and cannot show

# %% [markdown]
# A short run on a small training set can show what dropout does to fitting: less of the training set
# memorised, fewer confident mistakes. It cannot show whether dropout ends with a better network:
# training with dropout is slower (the AlexNet paper, section 4.2, found that it roughly doubled the
# iterations needed to converge), and a difference of a point, with spreads of up to a point over three
# seeds, does not rank the two settings. With 60,000 images and a few epochs (part 1) overfitting is
# small, and dropout matters less; on ImageNet, with 61 million parameters, the paper found that its
# network overfit substantially without dropout.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Data augmentation
#
# AlexNet's other defence against overfitting was more data, made from the data it had by
# transformations that keep the label: random 224x224 crops of the 256x256 training images, their
# mirror images, and a colour perturbation (along the principal components of the pixel colours). The
# paper says that without augmentation the network overfit substantially. `course_utils` applies the two
# geometric ones to whole batches as tensor operations: pad with zeros and crop every image at its own
# random offset (`random_crop`), then mirror a random half of them (`random_flip`).
#
# Each augmented image must therefore be its original shifted by at most the padding, perhaps
# mirrored, and nothing else. The next cell finds that shift for every image of a batch, by trying them
# all, and asserts that one exists:

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Shifted and mirrored copies

# %%
pad = 2
originals = data.train_images[:8]  # uint8 (8, 1, 28, 28)
gen = torch.Generator().manual_seed(0)
augmented = random_flip(random_crop(originals, pad, gen), gen)
assert augmented.shape == originals.shape and augmented.dtype == torch.uint8


def find_move(original, image, pad):
    """The (down, right, mirrored) that turns ``original`` into ``image``, or None."""
    padded = F.pad(original, (pad, pad, pad, pad))  # (C, H + 2 pad, W + 2 pad)
    h, w = original.shape[-2:]
    for dy in range(2 * pad + 1):
        for dx in range(2 * pad + 1):
            crop = padded[:, dy:dy + h, dx:dx + w]
            for mirrored in (False, True):
                if torch.equal(crop.flip(-1) if mirrored else crop, image):
                    return pad - dy, pad - dx, mirrored
    return None


moves = [find_move(o, a, pad) for o, a in zip(originals, augmented)]
assert None not in moves, "an augmented image is not a shifted (and perhaps mirrored) original"
labels = data.train_labels[:8]
show_images(originals, labels, data.classes, ncols=8, size=1.2, title="originals");
show_images(augmented, labels, data.classes, ncols=8, size=1.2, title=f"shifted by up to {pad} pixels, half mirrored");
for i, (down, right, mirrored) in enumerate(moves):
    print(f"image {i}: moved {down:+d} down, {right:+d} right" + (", mirrored" if mirrored else ""))

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Does it help?

# %% [markdown]
# Does it help? The same thousand training images, network and epochs as the dropout experiment
# (dropout 0.5), now with a fresh random shift of up to two pixels and mirroring in every epoch, three
# seeds. The runs without augmentation are the dropout experiment's:

# %%
augmented_runs = {seed: train_small(seed, dropout=0.5, augment=Augment(crop_padding=2, flip=True)) for seed in SEEDS}
summary_line("without augmentation", [dropout_runs[0.5, s] for s in SEEDS])
summary_line("shift + mirror", [augmented_runs[s] for s in SEEDS])
loss_change = [augmented_runs[s][-1].val_loss - dropout_runs[0.5, s][-1].val_loss for s in SEEDS]
print("validation loss with minus without augmentation, seed by seed: " + ", ".join(f"{d:+.3f}" for d in loss_change))
if PROFILE != "smoke":
    for seed in SEEDS:
        assert gap(augmented_runs[seed]) < gap(dropout_runs[0.5, seed]), f"seed {seed}: augmentation should shrink the gap"

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### What augmentation changed

# %% [markdown]
# Augmentation does what the paper used it for: the network can no longer memorise its thousand
# images, so the gap between training and validation accuracy shrinks on every seed. It does not buy
# better validation figures within this budget, though (compare the validation loss and accuracy
# above): the network now also fits its *training* images less well. A harder training set needs
# more epochs, and the epochs here, over a thousand images, are a small budget (AlexNet trained for 90 epochs
# over 1.2 million images, each epoch showing new crops).

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Overlapping pooling
#
# LeNet and, later, VGG pool 2x2 windows with stride 2: the windows tile the map and every pixel lies in
# exactly one. AlexNet pools 3x3 windows with stride 2, so neighbouring windows share a row or a column.
# Both roughly halve the side (AlexNet's 55 becomes 27 either way). `F.unfold` lists the windows and
# `F.fold` adds them back, so folding the unfolded ones counts the windows that contain each pixel:

# %%
# NBVAL_CHECK_OUTPUT
assert (55 - 3) // 2 + 1 == (55 - 2) // 2 + 1 == 27  # both halve AlexNet's 55x55 maps
side = 7
ones = torch.ones(1, 1, side, side)
for k in (2, 3):
    windows = F.unfold(ones, kernel_size=k, stride=2)  # (1, k * k, number of windows)
    counts = F.fold(windows, (side, side), kernel_size=k, stride=2)[0, 0].long()  # windows per pixel
    out_side = F.max_pool2d(ones, k, stride=2).shape[-1]
    assert windows.shape[-1] == out_side ** 2
    print(f"{k}x{k} windows, stride 2: {out_side}x{out_side} outputs; windows containing each pixel:")
    print(counts.numpy())
    if k == 2:
        assert counts.max() == 1, "2x2 windows with stride 2 never overlap"
    else:
        assert counts.min() == 1 and counts.max() == 4, "3x3 windows with stride 2 overlap by one row and column"

# %% [markdown]
# With 2x2 windows the last row and column of an odd-sized map are never looked at; with 3x3 windows
# every pixel is, and the ones on the shared rows and columns are seen by two or four windows. A
# feature that straddles a window boundary still reaches a window that contains all of it. The paper
# credits overlapping pooling with 0.4% lower top-1 error on ImageNet and a little less overfitting;
# that is too small to measure with a few runs on Fashion-MNIST, so we leave it at the picture.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Local response normalisation, and why it went away
#
# LRN divides each activation by a term that grows with the squared activations of its neighbours in
# the channel dimension at the same position (section 3.3 of the paper):
#
# $$b_c = a_c \Big/ \Big(k + \alpha \sum_{j=c-n/2}^{c+n/2} a_j^2\Big)^{\beta}, \qquad k = 2,\ n = 5,\ \alpha = 10^{-4},\ \beta = 0.75.$$
#
# Strongly active channels thus suppress their neighbours ("lateral inhibition"). Two details matter.
# PyTorch's `nn.LocalResponseNorm` divides its `alpha` by `n`, so the paper's constants are
# `nn.LocalResponseNorm(size=5, alpha=5e-4, beta=0.75, k=2)` (`course_utils.models.alexnet` passes that;
# many reimplementations pass `alpha=1e-4` and normalise five times more weakly). And with `k = 2`,
# whenever `alpha * sum a_j^2` is small next to 2, the layer divides everything by the same
# `2^0.75 = 1.68`: it multiplies by **0.5946**, a constant that the next layer's weights absorb. Whether
# LRN *normalises* anything therefore depends on the size of the activations. Measured after conv 1 and
# its ReLU on 256 validation images, with our inputs (normalised to mean 0 and standard deviation 1) and
# with the paper's (raw pixel values 0-255 with the mean subtracted, section 2):

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### How strongly LRN divides, measured

# %% tags=["no-slide"] slideshow={"slide_type": "skip"}
PIXEL_SCALE = float(data.std) * 255  # normalised input -> raw pixel units, mean still subtracted


class PaperInputScale(nn.Module):
    """Undo the division by the standard deviation: inputs in raw pixel units (0-255, mean subtracted)."""

    def forward(self, x):
        return x * PIXEL_SCALE


lrn_layer = alexnet.local_response_norm()
assert (lrn_layer.size, lrn_layer.alpha / lrn_layer.size, lrn_layer.k, lrn_layer.beta) == (5, 1e-4, 2.0, 0.75)
x_val, _ = next(iter(exp_data.val_batches(256, device=DEVICE)))
probe = small_alexnet(lrn=True)
factors, sizes = {}, {}
with torch.no_grad():
    for name, inputs in (("our inputs", x_val), ("the paper's input scale", PaperInputScale()(x_val))):
        a = probe.features[1](probe.features[0](inputs))  # conv 1 and ReLU
        b = probe.features[2](a)  # LRN
        active = a > 1e-3
        factors[name] = (b[active] / a[active]).cpu()
        sizes[name] = a.pow(2).mean().sqrt().item()  # root mean square of the activations

# %%
fig, ax = plt.subplots(figsize=(6.5, 2.8))
for name, f in factors.items():
    ax.hist(f.numpy(), bins=60, range=(0, 0.62), alpha=0.7, label=name)
ax.axvline(2 ** -0.75, color="k", ls=":", label="2^-0.75 = 0.5946")
ax.set(xlabel="b / a (LRN output over input)", ylabel="activations", title="what LRN does after conv 1",
       yscale="log")
ax.legend(fontsize=8)
plt.show()
for name, f in factors.items():
    print(f"{name:<24} b/a from {f.min():.3f} to {f.max():.4f} (median {f.median():.4f})")
activation_scale = sizes["the paper's input scale"] / sizes["our inputs"]
print(f"the paper's scale multiplies the inputs by {PIXEL_SCALE:.1f} (255 x the pixels' standard deviation, "
      f"{float(data.std):.3f}) and conv 1's activations by {activation_scale:.1f} (root mean square)")
assert 0.75 < activation_scale / PIXEL_SCALE < 1.25, "conv 1 and ReLU scale (almost) with their input"
ours = factors["our inputs"]
assert (ours / 2 ** -0.75 - 1).abs().max() < 0.01, "with our inputs LRN is a constant rescale within 1%"
assert factors["the paper's input scale"].min() < 0.5 * 2 ** -0.75, "at the paper's scale it normalises"

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### The experiment at the paper's scale

# %% [markdown]
# With inputs of unit scale, LRN is a fixed multiplication by 0.5946 (within a per cent): an experiment
# that switched it on and off there would measure a rescaling, not a normalisation. At the paper's input
# scale the activations are about 90 times larger (the factors printed above: a convolution and a ReLU
# scale with their input, up to the biases), the sum term is no longer negligible next to `k` (at the
# most active positions it is several times larger), and the layer divides strongly active positions
# by much more than weakly active ones: the normalisation the paper describes. So the experiment runs
# at the paper's input scale, with and without LRN, three seeds, AdamW as in part 1:

# %%
lrn_runs = {}
for lrn in (False, True):
    for seed in SEEDS:
        seed_everything(seed)
        net = nn.Sequential(PaperInputScale(), small_alexnet(lrn=lrn))
        opt = torch.optim.AdamW(net.parameters(), lr=2e-3, weight_decay=0.05, **optimizer_options(DEVICE))
        batches = exp_data.train_batches(batch_size, device=DEVICE, seed=seed)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=2e-3, total_steps=settings["exp_epochs"] * len(batches))
        lrn_runs[lrn, seed] = fit(net, batches, exp_val, epochs=settings["exp_epochs"], optimizer=opt,
                                  scheduler=sched, eval_name="val", channels_last=channels_last, progress=False,
                                  log=False)
for lrn in (False, True):
    accs = [lrn_runs[lrn, s][-1].val_acc for s in SEEDS]
    secs = [lrn_runs[lrn, s].mean("seconds") for s in SEEDS]
    (ma, sa), (ms, _) = mean_and_spread(accs), mean_and_spread(secs)
    print(f"LRN {'on ' if lrn else 'off'}: validation accuracy {ma:.2%} ± {sa:.2%} over {len(SEEDS)} seeds "
          f"({', '.join(f'{a:.2%}' for a in accs)}); {ms:.1f} s per epoch")
differences = [lrn_runs[True, s][-1].val_acc - lrn_runs[False, s][-1].val_acc for s in SEEDS]
print(f"LRN on minus off, seed by seed: {', '.join(f'{d:+.2%}' for d in differences)}")
results.record("07", "lrn_val_acc_difference", round(statistics.fmean(differences), 4), seeds=len(SEEDS),
               input_scale="raw pixels");
if PROFILE != "smoke":
    assert statistics.fmean(differences) < 0.01, "LRN should not help noticeably here"

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### What LRN costs per step

# %% [markdown]
# The seconds per epoch above come from runs on a shared machine and move with its load. To see what
# LRN itself costs, time one training step (forward and backward, 128 images) of each network in turn,
# nine times after an untimed warm-up round, and keep each one's fastest (`course_utils.timing`):

# %%
step_nets = {lrn: nn.Sequential(PaperInputScale(), small_alexnet(lrn=lrn)) for lrn in (False, True)}
x_step, y_step = next(iter(exp_data.train_batches(batch_size, device=DEVICE, seed=0)))
if channels_last:
    step_nets = {k: net.to(memory_format=torch.channels_last) for k, net in step_nets.items()}
    x_step = x_step.contiguous(memory_format=torch.channels_last)
step_times = time_interleaved(  # in turn, so that both see the same load; the clock waits for a GPU
    {lrn: lambda net=net: F.cross_entropy(net(x_step), y_step).backward() for lrn, net in step_nets.items()},
    repeats=9, device=DEVICE)
fastest = {lrn: t.fastest for lrn, t in step_times.items()}
print(f"one training step, fastest of 9: without LRN {1000 * fastest[False]:.1f} ms, with LRN "
      f"{1000 * fastest[True]:.1f} ms ({fastest[True] / fastest[False] - 1:+.0%})")
assert fastest[True] > fastest[False], "LRN's extra passes over the first two layers' maps cost time"

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### What LRN changed

# %% [markdown]
# At the paper's input scale LRN does normalise, and it does not help here: in the saved run the
# validation accuracy is lower with it on every seed (the differences are printed above), the assertion
# checks that on average over the seeds it gains less than one point, and every training step costs more. Later work
# found the same at full scale: VGG (notebook 08) measured no gain from LRN on ImageNet (29.7% top-1
# error with it, 29.6% without), and batch normalisation (notebook 04), which normalises each channel
# over the batch and learns a scale and a shift, took its place.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Summary
#
# - **Activations.** Eight sigmoid layers pass almost no gradient back to the first layer and do not
#   learn; ReLU (He initialisation) and tanh (Glorot initialisation) both learn. In our short run tanh
#   is ahead of ReLU, unlike the paper's Figure 1; ReLU's lasting advantage is in deep networks.
# - **Dropout** shrinks the gap between training and validation accuracy on every seed and lowers the
#   validation loss on average, but in the saved run not the validation accuracy, which is a point
#   lower with it (within the spread of so short a run); **augmentation** (shifts and mirror images)
#   shrinks the gap further,
#   but in a short run it costs training fit as well, and the validation figures do not improve.
# - **Overlapping pooling** (3x3 windows, stride 2) looks at every pixel; 2x2 windows with stride 2
#   skip the last row and column of an odd-sized map.
# - **LRN** with the paper's constants is a constant rescale (x0.5946) at unit input scale; at the
#   paper's pixel scale it normalises, costs time, and does not help here.
#
# Every comparison ran over three seeds on a validation split; the test set was not used.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Exercises
#
# Replace each `raise NotImplementedError` with your code and run the cell. Hints come in three tiers:
# an exercise not attempted yet prints a nudge (what to look at); `ex07.hint("name")` gives the next,
# the key idea, and so does a wrong answer. The third is a recipe: `ex07.hint("name", level=3)`, or a
# third wrong attempt, shows it. (Exercises 1 and 2 are in part 1.)

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### 3. Local response normalisation
#
# The paper normalises each activation by its neighbours in the channel dimension:
# `b_c = a_c / (k + alpha' * sum_j a_j^2) ** beta`, the sum over the `size` channels centred on `c`
# (fewer at the edges). Write `local_response_norm(x, size, alpha, beta, k)` that matches
# `F.local_response_norm`, whose `alpha` is the paper's `alpha'` times `size`.

# %%
def local_response_norm(x, size, alpha, beta, k):
    raise NotImplementedError  # your code here


ex07.check_local_response_norm(local_response_norm);


# %% [markdown] slideshow={"slide_type": "subslide"}
# ### 4. Dropout
#
# Write `dropout(x, p, training)`: in training, zero each element with probability `p` and scale the
# others by `1 / (1 - p)`; in evaluation, return `x`. Why scale during training rather than multiply
# by `1 - p` at test time (the paper's original formulation)?

# %%
def dropout(x, p, training):
    raise NotImplementedError  # your code here


ex07.check_dropout(dropout);

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### 5. (Open) ReLU's learning rate
#
# In the race above ReLU got its best of three learning rates. Extend the grid downwards (0.002, 0.001)
# and upwards (0.05) for ReLU and tanh, and plot the validation accuracy after the short run against the
# learning rate. Which activation tolerates the wider range? Then add batch norm (notebook 04) after
# every convolution: how do the curves change?
