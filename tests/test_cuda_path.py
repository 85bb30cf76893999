"""What a GPU run depends on, checked without a GPU.

The precision choice per GPU is in test_device.py (CUDA queries mocked). Here:
the data is copied to the device once, not per batch or epoch, and so are an
epoch's random numbers (crop offsets, flips, the order of the batches); the
training loop reads values back from the device once per epoch, not per
batch (each read waits for the GPU to finish everything queued, so a read per
batch would keep the CPU from running ahead of the GPU), also for a
Transformer (its token-id check); decoding reads once per step.

Counting works on the CPU: a copy to the device is a call of ``Tensor.to``
with a device, a read any call that turns a tensor into Python values."""

import contextlib
import functools

import torch
from torch import nn

from course_utils import decoding
from course_utils.data import Batches
from course_utils.data.text import TranslationBatches
from course_utils.experiments.batches import IterationBatches
from course_utils.models import transformer as tr
from course_utils.train import accuracy, fit, token_cross_entropy

READS = ("item", "__float__", "__int__", "__bool__", "tolist")


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
        counters = [stack.enter_context(counting(monkeypatch, name)) for name in READS]
        fit(model, batches, batches[:2], epochs=2, optimizer=optimizer, progress=False, log=False)
        total = sum(len(c) for c in counters)
    return total


def test_fit_reads_from_the_device_per_epoch_not_per_batch(monkeypatch):
    few, many = reads_during_fit(monkeypatch, 40), reads_during_fit(monkeypatch, 400)  # 4 and 40 batches
    assert many == few, f"reads from the device grow with the number of batches: {few} for 4, {many} for 40"


def to_device_calls(monkeypatch, iterate):
    """How many ``Tensor.to(<device>)`` calls ``iterate()`` makes (copies to the device on a GPU)."""
    def is_copy(tensor, args, kwargs):
        target = args[0] if args else kwargs.get("device")
        return isinstance(target, (torch.device, str))

    with counting(monkeypatch, "to", is_copy) as calls:
        iterate()
    return len(calls)


def image_batches(n, **kwargs):
    images = torch.randint(0, 256, (n, 3, 8, 8), dtype=torch.uint8)
    return Batches(images, torch.randint(0, 10, (n,)), 10, device="cpu", mean=(0.5,) * 3, std=(0.25,) * 3,
                   shuffle=True, **kwargs)


def test_an_augmented_epoch_copies_its_random_numbers_once(monkeypatch):
    """Crop offsets and flips are drawn for the epoch and copied to the device
    once, not per batch (a copy from pageable memory makes the CPU wait)."""
    def epoch(batches):
        return lambda: sum(len(y) for _, y in batches)

    few, many = (to_device_calls(monkeypatch, epoch(image_batches(n, augment=True))) for n in (30, 300))
    assert few == many, f"copies to the device grow with the number of batches: {few} for 3, {many} for 30"


def test_the_runners_batches_copy_their_random_numbers_once_per_epoch(monkeypatch):
    def epoch(n):
        images = torch.randint(0, 256, (n, 3, 8, 8), dtype=torch.uint8)
        batches = IterationBatches(images, torch.randint(0, 10, (n,)), 10, mean=(0.5,) * 3, std=(0.25,) * 3,
                                   device="cpu", seed=0)
        return lambda: [batches[t] for t in range(batches.steps_per_epoch)]

    few, many = (to_device_calls(monkeypatch, epoch(n)) for n in (30, 300))
    assert few == many, f"copies to the device grow with the number of iterations: {few} for 3, {many} for 30"


def pairs_batches(n, batch_size=10, seed=0):
    gen = torch.Generator().manual_seed(seed)
    src = torch.randint(4, 20, (n, 6), generator=gen)
    tgt = torch.randint(4, 20, (n, 7), generator=gen)
    tgt[:, 0] = 1  # <bos>
    lengths = torch.randint(2, 7, (n,), generator=gen)
    positions = torch.arange(7)
    tgt[positions >= lengths[:, None] + 1] = 0  # padding after each target's end
    tgt[torch.arange(n), lengths] = 2  # <eos>
    return TranslationBatches(src, tgt, batch_size, shuffle=True, device="cpu")


def test_translation_batches_copy_an_epochs_indices_once(monkeypatch):
    def epoch(batches):
        return lambda: sum(len(y) for _, y in batches)

    few, many = (to_device_calls(monkeypatch, epoch(pairs_batches(n))) for n in (30, 300))
    assert few == many, f"copies to the device grow with the number of batches: {few} for 3, {many} for 30"


def reads_during_transformer_fit(monkeypatch, n_pairs):
    torch.manual_seed(0)
    model = tr.transformer(20, 20, d_model=8, nhead=2, num_encoder_layers=1, num_decoder_layers=1,
                           dim_feedforward=16)
    batches = pairs_batches(n_pairs)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)  # Adam's step counters are CPU tensors it reads
    with contextlib.ExitStack() as stack:
        counters = [stack.enter_context(counting(monkeypatch, name)) for name in READS]
        fit(model, batches, epochs=2, optimizer=optimizer, loss_fn=functools.partial(token_cross_entropy,
            ignore_index=0), metrics={"acc": functools.partial(accuracy, ignore_index=0)}, progress=False,
            log=False)
        return sum(len(c) for c in counters)


def test_training_a_transformer_reads_per_epoch_not_per_batch(monkeypatch):
    """The Transformer's check that token ids fit the vocabulary reads the ids
    (min and max): done per step, that is four waits for the GPU per batch."""
    few, many = reads_during_transformer_fit(monkeypatch, 40), reads_during_transformer_fit(monkeypatch, 400)
    assert many == few, f"reads from the device grow with the number of batches: {few} for 4, {many} for 40"


class CountingSteps(nn.Module):
    """A decoding model (start/step/reorder) whose next-token scores are random
    but fixed by the step, with <eos> likely enough that hypotheses finish at
    every step; it counts its steps."""

    def __init__(self, vocab=6, eos=1):
        super().__init__()
        self.vocab, self.eos, self.steps = vocab, eos, 0

    def start(self, src):
        return {"rows": src.shape[0]}

    def step(self, state, tokens):
        self.steps += 1
        gen = torch.Generator().manual_seed(self.steps)
        logits = torch.randn(len(tokens), self.vocab, generator=gen)
        logits[:, 0] = -1e9  # never <bos>
        logits[:, self.eos] += 0.5
        return logits

    @staticmethod
    def reorder(state, index):
        return state


def test_beam_search_reads_once_per_step(monkeypatch):
    """Beam search's bookkeeping (which hypotheses finished, their scores and
    tokens) is read from the device once per step, however many finish."""
    model = CountingSteps()
    src = torch.zeros(8, 3, dtype=torch.int64)
    with contextlib.ExitStack() as stack:
        counters = [stack.enter_context(counting(monkeypatch, name)) for name in READS]
        decoding.beam_search(model, src, bos_id=0, eos_id=1, max_len=12, beam_size=3)
        reads = sum(len(c) for c in counters)
    assert model.steps >= 3
    assert reads <= model.steps + 2, f"{reads} reads in {model.steps} steps"
