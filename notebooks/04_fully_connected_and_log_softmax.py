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
COURSE_UTILS_SOURCE = "git+https://github.com/deep-learning-course/conv-to-transformer@9017188bb218bb4f3c9bb2dbcfd5a592c63eae5d"
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
from course_utils.checks import assert_close
from course_utils.data import load_dataset
from course_utils.plot import confusion_matrix, plot_confusion_matrix, plot_history, show_images
from course_utils.checkpoint import checkpoint_path
from course_utils.train import evaluate, fit, predict

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
# small enough for a laptop CPU. The standard profile trains on the whole
# training set and tests on the whole test set; smoke (CI) uses a small subset.

# %%
fmnist = load_dataset("fashion_mnist")
data = profile.pick(smoke=fmnist.subset(2000, 1000), standard=fmnist, full=fmnist)
print(data)
show_images(data.train_images[:16], data.train_labels[:16], data.classes, ncols=8, size=1.2)
plt.show()


# %% [markdown] slideshow={"slide_type": "subslide"}
# ### The network
#
# Two conv blocks (3x3 convolution, batch normalisation, ReLU, 2x2 max-pool)
# take the image from 28x28 to 14x14 to 7x7 while the channels grow from 1 to
# 16 to 32; the flatten + dense head maps `32*7*7 = 1568` features to 10
# logits. Batch normalisation (Ioffe & Szegedy, 2015; notebook 10 explains it)
# lets us train with a large learning rate, which is what makes a few epochs
# enough. There is no softmax layer in the model: `F.cross_entropy` applies
# log-softmax itself.

# %%
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
# ### Training
#
# `course_utils.train.fit` is the course's training loop (read it: about 80
# lines of code under a long docstring). Adam with a one-cycle learning-rate
# schedule (Smith & Topin, 2017) warms the rate up and then anneals it, which
# converges in few epochs. After every epoch `fit` measures the loss and
# accuracy on the set we pass it, here the test set (`eval_name="test"` names
# the columns `test_loss` and `test_acc`).
#
# `fit` shows a progress bar and saves a checkpoint after every epoch (in
# `checkpoints/<profile>/`). If the kernel dies or the browser tab closes, run
# the cell again: it resumes from the last finished epoch instead of starting
# over. The checkpoint records the run's settings, so if you change one (say
# the learning rate) and run the cell again, `fit` prints what changed and
# trains afresh instead of resuming the old run. Delete the file to train from
# scratch.
#
# `channels_last=True` stores images and convolution weights pixel by pixel,
# all channels of a pixel side by side, the layout fast convolution code
# prefers; which layout trains faster depends on the network, so each notebook
# chooses: for this one `benchmarks/memory_layout.py` measured 1.4x more
# examples per second channels-last on a CPU.

# %%
epochs = profile.pick(smoke=1, standard=3, full=10)
batch_size = 128
train_batches = data.train_batches(batch_size, device=DEVICE)
test_batches = data.test_batches(1000, device=DEVICE)

model = model.to(DEVICE)
optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=0.01, total_steps=epochs * len(train_batches))
channels_last = DEVICE.type in ("cpu", "cuda")  # faster on both (benchmarks/memory_layout.py; CUDA: tensor cores)
history = fit(model, train_batches, test_batches, epochs=epochs, optimizer=optimizer, scheduler=scheduler,
              eval_name="test", checkpoint=checkpoint_path("04_small_cnn"), channels_last=channels_last)
plot_history(history, title="small CNN on Fashion-MNIST")
plt.show()

# %%
test_acc = evaluate(model, test_batches)["acc"]  # evaluate returns {"loss": ..., "acc": ...}
print(f"test accuracy on {test_batches.num_examples:,} test images: {test_acc:.2%} (chance: 10%)")
bar = profile.pick(smoke=0.40, standard=0.88, full=0.90)
assert test_acc >= bar, f"test accuracy {test_acc:.2%} is below this profile's bar of {bar:.0%}"
assert history[-1].train_loss < history[0].train_loss or epochs == 1, "the training loss should fall"
_ = results.record("04", "small_cnn_test_acc", round(test_acc, 4), params=count_params(model), epochs=epochs,
                   test_images=test_batches.num_examples, seconds=round(sum(history.column("seconds")), 1))

# %% [markdown] slideshow={"slide_type": "slide"}
# ## What does it get wrong?
#
# Accuracy is one number; the **confusion matrix** shows *which* classes are
# mixed up. Row `i`, column `j` is the share of class-`i` images predicted as
# class `j`; a perfect model has 1s on the diagonal.

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
# - A two-block CNN with 20k parameters reaches about 90% test accuracy on
#   Fashion-MNIST after three epochs, quick enough for a laptop CPU.
#
# Next, notebook 05 opens the black box of `loss.backward()` and computes every
# gradient of such a CNN by hand, in NumPy.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Exercises
#
# Each exercise gives a stub; replace `raise NotImplementedError` with your
# code and run the cell. The checker compares your answer with PyTorch.

# %%
from course_utils.exercises import ex04


# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Exercise 1: a stable log-softmax
#
# Write `log_softmax(z)` for a `(N, C)` tensor using only `max`, `exp`, `sum`
# and `log`. It must stay finite for logits like `[1000, 0, -1000]`.

# %%
def my_log_softmax(z):
    raise NotImplementedError


ex04.check_stable_log_softmax(my_log_softmax);


# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Exercise 2: NLL from class indices
#
# Write `nll(log_probs, targets)`: the mean negative log-likelihood of the
# integer `targets`, without building a one-hot matrix.

# %%
def my_nll(log_probs, targets):
    raise NotImplementedError


ex04.check_nll_from_indices(my_nll);


# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Exercise 3: the gradient of cross-entropy, without autograd
#
# Write `grad(logits, targets)` returning `dL/dlogits` of
# `F.cross_entropy(logits, targets)` (mean over the batch) from the closed
# form.

# %%
def my_cross_entropy_grad(logits, targets):
    raise NotImplementedError


ex04.check_cross_entropy_grad(my_cross_entropy_grad);


# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Exercise 4: a global-average-pooling head
#
# Write `make_head(in_channels, num_classes)` returning an `nn.Module` that maps
# `(N, in_channels, H, W)` to `(N, num_classes)` for *any* `H, W`, with
# `in_channels * num_classes + num_classes` parameters. Then: how many
# parameters would it save over the flatten head of this notebook's CNN?

# %%
def make_gap_head(in_channels, num_classes):
    raise NotImplementedError


ex04.check_gap_head(make_gap_head);
