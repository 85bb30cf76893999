"""The GPU's mixed precision, run on the CPU with the test switch
``COURSE_AUTOCAST`` (course_utils.device), in both of a GPU's dtypes:
training through ``fit`` with float16's gradient scaler, evaluation against
a hand-written loop in the same precision, and LRN at the paper's input scale.

``.ci/run`` also runs the notebooks where precision matters under the switch."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course_utils import device as dev
from course_utils import train
from course_utils.models import alexnet
from course_utils.modes import eval_mode

DTYPES = [("bfloat16", torch.bfloat16), ("float16", torch.float16)]


@pytest.fixture(params=DTYPES, ids=[name for name, _ in DTYPES])
def cpu_autocast(request, monkeypatch):
    name, dtype = request.param
    monkeypatch.setenv(dev.AUTOCAST_ENV, name)
    return dtype


def blob_batches(n=256, batch_size=32, seed=0):
    gen = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 4
    x = 3 * F.one_hot(y, 8).float() + torch.randn(n, 8, generator=gen)
    return [(x[i:i + batch_size], y[i:i + batch_size]) for i in range(0, n, batch_size)]


def test_fit_trains_in_mixed_precision_with_its_scaler(cpu_autocast, monkeypatch):
    """The forward pass runs in the dtype, float16's loss is scaled (and its
    scaler's state checkpointed), and the model learns."""
    cpu = torch.device("cpu")
    scalers = []
    monkeypatch.setattr(train, "grad_scaler", lambda device: scalers.append(dev.grad_scaler(device)) or scalers[-1])
    seen = []
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 4))
    model[2].register_forward_hook(lambda module, args, out: seen.append(out.dtype))
    batches = blob_batches()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, **train.optimizer_options(cpu))
    history = train.fit(model, batches, batches, epochs=3, optimizer=optimizer, progress=False, log=False)
    assert set(seen) == {cpu_autocast}
    assert scalers[0].is_enabled() == (cpu_autocast == torch.float16)
    assert history.final.val_acc > 0.9 and history.final.train_loss < history[0].train_loss


def test_evaluate_equals_a_loop_in_the_same_precision(cpu_autocast):
    """evaluate runs the model under autocast: a hand loop in the same precision
    computes the same loss and accuracy (notebook 13 compares the two)."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 64), nn.ReLU(), nn.Linear(64, 4))
    batches = blob_batches(seed=1)
    scores = train.evaluate(model, batches)
    loss_sum = correct = count = 0
    with torch.no_grad(), eval_mode(model):
        for x, y in batches:
            with dev.autocast("cpu"):
                logits = model(x)
            assert logits.dtype == cpu_autocast
            loss_sum += float(F.cross_entropy(logits.float(), y)) * len(y)
            correct += int((logits.argmax(-1) == y).sum())
            count += len(y)
    assert correct / count == scores["acc"]
    assert loss_sum / count == pytest.approx(scores["loss"], rel=1e-6)
    with torch.no_grad(), eval_mode(model):  # the same in float32 differs: the comparison needs the precision
        loss32 = sum(float(F.cross_entropy(model(x), y)) * len(y) for x, y in batches) / count
    assert abs(loss32 - scores["loss"]) > 1e-6 * scores["loss"]


def test_lrn_normalises_at_the_papers_input_scale(cpu_autocast):
    """AlexNet 2012 on raw-pixel inputs (notebook 07 part 2's experiment):
    under autocast, LRN's output after conv 1 agrees with float32's from the
    same activations and zeroes nothing that float32 keeps."""
    torch.manual_seed(0)
    model = alexnet.alexnet_2012(1, 10, input_size=28, width=0.25, hidden_features=64, groups=1)
    x = 510 * torch.rand(4, 1, 28, 28) - 255  # twice raw pixel values: conv 1 outputs above 256
    captured = {}
    model.features[2].register_forward_hook(lambda m, args, out: captured.update(a=args[0], b=out))
    with torch.no_grad(), dev.autocast("cpu"):
        model(x)
    a, b = captured["a"], captured["b"]
    assert a.dtype == cpu_autocast and a.max() > 256, "the test needs activations whose float16 square overflows"
    expected = F.local_response_norm(a.float(), 5, alpha=5e-4, beta=0.75, k=2.0)
    assert not ((b == 0) & (expected != 0)).any(), "LRN zeroed activations that float32 normalises"
    torch.testing.assert_close(b.float(), expected, rtol=torch.finfo(cpu_autocast).eps, atol=0)
