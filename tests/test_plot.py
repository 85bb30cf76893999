import matplotlib
import pytest
import torch

from course_utils import plot, train

matplotlib.use("Agg")


def test_show_images_grid_and_titles():
    images = torch.randint(0, 256, (10, 1, 8, 8), dtype=torch.uint8)
    fig = plot.show_images(images, labels=torch.arange(10), classes=list("abcdefghij"), ncols=4)
    assert len(fig.axes) == 12  # 3 rows of 4
    assert [ax.get_title() for ax in fig.axes[:3]] == ["a", "b", "c"]
    fig = plot.show_images(images[:2], labels=[0, 1], predictions=[0, 0], classes=["x", "y"])
    assert fig.axes[1].title.get_color() == "red" and fig.axes[0].title.get_color() == "black"


def test_plot_history_has_train_and_test_curves():
    h = train.History([train.EpochStats(e, 1.0, 100.0, 0.1, {"train_loss": 1.0 / e, "train_acc": 0.5 + e / 10,
                                                             "test_loss": 1.2 / e, "test_acc": 0.4 + e / 10})
                       for e in (1, 2, 3)])
    fig = plot.plot_history(h)
    loss_ax, acc_ax = fig.axes
    assert len(loss_ax.lines) == 2 and list(acc_ax.lines[1].get_ydata()) == pytest.approx([50, 60, 70])
    assert [line.get_label() for line in loss_ax.lines] == ["train", "test"]
    train_line, test_line = loss_ax.lines
    assert train_line.get_color() == test_line.get_color(), "one run, one colour"
    assert train_line.get_linestyle() == "-" and test_line.get_linestyle() == "--"


def test_plot_history_shows_only_the_sets_and_metrics_recorded():
    h = train.History([train.EpochStats(e, 1.0, 100.0, 0.1, {"train_loss": 1.0 / e, "train_acc": 0.5,
                                                             "train_bleu": 10.0 * e}) for e in (1, 2)])
    fig = plot.plot_history(h)
    assert [ax.get_title() for ax in fig.axes] == ["loss", "accuracy", "bleu"]
    assert all(len(ax.lines) == 1 for ax in fig.axes)
    assert list(fig.axes[2].lines[0].get_ydata()) == [10.0, 20.0]


def test_feature_maps_and_kernels():
    fig = plot.show_feature_maps(torch.randn(1, 6, 5, 5), ncols=3)
    assert sum(1 for ax in fig.axes if ax.images) == 6
    fig = plot.show_kernels(torch.randn(4, 3, 3, 3))
    assert sum(1 for ax in fig.axes if ax.images) == 4
    with pytest.raises(ValueError, match="one example"):
        plot.show_feature_maps(torch.randn(2, 6, 5, 5))
    with pytest.raises(ValueError, match="conv weight"):
        plot.show_kernels(torch.randn(3, 3))


def test_confusion_matrix_counts_pairs():
    labels = torch.tensor([0, 0, 1, 2, 2, 2])
    preds = torch.tensor([0, 1, 1, 2, 0, 2])
    cm = plot.confusion_matrix(labels, preds, 3)
    expected = torch.zeros(3, 3, dtype=torch.int64)
    for t, p in zip(labels.tolist(), preds.tolist()):
        expected[t, p] += 1
    assert torch.equal(cm, expected)
    fig = plot.plot_confusion_matrix(labels, preds, ["a", "b", "c"])
    assert fig.axes[0].images[0].get_array().shape == (3, 3)


def test_confusion_matrix_is_readable_from_afar():
    labels = torch.tensor([0, 0, 1, 2, 2, 2])
    preds = torch.tensor([0, 1, 1, 2, 0, 2])
    ax = plot.plot_confusion_matrix(labels, preds, ["a", "b", "c"]).axes[0]
    texts = [t.get_text() for t in ax.texts]
    # row percentages as whole numbers, zeros blank: row a is 50/50, b 100, c 33/67
    assert texts == ["50", "50", "", "", "100", "", "33", "", "67"]
    assert min(t.get_fontsize() for t in ax.texts) >= 10
    counts = plot.plot_confusion_matrix(labels, preds, ["a", "b", "c"], normalize=False).axes[0]
    assert [t.get_text() for t in counts.texts] == ["1", "1", "", "", "1", "", "1", "", "2"]


def test_show_attention_one_panel_per_head():
    w = torch.softmax(torch.randn(2, 4, 5), dim=-1)
    fig = plot.show_attention(w, x_labels=list("abcde"), y_labels=list("wxyz"))
    assert sum(1 for ax in fig.axes if ax.images) == 2
