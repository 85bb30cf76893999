import math
import warnings

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course_utils import data, train


def blobs(n=600, seed=0):
    """Two Gaussian blobs per class in 2-D: easy, but not linearly trivial."""
    gen = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 3
    centers = torch.tensor([[2.0, 0.0], [-1.0, 1.7], [-1.0, -1.7]])
    x = centers[y] + 0.5 * torch.randn(n, 2, generator=gen)
    return x, y


class TensorBatches:
    """A minimal batch iterable with the same resumable `epoch` as data.Batches."""

    def __init__(self, x, y, batch_size, shuffle=True):
        self.x, self.y, self.batch_size, self.shuffle, self.epoch = x, y, batch_size, shuffle, 0

    def __len__(self):
        return -(-len(self.y) // self.batch_size)

    def __iter__(self):
        gen = torch.Generator().manual_seed(self.epoch)
        self.epoch += 1
        order = torch.randperm(len(self.y), generator=gen) if self.shuffle else torch.arange(len(self.y))
        for k in range(len(self)):
            idx = order[k * self.batch_size:(k + 1) * self.batch_size]
            yield self.x[idx], self.y[idx]


def make_run(seed=0):
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Dropout(0.1), nn.Linear(16, 3))
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=10, gamma=0.9)
    x, y = blobs()
    return model, opt, sched, TensorBatches(x[:500], y[:500], 50), TensorBatches(x[500:], y[500:], 50, False)


def test_fit_learns_and_reports_history():
    model, opt, sched, tr, te = make_run()
    history = train.fit(model, tr, te, epochs=5, optimizer=opt, scheduler=sched, progress=False, log=False)
    assert [e.epoch for e in history] == [1, 2, 3, 4, 5]
    assert history.final.test_acc > 0.95
    assert history[0].train_loss > history[-1].train_loss
    assert all(e.seconds > 0 and e.examples_per_s > 0 for e in history)
    assert history.final.lr == pytest.approx(0.1 * 0.9**5)  # 50 batches: the scheduler stepped per batch
    assert history.column("epoch") == [1, 2, 3, 4, 5]
    assert "test acc" in history.table()


def test_evaluate_matches_a_direct_computation():
    model, *_, te = make_run()
    loss, acc = train.evaluate(model, te)
    with torch.no_grad():
        logits = model.eval()(te.x)
    assert loss == pytest.approx(F.cross_entropy(logits, te.y).item(), rel=1e-5)
    assert acc == pytest.approx((logits.argmax(1) == te.y).float().mean().item())
    preds, labels = train.predict(model, te)
    assert torch.equal(preds, logits.argmax(1)) and torch.equal(labels, te.y)


def test_evaluate_restores_training_mode():
    model, *_, te = make_run()
    model.train()
    train.evaluate(model, te)
    assert model.training


def test_resumed_fit_continues_from_the_saved_epoch(tmp_path):
    # Uninterrupted reference run.
    model_a, opt_a, sched_a, tr_a, te_a = make_run()
    full = train.fit(model_a, tr_a, te_a, epochs=4, optimizer=opt_a, scheduler=sched_a, progress=False, log=False)
    # Interrupted run: 2 epochs, then a fresh process (new objects) resumes to 4.
    ckpt = tmp_path / "run.pt"
    model_b, opt_b, sched_b, tr_b, te_b = make_run()
    train.fit(model_b, tr_b, te_b, epochs=2, optimizer=opt_b, scheduler=sched_b, checkpoint=ckpt, progress=False,
              log=False)
    model_c, opt_c, sched_c, tr_c, te_c = make_run(seed=99)  # different init: must be overwritten
    torch.manual_seed(12345)  # disturb the RNG: the checkpoint restores it
    resumed = train.fit(model_c, tr_c, te_c, epochs=4, optimizer=opt_c, scheduler=sched_c, checkpoint=ckpt,
                        progress=False, log=False)
    assert [e.epoch for e in resumed] == [1, 2, 3, 4]
    assert tr_c.epoch == 4
    for p, q in zip(model_a.parameters(), model_c.parameters()):
        torch.testing.assert_close(p, q)
    assert resumed.final.test_loss == pytest.approx(full.final.test_loss, rel=1e-6)


def test_finished_run_returns_without_training(tmp_path):
    ckpt = tmp_path / "run.pt"
    model, opt, sched, tr, te = make_run()
    first = train.fit(model, tr, te, epochs=2, optimizer=opt, checkpoint=ckpt, progress=False, log=False)
    model2, opt2, _, tr2, te2 = make_run()

    def boom(*a, **k):
        raise AssertionError("must not train again")

    opt2.step = boom
    again = train.fit(model2, tr2, te2, epochs=2, optimizer=opt2, checkpoint=ckpt, progress=False, log=False)
    assert again.to_dicts() == first.to_dicts()


def test_checkpoint_of_another_model_starts_over(tmp_path):
    ckpt = tmp_path / "run.pt"
    model, opt, _, tr, te = make_run()
    train.fit(model, tr, te, epochs=1, optimizer=opt, checkpoint=ckpt, progress=False, log=False)
    other = nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 3))
    opt2 = torch.optim.SGD(other.parameters(), lr=0.1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        h = train.fit(other, TensorBatches(*blobs(100), 50), None, epochs=1, optimizer=opt2, checkpoint=ckpt,
                      progress=False, log=False)
    assert any("different model" in str(w.message) for w in caught)
    assert len(h) == 1 and math.isnan(h.final.test_acc)


def test_diverging_loss_raises_a_clear_error():
    model, _, _, tr, te = make_run()
    opt = torch.optim.SGD(model.parameters(), lr=1e30)
    with pytest.raises(FloatingPointError, match="lower the learning rate"):
        train.fit(model, tr, te, epochs=2, optimizer=opt, progress=False, log=False)


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
                  optimizer=opt)
    out = capsys.readouterr().out
    assert "epoch 3/3" in out and "examples/s" in out
    assert h.final.test_acc > 0.9


class ViewNet(nn.Module):
    """Reshapes a conv output with .view(), which channels-last memory breaks."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.fc = nn.Linear(4 * 8 * 8, 2)

    def forward(self, x):
        x = self.conv(x)
        return self.fc(x.view(x.shape[0], -1))


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
                      optimizer=opt, progress=False, log=False, channels_last=cl)
        assert train._is_channels_last(model) == cl
        runs.append((h, model))
    (h0, m0), (h1, m1) = runs
    assert h0.final.train_loss == pytest.approx(h1.final.train_loss, rel=1e-4)
    for p, q in zip(m0.parameters(), m1.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-4, atol=1e-5)


def test_a_model_using_view_falls_back_to_contiguous_memory():
    ds = image_toy()
    model = ViewNet()
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    batches = ds.train_batches(16, device="cpu")
    with pytest.warns(UserWarning, match=r"\.view\(\)"):
        h = train.fit(model, batches, ds.test_batches(40, device="cpu"), epochs=1, optimizer=opt, progress=False,
                      log=False, channels_last=True)
    assert not train._is_channels_last(model) and len(h) == 1
    assert batches.epoch == 1  # the probe did not use up an epoch


def test_checkpoint_path_is_per_profile_and_follows_the_variable(tmp_path, monkeypatch):
    monkeypatch.delenv("COURSE_CHECKPOINT_DIR", raising=False)
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("COURSE_PROFILE", "standard")
    assert train.checkpoint_path("08_vgg11") == tmp_path / "checkpoints" / "standard" / "08_vgg11.pt"
    monkeypatch.setenv("COURSE_CHECKPOINT_DIR", str(tmp_path / "elsewhere"))
    monkeypatch.setenv("COURSE_PROFILE", "smoke")  # a smoke run never resumes a standard one
    assert train.checkpoint_path("08_vgg11") == tmp_path / "elsewhere" / "smoke" / "08_vgg11.pt"
