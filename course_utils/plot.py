"""Pictures the notebooks use: image grids, curves, feature maps, kernels,
confusion matrices and attention maps.

Each function returns the matplotlib ``Figure`` (and draws nothing else), so
a notebook shows it and a test can inspect it.
"""

import math

import numpy as np
import torch


def _plt():
    import matplotlib.pyplot as plt

    return plt


def _to_numpy(x):
    if isinstance(x, torch.Tensor):
        return x.detach().float().cpu().numpy()
    return np.asarray(x, dtype=np.float32)


def _grid(n, ncols):
    ncols = max(1, min(ncols, n))
    return math.ceil(n / ncols), ncols


def _image_for_display(img):
    """(C, H, W) or (H, W) array -> something imshow takes, scaled to [0, 1]."""
    img = _to_numpy(img)
    if img.ndim == 3:
        if img.shape[0] == 1:
            img = img[0]
        else:
            img = img.transpose(1, 2, 0)  # (C, H, W) -> (H, W, C)
    lo, hi = float(img.min()), float(img.max())
    if lo < 0 or hi > 1:
        img = (img - lo) / (hi - lo) if hi > lo else np.zeros_like(img)
    return img


def show_images(images, labels=None, classes=None, predictions=None, ncols=8, size=1.5, title=None):
    """A grid of images with their labels (and predictions, if given).

    ``images``: ``(N, C, H, W)`` or ``(N, H, W)``, uint8 or float. Labels and
    predictions are class indices, turned into names with ``classes``. A wrong
    prediction is written in red.
    """
    plt = _plt()
    images = images if isinstance(images, (list, tuple)) else list(images)
    n = len(images)
    if n == 0:
        raise ValueError("show_images got no images")
    nrows, ncols = _grid(n, ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(ncols * size, nrows * (size + 0.3)), squeeze=False)

    def name(k):
        k = int(k)
        return classes[k] if classes is not None else str(k)

    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= n:
            continue
        img = images[i]
        if isinstance(img, torch.Tensor) and img.dtype == torch.uint8:
            img = img.float() / 255
        ax.imshow(_image_for_display(img), cmap="gray", vmin=0, vmax=1)
        if labels is not None and predictions is not None:
            wrong = int(labels[i]) != int(predictions[i])
            ax.set_title(f"{name(predictions[i])}\n(true: {name(labels[i])})", fontsize=8,
                         color="red" if wrong else "black")
        elif labels is not None:
            ax.set_title(name(labels[i]), fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_history(history, title=None, color="tab:blue"):
    """One panel per metric of a ``course_utils.train.History`` (loss,
    accuracy, ...), a curve per set (train, and the evaluated set if any).

    The curves of one run share one ``color``: training solid, the evaluated
    set dashed (a third set dotted), so that runs compared in one figure
    differ by colour and sets by line style."""
    plt = _plt()
    epochs = history.column("epoch")
    names = history.metric_names()  # e.g. train_loss, train_acc, test_loss, test_acc
    sets = [n[:-len("_loss")] for n in names if n.endswith("_loss")]  # e.g. train, test
    panels = list(dict.fromkeys(n[len(s) + 1:] for n in names for s in sets if n.startswith(s + "_")))
    fig, axes = plt.subplots(1, len(panels), figsize=(4.5 * len(panels), 3.2), squeeze=False)
    for ax, panel in zip(axes[0], panels):
        percent = panel.endswith("acc") or panel.endswith("accuracy")
        for s, style in zip(sets, ("o-", "s--", "^:", "d-.")):
            if f"{s}_{panel}" in names:
                values = [e.metrics.get(f"{s}_{panel}", math.nan) for e in history]
                ax.plot(epochs, [100 * v for v in values] if percent else values, style, color=color, label=s)
        label = {"loss": "loss", "acc": "accuracy"}.get(panel, panel.replace("_", " "))
        ax.set(xlabel="epoch", ylabel=label + (" (%)" if percent else ""), title=label)
        ax.grid(alpha=0.3)
        ax.legend()
        ax.xaxis.get_major_locator().set_params(integer=True)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def show_feature_maps(maps, titles=None, ncols=8, size=1.6, cmap="gray", title=None):
    """Show each channel of ``maps`` (``(C, H, W)`` or ``(1, C, H, W)``) as an image."""
    plt = _plt()
    maps = _to_numpy(maps)
    if maps.ndim == 4:
        if maps.shape[0] != 1:
            raise ValueError(f"show_feature_maps shows one example: got a batch of {maps.shape[0]}; index it first")
        maps = maps[0]
    if maps.ndim == 2:
        maps = maps[None]
    if maps.ndim != 3:
        raise ValueError(f"expected feature maps (C, H, W), got shape {maps.shape}")
    nrows, ncols = _grid(maps.shape[0], ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(ncols * size, nrows * size), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < maps.shape[0]:
            ax.imshow(maps[i], cmap=cmap)
            if titles is not None:
                ax.set_title(titles[i], fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def show_kernels(weight, ncols=8, size=1.0, title=None):
    """Show convolution kernels ``(C_out, C_in, kH, kW)``.

    Three-channel kernels are shown as colour images; otherwise one grey
    image per output channel (the input channels averaged), each scaled
    symmetrically around zero so that positive and negative weights read the
    same way.
    """
    plt = _plt()
    w = _to_numpy(weight)
    if w.ndim != 4:
        raise ValueError(f"expected a conv weight (C_out, C_in, kH, kW), got shape {w.shape}")
    nrows, ncols = _grid(w.shape[0], ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(ncols * size, nrows * size), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= w.shape[0]:
            continue
        k = w[i]
        if k.shape[0] == 3:
            k = k.transpose(1, 2, 0)  # (3, kH, kW) -> (kH, kW, 3)
            ax.imshow((k - k.min()) / (k.max() - k.min() + 1e-12))
        else:
            k = k.mean(axis=0)
            lim = np.abs(k).max() + 1e-12
            ax.imshow(k, cmap="bwr", vmin=-lim, vmax=lim)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def confusion_matrix(labels, predictions, num_classes):
    """Counts ``C[i, j]`` of examples of true class ``i`` predicted as ``j``."""
    labels = torch.as_tensor(labels).long().flatten()
    predictions = torch.as_tensor(predictions).long().flatten()
    if labels.shape != predictions.shape:
        raise ValueError(f"labels and predictions differ in length: {len(labels)} vs {len(predictions)}")
    return torch.bincount(labels * num_classes + predictions, minlength=num_classes**2).reshape(
        num_classes, num_classes)  # (true, predicted)


def plot_confusion_matrix(labels, predictions, classes, normalize=True, title=None, size=7.5):
    """Heat-map of the confusion matrix; rows are true classes.

    Made to be read from the back of a lecture hall: each cell holds a whole
    number (the percentage of its row when ``normalize``, else the count) in
    a large font, zeros are left blank, and the figure is ``size`` inches wide.
    """
    plt = _plt()
    k = len(classes)
    cm = confusion_matrix(labels, predictions, k).double()
    shown = 100 * cm / cm.sum(dim=1, keepdim=True).clamp_min(1) if normalize else cm
    fig, ax = plt.subplots(figsize=(size, 0.9 * size))
    im = ax.imshow(shown.numpy(), cmap="Blues", vmin=0)
    ax.set_xticks(range(k), classes, rotation=45, ha="right", fontsize=11)
    ax.set_yticks(range(k), classes, fontsize=11)
    ax.set_xlabel("predicted", fontsize=12)
    ax.set_ylabel("true", fontsize=12)
    top = max(shown.max().item(), 1e-12)
    for i in range(k):
        for j in range(k):
            v = shown[i, j].item()
            text = f"{v:.0f}" if round(v) else ""  # blank where nothing (or under 0.5%) lands
            ax.text(j, i, text, ha="center", va="center", fontsize=12 if k <= 10 else 9,
                    fontweight="bold" if i == j else "normal", color="white" if v > 0.55 * top else "black")
    fig.colorbar(im, ax=ax, fraction=0.046, label="% of the true class" if normalize else "images")
    ax.set_title(title or ("confusion matrix (% of each true class)" if normalize else "confusion matrix"),
                 fontsize=13)
    fig.tight_layout()
    return fig


def show_attention(weights, x_labels=None, y_labels=None, title=None, cmap="viridis"):
    """Heat-map of attention weights ``(queries, keys)`` (or a stack of heads
    ``(heads, queries, keys)``, one panel each)."""
    plt = _plt()
    w = _to_numpy(weights)
    if w.ndim == 2:
        w = w[None]
    if w.ndim != 3:
        raise ValueError(f"expected attention weights (queries, keys) or (heads, queries, keys), got {w.shape}")
    heads = w.shape[0]
    fig, axes = plt.subplots(1, heads, figsize=(3.2 * heads + 0.8, 3.2), squeeze=False)
    for h, ax in enumerate(axes[0]):
        im = ax.imshow(w[h], cmap=cmap, vmin=0, vmax=max(1e-12, float(w.max())))
        if x_labels is not None:
            ax.set_xticks(range(len(x_labels)), x_labels, rotation=90, fontsize=7)
        if y_labels is not None:
            ax.set_yticks(range(len(y_labels)), y_labels, fontsize=7)
        ax.set(xlabel="keys", ylabel="queries" if h == 0 else None)
        if heads > 1:
            ax.set_title(f"head {h}", fontsize=9)
    fig.colorbar(im, ax=list(axes[0]), fraction=0.046)
    if title:
        fig.suptitle(title)
    return fig
