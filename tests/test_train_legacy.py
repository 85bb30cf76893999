"""Nothing ``fit`` computes changed when its step became the shared training
step and it gained the batch seam: the same tiny runs with ``fit`` of commit
2969b46 (a frozen copy, ``tests/legacy_train_2969b46.py``) and the current
one, in this process, give bit-identical weights, buffers and histories."""

import functools

import legacy_train_2969b46 as legacy
import pytest
import torch
from torch import nn

from course_utils import data, train


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def images():
    """160 training and 40 test 8x8 images of two classes (a bright top half or not)."""
    gen = torch.Generator().manual_seed(0)
    labels = torch.arange(200) % 2
    pixels = torch.randint(0, 100, (200, 1, 8, 8), generator=gen, dtype=torch.uint8)
    pixels[labels == 1, :, :4] += 120
    return data.ImageDataset("toy", ("dark", "bright"), pixels[:160], labels[:160], pixels[160:], labels[160:])


def image_run(fit, channels_last):
    """A small conv net with batch norm and dropout, augmented shuffled batches,
    momentum SGD with a step schedule and gradient clipping, 3 epochs."""
    ds = images()
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Dropout(0.2),
                          nn.Conv2d(4, 4, 3), nn.Flatten(), nn.Linear(4 * 6 * 6, 2))
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=7, gamma=0.5)
    history = fit(model, ds.train_batches(16, device="cpu", augment=True, seed=3), ds.test_batches(40, device="cpu"),
                  epochs=3, optimizer=opt, scheduler=sched, clip_grad_norm=0.5, channels_last=channels_last,
                  progress=False, log=False)
    return model, history


class TokenModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed, self.out = nn.Embedding(8, 16), nn.Linear(16, 8)

    def forward(self, tokens):
        return self.out(torch.relu(self.embed(tokens)))  # (B, T, V)


def sequence_run(fit):
    """Padded token sequences with a loss and a metric that skip the padding (id 0)."""
    gen = torch.Generator().manual_seed(0)
    batches = []
    for lengths in ([6, 6, 5, 6], [1, 2, 1, 1], [6, 3, 4, 2]):
        x = torch.randint(1, 8, (4, 6), generator=gen)
        for row, n in enumerate(lengths):
            x[row, n:] = 0
        batches.append((x, torch.where(x == 0, 0, x % 7 + 1)))
    torch.manual_seed(0)
    model = TokenModel()
    history = fit(model, batches, batches, epochs=4, optimizer=torch.optim.Adam(model.parameters(), lr=0.05),
                  loss_fn=functools.partial(train.token_cross_entropy, ignore_index=0),
                  metrics={"acc": functools.partial(train.accuracy, ignore_index=0)}, progress=False, log=False)
    return model, history


def assert_same_run(old, new):
    (old_model, old_history), (new_model, new_history) = old, new
    old_state, new_state = old_model.state_dict(), new_model.state_dict()
    assert list(old_state) == list(new_state)
    for name in old_state:
        assert torch.equal(old_state[name], new_state[name]), f"{name} differs"
    assert [e.metrics for e in new_history] == [e.metrics for e in old_history]  # ==, not approximately
    assert [e.lr for e in new_history] == [e.lr for e in old_history]


@pytest.mark.parametrize("channels_last", [False, True])
def test_fit_trains_images_as_the_legacy_fit_did(channels_last):
    assert_same_run(image_run(legacy.fit, channels_last), image_run(train.fit, channels_last))


def test_fit_trains_padded_sequences_as_the_legacy_fit_did():
    assert_same_run(sequence_run(legacy.fit), sequence_run(train.fit))
