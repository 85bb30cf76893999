"""What a GPU run depends on, checked without a GPU.

The precision choice per GPU is in test_device.py (CUDA queries mocked). Here:
the data is copied to the device once, not per batch or epoch; and the
training loop reads values back from the device once per epoch, not per
batch (each read waits for the GPU to finish everything queued, so a read per
batch would keep the CPU from running ahead of the GPU)."""

import contextlib

import torch
from torch import nn

from course_utils.data import Batches
from course_utils.train import fit


@contextlib.contextmanager
def counting(monkeypatch, name, keep=lambda tensor, args, kwargs: True):
    """Count calls of ``torch.Tensor.<name>`` for which ``keep`` is true."""
    calls = []
    original = getattr(torch.Tensor, name)

    def wrapper(tensor, *args, **kwargs):
        if keep(tensor, args, kwargs):
            calls.append(tuple(tensor.shape))
        return original(tensor, *args, **kwargs)

    monkeypatch.setattr(torch.Tensor, name, wrapper)
    try:
        yield calls
    finally:
        monkeypatch.setattr(torch.Tensor, name, original)


def test_the_dataset_is_copied_to_the_device_once(monkeypatch):
    images = torch.randint(0, 256, (300, 1, 8, 8), dtype=torch.uint8)
    labels = torch.randint(0, 10, (300,))
    whole = images.numel()
    with counting(monkeypatch, "to", lambda t, a, k: t.numel() == whole) as made:
        batches = Batches(images, labels, 32, device="cpu", shuffle=True, augment=True)
    assert made == [tuple(images.shape)], "the images are copied to the device when the batches are made"
    with counting(monkeypatch, "to", lambda t, a, k: t.numel() >= whole) as iterated:
        for _ in range(2):
            assert sum(len(x) for x, _ in batches) == 300
    assert iterated == [], "an epoch copied the whole dataset again"


def reads_during_fit(monkeypatch, n_examples):
    torch.manual_seed(0)
    x = torch.randn(n_examples, 1, 6, 6)
    y = torch.randint(0, 3, (n_examples,))
    batches = [(x[i:i + 10], y[i:i + 10]) for i in range(0, n_examples, 10)]
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 4 * 4, 3))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with contextlib.ExitStack() as stack:
        counters = [stack.enter_context(counting(monkeypatch, name))
                    for name in ("item", "__float__", "__int__", "__bool__", "tolist")]
        fit(model, batches, batches[:2], epochs=2, optimizer=optimizer, progress=False, log=False)
        total = sum(len(c) for c in counters)
    return total


def test_fit_reads_from_the_device_per_epoch_not_per_batch(monkeypatch):
    few, many = reads_during_fit(monkeypatch, 40), reads_during_fit(monkeypatch, 400)  # 4 and 40 batches
    assert many == few, f"reads from the device grow with the number of batches: {few} for 4, {many} for 40"
