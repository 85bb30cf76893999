# %% [markdown] slideshow={"slide_type": "slide"}
# # 06 LeNet: the first convolutional network
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/deep-learning-course/conv-to-transformer/blob/main/notebooks/06_lenet.ipynb)
#
# In the 1990s LeCun and colleagues at Bell Labs built convolutional networks that read handwritten
# digits on bank cheques; by 1998 one such system was deployed commercially and read several million
# cheques a day. Their best-known design is **LeNet-5** (LeCun, Bottou, Bengio and Haffner, 1998,
# *Gradient-Based Learning Applied to Document Recognition*): everything notebooks 01-05 built --
# convolution, padding, pooling, a dense head, backpropagation -- put together into one trainable
# network.
#
# In this notebook you will
#
# 1. build LeNet-5 layer by layer, with a table of shapes, parameters and multiply-adds, and check it
#    against `course_utils`, d2l's LeNet and a count by hand;
# 2. train the 1998 design (sigmoid, average pooling) and its modern variants (ReLU, max pooling,
#    batch norm) on Fashion-MNIST and compare them in a table;
# 3. look at what the trained network learned: its filters and its feature maps.

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
if importlib.util.find_spec("d2l") is None:  # d2l pins old numpy: install it without its pins
    if subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "d2l==1.0.3"]                      ).returncode:
        raise RuntimeError("Installing d2l failed (pip says why above). Check that this runtime is "
                           "online; or run in a new cell:  !pip install --no-deps d2l==1.0.3")
importlib.invalidate_caches()  # so that packages installed just now can be imported
# ---- notebook imports ----
import time

import matplotlib.pyplot as plt
import torch
from d2l import torch as d2l
from torch import nn

from course_utils import results
from course_utils.accounting import count_macs, count_params, print_layer_table
from course_utils.checks import assert_close
from course_utils.data import load_dataset
from course_utils.exercises import ex06
from course_utils.models import lenet
from course_utils.plot import plot_history, show_feature_maps, show_images, show_kernels
from course_utils.checkpoint import checkpoint_path
from course_utils.timing import stderr_silenced, time_interleaved
from course_utils.train import evaluate, fit, optimizer_options

from course_utils import profile
from course_utils.device import get_device, seed_everything

PROFILE = profile.current()
DEVICE = get_device()
seed_everything(0)
print(f"profile: {PROFILE}   device: {DEVICE}")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## The data: Fashion-MNIST
#
# LeNet read 32x32 digits. We use Fashion-MNIST (Xiao, Rasul and Vollgraf, 2017): the same format as
# MNIST -- 60,000 training and 10,000 test images, 28x28 grey pixels, ten classes -- but clothes
# instead of digits, which makes it harder (a linear model reaches about 84% instead of MNIST's 92%),
# so the differences between the variants show.

# %%
data = load_dataset("fashion_mnist")
print(data)
assert data.image_shape == (1, 28, 28) and data.num_classes == 10
show_images(data.train_images[:16], data.train_labels[:16], data.classes, ncols=8);


# %% [markdown] slideshow={"slide_type": "slide"}
# ## LeNet-5, layer by layer
#
# Two **convolution blocks** turn the image into feature maps; three **dense layers** turn those into
# class scores.
#
# | layer | what | output (C x H x W) |
# | --- | --- | --- |
# | C1 | 6 filters of 5x5 | 6 x 28 x 28 |
# | S2 | 2x2 pooling, stride 2 | 6 x 14 x 14 |
# | C3 | 16 filters of 5x5 | 16 x 10 x 10 |
# | S4 | 2x2 pooling, stride 2 | 16 x 5 x 5 |
# | C5 | 120 filters of 5x5 | 120 x 1 x 1 |
# | F6, output | dense 84, 10 | 84, 10 |
#
# C5 is a convolution in the paper: 120 filters of 5x5 over S4's 16 maps.
# On S4's 5x5 maps each filter fits exactly once, so its output is 1x1 and
# the layer computes what a dense layer from `16*5*5 = 400` features to 120
# would; the paper keeps the name because on a larger input C5 would slide
# and give a larger map. We build it as that dense layer (flatten, then
# `nn.Linear(400, 120)`), as most reimplementations do, and check the
# equivalence below.
#
# The paper fed 32x32 images (the digits padded by 2 pixels on each side) to C1 without padding.
# Fashion-MNIST's images are 28x28, so C1 pads by 2 instead (as *Dive into Deep Learning* does): the
# first feature map is 28x28 either way, and all later layers are identical.
#
# The 1998 network used a scaled tanh, a trainable subsampling (exercise 2), connected C3 only to some
# of S2's maps, and ended with radial basis functions. The common simplification, which we build, keeps
# the layout and uses a **sigmoid** and plain **average pooling**.

# %%
class MyLeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Sequential(nn.Conv2d(1, 6, kernel_size=5, padding=2), nn.Sigmoid(), nn.AvgPool2d(2, stride=2)),
            nn.Sequential(nn.Conv2d(6, 16, kernel_size=5), nn.Sigmoid(), nn.AvgPool2d(2, stride=2)),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),  # (B, 16, 5, 5) -> (B, 400)
            nn.Sequential(nn.Linear(16 * 5 * 5, 120), nn.Sigmoid()),
            nn.Sequential(nn.Linear(120, 84), nn.Sigmoid()),
            nn.Linear(84, 10),
        )

    def forward(self, x):
        return self.classifier(self.features(x))


my_lenet = MyLeNet()

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Following one image through
#
# Each convolution maps a side `n` to `n + 2p - k + 1`, each pooling halves it. We print every layer's
# output and assert it against that formula:

# %%
# NBVAL_CHECK_OUTPUT
x = torch.randn(1, 1, 28, 28)
expected_sides = {"C1": 28 + 2 * 2 - 5 + 1, "S2": 28 // 2, "C3": 14 - 5 + 1, "S4": 10 // 2}
names = iter(expected_sides)
h = x
for block in my_lenet.features:
    for layer in block:
        h = layer(h)
        if not isinstance(layer, nn.Sigmoid):
            name = next(names)
            assert h.shape[-1] == expected_sides[name], f"{name}: expected side {expected_sides[name]}"
            print(f"{name:<3} {type(layer).__name__:<10} -> {tuple(h.shape)}")
for layer in my_lenet.classifier:
    h = layer(h)
    print(f"    {type(layer).__name__:<10} -> {tuple(h.shape)}")
assert h.shape == (1, 10)

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Parameters and multiply-adds
#
# `print_layer_table` runs one forward pass and lists every layer with its output shape, its
# parameters and its multiply-adds (counted by PyTorch's FLOP counter):

# %%
# NBVAL_CHECK_OUTPUT
rows = print_layer_table(my_lenet, (1, 1, 28, 28))

# %% [markdown]
# By hand: a convolution has `(k*k*C_in + 1) * C_out` parameters (one bias per filter), a dense layer
# `in*out + out`. A convolution's multiply-adds are its weights times the output pixels; a dense
# layer's are its weights.

# %%
# NBVAL_CHECK_OUTPUT
conv_params = (5 * 5 * 1 + 1) * 6 + (5 * 5 * 6 + 1) * 16
dense_params = (400 * 120 + 120) + (120 * 84 + 84) + (84 * 10 + 10)
conv_macs = 5 * 5 * 1 * 6 * 28 * 28 + 5 * 5 * 6 * 16 * 10 * 10
dense_macs = 400 * 120 + 120 * 84 + 84 * 10
assert count_params(my_lenet) == conv_params + dense_params == 61_706, "parameter count differs from the formula"
assert count_macs(my_lenet, (1, 1, 28, 28)) == conv_macs + dense_macs, "multiply-adds differ from the formula"
print(f"parameters: {conv_params:,} in convolutions + {dense_params:,} in dense layers = {conv_params + dense_params:,}")
print(f"multiply-adds: {conv_macs:,} in convolutions + {dense_macs:,} in dense layers = {conv_macs + dense_macs:,}")
print(f"the convolutions hold {conv_params / (conv_params + dense_params):.0%} of the parameters "
      f"but do {conv_macs / (conv_macs + dense_macs):.0%} of the work")

# %% [markdown]
# This split -- few parameters but most of the arithmetic in the convolutions, most parameters in the
# dense layers -- is weight sharing at work, and it grows with every network in notebooks 07-09.

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### C5: a convolution that sees a 1x1 map
#
# The paper's C5 as a convolution, `nn.Conv2d(16, 120, kernel_size=5)`, has the same
# `(5*5*16 + 1) * 120 = 48,120` parameters as our dense layer; with the dense layer's weights
# reshaped to `(120, 16, 5, 5)` it gives the same 120 numbers on S4's maps:

# %%
f5 = my_lenet.classifier[1][0]  # nn.Linear(400, 120)
c5 = nn.Conv2d(16, 120, kernel_size=5)
with torch.no_grad():
    c5.weight.copy_(f5.weight.reshape(120, 16, 5, 5))  # flattening order (C, H, W) = the kernel's layout
    c5.bias.copy_(f5.bias)
s4 = my_lenet.features(torch.randn(4, 1, 28, 28))  # (4, 16, 5, 5)
assert count_params(c5) == count_params(f5) == (5 * 5 * 16 + 1) * 120 == 48_120
assert c5(s4).shape == (4, 120, 1, 1), "each 5x5 filter fits once on a 5x5 map"
assert_close(c5(s4).flatten(1), f5(s4.flatten(1)), rtol=1e-5, atol=1e-5, msg="C5 as a convolution vs as a dense layer")
print(f"C5 as Conv2d(16, 120, 5): output {tuple(c5(s4).shape)}, the same numbers as Linear(400, 120); "
      f"on the 8x8 S4 maps of a 44x44 input it would give {tuple(c5(torch.zeros(1, 16, 8, 8)).shape)}")

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### The same network as the reference and as d2l
#
# `course_utils.models.lenet` holds the reference. With the same weights it must give the same output:

# %% tags=["no-slide"] slideshow={"slide_type": "skip"}
reference = lenet.lenet_original()
assert count_params(reference) == count_params(my_lenet), "parameter counts differ"
reference.load_state_dict(my_lenet.state_dict())  # same names and shapes, or this raises
x = torch.randn(8, 1, 28, 28)
assert_close(my_lenet(x), reference(x), msg="hand-built LeNet vs course_utils.models.lenet.lenet_original")
print(f"hand-built LeNet == course_utils' lenet_original: {count_params(reference):,} parameters, same outputs")

# %% [markdown]
# *Dive into Deep Learning*'s `d2l.LeNet` uses lazy layers, which learn their input sizes from the
# first batch: its parameters exist only after one forward pass. Its layers come in the same order as
# ours (under other names), so we copy the weights tensor by tensor:

# %% tags=["no-slide"] slideshow={"slide_type": "skip"}
d2l_lenet = d2l.LeNet()
d2l_lenet(torch.zeros(1, 1, 28, 28))  # materialise the lazy layers
assert count_params(d2l_lenet) == count_params(my_lenet) == 61_706
with torch.no_grad():
    for (ours_name, ours), (theirs_name, theirs) in zip(my_lenet.state_dict().items(), d2l_lenet.state_dict().items()):
        assert ours.shape == theirs.shape, f"{ours_name} vs {theirs_name}: shapes differ"
        ours.copy_(theirs)
assert_close(my_lenet(x), d2l_lenet(x), msg="hand-built LeNet vs d2l.LeNet with the same weights")
print(f"hand-built LeNet == d2l.LeNet: {count_params(d2l_lenet):,} parameters, same outputs")

# %% [markdown]
# And the paper's own set-up, 32x32 inputs without padding in C1, has exactly the same parameters
# (padding changes the input, not the layers):

# %%
# NBVAL_CHECK_OUTPUT
paper_lenet = lenet.lenet_original(input_size=32, padding=0)
assert count_params(paper_lenet) == 61_706
assert paper_lenet.features(torch.zeros(1, 1, 32, 32)).shape == (1, 16, 5, 5)
print("32x32 without padding: 16 x 5 x 5 features, 61,706 parameters, as at 28x28 with padding 2")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## From 1998 to today: the variants
#
# Three changes separate LeNet from the networks of the 2010s:
#
# - **ReLU** instead of sigmoid. The backward pass multiplies the gradient by each activation's
#   slope; a sigmoid's slope is at most 1/4 (at 0) and vanishes for large inputs, a ReLU's is 1
#   wherever the unit is active (Nair and Hinton, 2010; Glorot, Bordes and Bengio, 2011).
# - **Max pooling** instead of averaging: keep the strongest response in each window (notebook 03).
# - **Batch normalisation** (notebook 04; Ioffe and Szegedy, 2015) after each convolution and hidden
#   dense layer, before the activation, so every layer sees inputs of a steady scale.
#
# The slopes, computed by autograd:

# %%
z = torch.linspace(-6, 6, 241, requires_grad=True)
slopes = {}
for name, fn in (("sigmoid", torch.sigmoid), ("ReLU", torch.relu)):
    (grad,) = torch.autograd.grad(fn(z).sum(), z)
    slopes[name] = grad
assert abs(slopes["sigmoid"].max().item() - 0.25) < 1e-6, "the sigmoid's largest slope is 1/4, at 0"
assert torch.all(slopes["ReLU"][z > 0] == 1)
fig, ax = plt.subplots(figsize=(5, 2.6))
for name, grad in slopes.items():
    ax.plot(z.detach(), grad, label=f"{name}'")
ax.set(xlabel="pre-activation", ylabel="slope", title="Gradient through one activation")
ax.legend(), ax.grid(alpha=0.3)
plt.show()

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### What four sigmoids do to a gradient, measured
#
# On its way from the loss to C1 the gradient passes four sigmoids, and each multiplies it by its
# slope, at most 1/4: along any path the slopes multiply to at most `(1/4)^4 = 1/256`. That bounds the
# slopes, not the gradient: the gradient is also multiplied by the weights it passes through, and large
# weights could make it grow. So we measure it, at initialisation, on a batch of 256 training images,
# for three seeds: the mean slope of each sigmoid layer, and the size (norm) of each layer's weight
# gradient in the sigmoid LeNet and the ReLU LeNet.

# %%
gradient_data = data.subset(1_000, 0)
x, y = next(iter(gradient_data.train_batches(256, device="cpu", seed=0)))
layer_names = ["C1", "C3", "F5", "F6", "output"]
grad_norms, mean_slopes = {}, {}
for seed in range(3):
    for key, kwargs in (("sigmoid", dict(activation="sigmoid", pool="avg")), ("ReLU", dict(activation="relu", pool="max"))):
        torch.manual_seed(seed)
        net = lenet.lenet(1, 10, input_size=28, **kwargs)
        slopes_seen = []
        hooks = [m.register_forward_hook(lambda m, args, out: slopes_seen.append((out * (1 - out)).mean().item()))
                 for m in net.modules() if isinstance(m, nn.Sigmoid)]  # sigmoid' = s (1 - s)
        torch.nn.functional.cross_entropy(net(x), y).backward()
        for h in hooks:
            h.remove()
        weighted = [m for m in net.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
        grad_norms[key, seed] = [m.weight.grad.norm().item() for m in weighted]
        if key == "sigmoid":
            mean_slopes[seed] = slopes_seen
print("mean slope of each sigmoid layer:", [f"{v:.3f}" for v in mean_slopes[0]],
      f"-> product {torch.tensor(mean_slopes[0]).prod():.4f} (1/256 = {1 / 256:.4f})")
print(f"{'weight gradient norm':<22}" + "".join(f"{n:>9}" for n in layer_names) + f"{'C1 / output':>13}")
for (key, seed), norms in grad_norms.items():
    print(f"{key + ', seed ' + str(seed):<22}" + "".join(f"{v:>9.1e}" for v in norms) + f"{norms[0] / norms[-1]:>13.1e}")
for seed in range(3):
    assert all(v <= 0.25 for v in mean_slopes[seed]) and torch.tensor(mean_slopes[seed]).prod() <= 1 / 256
    sigmoid_ratio = grad_norms["sigmoid", seed][0] / grad_norms["sigmoid", seed][-1]
    relu_ratio = grad_norms["ReLU", seed][0] / grad_norms["ReLU", seed][-1]
    assert sigmoid_ratio < 0.01 < 0.1 < relu_ratio, "the sigmoid LeNet's first-layer gradient should be far smaller"

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### What the measurement shows

# %% [markdown]
# In the sigmoid LeNet each sigmoid layer passes on about 0.24 of the gradient on average (its inputs
# sit near 0 at initialisation, where the slope is largest), the four together about 1/300, and the
# weights shrink it further: C1's gradient comes out about a thousand times smaller than the output
# layer's. In the ReLU LeNet the gradient reaches C1 at about the size it left the output.

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Does a small gradient mean slow learning?
#
# It depends on the optimiser. Plain SGD moves each weight by the learning rate times its gradient, so a
# layer whose gradient is a thousand times smaller takes steps a thousand times smaller. Adam (and
# AdamW, which the training below uses) divides each parameter's step by the square root of a running
# average of that parameter's squared gradients, which cancels the gradient's scale. Both, for two
# seeds: 200 steps of 128 training images (under half an epoch) with SGD (learning rate 0.1, as d2l
# uses) and with AdamW (learning rate 0.001), measuring how far each layer's weights moved relative to
# their size at the start, `||W - W0|| / ||W0||`, and the training loss of the last 20 steps:

# %%
MOVE_PAIR = {"sigmoid": dict(activation="sigmoid", pool="avg"), "ReLU": dict(activation="relu", pool="max")}
OPTIMIZERS = {"SGD": lambda params: torch.optim.SGD(params, lr=0.1),
              "AdamW": lambda params: torch.optim.AdamW(params, lr=1e-3)}
move_steps = profile.pick(smoke=30, standard=200, full=200)


def weight_moves(key, optimizer_name, seed):
    """Each layer's ||W - W0|| / ||W0|| after ``move_steps`` steps, and the mean loss of the last 20."""
    torch.manual_seed(seed)
    net = lenet.lenet(1, 10, input_size=28, **MOVE_PAIR[key]).to(DEVICE)
    layers = [m for m in net.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    start = [m.weight.detach().clone() for m in layers]
    optimizer = OPTIMIZERS[optimizer_name](net.parameters())
    losses = []
    for _, (xb, yb) in zip(range(move_steps), data.train_batches(128, device=DEVICE, seed=seed)):
        loss = torch.nn.functional.cross_entropy(net(xb), yb)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    moves = [((m.weight.detach() - w0).norm() / w0.norm()).item() for m, w0 in zip(layers, start)]
    return moves, sum(losses[-20:]) / len(losses[-20:])


moves, last_loss = {}, {}
for optimizer_name in OPTIMIZERS:
    for seed in range(2):
        for key in MOVE_PAIR:
            moves[optimizer_name, key, seed], last_loss[optimizer_name, key, seed] = weight_moves(key, optimizer_name, seed)
print(f"how far each layer's weights moved in {move_steps} steps, ||W - W0|| / ||W0||; loss of the last 20 steps")
print(f"{'':<24}" + "".join(f"{n:>9}" for n in layer_names) + f"{'C1 / output':>13}{'loss':>7}")
for (optimizer_name, key, seed), m in moves.items():
    print(f"{optimizer_name + ', ' + key + ', seed ' + str(seed):<24}" + "".join(f"{v:>9.1e}" for v in m)
          + f"{m[0] / m[-1]:>13.1e}{last_loss[optimizer_name, key, seed]:>7.3f}")
for seed in range(2):
    sgd_sigmoid, sgd_relu, adamw_sigmoid = (moves[o, k, seed] for o, k in (("SGD", "sigmoid"), ("SGD", "ReLU"),
                                                                            ("AdamW", "sigmoid")))
    assert sgd_sigmoid[0] / sgd_sigmoid[-1] < 0.1 < 0.3 < sgd_relu[0] / sgd_relu[-1], (
        "with SGD the sigmoid LeNet's C1 should move far less than its output layer, the ReLU LeNet's should not")
    assert sgd_sigmoid[0] < 0.02 * sgd_relu[0], "with SGD the sigmoid C1 should move far less than the ReLU C1"
    assert adamw_sigmoid[0] / adamw_sigmoid[-1] > 0.3 and adamw_sigmoid[0] > 30 * sgd_sigmoid[0], (
        "AdamW should move the sigmoid LeNet's C1 about as far as its output layer")
    if PROFILE != "smoke":  # 30 steps are too few for the losses to part
        assert last_loss["SGD", "sigmoid", seed] > 2.2 > 1.5 > last_loss["SGD", "ReLU", seed], (
            "with SGD the sigmoid LeNet should still be at chance (ln 10 = 2.30), the ReLU one well below")
        assert last_loss["AdamW", "sigmoid", seed] < 2.0, "with AdamW the sigmoid LeNet should learn"

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### What the steps show

# %% [markdown]
# With SGD the small gradient is a small step. In the sigmoid LeNet C1 moves by a fraction of a per
# cent of its size, a few per cent of what the output layer moves (not the thousandth of the gradients
# at initialisation: the gradients change as the weights do) and over a hundred times less than C1 of
# the ReLU LeNet; and after 200 steps the sigmoid network has not started to learn: its loss is still
# `ln 10 = 2.30`, chance, where the ReLU network's is below 1.
#
# With AdamW the sigmoid LeNet's C1 moves as far as its other layers, and the network learns, though
# its loss stays above the ReLU network's. Adam's per-parameter scaling hides most of the vanishing
# gradient: that is why the training below, which uses AdamW, shows the sigmoid variants behind the
# ReLU ones, not stuck at chance.
#
# Five variants, all with the same convolutions and dense layers (batch norm adds a scale and a shift
# per channel):

# %% tags=["colab-estimate"]
# NBVAL_CHECK_OUTPUT
VARIANTS = {
    "sigmoid_avg": dict(activation="sigmoid", pool="avg"),  # 1998 (simplified)
    "sigmoid_max": dict(activation="sigmoid", pool="max"),
    "relu_avg": dict(activation="relu", pool="avg"),
    "relu": dict(activation="relu", pool="max"),  # the modern LeNet
    "relu_bn": dict(activation="relu", pool="max", batch_norm=True),
}
LABELS = {"sigmoid_avg": "sigmoid, avg pool (1998)", "sigmoid_max": "sigmoid, max pool",
          "relu_avg": "ReLU, avg pool", "relu": "ReLU, max pool", "relu_bn": "ReLU, max pool, batch norm"}
for key, kwargs in VARIANTS.items():
    model = lenet.lenet(1, 10, input_size=28, **kwargs)
    print(f"{LABELS[key]:<28}{count_params(model):>8,} parameters {count_macs(model, (1, 1, 28, 28)):>10,} mult-adds")
assert count_params(lenet.lenet_modern(batch_norm=True)) == 61_706 + 2 * (6 + 16 + 120 + 84)

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Training
#
# Every variant gets the same training: AdamW (Loshchilov and Hutter, 2019) with a one-cycle learning
# rate (Smith and Topin, 2019), batch 128, five epochs (the same number as the networks of notebooks
# 07-09, so that notebook 09 can compare them fairly), the same seed. We **choose** between the
# variants, so, as in notebook 04, the choice is made on a validation split of 5,000 images carved out
# of the training set; the test set is measured once, for the chosen variant, at the end. Only the
# memory layout differs: on a CPU `benchmarks/memory_layout.py` measured channels-last 1.05-1.2x faster
# for the four variants without batch norm but slower for the one with it, so that one trains
# contiguous (`channels_last=False`).

# %%
settings = profile.pick(
    smoke=dict(n_train=2_000, n_val=500, epochs=2, lr=3e-3, bar=0.4),
    standard=dict(n_train=60_000, n_val=5_000, epochs=5, lr=3e-3, bar=0.88),
    full=dict(n_train=60_000, n_val=5_000, epochs=10, lr=3e-3, bar=0.89),
)
batch_size = 128
print(settings)
train_data = data if settings["n_train"] == len(data.train_labels) else data.subset(settings["n_train"], 10_000)
train_data = train_data.split_validation(settings["n_val"])
train_batches = train_data.train_batches(batch_size, device=DEVICE)
val_batches = train_data.val_batches(1_000, device=DEVICE)
test_batches = data.test_batches(1_000, device=DEVICE)  # the full test set, every profile; used once
assert test_batches.num_examples == 10_000
print(f"training on {train_batches.num_examples:,} images, validating on {val_batches.num_examples:,}, "
      f"testing (once) on {test_batches.num_examples:,}")

# %% tags=["colab-estimate", "no-slide"] slideshow={"slide_type": "skip"}
# The `full` profile's training, declared for the Colab T4 estimate of benchmarks/colab_time.py
# (CONTRIBUTING, "Colab time"); nothing is built or trained here.
colab_runs = [dict(what=f"LeNet-5 {key}", model=lambda kwargs=kwargs: lenet.lenet(1, 10, input_size=28, **kwargs),
                   input_shape=(1, 1, 28, 28), train=settings["n_train"] - settings["n_val"],
                   epochs=settings["epochs"], eval=settings["n_val"]) for key, kwargs in VARIANTS.items()]

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Five variants, one budget

# %%
histories, models = {}, {}
start = time.perf_counter()
for key, kwargs in VARIANTS.items():
    seed_everything(0)
    model = lenet.lenet(1, 10, input_size=28, **kwargs).to(DEVICE)
    optimizer = torch.optim.AdamW(model.parameters(), lr=settings["lr"], weight_decay=0.01,
                                  **optimizer_options(DEVICE))
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=settings["lr"],
                                                    total_steps=settings["epochs"] * len(train_batches))
    print(f"--- {LABELS[key]}")
    # benchmarks/memory_layout.py, on a CPU: channels-last is up to 1.2x faster without batch norm, slower with it
    channels_last = DEVICE.type == "cuda" or (DEVICE.type == "cpu" and not kwargs.get("batch_norm", False))
    histories[key] = fit(model, train_batches, val_batches, epochs=settings["epochs"], optimizer=optimizer,
                         scheduler=scheduler, eval_name="val", checkpoint=checkpoint_path(f"06_lenet_{key}"),
                         channels_last=channels_last)
    models[key] = model
print(f"five variants trained in {time.perf_counter() - start:.0f} s on {DEVICE}")

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Learning curves
#
# Training loss and validation accuracy after every epoch, one colour per variant:

# %%
fig, axes = plt.subplots(1, 2, figsize=(10, 3.4))
for key, history in histories.items():
    axes[0].plot(history.column("epoch"), history.column("train_loss"), "o-", label=LABELS[key])
    axes[1].plot(history.column("epoch"), [100 * a for a in history.column("val_acc")], "o-", label=LABELS[key])
axes[0].set(xlabel="epoch", ylabel="training loss", yscale="log", title="training loss")
axes[1].set(xlabel="epoch", ylabel="validation accuracy (%)", title=f"validation accuracy ({val_batches.num_examples:,} images)")
for ax in axes:
    ax.grid(alpha=0.3)
axes[1].legend(fontsize=8)
fig.tight_layout()
plt.show()

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### The comparison, and the choice

# %%
print(f"{'variant':<28}{'val acc':>9}{'train acc':>10}{'epoch-1 val acc':>16}{'s/epoch':>9}{'examples/s':>11}")
for key, history in histories.items():
    print(f"{LABELS[key]:<28}{history[-1].val_acc:>9.2%}{history[-1].train_acc:>10.2%}"
          f"{history[0].val_acc:>16.2%}{history.mean('seconds'):>9.2f}{history.mean('examples_per_s'):>11,.0f}")
chosen = max(histories, key=lambda k: histories[k][-1].val_acc)
print(f"chosen on the validation split: {LABELS[chosen]}")
plot_history(histories[chosen], title=f"LeNet ({LABELS[chosen]})");

# %% [markdown]
# What the table should show (and the next cell asserts, in the `standard` and `full` profiles where
# the runs are long enough to be reliable): ReLU variants learn faster than sigmoid ones -- they are
# ahead after the first epoch and at the end.
#
# The `s/epoch` and `examples/s` columns are wall-clock times of one run each, on a machine that may be
# busy with other work at the same time: they carry its load (compare the seconds of single epochs of
# one network in the log above). What batch norm costs per step is timed fairly below.

# %%
if PROFILE != "smoke":
    relu_keys = [k for k in histories if k.startswith("relu")]
    sigmoid_keys = [k for k in histories if k.startswith("sigmoid")]
    for epoch, when in ((0, "after epoch 1"), (-1, "at the end")):
        slowest_relu = min(histories[k][epoch].val_acc for k in relu_keys)
        best_sigmoid = max(histories[k][epoch].val_acc for k in sigmoid_keys)
        assert slowest_relu > best_sigmoid, f"every ReLU variant should be ahead of every sigmoid one {when}"
    assert chosen in relu_keys

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### The test set, once
#
# The choice is made; the chosen variant meets the 10,000 test images:

# %%
test_acc = evaluate(models[chosen], test_batches)["acc"]
print(f"{LABELS[chosen]}: validation accuracy {histories[chosen][-1].val_acc:.2%}, "
      f"test accuracy {test_acc:.2%} on {test_batches.num_examples:,} images")
assert test_acc >= settings["bar"], f"LeNet reached {test_acc:.2%}, below {settings['bar']:.0%} ({PROFILE})"
results.record_training("06", "lenet_test_acc", models[chosen], histories[chosen], (1, 1, 28, 28), train_batches,
                        test_batches, description=f"LeNet-5 ({LABELS[chosen]})", test_acc=test_acc, variant=chosen);

# %% [markdown]
# The paper's figure is for handwritten digits: LeNet-5 made 0.95% errors on the 10,000 MNIST test
# digits, and 0.8% when its training set was enlarged with distorted copies of the digits (LeCun et al.,
# 1998, section III.C). Fashion-MNIST was made as a harder drop-in replacement for MNIST, with the same
# image size and number of classes (Xiao, Rasul and Vollgraf, 2017): clothing classes such as shirt,
# T-shirt and pullover look alike at 28x28, which costs our LeNet several times the paper's error.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## What does batch norm cost here?
#
# The batch-norm LeNet has 452 more parameters than the plain ReLU one and hardly more arithmetic. Its
# seconds per epoch in the table cannot say what that costs: each comes from one run, and whatever else
# the machine did at the time slowed one run and not another. A fair comparison times the two networks'
# training steps in turn, round after round (`time_interleaved` from `course_utils.timing`), so that a
# burst of load hits both alike: the median says what a step typically takes, the fastest what it takes
# undisturbed. Each network in the memory layout it trained in, on one batch of 128 images:

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Training steps, timed in turn

# %%
def training_step(batch_norm, channels_last, device):
    """A function that runs one AdamW training step of the ReLU LeNet on a fixed batch of 128."""
    torch.manual_seed(0)
    layout = torch.channels_last if channels_last else torch.contiguous_format
    net = lenet.lenet(1, 10, input_size=28, activation="relu", pool="max", batch_norm=batch_norm)
    net.to(device=device, memory_format=layout)
    optimizer = torch.optim.AdamW(net.parameters(), lr=1e-3)
    xb = torch.randn(128, 1, 28, 28, device=device).contiguous(memory_format=layout)
    yb = torch.randint(0, 10, (128,), device=device)

    def step():
        loss = torch.nn.functional.cross_entropy(net(xb), yb)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    return step


# the training cell's rule: channels-last on a GPU, and on a CPU for the networks without batch norm
trained_channels_last = {bn: DEVICE.type == "cuda" or (DEVICE.type == "cpu" and not bn) for bn in (False, True)}
step_names = {False: "ReLU", True: "ReLU + batch norm"}
step_timings = time_interleaved({step_names[bn]: training_step(bn, trained_channels_last[bn], DEVICE)
                                 for bn in (False, True)},
                                repeats=profile.pick(smoke=10, standard=40, full=40), warmup=5, device=DEVICE)
for bn, name in step_names.items():
    layout = "channels-last" if trained_channels_last[bn] else "contiguous"
    print(f"{name:<18} ({layout:<13}) one training step: {step_timings[name]}")
plain, with_bn = step_timings["ReLU"], step_timings["ReLU + batch norm"]
print(f"batch norm adds {with_bn.median / plain.median - 1:+.0%} per step (medians), "
      f"{with_bn.fastest / plain.fastest - 1:+.0%} (fastest runs)")
if PROFILE != "smoke":  # ten rounds are too few to compare reliably on a busy machine
    assert with_bn.median > plain.median and with_bn.fastest > plain.fastest, "a batch-norm step should take longer"

# %% [markdown]
# A batch-norm step takes longer, by the percentages printed above. Where does the time go? LeNet's
# convolutions are tiny (0.4 million multiply-adds per image), so a training step spends much of its
# time not multiplying but *moving* activations: every element-wise layer reads and writes whole feature
# maps, in the forward and in the backward pass. Batch norm adds such passes (the channel means and
# variances, the normalisation, and three more reductions in its backward pass) over the largest maps of
# the network. And on a CPU it is slower still in the channels-last layout that speeds up the other
# layers, so that variant trains in the contiguous layout. PyTorch's profiler shows where one training
# step's time goes on the CPU:

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Profiling one training step

# %% tags=["no-slide"] slideshow={"slide_type": "skip"}
def step_profile(batch_norm, channels_last):
    """Milliseconds per training step on the CPU, by kind of operation (self CPU time)."""
    steps = profile.pick(smoke=3, standard=10, full=10)
    step = training_step(batch_norm, channels_last, "cpu")
    for _ in range(3):
        step()  # warm-up
    # the profiler's C++ side logs its start and stop (and, without a GPU, a failed GPU count) on stderr
    with stderr_silenced(), torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        for _ in range(steps):
            step()
    kinds = {"batch norm": ("batch_norm",), "convolution": ("convolution",), "pooling": ("pool",),
             "optimizer": ("Optimizer", "_foreach", "adamw")}
    times = dict.fromkeys(list(kinds) + ["everything else"], 0.0)
    for event in prof.key_averages():
        kind = next((k for k, keys in kinds.items() if any(key in event.key for key in keys)), "everything else")
        times[kind] += event.self_cpu_time_total / 1000 / steps  # microseconds -> ms per step
    return times


# %%
profiles = {"ReLU, channels-last (as trained)": step_profile(False, True),
            "ReLU + batch norm, contiguous (as trained)": step_profile(True, False),
            "ReLU + batch norm, channels-last": step_profile(True, True)}
kinds = list(next(iter(profiles.values())))
fig, ax = plt.subplots(figsize=(9, 2.8))
left = [0.0] * len(profiles)
for kind in kinds:
    widths = [p[kind] for p in profiles.values()]
    ax.barh(list(profiles), widths, left=left, label=kind)
    left = [a + b for a, b in zip(left, widths)]
ax.set(xlabel="ms per training step (batch 128, this machine's CPU)", title="where a LeNet training step spends its time")
ax.invert_yaxis()
ax.legend(fontsize=8, ncol=5, loc="upper center", bbox_to_anchor=(0.5, -0.3))
fig.tight_layout()
plt.show()
for name, p in profiles.items():
    total = sum(p.values())
    print(f"{name:<44} {total:6.1f} ms per step; batch norm {p['batch norm']:5.1f} ms ({p['batch norm'] / total:.0%})")
bn_share = profiles["ReLU + batch norm, contiguous (as trained)"]["batch norm"] / sum(
    profiles["ReLU + batch norm, contiguous (as trained)"].values())
assert bn_share > 0.1, "batch norm's own passes should be a sizeable part of the step"

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### What the profile shows

# %% [markdown]
# Batch norm's forward and backward passes take a sizeable share of every step (the percentages printed
# above); in the channels-last layout they take more still, which is why that variant trains
# contiguous, at the price of the layout that is faster for the rest of the network
# (`benchmarks/memory_layout.py`). The profiler's totals need not match the step times above: it adds
# bookkeeping of its own. In networks whose convolutions dominate the time (notebooks 08-10) the same
# layers are a smaller share of a step.
#
# What the extra time bought in LeNet: in the saved run the batch-norm variant had the best validation
# accuracy of the five, which is why it was chosen, a fraction of a point ahead of the plain ReLU
# LeNet (the table above). In deeper networks batch norm is what makes them trainable at all
# (notebook 10).

# %% [markdown] slideshow={"slide_type": "slide"}
# ## What did the network learn?

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### The first layer's filters
#
# C1's six 5x5 filters of the modern LeNet (red positive, blue negative):

# %%
model = models["relu"].eval()
conv1 = model.features[0][0]
assert conv1.weight.shape == (6, 1, 5, 5)
show_kernels(conv1.weight.detach().cpu(), ncols=6, size=1.3, title="C1 filters (ReLU LeNet)");

# %% [markdown]
# Six 5x5 filters trained for a few epochs on 28x28 clothing are hard to read: some weigh one side of
# the window against the other (a contrast across an edge), others are blotchy. The tidy oriented edge
# and bar detectors often shown as "what a first layer learns" come from larger networks trained on
# natural images: AlexNet's 96 first-layer filters of 11x11 on ImageNet (Krizhevsky et al., 2012,
# Figure 3) are the classic picture. What a filter *does* is easier to see in its output.

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Feature maps
#
# One test image through the two blocks: the six maps after C1 (each filter's response, after the ReLU)
# and the sixteen after C3. Bright pixels are where a filter found its pattern.

# %%
image, label = data.test_images[:1], int(data.test_labels[0])
x = (image.float() / 255 - data.mean.view(1, -1, 1, 1)) / data.std.view(1, -1, 1, 1)  # (1, 1, 28, 28)
with torch.no_grad():
    x = x.to(DEVICE)
    maps1 = model.features[0][:2](x)  # conv, ReLU: (1, 6, 28, 28)
    maps2 = model.features[1][:2](model.features[0](x))  # (1, 16, 10, 10)
    predicted = int(model(x).argmax())
assert maps1.shape == (1, 6, 28, 28) and maps2.shape == (1, 16, 10, 10)
print(f"true class: {data.classes[label]}, predicted: {data.classes[predicted]}")
show_images(image, [label], data.classes, ncols=1, size=2);
show_feature_maps(maps1.cpu(), ncols=6, title="after C1 + ReLU (6 x 28 x 28)");
show_feature_maps(maps2.cpu(), ncols=8, size=1.2, title="after C3 + ReLU (16 x 10 x 10)");

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Saliency: which pixels does the decision depend on?
#
# Notebook 02 measured a receptive field with the gradient of one output with respect to the input.
# The same gradient for the *predicted class's logit* is a **saliency map** (Simonyan, Vedaldi and
# Zisserman, 2013): pixels where a small change moves the logit most. For a few test images (the
# computation, and a check that one image alone gets the same map, are in the notebook; the deck shows
# the maps):

# %% tags=["no-slide"] slideshow={"slide_type": "skip"}
images, labels = data.test_images[:6], data.test_labels[:6]
x = ((images.float() / 255 - data.mean.view(1, -1, 1, 1)) / data.std.view(1, -1, 1, 1)).to(DEVICE)
x.requires_grad_(True)
# Full float32 convolutions in this cell. On Ampere and newer NVIDIA GPUs PyTorch lets cuDNN compute
# float32 convolutions in TF32 (10-bit mantissa, relative errors near 1e-3), and cuDNN may pick other
# algorithms for a batch of 6 than for one image: the check below (one image alone against the batch,
# rtol 1e-4) would then compare two roundings instead of testing that the batch does not mix images.
tf32_before = torch.backends.cudnn.allow_tf32
torch.backends.cudnn.allow_tf32 = False
try:
    logits = model(x)  # (6, 10); the model is in eval mode
    top = logits.argmax(dim=1)
    logits[torch.arange(6, device=logits.device), top].sum().backward()  # each logit depends on its own image only
    saliency = x.grad.abs()[:, 0].cpu()  # (6, 28, 28)
    # The same for one image alone: the batch does not mix images (eval mode), so the maps agree, up to
    # float32 rounding (far below 1e-5 of the map's largest value; mixing would change it by much more).
    x_one = x[:1].detach().clone().requires_grad_(True)
    model(x_one)[0, top[0]].backward()
finally:
    torch.backends.cudnn.allow_tf32 = tf32_before
assert_close(x_one.grad.abs()[0, 0].cpu(), saliency[0], rtol=1e-4, atol=1e-5 * saliency[0].max().item(),
             msg="saliency of one image, alone")

# %%
fig, axes = plt.subplots(2, 6, figsize=(10, 3.8))
for i in range(6):
    axes[0, i].imshow(images[i, 0], cmap="gray")
    axes[0, i].set_title(f"{data.classes[int(labels[i])]}\n-> {data.classes[int(top[i])]}", fontsize=8)
    axes[1, i].imshow(saliency[i], cmap="magma")
for ax in axes.flat:
    ax.axis("off")
fig.suptitle("test images (true -> predicted) and |d logit / d pixel| of the predicted class")
fig.tight_layout()
plt.show()
garment = images[:, 0] > 0  # (6, 28, 28): the garment's pixels; the background is exactly 0
inside = (saliency * garment).sum() / saliency.sum()
print(f"the garments cover {garment.float().mean():.0%} of the pixels and get {inside:.0%} of the saliency")
row, col = divmod(int(saliency[0].argmax()), 28)
bright = images[0, 0, :, col] > 32  # (28,): the garment's pixels in that column, without faint specks
top_edge = int(bright.float().argmax()) if bright.any() else None  # the first from the top
print(f"{data.classes[int(labels[0])]}: hottest pixel at row {row}, column {col}; "
      f"in that column the garment starts at row {top_edge}")
assert inside > garment.float().mean(), "the saliency should concentrate on the garment"

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### What the maps show

# %% [markdown]
# The maps are noisy, and the garments get only a little more of the gradient than their share of the
# pixels (the numbers above). The hottest spots are few and telling: in the trousers' maps the gap
# between the legs (background pixels, which a dress would fill), in the boot's map the upper edge of
# the toe, on the left (its hottest pixel, printed above, lies at the garment's top edge in its column,
# within a pixel of where the garment starts). A saliency
# map is a local, first-order answer ("which small change matters now"), not an explanation of the
# decision; smoother variants average it over noisy copies of the image (SmoothGrad) or along a path
# from a blank image (integrated gradients).

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Summary
#
# Every figure below comes from this run (the saved notebook shows a fresh `standard` run on a 2-core
# CPU):

# %%
print(f"profile {PROFILE}, device {DEVICE}: {settings['epochs']} epochs on {train_batches.num_examples:,} images")
for key, history in histories.items():
    print(f"  {LABELS[key]:<28} validation {history[-1].val_acc:.2%} on {val_batches.num_examples:,} images, "
          f"{history.mean('seconds'):.1f} s/epoch, {history.mean('examples_per_s'):,.0f} examples/s")
print(f"chosen: {LABELS[chosen]}, test accuracy {test_acc:.2%} on {test_batches.num_examples:,} images")


# %% [markdown]
# LeNet-5 has 61,706 parameters and needs 0.4 million multiply-adds per image. The next network,
# AlexNet (notebook 07), has about a thousand times as many parameters and needs about 1,700 times
# the arithmetic per image -- and needed GPUs to be trained at all.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Exercises
#
# Replace each `raise NotImplementedError` with your code and run the cell. Hints come in three tiers:
# an exercise not attempted yet prints a nudge (what to look at); `ex06.hint("name")` gives the next,
# the key idea, and so does a wrong answer. The third is a recipe: `ex06.hint("name", level=3)`, or a
# third wrong attempt, shows it.

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### 1. The parameters of the 1998 network
#
# The LeNet built above simplifies the paper's. Count the trainable parameters of the paper's own
# network (LeCun et al., 1998, section II.B) on its 32x32 input:
#
# - C1: six 5x5 convolutions of the input;
# - S2: the trainable subsampling of exercise 2, one coefficient and one bias per map;
# - C3: sixteen 5x5 convolutions, each reading only the S2 maps marked in its column of the paper's
#   Table I (`ex06.LENET_1998_TABLE`, a `(6, 16)` boolean tensor: `table[i, j]` is True when C3 map `j`
#   reads S2 map `i`);
# - S4: like S2, on sixteen maps; C5: 120 5x5 convolutions of all of S4; F6: 84 units fully connected
#   to C5;
# - the output: ten radial-basis units whose parameter vectors were set by hand and kept fixed.
#
# Write `lenet1998_params(table)` for any connection table, and compare its value for the paper's
# table with the total the paper states. Why did the paper not connect every S2 map to every C3 map?

# %%
print(ex06.LENET_1998_TABLE.int())


def lenet1998_params(table):
    raise NotImplementedError  # your code here


ex06.check_lenet1998_params(lenet1998_params);


# %% [markdown] slideshow={"slide_type": "subslide"}
# ### 2. The 1998 subsampling layer
#
# LeNet-5's S2 and S4 were not plain averages: each unit added up its 2x2 window, multiplied the sum
# by a **trainable coefficient** and added a **trainable bias** (one of each per channel), then applied
# the sigmoid. Write `subsample(x, coefficient, bias)` for `x` of shape `(N, C, H, W)` and
# `coefficient`, `bias` of shape `(C,)`. How many parameters does S2 have?

# %%
def subsample(x, coefficient, bias):
    raise NotImplementedError  # your code here


ex06.check_subsample(subsample);


# %% [markdown] slideshow={"slide_type": "subslide"}
# ### 3. Parameters that batch norm makes useless
#
# The `relu_bn` variant, `lenet.lenet_modern(batch_norm=True)`, has 62,158 parameters. Some of them can
# never change what it computes in training mode, whatever their values. Find them, and write
# `make_lenet_bn_lean()` returning the same network without them (any `nn.Module`; a flat
# `nn.Sequential` is simplest; `print(lenet.lenet_modern(batch_norm=True))` shows its layers). The
# checker gives your network and the reference the same values for every parameter yours keeps, and
# compares their outputs in training mode. What about evaluation mode?

# %%
def make_lenet_bn_lean():
    raise NotImplementedError  # your code here


ex06.check_lenet_bn_lean(make_lenet_bn_lean);

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### 4. (Open) Does the optimizer hide the sigmoid's problem?
#
# With AdamW the 1998 design still trains. Train the `sigmoid_avg` and `relu` variants with plain SGD
# (`torch.optim.SGD(model.parameters(), lr=0.1)`, as d2l does, no scheduler) for the same epochs.
# How far apart are they now after one epoch, and why does Adam's per-parameter step size narrow the
# gap?
