"""Data-pipeline benchmark: course_utils vs the textbook DataLoader loop.

Trains the same LeNet-5 for one epoch on the full Fashion-MNIST training set
(60,000 images), batch size 256, two ways, in one run:

1. ``course_utils``: the whole dataset as one uint8 tensor, batches drawn by
   index and normalised in batch (``ImageDataset.train_batches``), trained
   with ``course_utils.train.fit``;
2. the textbook loop: torchvision's ``FashionMNIST`` dataset with a per-image
   ``ToTensor`` transform, a ``DataLoader``, and a plain training loop, with
   0 worker processes and with 2 (the common ``num_workers`` setting on a
   2-core machine).

Each variant trains a fresh model for one epoch, ``--repeats`` times
(interleaved, so a busy spell on a shared machine hits all of them); it prints
the median examples/s of each and the ratio of course_utils to the faster
textbook variant. Run: ``python benchmarks/data_pipeline.py`` (or
``make benchmark``). Offline, torchvision's copy is made from Debian's
``dataset-fashion-mnist`` package, whose files are byte-identical to the ones
torchvision downloads.
"""

import argparse
import gzip
import shutil
import statistics
import sys
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from course_utils.data import load_dataset  # noqa: E402
from course_utils.data.sources import DEBIAN_FASHION_MNIST  # noqa: E402
from course_utils.device import get_device, seed_everything  # noqa: E402
from course_utils.paths import data_dir  # noqa: E402
from course_utils.timing import Stopwatch, per_second  # noqa: E402
from course_utils.train import fit  # noqa: E402


def lenet5():
    """LeNet-5 with ReLU and max pooling (the course's modern variant)."""
    return nn.Sequential(
        nn.Conv2d(1, 6, kernel_size=5, padding=2), nn.ReLU(), nn.MaxPool2d(2),  # (B, 6, 14, 14)
        nn.Conv2d(6, 16, kernel_size=5), nn.ReLU(), nn.MaxPool2d(2),  # (B, 16, 5, 5)
        nn.Flatten(),  # (B, 400)
        nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10),
    )


def torchvision_fashion_mnist(root):
    """torchvision's FashionMNIST with ToTensor; offline from the Debian package if needed."""
    import torchvision
    from torchvision import transforms

    raw = root / "FashionMNIST" / "raw"
    stems = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]
    if not all((raw / s).exists() for s in stems) and DEBIAN_FASHION_MNIST.is_dir():
        raw.mkdir(parents=True, exist_ok=True)
        for stem in stems:
            with gzip.open(DEBIAN_FASHION_MNIST / f"{stem}.gz", "rb") as src, open(raw / stem, "wb") as dst:
                shutil.copyfileobj(src, dst)
    return torchvision.datasets.FashionMNIST(root=str(root), train=True, download=True,
                                             transform=transforms.ToTensor())


def textbook_epoch(model, loader, optimizer, device):
    """The loop found in most tutorials: per-batch transfer, loss, step, metrics."""
    model.train()
    seen, correct, total_loss = 0, 0, 0.0
    with Stopwatch(device) as clock:
        for x, y in loader:
            x, y = x.to(device), y.to(device)
            logits = model(x)
            loss = F.cross_entropy(logits, y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total_loss += loss.item() * len(y)
            correct += (logits.argmax(1) == y).sum().item()
            seen += len(y)
    return per_second(seen, clock.seconds), correct / seen


def warm_up(model, optimizer, device, batch_size, steps=10):
    """A few steps on random data so that one-time set-up costs are not timed."""
    x = torch.randn(batch_size, 1, 28, 28, device=device)
    y = torch.randint(0, 10, (batch_size,), device=device)
    for _ in range(steps):
        optimizer.zero_grad()
        F.cross_entropy(model(x), y).backward()
        optimizer.step()


def fresh_model_and_optimizer(device, seed=0):
    seed_everything(seed)
    model = lenet5().to(device)
    return model, torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 2],
                        help="DataLoader num_workers settings to time")
    parser.add_argument("--repeats", type=int, default=3, help="epochs timed per variant (the median is shown)")
    args = parser.parse_args(argv)
    from torch.utils.data import DataLoader

    device = get_device()
    print(f"device {device}, {torch.get_num_threads()} threads, batch size {args.batch_size}, "
          f"one epoch of 60,000, median of {args.repeats} runs each")

    ds = load_dataset("fashion_mnist")
    tv_data = torchvision_fashion_mnist(data_dir() / "torchvision")
    loaders = {workers: DataLoader(tv_data, batch_size=args.batch_size, shuffle=True, num_workers=workers,
                                   pin_memory=device.type == "cuda") for workers in args.workers}

    def course_utils_epoch():
        model, opt = fresh_model_and_optimizer(device)
        history = fit(model, ds.train_batches(args.batch_size, device=device), None, epochs=1, optimizer=opt,
                      progress=False, log=False)
        return history.final.examples_per_s, history.final.train_acc

    def textbook(workers):
        model, opt = fresh_model_and_optimizer(device)
        return textbook_epoch(model, loaders[workers], opt, device)

    model, opt = fresh_model_and_optimizer(device)
    warm_up(model, opt, device, args.batch_size)  # one-time set-up costs are not timed
    runs = {"course_utils (Batches + fit)": course_utils_epoch}
    runs.update({f"textbook DataLoader, num_workers={w}": (lambda w=w: textbook(w)) for w in args.workers})
    speeds = {name: [] for name in runs}
    for _ in range(args.repeats):  # interleaved, so a busy spell on the machine hits every variant
        for name, run in runs.items():
            speed, acc = run()
            speeds[name].append(speed)
    median = {name: statistics.median(v) for name, v in speeds.items()}
    for name, v in speeds.items():
        print(f"{name:<38}{median[name]:10,.0f} examples/s  (runs: {', '.join(f'{s:,.0f}' for s in v)})")
    ours = median["course_utils (Batches + fit)"]
    best = max((n for n in median if n.startswith("textbook")), key=median.get)
    print(f"ratio course_utils / best textbook ({best.split(', ')[1]}): {ours / median[best]:.2f}x")

if __name__ == "__main__":
    main()
