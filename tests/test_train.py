import collections
import functools
import math
import os
import signal
import statistics
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course_utils import checkpoint, data, train

ROOT = Path(__file__).resolve().parent.parent


def blobs(n=600, seed=0):
    """Two Gaussian blobs per class in 2-D: easy, but not linearly trivial."""
    gen = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 3
    centers = torch.tensor([[2.0, 0.0], [-1.0, 1.7], [-1.0, -1.7]])
    x = centers[y] + 0.5 * torch.randn(n, 2, generator=gen)
    return x, y


class TensorBatches:
    """A minimal batch source: an epoch counter (which fit's checkpoints save and
    restore) and describe() (the run's identity: what it says, run_config records)."""

    def __init__(self, x, y, batch_size, shuffle=True):
        self.images, self.labels, self.batch_size, self.shuffle, self.epoch = x, y, batch_size, shuffle, 0

    @property
    def num_examples(self):
        return len(self.labels)

    def describe(self):
        return {"batch_size": self.batch_size, "num_examples": self.num_examples, "shuffle": self.shuffle,
                "fingerprint": data.batches.fingerprint(self.images)}

    def __len__(self):
        return -(-len(self.labels) // self.batch_size)

    def __iter__(self):
        gen = torch.Generator().manual_seed(self.epoch)
        self.epoch += 1
        order = torch.randperm(len(self.labels), generator=gen) if self.shuffle else torch.arange(len(self.labels))
        for k in range(len(self)):
            idx = order[k * self.batch_size:(k + 1) * self.batch_size]
            yield self.images[idx], self.labels[idx]


def make_run(seed=0, lr=0.1, batch_size=50):
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Dropout(0.1), nn.Linear(16, 3))
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=10, gamma=0.9)
    x, y = blobs()
    return model, opt, sched, TensorBatches(x[:500], y[:500], batch_size), TensorBatches(x[500:], y[500:], 50, False)


QUIET = dict(progress=False, log=False)


# ---------------------------------------------------------------- fit and its history


def test_fit_learns_and_reports_history(capsys):
    model, opt, sched, tr, te = make_run()
    history = train.fit(model, tr, te, epochs=5, optimizer=opt, scheduler=sched, eval_name="test", progress=False)
    assert [e.epoch for e in history] == [1, 2, 3, 4, 5]
    assert history.final.test_acc > 0.95
    assert history[0].train_loss > history[-1].train_loss
    assert all(e.seconds > 0 and e.examples_per_s > 0 for e in history)
    assert history.final.lr == pytest.approx(0.1 * 0.9**5)  # 50 batches: the scheduler stepped per batch
    assert history.column("epoch") == [1, 2, 3, 4, 5]
    assert history.metric_names() == ["train_loss", "train_acc", "test_loss", "test_acc"]
    assert history.final.metrics["test_acc"] == history.final.test_acc
    assert "test acc" in history.table() and "nan" not in history.table()
    out = capsys.readouterr().out
    assert "epoch 5/5  train loss" in out and " test loss " in out and "nan" not in out


def test_default_evaluation_set_is_called_val():
    model, opt, _, tr, te = make_run()
    history = train.fit(model, tr, te, epochs=1, optimizer=opt, **QUIET)
    assert set(history.final.metrics) == {"train_loss", "train_acc", "val_loss", "val_acc"}
    with pytest.raises(AttributeError, match="val_acc"):  # the message lists what there is
        _ = history.final.test_acc


def test_without_evaluation_batches_there_are_no_evaluation_columns(capsys):
    model, opt, _, tr, _ = make_run()
    history = train.fit(model, tr, epochs=2, optimizer=opt, progress=False)
    out = capsys.readouterr().out
    assert "epoch 2/2  train loss" in out and "val" not in out and "test" not in out and "nan" not in out
    assert history.metric_names() == ["train_loss", "train_acc"]
    table = history.table()
    assert table.splitlines()[0].split() == ["epoch", "train", "loss", "train", "acc", "seconds", "examples/s"]
    assert "nan" not in table


def test_history_to_dicts_round_trip_and_mean():
    model, opt, _, tr, te = make_run()
    history = train.fit(model, tr, te, epochs=2, optimizer=opt, **QUIET)
    again = train.History.from_dicts(history.to_dicts())
    assert again == history and again.final.val_acc == history.final.val_acc
    assert history.mean("train_loss") == pytest.approx(statistics.fmean(e.metrics["train_loss"] for e in history))
    with pytest.raises(ValueError, match="empty"):
        train.History().mean("seconds")


def test_bad_arguments_are_named():
    model, opt, _, tr, te = make_run()
    with pytest.raises(ValueError, match="eval_name"):
        train.fit(model, tr, te, epochs=1, optimizer=opt, eval_name="train", **QUIET)
    with pytest.raises(ValueError, match="'loss'"):
        train.fit(model, tr, te, epochs=1, optimizer=opt, metrics={"loss": train.accuracy}, **QUIET)
    with pytest.raises(ValueError, match=r"config=\) must be JSON"):
        train.fit(model, tr, te, epochs=1, optimizer=opt, checkpoint="unused.pt", config={"f": print}, **QUIET)
    with pytest.raises(ValueError, match="config must be a dict"):
        train.fit(model, tr, te, epochs=1, optimizer=opt, config=[1], **QUIET)
    with pytest.raises(ValueError, match="no batches"):
        train.fit(model, TensorBatches(torch.zeros(0, 2), torch.zeros(0, dtype=torch.long), 8), epochs=1,
                  optimizer=opt, **QUIET)


def test_diverging_loss_raises_a_clear_error():
    model, _, _, tr, te = make_run()
    opt = torch.optim.SGD(model.parameters(), lr=1e30)
    with pytest.raises(FloatingPointError, match="lower the learning rate"):
        train.fit(model, tr, te, epochs=2, optimizer=opt, **QUIET)


def test_fit_with_image_batches_and_progress(capsys):
    gen = torch.Generator().manual_seed(0)
    labels = torch.arange(200) % 2
    images = torch.randint(0, 100, (200, 1, 8, 8), generator=gen, dtype=torch.uint8)
    images[labels == 1, :, :4] += 120  # class 1 has a bright top half
    ds = data.ImageDataset("toy", ("dark", "bright"), images[:160], labels[:160], images[160:], labels[160:])
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(2), nn.Flatten(),
                          nn.Linear(16, 2))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    h = train.fit(model, ds.train_batches(32, device="cpu"), ds.test_batches(40, device="cpu"), epochs=3,
                  optimizer=opt, eval_name="test")
    out = capsys.readouterr().out
    assert "epoch 3/3" in out and "examples/s" in out
    assert h.final.test_acc > 0.9


# ---------------------------------------------------------------- evaluate, predict, metrics


def test_evaluate_matches_a_direct_computation():
    model, *_ = make_run()
    x, y = blobs(130, seed=3)
    batches = TensorBatches(x, y, 50, shuffle=False)  # 50 + 50 + 30: the last batch is smaller
    scores = train.evaluate(model, batches)
    with torch.no_grad():
        logits = model.eval()(x)
    assert set(scores) == {"loss", "acc"}
    assert scores["loss"] == pytest.approx(F.cross_entropy(logits, y).item(), rel=1e-5)
    assert scores["acc"] == pytest.approx((logits.argmax(1) == y).float().mean().item())
    preds, labels = train.predict(model, batches)
    assert torch.equal(preds, logits.argmax(1)) and torch.equal(labels, y)


def test_evaluate_restores_training_mode_and_rejects_empty_sets():
    model, *_, te = make_run()
    model.train()
    train.evaluate(model, te)
    assert model.training
    with pytest.raises(ValueError, match="empty"):
        train.evaluate(model, [])


def test_accuracy_counts_correct_predictions_and_skips_padding():
    outputs = torch.tensor([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]])  # predicts 1, 0, 1
    correct, count = train.accuracy(outputs, torch.tensor([1, 1, 1]))
    assert (int(correct), int(count)) == (2, 3)
    # (B, T, V) = (1, 4, 3): predictions 2, 0, 0, 1; targets 2, 1, PAD, PAD (PAD = 0)
    seq = torch.tensor([[[0, 0, 5], [5, 0, 0], [5, 0, 0], [0, 5, 0]]], dtype=torch.float)
    targets = torch.tensor([[2, 1, 0, 0]])
    correct, count = train.accuracy(seq, targets, ignore_index=0)
    assert (int(correct), int(count)) == (1, 2)  # a padded position predicted as the pad id is not a hit
    correct, count = train.accuracy(seq, targets)
    assert (int(correct), int(count)) == (2, 4)
    with pytest.raises(ValueError, match="leading shape"):
        train.accuracy(seq, targets[0])


def test_token_cross_entropy_is_the_mean_over_real_tokens():
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 5, 7, generator=gen)
    targets = torch.tensor([[3, 1, 4, 0, 0], [5, 0, 0, 0, 0]])  # 0 is padding
    mean, count = train.token_cross_entropy(logits, targets, ignore_index=0)
    log_p = torch.log_softmax(logits, dim=-1)
    real = [(b, t) for b in range(2) for t in range(5) if targets[b, t] != 0]
    by_hand = -sum(log_p[b, t, targets[b, t]] for b, t in real) / len(real)
    assert int(count) == 4 and mean.item() == pytest.approx(by_hand.item(), rel=1e-6)


class TokenModel(nn.Module):
    """(B, T) token ids -> (B, T, V) logits, one position at a time."""

    def __init__(self, vocab=8, width=16):
        super().__init__()
        self.embed = nn.Embedding(vocab, width)
        self.out = nn.Linear(width, vocab)

    def forward(self, tokens):
        return self.out(torch.relu(self.embed(tokens)))  # (B, T, V)


PAD = 0


def sequence_batches():
    """Fixed batches of padded sequences of different lengths: target = next id in 1..7 (never the pad id)."""
    gen = torch.Generator().manual_seed(0)
    batches = []
    for lengths in ([6, 6, 5, 6], [1, 2, 1, 1], [6, 3, 4, 2]):  # very different amounts of padding per batch
        x = torch.randint(1, 8, (4, 6), generator=gen)
        for row, n in enumerate(lengths):
            x[row, n:] = PAD
        y = torch.where(x == PAD, PAD, x % 7 + 1)  # (B, T)
        batches.append((x, y))
    return batches


def hand_scores(model, batches):
    """Mean cross-entropy and accuracy over every real token of every batch, computed directly."""
    losses, hits = [], []
    with torch.no_grad():
        for x, y in batches:
            log_p = torch.log_softmax(model(x), dim=-1)  # (B, T, V)
            real = y != PAD
            losses.append(-log_p.gather(-1, y[..., None])[..., 0][real])
            hits.append((log_p.argmax(-1) == y)[real])
    return torch.cat(losses).mean().item(), torch.cat(hits).float().mean().item()


def test_a_sequence_task_with_padding_trains_through_fit():
    batches = sequence_batches()
    loss_fn = functools.partial(train.token_cross_entropy, ignore_index=PAD)
    metrics = {"acc": functools.partial(train.accuracy, ignore_index=PAD)}
    torch.manual_seed(0)
    model = TokenModel()
    loss, acc = hand_scores(model, batches)
    # With lr 0 the model does not change, so the training metrics of the epoch must equal a direct computation.
    frozen = train.fit(model, batches, batches, epochs=1, optimizer=torch.optim.SGD(model.parameters(), lr=0.0),
                       loss_fn=loss_fn, metrics=metrics, **QUIET)
    assert frozen.final.train_loss == pytest.approx(loss, rel=1e-5)
    assert frozen.final.train_acc == pytest.approx(acc, rel=1e-6)
    assert frozen.final.val_loss == pytest.approx(loss, rel=1e-5)
    # The test can fail: weighting each batch equally, or counting padding, gives another number.
    per_batch = statistics.fmean(hand_scores(model, [b])[0] for b in batches)
    assert abs(per_batch - loss) > 1e-3
    history = train.fit(model, batches, batches, epochs=30, optimizer=torch.optim.Adam(model.parameters(), lr=0.05),
                        loss_fn=loss_fn, metrics=metrics, **QUIET)
    assert history.final.train_loss < 0.5 * history[0].train_loss
    loss, acc = hand_scores(model, batches)
    assert history.final.val_loss == pytest.approx(loss, rel=1e-5)
    assert history.final.val_acc == pytest.approx(acc, rel=1e-6) and acc > 0.9
    preds, targets = train.predict(model, batches)
    assert preds.shape == targets.shape == (12, 6)


# ---------------------------------------------------------------- the batch seam


class TwoInputs(nn.Module):
    """A model of two inputs, as a translation model takes (src, tgt_in)."""

    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(2, 8), nn.Linear(3, 8)
        self.out = nn.Linear(8, 3)

    def forward(self, a, b):
        return self.out(torch.relu(self.a(a) + self.b(b)))


def two_input_batches(n=60, batch_size=8):
    """``((a, b), y)`` batches: a tuple of inputs, y from a alone; the last batch has 4 examples."""
    x, y = blobs(n)
    b = torch.randn(n, 3, generator=torch.Generator().manual_seed(1))
    return [((x[i:i + batch_size], b[i:i + batch_size]), y[i:i + batch_size]) for i in range(0, n, batch_size)]


def test_to_device_moves_a_tensor_or_a_tuple_of_tensors():
    pair = collections.namedtuple("Pair", "src tgt_in")(torch.zeros(2, 3), torch.zeros(2, 3, 4, 4))
    moved = train.to_device(pair, torch.device("meta"), channels_last=True)
    assert type(moved) is type(pair) and all(t.device.type == "meta" for t in moved)
    assert moved.tgt_in.is_contiguous(memory_format=torch.channels_last) and not moved.tgt_in.is_contiguous()
    assert isinstance(train.to_device([torch.zeros(1)], "cpu"), list)
    assert train.to_device(torch.zeros(2, 1, 4, 4), "cpu").is_contiguous()


def test_a_tuple_x_is_unpacked_into_the_model():
    batches = two_input_batches()
    torch.manual_seed(0)
    model = TwoInputs()
    history = train.fit(model, batches, batches, epochs=40, optimizer=torch.optim.Adam(model.parameters(), lr=0.02),
                        **QUIET)
    assert history.final.val_acc > 0.9
    # the examples are counted from y: 60 per epoch (a count from x, a pair, would give 2 per batch)
    assert round(history.final.examples_per_s * history.final.seconds) == 60
    loss, acc = train.evaluate(model, batches).values()
    with torch.no_grad():
        logits = torch.cat([model(*x) for x, _ in batches])
    labels = torch.cat([y for _, y in batches])
    assert acc == pytest.approx((logits.argmax(1) == labels).float().mean().item())
    preds, targets = train.predict(model, batches)
    assert torch.equal(preds, logits.argmax(1)) and torch.equal(targets, labels)


def test_forward_says_how_the_model_runs_on_a_batch():
    class Named(nn.Module):  # returns a dict, as many library models do
        def __init__(self):
            super().__init__()
            self.net = nn.Linear(2, 3)

        def forward(self, features):
            return {"logits": self.net(features["points"])}

    x, y = blobs(40)
    batches = [(x[i:i + 10], y[i:i + 10]) for i in range(0, 40, 10)]

    def forward(model, x):
        return model({"points": x})["logits"]

    torch.manual_seed(0)
    model = Named()
    history = train.fit(model, batches, batches, epochs=2, optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
                        forward=forward, **QUIET)
    with torch.no_grad():
        logits = model.net(x)
    assert history.final.val_loss == pytest.approx(F.cross_entropy(logits, y).item(), rel=1e-5)
    assert train.evaluate(model, batches, forward=forward)["loss"] == history.final.val_loss
    assert torch.equal(train.predict(model, batches, forward=forward)[0], logits.argmax(1))
    with pytest.raises(ValueError, match="forward must be a function"):
        train.fit(model, batches, epochs=1, optimizer=torch.optim.SGD(model.parameters(), lr=0.1), forward="x",
                  **QUIET)


def test_an_x_that_is_not_tensors_gets_a_clear_error():
    model = nn.Linear(2, 3)
    batches = [({"points": torch.zeros(4, 2)}, torch.zeros(4, dtype=torch.long))]
    with pytest.raises(TypeError, match=r"(?s)x must be a tensor or a tuple of tensors, got dict.*forward="):
        train.fit(model, batches, epochs=1, optimizer=torch.optim.SGD(model.parameters(), lr=0.1), **QUIET)


def test_chunks_accumulate_the_gradient_of_the_whole_batch():
    """Without batch norm, a batch fed in 2 or 4 parts takes the step of the whole batch (to float rounding)."""
    batches = two_input_batches(64, 16)  # 16 per batch: equal parts
    runs = []
    for chunks in (1, 2, 4):
        torch.manual_seed(0)
        model = TwoInputs()
        train.fit(model, batches, epochs=2, optimizer=torch.optim.SGD(model.parameters(), lr=0.2, momentum=0.9),
                  chunks=chunks, **QUIET)
        runs.append(model)
    for other in runs[1:]:
        for p, q in zip(runs[0].parameters(), other.parameters()):
            torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="chunks must be a positive integer"):
        train.fit(runs[0], batches, epochs=1, optimizer=torch.optim.SGD(runs[0].parameters(), lr=0.1), chunks=0,
                  **QUIET)


def test_batch_norm_running_statistics_move_once_per_step_in_any_number_of_parts():
    """Each part is normalised over its own images, but the running statistics
    follow the first part only: once per step, as one process of a distributed run."""
    torch.manual_seed(0)
    x, y = torch.randn(32, 2) * 3 + 1, torch.randint(0, 3, (32,))
    first = nn.BatchNorm1d(2)
    with torch.no_grad():
        first(x[:8])  # what one update from the first of 4 parts gives
    model = nn.Sequential(nn.BatchNorm1d(2), nn.Linear(2, 3))
    train.fit(model, [(x, y)], epochs=1, optimizer=torch.optim.SGD(model.parameters(), lr=0.0), chunks=4, **QUIET)
    assert int(model[0].num_batches_tracked) == 1
    torch.testing.assert_close(model[0].running_mean, first.running_mean, rtol=0, atol=0)
    torch.testing.assert_close(model[0].running_var, first.running_var, rtol=0, atol=0)
    assert model[0].track_running_stats, "the running statistics are kept only during the step"


# ---------------------------------------------------------------- gradient clipping


def hand_loop(model, opt, batches, epochs, clip):
    """The textbook loop with torch's own clipping, as an oracle."""
    for _ in range(epochs):
        model.train()
        for x, y in batches:
            opt.zero_grad()
            F.cross_entropy(model(x), y).backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
            opt.step()


@pytest.mark.parametrize("scaled", [False, True])
def test_clip_grad_norm_matches_torch_and_unscales_first(monkeypatch, scaled):
    x, y = blobs(200)
    runs = []
    for use_fit in (True, False):
        torch.manual_seed(0)
        model = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 3))
        opt = torch.optim.SGD(model.parameters(), lr=0.5)
        batches = TensorBatches(x, y, 25)
        if use_fit:
            if scaled:  # float16-style loss scaling, enabled on the CPU: clipping must see unscaled gradients
                monkeypatch.setattr(train, "grad_scaler", lambda device: torch.amp.GradScaler("cpu", init_scale=1024.0))
            train.fit(model, batches, epochs=2, optimizer=opt, clip_grad_norm=0.05, **QUIET)
        else:
            hand_loop(model, opt, batches, 2, 0.05)
        runs.append(model)
    for p, q in zip(runs[0].parameters(), runs[1].parameters()):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)
    # and the clipping did something
    torch.manual_seed(0)
    free = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 3))
    train.fit(free, TensorBatches(x, y, 25), epochs=2, optimizer=torch.optim.SGD(free.parameters(), lr=0.5), **QUIET)
    assert not torch.allclose(free[0].weight, runs[0][0].weight, atol=1e-3)


# ---------------------------------------------------------------- memory layout


def image_toy():
    gen = torch.Generator().manual_seed(0)
    labels = torch.arange(120) % 2
    images = torch.randint(0, 100, (120, 1, 8, 8), generator=gen, dtype=torch.uint8)
    images[labels == 1, :, :4] += 120
    return data.ImageDataset("toy", ("dark", "bright"), images[:80], labels[:80], images[80:], labels[80:])


def test_channels_last_training_matches_contiguous_training():
    ds = image_toy()
    runs = []
    for cl in (False, True):
        torch.manual_seed(0)
        model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Conv2d(4, 4, 3),
                              nn.Flatten(), nn.Linear(4 * 6 * 6, 2))
        opt = torch.optim.SGD(model.parameters(), lr=0.05)
        h = train.fit(model, ds.train_batches(16, device="cpu"), ds.test_batches(40, device="cpu"), epochs=2,
                      optimizer=opt, channels_last=cl, **QUIET)
        assert train._is_channels_last(model) == cl
        runs.append((h, model))
    (h0, m0), (h1, m1) = runs
    assert h0.final.train_loss == pytest.approx(h1.final.train_loss, rel=1e-4)
    for p, q in zip(m0.parameters(), m1.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-4, atol=1e-5)
    # channels_last=False is explicit: a model left channels-last by an earlier call is made contiguous
    train.fit(m1, ds.train_batches(16, device="cpu"), epochs=1, optimizer=torch.optim.SGD(m1.parameters(), lr=0.05),
              channels_last=False, **QUIET)
    assert not train._is_channels_last(m1)


class ViewNet(nn.Module):
    """Reshapes a conv output with .view(), which channels-last memory breaks."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.fc = nn.Linear(4 * 8 * 8, 2)

    def forward(self, x):
        x = self.conv(x)  # (B, 4, 8, 8)
        return self.fc(x.view(x.shape[0], -1))  # (B, 256)


def test_a_model_using_view_fails_channels_last_with_advice_and_trains_contiguous():
    ds = image_toy()
    model = ViewNet()
    batches = ds.train_batches(16, device="cpu")
    with pytest.raises(RuntimeError, match=r"(?s)channels_last=True.*\.reshape\(\).*channels_last=False"):
        train.fit(model, batches, epochs=1, optimizer=torch.optim.SGD(model.parameters(), lr=0.05),
                  channels_last=True, **QUIET)
    batches = ds.train_batches(16, device="cpu")
    h = train.fit(model, batches, epochs=1, optimizer=torch.optim.SGD(model.parameters(), lr=0.05), **QUIET)
    assert len(h) == 1 and batches.epoch == 1  # nothing probed the batches or rewound their epoch


# ---------------------------------------------------------------- checkpoints


def test_resumed_fit_continues_from_the_saved_epoch(tmp_path, capsys):
    # Uninterrupted reference run.
    model_a, opt_a, sched_a, tr_a, te_a = make_run()
    full = train.fit(model_a, tr_a, te_a, epochs=4, optimizer=opt_a, scheduler=sched_a, **QUIET)
    # Interrupted run: 2 epochs, then fresh objects (as in a new process) resume to 4.
    ckpt = tmp_path / "run.pt"
    model_b, opt_b, sched_b, tr_b, te_b = make_run()
    train.fit(model_b, tr_b, te_b, epochs=2, optimizer=opt_b, scheduler=sched_b, checkpoint=ckpt, **QUIET)
    model_c, opt_c, sched_c, tr_c, te_c = make_run(seed=99)  # different init: must be overwritten
    torch.manual_seed(12345)  # disturb the RNG (dropout draws from it): the checkpoint restores it
    resumed = train.fit(model_c, tr_c, te_c, epochs=4, optimizer=opt_c, scheduler=sched_c, checkpoint=ckpt,
                        progress=False)
    assert "resumed from" in capsys.readouterr().out
    assert [e.epoch for e in resumed] == [1, 2, 3, 4]
    assert tr_c.epoch == 4
    for p, q in zip(model_a.parameters(), model_c.parameters()):
        torch.testing.assert_close(p, q, rtol=0, atol=0)
    assert resumed.final.val_loss == full.final.val_loss


def test_finished_run_returns_without_training(tmp_path):
    ckpt = tmp_path / "run.pt"
    model, opt, sched, tr, te = make_run()
    first = train.fit(model, tr, te, epochs=2, optimizer=opt, checkpoint=ckpt, **QUIET)
    model2, opt2, _, tr2, te2 = make_run()

    def boom(*a, **k):
        raise AssertionError("must not train again")

    opt2.step = boom
    again = train.fit(model2, tr2, te2, epochs=2, optimizer=opt2, checkpoint=ckpt, **QUIET)
    assert again.to_dicts() == first.to_dicts()
    for p, q in zip(model.parameters(), model2.parameters()):
        assert torch.equal(p, q)


def test_the_same_objects_continue_in_a_second_call(tmp_path):
    """Calling fit again with the same (already stepped) optimizer and scheduler is the same run."""
    ckpt = tmp_path / "run.pt"
    model, opt, sched, tr, te = make_run()
    train.fit(model, tr, te, epochs=1, optimizer=opt, scheduler=sched, checkpoint=ckpt, **QUIET)
    history = train.fit(model, tr, te, epochs=2, optimizer=opt, scheduler=sched, checkpoint=ckpt, **QUIET)
    assert [e.epoch for e in history] == [1, 2] and tr.epoch == 2


def test_a_scheduler_elsewhere_in_its_schedule_is_another_run(tmp_path, capsys):
    """Neither where the saved run started (a fresh scheduler) nor where it stopped: not the same run."""
    ckpt = tmp_path / "run.pt"
    model, opt, sched, tr, te = make_run()
    train.fit(model, tr, te, epochs=1, optimizer=opt, scheduler=sched, checkpoint=ckpt, **QUIET)
    model2, opt2, sched2, tr2, te2 = make_run()
    for _ in range(3):
        opt2.step()
        sched2.step()
    train.fit(model2, tr2, te2, epochs=2, optimizer=opt2, scheduler=sched2, checkpoint=ckpt, **QUIET)
    out = capsys.readouterr().out
    assert "holds a different run" in out and "scheduler.last_epoch: 0 -> 3" in out


@pytest.mark.parametrize("change, expected", [
    ({"lr": 0.001}, "optimizer.param_groups.0.initial_lr: 0.1 -> 0.001"),
    ({"batch_size": 25}, "data.batch_size: 50 -> 25"),
])
def test_a_changed_setting_starts_fresh_and_says_what_changed(tmp_path, capsys, change, expected):
    ckpt = tmp_path / "run.pt"
    model, opt, sched, tr, te = make_run()
    train.fit(model, tr, te, epochs=2, optimizer=opt, scheduler=sched, checkpoint=ckpt, **QUIET)
    model2, opt2, sched2, tr2, te2 = make_run(**change)
    history = train.fit(model2, tr2, te2, epochs=2, optimizer=opt2, scheduler=sched2, checkpoint=ckpt, **QUIET)
    out = capsys.readouterr().out
    assert "holds a different run" in out and expected in out
    assert "resumed" not in out and tr2.epoch == 2  # both epochs trained here
    assert (tmp_path / "run.replaced.pt").exists()  # the old run is kept aside
    saved = checkpoint.load(ckpt)
    assert saved["history"] == history.to_dicts()  # the checkpoint now holds the new run
    # and the new run resumes
    model3, opt3, sched3, tr3, te3 = make_run(**change)
    train.fit(model3, tr3, te3, epochs=2, optimizer=opt3, scheduler=sched3, checkpoint=ckpt, progress=False)
    assert "resumed from" in capsys.readouterr().out


def test_changed_augmentation_starts_fresh(tmp_path, capsys):
    ds, ckpt = image_toy(), tmp_path / "run.pt"
    for augment in (False, data.Augment(crop_padding=1, flip=False)):
        torch.manual_seed(0)
        model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(72, 2))
        train.fit(model, ds.train_batches(16, device="cpu", augment=augment), epochs=1,
                  optimizer=torch.optim.SGD(model.parameters(), lr=0.01), checkpoint=ckpt, **QUIET)
    out = capsys.readouterr().out
    assert 'data.augment: null -> {"crop_padding": 1, "flip": false}' in out


def test_more_epochs_continue_and_fewer_start_fresh(tmp_path, capsys):
    ckpt = tmp_path / "run.pt"
    model, opt, _, tr, te = make_run()
    train.fit(model, tr, te, epochs=3, optimizer=opt, checkpoint=ckpt, **QUIET)
    model, opt, _, tr, te = make_run()
    longer = train.fit(model, tr, te, epochs=4, optimizer=opt, checkpoint=ckpt, progress=False)
    assert "3 of 4 epochs already done" in capsys.readouterr().out and tr.epoch == 4 and len(longer) == 4
    model, opt, _, tr, te = make_run()
    shorter = train.fit(model, tr, te, epochs=2, optimizer=opt, checkpoint=ckpt, **QUIET)
    assert "epochs: 4 -> 2" in capsys.readouterr().out and len(shorter) == 2 and tr.epoch == 2


def test_a_garbage_checkpoint_raises_a_clear_error_and_is_left_alone(tmp_path):
    ckpt = tmp_path / "run.pt"
    ckpt.write_bytes(b"\x80\x02garbage" * 50)
    model, opt, _, tr, te = make_run()
    with pytest.raises(checkpoint.CheckpointError, match=f"(?s){ckpt}.*Delete it to start over"):
        train.fit(model, tr, te, epochs=1, optimizer=opt, checkpoint=ckpt, **QUIET)
    assert ckpt.read_bytes() == b"\x80\x02garbage" * 50


KILLED_RUN = textwrap.dedent("""
    import sys, time
    from pathlib import Path

    import torch
    from torch import nn

    from course_utils.train import fit

    torch.set_num_threads(1)
    checkpoint, weights, marker = sys.argv[1:4]


    class Batches:
        def __init__(self):
            gen = torch.Generator().manual_seed(0)
            self.images = torch.randn(256, 2, generator=gen)
            self.labels = (self.images.sum(1) > 0).long()
            self.batch_size, self.epoch, self.passes = 32, 0, 0

        def __len__(self):
            return 8

        def __iter__(self):
            order = torch.randperm(256, generator=torch.Generator().manual_seed(self.epoch))
            self.epoch += 1
            self.passes += 1
            for k in range(8):
                if self.epoch == 3 and k == 4 and marker != "-" and not Path(marker).exists():
                    Path(marker).write_text("halfway through epoch 3")
                    time.sleep(600)  # the test kills the process here
                idx = order[k * 32:(k + 1) * 32]
                yield self.images[idx], self.labels[idx]


    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Dropout(0.2), nn.Linear(16, 2))
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=5, gamma=0.9)
    batches = Batches()
    history = fit(model, batches, epochs=4, optimizer=opt, scheduler=sched, checkpoint=checkpoint, progress=False)
    torch.save(model.state_dict(), weights)
    print(f"passes in this process: {batches.passes}; epochs in the history: {len(history)}")
""")


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL (POSIX)")
def test_a_run_killed_mid_epoch_resumes_and_loses_at_most_that_epoch(tmp_path):
    script = tmp_path / "run.py"
    script.write_text(KILLED_RUN)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}

    def command(name, marker):
        return [sys.executable, str(script), str(tmp_path / f"{name}.pt"), str(tmp_path / f"{name}_weights.pt"),
                marker]

    marker = tmp_path / "in_epoch_3"
    proc = subprocess.Popen(command("run", str(marker)), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    deadline = time.monotonic() + 120
    while not marker.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"the run never reached epoch 3:\n{proc.communicate()[0]}")
        time.sleep(0.05)
    assert len(checkpoint.load(tmp_path / "run.pt")["history"]) == 2  # epochs 1-2 saved, 3 under way
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    assert proc.returncode == -signal.SIGKILL and not (tmp_path / "run_weights.pt").exists()

    again = subprocess.run(command("run", str(marker)), env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "2 of 4 epochs already done" in again.stdout
    assert "passes in this process: 2; epochs in the history: 4" in again.stdout  # epochs 3 and 4 only

    reference = subprocess.run(command("reference", "-"), env=env, capture_output=True, text=True, timeout=300)
    assert reference.returncode == 0, reference.stdout + reference.stderr
    assert "passes in this process: 4" in reference.stdout
    resumed = torch.load(tmp_path / "run_weights.pt", weights_only=True)
    uninterrupted = torch.load(tmp_path / "reference_weights.pt", weights_only=True)
    for name in uninterrupted:  # same process settings, same operations: bit for bit on a CPU
        assert torch.equal(resumed[name], uninterrupted[name]), name


# ---------------------------------------------------------------- over seeds


def test_over_seeds_reports_mean_and_sample_std():
    def run(seed):
        noise = torch.rand(()).item()  # over_seeds seeds the generators first
        return {"acc": 0.8 + seed / 100, "noise": noise, "name": "not a number"}

    runs = train.over_seeds(run, seeds=[0, 1, 2, 5])
    accs = [0.80, 0.81, 0.82, 0.85]
    assert runs.seeds == [0, 1, 2, 5] and runs.values("acc") == pytest.approx(accs)
    assert runs.mean("acc") == pytest.approx(np.mean(accs))
    assert runs.std("acc") == pytest.approx(np.std(accs, ddof=1))
    assert runs.std("acc") == pytest.approx(statistics.stdev(accs))
    torch.manual_seed(2)
    assert runs.values("noise")[2] == torch.rand(()).item()
    assert runs.fields() == ["acc", "noise"]
    assert runs.summary("acc") == f"acc {np.mean(accs):.2%} ± {np.std(accs, ddof=1):.2%} over 4 seeds"
    assert "noise" in repr(runs)
    single = train.over_seeds(lambda seed: 3.0, seeds=[7])
    assert single.mean("value") == 3.0 and math.isnan(single.std("value"))
    assert single.summary("value") == "value 3.0000 over 1 seed"
    with pytest.raises(ValueError, match="at least one seed"):
        train.over_seeds(run, [])


def test_over_seeds_takes_histories():
    def run(seed):
        model, opt, _, tr, te = make_run(seed=seed)
        return train.fit(model, tr, te, epochs=1, optimizer=opt, eval_name="test", **QUIET)

    runs = train.over_seeds(run, seeds=range(2))
    assert {"train_loss", "test_acc", "seconds"} <= set(runs.fields())
    assert runs.mean("test_acc") == pytest.approx(statistics.fmean(runs.values("test_acc")))


# ---------------------------------------------------------------- structure


def test_plot_does_not_import_train():
    """train imports plot at module level; plot importing train back would be a cycle."""
    code = "import sys, course_utils.plot; assert 'course_utils.train' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
