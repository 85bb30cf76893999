# %% [markdown] slideshow={"slide_type": "slide"}
# # 04 Fully-connected layers, log-softmax and NLL
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/deep-learning-course/conv-to-transformer/blob/main/notebooks/04_fully_connected_and_log_softmax.ipynb)
#
# Notebooks 01-03 built the feature extractor: convolutions find local patterns,
# pooling shrinks the maps. What is missing is the part that turns a stack of
# feature maps into **one decision**: ten class scores, a probability for each,
# and a loss to train with. This notebook builds that head, proves that three
# ways of writing the classification loss are the same computation, shows why
# the stable one matters, and then trains the course's first complete CNN on
# Fashion-MNIST.
#
# **You will:** flatten feature maps and apply `Wx + b`; count the parameters of
# a dense head and of a global-average-pooling head; derive softmax
# cross-entropy and check it against `log_softmax` + `NLLLoss` and
# `F.cross_entropy` (loss *and* gradient); make the naive softmax overflow; train
# a CNN and look at what it gets wrong.

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

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from torch import nn

from course_utils import results
from course_utils.accounting import count_params, print_layer_table
from course_utils.checks import assert_close, relative_error
from course_utils.data import load_dataset
from course_utils.plot import confusion_matrix, plot_confusion_matrix, plot_history, show_images
from course_utils.checkpoint import checkpoint_path
from course_utils.train import evaluate, fit, optimizer_options, predict

from course_utils import profile
from course_utils.device import get_device, seed_everything

PROFILE = profile.current()
DEVICE = get_device()
seed_everything(0)
print(f"profile: {PROFILE}   device: {DEVICE}")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## From feature maps to class scores
#
# After the last pooling layer a CNN holds, for each image, `C` feature maps of
# size `H x W`. A classifier needs `K` numbers, one score ("logit") per class.
# The simplest bridge: **flatten** the `C x H x W` block into one long vector,
# then apply a **dense** (fully-connected) layer `z = W x + b` with
# `W` of shape `(K, C*H*W)`.

# %%
# NBVAL_CHECK_OUTPUT
features = torch.randn(2, 32, 7, 7)  # a batch of 2 images: 32 maps of 7x7
flat = features.flatten(start_dim=1)  # (2, 32*7*7): keep the batch axis
print("feature maps:", tuple(features.shape), "-> flattened:", tuple(flat.shape))

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### The dense layer is `Wx + b`
#
# Written out, with the batch as rows: `z = flat @ W.T + b`. Let's do it by hand
# and check it against `nn.Linear` with the same weights.

# %%
# NBVAL_CHECK_OUTPUT
num_classes = 10
dense = nn.Linear(32 * 7 * 7, num_classes)
W, b = dense.weight.detach(), dense.bias.detach()  # (10, 1568), (10,)
z_by_hand = flat @ W.T + b  # (2, 1568) @ (1568, 10) -> (2, 10)
assert_close(z_by_hand, dense(flat), msg="flatten + Wx + b should equal nn.Linear")
print("logits:", tuple(z_by_hand.shape), "| weights:", tuple(W.shape), "| parameters:", count_params(dense))

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Every score sees every feature
#
# A convolution output depends on a small window of its input; a dense output
# depends on **all** of it. The gradient of one logit with respect to the
# feature maps makes this visible: it is non-zero at every position of every
# map. This is how the head *combines* local evidence ("a collar here", "a
# sleeve there") into one decision, and how it changes the dimension from
# `32*7*7 = 1568` to `10`.

# %%
x = features[:1].clone().requires_grad_(True)
dense(x.flatten(1))[0, 3].backward()  # one logit, class 3
dense_touch = (x.grad[0] != 0).float().mean().item()

conv = nn.Conv2d(32, 8, kernel_size=3, padding=1)
x.grad = None
conv(x)[0, 0, 3, 3].backward()  # one output pixel of one conv channel
conv_touch = (x.grad[0] != 0).float().mean().item()
print(f"fraction of input features that reach one dense logit: {dense_touch:.0%}")
print(f"fraction that reach one conv output pixel:             {conv_touch:.1%} (a 3x3 window of 7x7)")
assert dense_touch == 1.0, "a dense output should depend on every input feature"
assert abs(conv_touch - 9 / 49) < 1e-6, "a 3x3 conv output should depend on a 3x3 window only"


# %% [markdown] slideshow={"slide_type": "slide"}
# ## Two heads: flatten + dense vs global average pooling
#
# A dense head on flattened maps needs `C*H*W*K + K` parameters: one weight per
# feature *per position* per class. **Global average pooling** (GAP; Lin et
# al., 2013, "Network in Network", later used by GoogLeNet) first averages each
# map to a single number, then applies a dense layer from `C` to `K`: only
# `C*K + K` parameters, and no dependence on the map size.

# %%
def flatten_head(channels, height, width, num_classes):
    return nn.Sequential(nn.Flatten(), nn.Linear(channels * height * width, num_classes))


def gap_head(channels, num_classes):
    return nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, num_classes))


# %%
# NBVAL_CHECK_OUTPUT
print(f"{'feature maps':<16}{'classes':>8}{'flatten + dense':>18}{'GAP + dense':>14}{'ratio':>8}")
for c, h, w, k in [(32, 7, 7, 10), (64, 7, 7, 10), (512, 7, 7, 1000)]:
    n_flat, n_gap = count_params(flatten_head(c, h, w, k)), count_params(gap_head(c, k))
    assert n_flat == c * h * w * k + k and n_gap == c * k + k, "parameter formulas"
    print(f"{f'{c}x{h}x{w}':<16}{k:>8}{n_flat:>18,}{n_gap:>14,}{n_flat / n_gap:>8.0f}x")

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### The weight ratio

# %% [markdown]
# The ratio of the weights is exactly `H*W = 49` (the biases, the same `K` in
# both, pull the totals' ratio slightly below): the dense head learns a separate
# weight for every position. The last row is the shape of VGG's feature maps at
# 224x224 input; a single dense layer straight to 1000 classes would already
# need 25 million weights, and VGG-16's real head, with two hidden layers of
# 4096 units, needs far more (notebook 08 looks at it in detail):

# %%
# NBVAL_CHECK_OUTPUT
# On the "meta" device PyTorch records shapes without allocating the 0.5 GB of weights.
vgg16_head = nn.Sequential(nn.Flatten(), nn.Linear(512 * 7 * 7, 4096, device="meta"), nn.ReLU(),
                           nn.Linear(4096, 4096, device="meta"), nn.ReLU(), nn.Linear(4096, 1000, device="meta"))
n_vgg = count_params(vgg16_head)
assert n_vgg == (25088 * 4096 + 4096) + (4096 * 4096 + 4096) + (4096 * 1000 + 1000)
print(f"VGG-16's dense head: {n_vgg:,} parameters; a GAP head to 1000 classes: {count_params(gap_head(512, 1000)):,}")

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Any input size

# %% [markdown]
# GAP also accepts any input size, because it averages whatever `H x W` it gets.
# The flatten head is welded to the size it was built for:

# %%
# NBVAL_CHECK_OUTPUT
flat_head, avg_head = flatten_head(32, 7, 7, 10), gap_head(32, 10)
bigger = torch.randn(2, 32, 9, 9)  # e.g. a larger input image
print("GAP head on 9x9 maps:", tuple(avg_head(bigger).shape))
try:
    flat_head(bigger)
    raise AssertionError("the flatten head should reject 9x9 maps")
except RuntimeError as err:
    print("flatten head on 9x9 maps fails:", str(err).split("(")[0].strip())

# %% [markdown]
# The price: GAP throws away *where* a feature was. For classification that is
# usually fine (a shirt is a shirt wherever the collar is), and the smaller
# head overfits less. This notebook's first CNN uses the flatten head, which is
# the classic design (LeNet, AlexNet, VGG); notebook 09 uses GAP.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## From scores to a loss: softmax and cross-entropy
#
# Logits are unbounded real numbers. **Softmax** turns them into a probability
# distribution,
#
# $$p_k = \frac{e^{z_k}}{\sum_j e^{z_j}}$$
#
# (positive, sums to 1, keeps the order of the scores). Training maximises the
# probability of the true class $y$, i.e. minimises the **cross-entropy**
# $-\log p_y$, averaged over the batch.
#
# Textbooks write it with a one-hot target $t$ ($t_y = 1$, all else 0):
# $L = -\sum_k t_k \log p_k$. Let's compute it that way first, literally.

# %%
torch.manual_seed(0)
logits = torch.randn(5, 4, dtype=torch.float64) * 2  # 5 examples, 4 classes
targets = torch.tensor([2, 0, 3, 3, 1])


def softmax_naive(z):
    e = z.exp()
    return e / e.sum(dim=1, keepdim=True)


probs = softmax_naive(logits)
one_hot = F.one_hot(targets, num_classes=4).double()  # (5, 4), a single 1 per row
loss_one_hot = -(one_hot * probs.log()).sum(dim=1).mean()
assert_close(probs.sum(dim=1), torch.ones(5), msg="softmax rows must sum to 1")
print("probabilities of the first example:", probs[0].numpy().round(3), "true class:", targets[0].item())
print(f"softmax + one-hot cross-entropy: {loss_one_hot.item():.6f}")

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### `log_softmax` + `NLLLoss` on class indices, and `F.cross_entropy`
#
# PyTorch splits the same computation differently. `F.log_softmax` returns
# `log p` directly; `F.nll_loss` (negative log-likelihood) takes those
# log-probabilities and the **class indices**, picks `-log p_y` for each row and
# averages. `F.cross_entropy` does both steps in one call, on raw logits. All
# three must agree:

# %%
loss_nll = F.nll_loss(F.log_softmax(logits, dim=1), targets)
loss_ce = F.cross_entropy(logits, targets)
print(f"log_softmax + NLLLoss:           {loss_nll.item():.6f}")
print(f"F.cross_entropy:                 {loss_ce.item():.6f}")
assert_close(loss_nll, loss_one_hot, rtol=1e-12, msg="log_softmax + NLL vs softmax + one-hot CE")
assert_close(loss_ce, loss_one_hot, rtol=1e-12, msg="F.cross_entropy vs softmax + one-hot CE")


# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Same gradient, and its closed form
#
# Training only cares about the gradient, so check that too. Differentiating
# $-\log p_y$ through the softmax gives a famously simple result (notebook 05
# derives it step by step): for the batch mean,
#
# $$\frac{\partial L}{\partial z} = \frac{\mathrm{softmax}(z) - \mathrm{onehot}(y)}{N}.$$
#
# The gradient pushes the true class's logit up by `1 - p_y` and every other
# logit down by its probability.

# %%
def grad_wrt_logits(loss_fn):
    z = logits.clone().requires_grad_(True)
    loss_fn(z).backward()
    return z.grad


g_one_hot = grad_wrt_logits(lambda z: -(one_hot * softmax_naive(z).log()).sum(dim=1).mean())
g_nll = grad_wrt_logits(lambda z: F.nll_loss(F.log_softmax(z, dim=1), targets))
g_ce = grad_wrt_logits(lambda z: F.cross_entropy(z, targets))
g_formula = (probs - one_hot) / len(targets)
for name, g in [("log_softmax + NLL", g_nll), ("F.cross_entropy", g_ce), ("(softmax - onehot) / N", g_formula)]:
    assert_close(g, g_one_hot, rtol=1e-10, atol=1e-14, msg=f"gradient of {name} vs softmax + one-hot")
print("all four gradients agree; first row:", g_ce[0].numpy().round(4))

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Why no one-hot vector is needed
#
# In `-sum_k t_k log p_k` every term but one is multiplied by zero. The sum is
# just a **lookup**: row `n`, column `y_n`. Indexing does that directly, without
# building an `N x K` matrix of mostly zeros (with 1000 classes and a batch of
# 256, a 256,000-entry tensor to select 256 numbers). The gradient still
# reaches *every* logit, through the softmax's normaliser, as the non-zero
# entries of `g_formula` above show.

# %%
log_probs = F.log_softmax(logits, dim=1)
picked = log_probs[torch.arange(len(targets)), targets]  # (N,): log p of each true class
assert_close(-(one_hot * log_probs).sum(dim=1), -picked, msg="one-hot sum vs index lookup")
assert (g_ce != 0).all(), "every logit gets a gradient, not only the true class's"
print("-log p_y per example:", (-picked).numpy().round(4))

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Why log-sum-exp: the naive softmax overflows
#
# `exp` grows fast: in float32 it overflows to `inf` just above 88. Logits of a
# few hundred are rare at initialisation but real during training (a
# confident network, a high learning rate), and then `exp(z) / sum(exp(z))` is
# `inf / inf = nan`.

# %%
# NBVAL_CHECK_OUTPUT
print("exp(88) =", torch.exp(torch.tensor(88.0)).item(), "  exp(89) =", torch.exp(torch.tensor(89.0)).item())
assert math.isfinite(torch.exp(torch.tensor(88.0)).item()) and math.isinf(torch.exp(torch.tensor(89.0)).item())

big = torch.tensor([[1000.0, 0.0, -1000.0], [90.0, 89.0, 50.0]])  # float32 logits
small = torch.tensor([[0.0, -120.0]])  # exp(-120) underflows to 0 in float32
print("naive softmax of big logits:", softmax_naive(big))
print("naive log-probability of the unlikely class:", softmax_naive(small).log()[0, 1].item())
assert torch.isnan(softmax_naive(big)).any(dim=1).all(), "every row of the naive softmax should hold a nan (inf / inf)"
assert torch.isinf(softmax_naive(small).log()[0, 1]), "log of an underflowed probability is -inf"


# %% [markdown] slideshow={"slide_type": "subslide"}
# ### The fix: shift by the maximum
#
# Softmax does not change when the same constant is subtracted from every logit
# of a row: in $e^{z_k - m} / \sum_j e^{z_j - m}$ the factor $e^{-m}$ cancels.
# With $m = \max_j z_j$ the largest exponent is $e^0 = 1$, so nothing
# overflows, and the sum is at least 1, so its log is safe. In log space:
#
# $$\log p_k = z_k - m - \log \sum_j e^{z_j - m},$$
#
# the **log-sum-exp** trick.
# `F.log_softmax` and `F.cross_entropy` compute exactly this, which is one more
# reason to hand them logits rather than probabilities.

# %%
def log_softmax_stable(z):
    m = z.max(dim=1, keepdim=True).values  # (N, 1): the row maxima
    return z - m - (z - m).exp().sum(dim=1, keepdim=True).log()


for z in (big, small, logits):
    mine = log_softmax_stable(z)
    assert torch.isfinite(mine).all(), "the stable version must stay finite"
    assert_close(mine, F.log_softmax(z, dim=1), msg="stable log-softmax vs F.log_softmax")
print("stable log-softmax of the big logits:\n", log_softmax_stable(big))
print("cross-entropy of the big logits, class 0 and 1:", F.cross_entropy(big, torch.tensor([0, 1])).item())
print("the same from torch.logsumexp:", (torch.logsumexp(big, dim=1) - big[[0, 1], [0, 1]]).mean().item())
assert_close(F.cross_entropy(big, torch.tensor([0, 1])), (torch.logsumexp(big, dim=1) - big[[0, 1], [0, 1]]).mean())

# %% [markdown] slideshow={"slide_type": "slide"}
# ## The first complete CNN: Fashion-MNIST
#
# Everything is in place: convolutions, pooling, a dense head and a stable
# loss. Fashion-MNIST (Xiao et al., 2017) has 60,000 training and 10,000 test
# images of 28x28 grey clothing items in 10 classes: harder than digits, still
# small enough for a laptop CPU.
#
# From here on the course keeps **three** sets apart:
#
# - the **training** set, which the optimiser learns from;
# - a **validation** set, carved out of the training images, on which we watch
#   training and choose between models and settings;
# - the **test** set, looked at once, at the end, for the number we report.
#
# A test accuracy that was used to choose anything is no longer an honest
# estimate: we would have picked, among many runs, the one the test set liked.
# The standard profile trains on 55,000 images, validates on 5,000 and tests
# on all 10,000; smoke (CI) uses a small subset.

# %%
fmnist = load_dataset("fashion_mnist")
n_val = profile.pick(smoke=500, standard=5_000, full=5_000)
data = profile.pick(smoke=fmnist.subset(2_000, 1_000), standard=fmnist, full=fmnist).split_validation(n_val)
print(data)
assert len(data.train_labels) + len(data.val_labels) == profile.pick(smoke=2_000, standard=60_000, full=60_000)
show_images(data.train_images[:16], data.train_labels[:16], data.classes, ncols=8, size=1.2)
plt.show()


# %% [markdown] slideshow={"slide_type": "subslide"}
# ### The network
#
# Two conv blocks (3x3 convolution, batch normalisation, ReLU, 2x2 max-pool)
# take the image from 28x28 to 14x14 to 7x7 while the channels grow from 1 to
# 16 to 32; the flatten + dense head maps `32*7*7 = 1568` features to 10
# logits. There is no softmax layer in the model: `F.cross_entropy` applies
# log-softmax itself. Batch normalisation is new: the next slides open it.

# %% tags=["colab-estimate"]
def conv_block(in_channels, out_channels):
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1, bias=False),  # BN has the bias
        nn.BatchNorm2d(out_channels),
        nn.ReLU(),
        nn.MaxPool2d(2),
    )


def small_cnn(width=16, num_classes=10):
    """28x28 grey image -> logits.

    Args:
        width: channels of the first block (the second has twice as many).
        num_classes: number of logits.
    """
    return nn.Sequential(
        conv_block(1, width),  # (N, width, 14, 14)
        conv_block(width, 2 * width),  # (N, 2*width, 7, 7)
        nn.Flatten(),  # (N, 2*width*49)
        nn.Linear(2 * width * 7 * 7, num_classes),
    )


# %%
# NBVAL_CHECK_OUTPUT
torch.manual_seed(0)
model = small_cnn()
print_layer_table(model, (1, 1, 28, 28), depth=1);
assert count_params(model[3]) == 32 * 7 * 7 * 10 + 10, "the dense head: 1568 * 10 weights + 10 biases"

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Batch normalisation: what it computes
#
# A batch-norm layer (Ioffe and Szegedy, 2015) normalises each channel over
# the batch: for a batch `x` of shape `(N, C, H, W)` it takes, per channel
# `c`, the mean $\mu_c$ and the variance $\sigma_c^2$ over all `N*H*W`
# values, and outputs
#
# $$y = \gamma_c \frac{x - \mu_c}{\sqrt{\sigma_c^2 + \epsilon}} + \beta_c$$
#
# with a learned scale $\gamma_c$ and shift $\beta_c$ (so the layer can undo
# the normalisation if that helps; $\beta$ is why the convolution before it
# needs no bias). Every layer after it then sees inputs of a steady scale
# however the weights before it change, which is what lets this network train
# with a large learning rate in a few epochs. We compute it by hand and
# compare with `nn.BatchNorm2d` in training mode:

# %%
torch.manual_seed(1)
x = 3 * torch.randn(16, 4, 5, 5) + 2  # a batch whose channels are far from mean 0, variance 1
bn = nn.BatchNorm2d(4)
with torch.no_grad():
    bn.weight.uniform_(0.5, 1.5), bn.bias.uniform_(-1, 1)  # gamma and beta, not the defaults 1 and 0
gamma, beta = bn.weight.detach()[None, :, None, None], bn.bias.detach()[None, :, None, None]  # (1, C, 1, 1)
mean = x.mean(dim=(0, 2, 3))  # (C,): over the batch and every pixel
var = x.var(dim=(0, 2, 3), unbiased=False)  # (C,)
by_hand = gamma * (x - mean[None, :, None, None]) / torch.sqrt(var[None, :, None, None] + bn.eps) + beta
assert bn.training
assert_close(bn(x), by_hand, rtol=1e-5, atol=1e-5, msg="batch norm (training mode) by hand vs nn.BatchNorm2d")
normalised = (x - mean[None, :, None, None]) / torch.sqrt(var[None, :, None, None] + bn.eps)
assert_close(normalised.mean(dim=(0, 2, 3)), torch.zeros(4), atol=1e-5, msg="mean 0 per channel")
assert_close(normalised.var(dim=(0, 2, 3), unbiased=False), torch.ones(4), atol=1e-3, msg="variance 1 per channel")
print("per-channel mean of x:", mean.numpy().round(2), "-> after normalising: 0; variance", var.numpy().round(2),
      "-> 1")

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Batch normalisation: training mode and evaluation mode
#
# At test time a prediction must not depend on which other images share the
# batch, and a single image has no batch statistics at all. So during
# training the layer also keeps **running averages** of the batch means and
# variances (`running_mean`, `running_var`, updated with momentum 0.1, the
# variance unbiased), and in evaluation mode (`model.eval()`) it normalises
# with those instead. The previous cell's call updated them once, from their
# start at mean 0 and variance 1:

# %%
n = x.numel() // x.shape[1]  # values per channel
assert_close(bn.running_mean, 0.9 * torch.zeros(4) + 0.1 * mean, msg="running mean after one batch")
assert_close(bn.running_var, 0.9 * torch.ones(4) + 0.1 * var * n / (n - 1), msg="running variance (unbiased)")
bn.eval()
by_hand_eval = gamma * (x - bn.running_mean[None, :, None, None]) / torch.sqrt(
    bn.running_var[None, :, None, None] + bn.eps) + beta
assert_close(bn(x), by_hand_eval, rtol=1e-5, atol=1e-5, msg="batch norm (eval mode) uses the running statistics")
alone = bn(x[:1])  # evaluation mode: one image gives the same output on its own as inside the batch
assert_close(alone, bn(x)[:1], msg="in eval mode an image's output does not depend on its batch")
bn.train()
assert not torch.allclose(bn(x[:8])[:1], bn(x)[:1], atol=1e-3), "in training mode it does"
print("training mode: batch statistics (an output depends on the rest of the batch);")
print("evaluation mode: running averages (it does not). Forgetting model.eval() is a classic bug.")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Two sanity checks before training
#
# Before spending minutes (or, on a real problem, days) on training, two
# cheap checks catch most broken set-ups:
#
# 1. **The loss at initialisation.** A fresh network knows nothing, so its
#    ten probabilities should be roughly equal, `1/10` each, and the
#    cross-entropy about $-\ln(1/10) = \ln 10 \approx 2.30$. A much larger
#    loss means confidently wrong initial predictions (badly scaled logits);
#    a much smaller one, a bug such as labels leaking into the input.
# 2. **Overfit one small batch.** A network that works can memorise 32 images:
#    train on the same batch over and over and the loss must go to nearly
#    zero. If it cannot, something between the data and the optimiser is
#    broken (labels misaligned, gradients not flowing, a learning rate that
#    is far off), and more data will not fix it.

# %%
x, y = next(iter(data.train_batches(256, device="cpu", seed=0)))
initial = {}
for seed in range(5):
    torch.manual_seed(seed)
    with torch.no_grad():
        initial[seed] = F.cross_entropy(small_cnn()(x), y).item()
print("initial loss for five seeds:", [round(v, 3) for v in initial.values()], f" ln 10 = {math.log(10):.3f}")
assert all(abs(v - math.log(10)) < 0.3 for v in initial.values()), "a fresh network should start near ln 10"

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Overfitting one small batch

# %%
x_small, y_small = x[:32], y[:32]
overfit = {}
for seed in range(3):
    torch.manual_seed(seed)
    net = small_cnn()
    opt = torch.optim.Adam(net.parameters(), lr=0.01)
    losses = []
    for _ in range(60):  # 60 steps on the same 32 images
        loss = F.cross_entropy(net(x_small), y_small)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    overfit[seed] = losses
fig, ax = plt.subplots(figsize=(5, 2.8))
for seed, losses in overfit.items():
    ax.semilogy(losses, label=f"seed {seed}")
ax.axhline(math.log(10), color="gray", ls=":", label="ln 10")
ax.set(xlabel="step (the same 32 images every time)", ylabel="training loss", title="overfitting one batch")
ax.legend(fontsize=8)
plt.show()
print("final loss per seed:", [f"{losses[-1]:.1e}" for losses in overfit.values()])
assert all(losses[-1] < 0.01 for losses in overfit.values()), "the network should memorise 32 images"

# %% [markdown] slideshow={"slide_type": "slide"}
# ## The training loop, by hand
#
# Training repeats four steps for every batch: a **forward** pass, the
# **loss**, `backward()` for the gradients, and an optimiser **step**. Two
# switches matter: `model.train()` before training (batch norm uses batch
# statistics, dropout drops) and `model.eval()` plus `torch.no_grad()` when
# measuring (running statistics, no dropout, and no graph kept for a backward
# pass that never comes). That is the whole loop:

# %%
def train_one_epoch(model, batches, optimizer, scheduler=None):
    model.train()  # batch norm: batch statistics; dropout: on
    for x, y in batches:
        loss = F.cross_entropy(model(x), y)  # forward and loss
        optimizer.zero_grad()  # gradients add up unless cleared
        loss.backward()  # dL/dparameter for every parameter
        optimizer.step()  # move every parameter against its gradient
        if scheduler is not None:
            scheduler.step()  # the learning rate for the next batch


@torch.no_grad()  # no graph: faster, less memory
def accuracy_on(model, batches):
    model.eval()  # batch norm: running statistics; dropout: off
    correct = sum((model(x).argmax(dim=1) == y).sum().item() for x, y in batches)
    return correct / batches.num_examples


# %% [markdown] slideshow={"slide_type": "subslide"}
# ### The same loop inside fit

# %% [markdown]
# `course_utils.train.fit` is this loop plus the conveniences: it measures
# the loss and accuracy of every epoch on the training and a held-out set, a
# progress bar, learning curves, checkpoints that resume, mixed precision on a
# GPU, and a choice of memory layout (read it: about 80 lines of code under a
# long docstring). On the same data, seed and settings it must train the very
# same weights. We check that on a small subset, on the CPU, where the
# arithmetic is exactly reproducible:

# %%
check_data = data.subset(profile.pick(smoke=512, standard=1_024, full=1_024), 0)


def fresh_run():
    seed_everything(0)
    model = small_cnn()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    return model, optimizer, check_data.train_batches(128, device="cpu", seed=0)  # same order of batches


mine, optimizer, batches = fresh_run()
train_one_epoch(mine, batches, optimizer)
theirs, optimizer, batches = fresh_run()
fit(theirs, batches, epochs=1, optimizer=optimizer, channels_last=False, progress=False, log=False)
for (name, a), b in zip(mine.state_dict().items(), theirs.state_dict().values()):
    assert torch.equal(a, b), f"{name} differs between the loop by hand and fit"
print(f"loop by hand == fit: all {len(mine.state_dict())} tensors of the model are identical after "
      f"{len(batches)} steps")

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Bit for bit, and why

# %% [markdown]
# Identical to the last bit, but only because both runs did the same
# arithmetic. With `channels_last=True` (below) `fit` stores the images and
# weights pixel by pixel, all channels of a pixel side by side, and the
# convolution library then computes the same convolutions with other code,
# adding the same products in another order. Float addition is not
# associative, so the results differ in the low digits; batch norm, which
# divides by each channel's spread, and the backward pass enlarge the
# differences somewhat; and Adam, which divides each gradient by its own
# running size, turns tiny differences in near-zero gradients into visible
# differences in the weights within a few steps. Both runs are equally good
# training; they are not the same numbers:

# %%
theirs, optimizer, batches = fresh_run()
x, y = next(iter(check_data.train_batches(128, device="cpu", seed=0)))
logits, grads = {}, {}
for layout in (torch.contiguous_format, torch.channels_last):
    model = small_cnn()
    model.load_state_dict(theirs.state_dict())
    model.to(memory_format=layout)
    logits[layout] = model(x.contiguous(memory_format=layout))
    F.cross_entropy(logits[layout], y).backward()
    grads[layout] = model[0][0].weight.grad
forward_step = relative_error(logits[torch.channels_last].detach(), logits[torch.contiguous_format].detach())
first_step = relative_error(grads[torch.channels_last], grads[torch.contiguous_format])
fit(theirs, batches, epochs=1, optimizer=optimizer, channels_last=True, progress=False, log=False)
drift = max((a - b).abs().max().item() for a, b in zip(mine.parameters(), theirs.parameters()))
print(f"channels-last vs contiguous, same weights: logits differ by {forward_step:.0e} (relative), "
      f"the first layer's gradient by {first_step:.0e}")
print(f"after one epoch: largest weight difference {drift:.3f}")
val_check = data.val_batches(1000, device="cpu")
print(f"accuracy on the {val_check.num_examples:,} validation images: loop by hand {accuracy_on(mine, val_check):.1%}, "
      f"fit channels-last {accuracy_on(theirs, val_check):.1%}")
assert 0 < forward_step < 1e-3 and first_step < 0.05, "the layouts differ only in the low digits"

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Training
#
# Now the real run, with `fit`: Adam with a one-cycle learning-rate schedule
# (Smith and Topin, 2019), which warms the rate up and then anneals it and so
# converges in few epochs. After every epoch `fit` measures the loss and
# accuracy on the set we pass it, here the validation split (`eval_name="val"`
# names the columns `val_loss` and `val_acc`).
#
# `fit` shows a progress bar and saves a checkpoint after every epoch (in
# `checkpoints/<profile>/`). If the kernel dies or the browser tab closes, run
# the cell again: it resumes from the last finished epoch instead of starting
# over. The checkpoint records the run's settings, so if you change one (say
# the learning rate) and run the cell again, `fit` prints what changed and
# trains afresh instead of resuming the old run. Delete the file to train from
# scratch.
#
# `channels_last=True` is the memory layout of the previous slide; which
# layout trains faster depends on the network, so each notebook chooses: for
# this one `benchmarks/memory_layout.py` measured 1.4x more examples per second
# channels-last on a CPU. `optimizer_options(DEVICE)` adds `fused=True` on a
# GPU (one kernel updates all the weights) and nothing on a CPU.

# %%
epochs = profile.pick(smoke=1, standard=3, full=10)
batch_size = 128
train_batches = data.train_batches(batch_size, device=DEVICE)
val_batches = data.val_batches(1000, device=DEVICE)

torch.manual_seed(0)
model = small_cnn().to(DEVICE)
optimizer = torch.optim.Adam(model.parameters(), lr=0.01, **optimizer_options(DEVICE))  # fused on a GPU
scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=0.01, total_steps=epochs * len(train_batches))
channels_last = DEVICE.type in ("cpu", "cuda")  # faster on both (benchmarks/memory_layout.py; CUDA: tensor cores)
history = fit(model, train_batches, val_batches, epochs=epochs, optimizer=optimizer, scheduler=scheduler,
              eval_name="val", checkpoint=checkpoint_path("04_small_cnn"), channels_last=channels_last)
plot_history(history, title="small CNN on Fashion-MNIST")
plt.show()
assert history[-1].train_loss < history[0].train_loss or epochs == 1, "the training loss should fall"

# %% tags=["colab-estimate", "no-slide"] slideshow={"slide_type": "skip"}
# The `full` profile's training, declared for the Colab T4 estimate of benchmarks/colab_time.py
# (CONTRIBUTING, "Colab time"); nothing is built or trained here.
colab_runs = [dict(what="first CNN", model=small_cnn, input_shape=(1, 1, 28, 28), train=60_000 - n_val,
                   epochs=epochs, eval=n_val)]  # Fashion-MNIST's 60,000 training images, less the validation split

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### The test set, once
#
# Training is over and nothing more will be chosen, so now, and only now, the
# test set:

# %%
test_batches = data.test_batches(1000, device=DEVICE)
test_acc = evaluate(model, test_batches)["acc"]  # evaluate returns {"loss": ..., "acc": ...}
val_acc = history[-1].val_acc
print(f"validation accuracy {val_acc:.2%} on {val_batches.num_examples:,} images; "
      f"test accuracy {test_acc:.2%} on {test_batches.num_examples:,} (chance: 10%)")
bar = profile.pick(smoke=0.40, standard=0.88, full=0.90)
assert test_acc >= bar, f"test accuracy {test_acc:.2%} is below this profile's bar of {bar:.0%}"
_ = results.record("04", "small_cnn_test_acc", round(test_acc, 4), val_acc=round(val_acc, 4),
                   params=count_params(model), epochs=epochs, test_images=test_batches.num_examples,
                   seconds=round(sum(history.column("seconds")), 1))

# %% [markdown] slideshow={"slide_type": "slide"}
# ## What does it get wrong?
#
# Accuracy is one number; the **confusion matrix** shows *which* classes are
# mixed up. Row `i`, column `j` is the percentage of the class-`i` test images
# predicted as class `j` (empty cells: none); a perfect model has 100 on the
# diagonal. The test set was measured once above; looking at its errors
# chooses nothing.

# %%
predictions, labels = predict(model, test_batches)
assert_close((predictions == labels).double().mean(), test_acc, msg="predict() and evaluate() disagree")
plot_confusion_matrix(labels, predictions, data.classes)
plt.show()

counts = confusion_matrix(labels, predictions, 10).clone()  # (true, predicted)
counts.fill_diagonal_(0)
worst = int(counts.argmax())
true_class, predicted_class = divmod(worst, 10)
print(f"most frequent mistake: {data.classes[true_class]} predicted as {data.classes[predicted_class]} "
      f"({counts[true_class, predicted_class].item()} times)")

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Where the mistakes are

# %% [markdown]
# The mistakes concentrate on the upper-body garments (T-shirt/top, pullover,
# coat, shirt), which share a silhouette at 28x28; the footwear classes are
# confused mostly among themselves, and trousers and bags rarely at all. Let's
# count how many of the errors stay inside the upper-body group:

# %%
upper_body = [data.classes.index(name) for name in ("T-shirt/top", "Pullover", "Coat", "Shirt")]
errors = predictions != labels
inside = errors & torch.isin(labels, torch.tensor(upper_body)) & torch.isin(predictions, torch.tensor(upper_body))
share = inside.sum().item() / max(errors.sum().item(), 1)
print(f"{share:.0%} of the {errors.sum().item()} errors confuse one upper-body garment with another "
      f"(these 4 classes are 40% of the test set)")
assert share >= profile.pick(smoke=0.2, standard=0.5, full=0.5), "most errors should be upper-body mix-ups"

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### The misclassified images

# %% [markdown]
# Looking at the images themselves shows that many errors are understandable:

# %%
wrong = (predictions != labels).nonzero().flatten()[:24]
print(f"{(predictions != labels).sum().item()} of {len(labels):,} test images misclassified; the first 24:")
show_images(data.test_images[wrong], labels[wrong], data.classes, predictions=predictions[wrong], ncols=8,
            size=1.3, title="predicted (true)")
plt.show()

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Summary
#
# - Flatten + dense (`Wx + b`) turns feature maps into class scores; every
#   score depends on every feature.
# - A GAP head needs `C*K + K` parameters instead of `C*H*W*K + K` and accepts
#   any map size, at the cost of position information.
# - softmax + one-hot cross-entropy, `log_softmax` + `NLLLoss` and
#   `F.cross_entropy` are the same loss with the same gradient
#   `(softmax - onehot) / N`; class indices replace one-hot vectors.
# - Naive softmax overflows; log-sum-exp (shift by the maximum) does not.
# - Batch norm normalises each channel with the batch's statistics in training
#   and with running averages in evaluation: `model.train()` / `model.eval()`.
# - Before training: the initial loss is about `ln 10`, and the network can
#   overfit one small batch. The training loop is a dozen lines; `fit` is that
#   loop with measurements and checkpoints.
# - Train on the training split, choose on the validation split, report the
#   test set once. A two-block CNN with 20k parameters reaches about 90% test
#   accuracy on Fashion-MNIST after three epochs, quick enough for a laptop
#   CPU.
#
# Next, notebook 05 opens the black box of `loss.backward()` and computes every
# gradient of such a CNN by hand, in NumPy.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Exercises
#
# Each exercise gives a stub; replace `raise NotImplementedError` with your
# code and run the cell. The checker compares your answer with PyTorch. Hints
# come in three tiers: an exercise not attempted yet prints a nudge (what to
# look at); `ex04.hint("name")` gives the next, the key idea, and so does a
# wrong answer. The third is a recipe: `ex04.hint("name", level=3)`, or a
# third wrong attempt, shows it.

# %%
from course_utils.exercises import ex04


# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Exercise 1: label smoothing
#
# A one-hot target asks the network for probability 1 on the true class, which
# it can only approach by growing its logits without bound. **Label
# smoothing** (Szegedy et al., 2016, *Rethinking the Inception Architecture*)
# trains against a softer target instead: `1 - e` of the probability on the
# true class and `e` spread evenly over all `K` classes. Write
# `smoothed_cross_entropy(logits, targets, smoothing)` that equals
# `F.cross_entropy(logits, targets, label_smoothing=smoothing)`, stays finite
# for logits like `[1000, 0, -1000]`, and does not call `F.cross_entropy`.

# %%
def smoothed_cross_entropy(logits, targets, smoothing):
    raise NotImplementedError


ex04.check_smoothed_cross_entropy(smoothed_cross_entropy);


# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Exercise 2: its gradient, in closed form
#
# Derive `dL/dlogits` of the label-smoothed loss (the batch mean) the way this
# notebook derived `(softmax - onehot) / N`, and write
# `smoothed_cross_entropy_grad(logits, targets, smoothing)` without autograd.
# What does the gradient push the true logit towards now, and why does that
# keep the logits bounded?

# %%
def smoothed_cross_entropy_grad(logits, targets, smoothing):
    raise NotImplementedError


ex04.check_smoothed_cross_entropy_grad(smoothed_cross_entropy_grad);


# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Exercise 3: the same trick for two classes
#
# With one logit `z` per example and a target `y` in `[0, 1]`, the binary
# cross-entropy is `-[y log sigmoid(z) + (1 - y) log(1 - sigmoid(z))]`.
# Computed literally it overflows or takes `log(0)` for large `|z|`. Write
# `bce_with_logits(z, y)` (the mean over all elements) that matches
# `F.binary_cross_entropy_with_logits` and stays finite for `z = 1000` and
# `z = -1000`.

# %%
def bce_with_logits(z, y):
    raise NotImplementedError


ex04.check_bce_with_logits(bce_with_logits);


# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Exercise 4: a head that keeps the maximum too
#
# Global average pooling keeps each channel's mean and forgets how strongly it
# fired at its best position. Write `make_head(in_channels, num_classes)`
# returning an `nn.Module` that concatenates each channel's **mean and
# maximum** over all pixels and applies one dense layer: `(N, C, H, W)` ->
# `(N, num_classes)` for any `H, W`, with `2 * C * num_classes + num_classes`
# parameters. (fastai calls this pooling `AdaptiveConcatPool2d`.)

# %%
def make_head(in_channels, num_classes):
    raise NotImplementedError


ex04.check_concat_pool_head(make_head);
