"""ResNet-20 on CIFAR-10: does the course's training loop run at the machine's compute ceiling?

Trains a fresh CIFAR ResNet-20 (``course_utils.models.resnet.resnet_cifar(20)``,
SGD with momentum, batch 128) for one pass over ``--images`` CIFAR-10 training
images, four ways, in one run:

1. ``fit`` over the in-memory batches with augmentation: the uint8 images in
   one tensor, batches drawn by index, padded-and-cropped, flipped and
   normalised as whole batches (``ImageDataset.train_batches(augment=True)``),
   trained by ``course_utils.train.fit``;
2. the compute-only ceiling: the same model and optimizer, a bare training
   step (forward, loss, backward, step) over batches prepared before the clock
   starts (augmented, normalised, in the same memory layout): nothing but the
   arithmetic is timed;
3. the textbook pipeline: a ``DataLoader`` over a dataset that does what
   ``torchvision.datasets.CIFAR10`` does per item (uint8 array -> PIL image ->
   ``RandomCrop(32, padding=4)``, ``RandomHorizontalFlip``, ``ToTensor``,
   ``Normalize``) and the loop found in most tutorials, with 0 and with 2
   worker processes.

Each variant is timed ``--repeats`` times, interleaved (so that a busy spell on a
shared machine hits all of them), and the median is reported with the share of
the ceiling. The same run measures the machine's float32 matrix-multiply rate
(``torch.mm`` of ``--matmul-size`` square matrices), so that the training
FLOP rate (about 3 x 2 x the forward multiply-adds per example: a backward pass
costs about twice a forward one) reads as a share of what the machine can do.

Run: ``python benchmarks/resnet_cifar.py`` (needs CIFAR-10; see
``course_utils.data``). Target: ``fit`` at 90% of the ceiling or better, and
faster than the DataLoader loop.
"""

import argparse
import platform
import statistics
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from course_utils.accounting import count_macs  # noqa: E402
from course_utils.data import Batches, load_dataset  # noqa: E402
from course_utils.device import get_device, seed_everything  # noqa: E402
from course_utils.models import resnet  # noqa: E402
from course_utils.timing import Stopwatch, per_second, time_it  # noqa: E402
from course_utils.train import fit  # noqa: E402


def fresh(device, channels_last, seed=0):
    """A new ResNet-20 and its optimizer, in the chosen memory layout."""
    seed_everything(seed)
    model = resnet.resnet_cifar(20).to(device)
    model.to(memory_format=torch.channels_last if channels_last else torch.contiguous_format)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True, weight_decay=5e-4)
    return model, optimizer


def train_step(model, optimizer, x, y):
    loss = F.cross_entropy(model(x), y)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss


def ceiling_epoch(model, optimizer, prepared, device):
    """Examples/s of bare training steps over batches that already sit in memory, ready to use."""
    model.train()
    with Stopwatch(device) as clock:
        for x, y in prepared:
            train_step(model, optimizer, x, y)
    return per_second(sum(len(y) for _, y in prepared), clock.seconds)


def textbook_epoch(model, optimizer, loader, device, channels_last):
    """The loop of most tutorials: per-batch transfer, loss, step, running metrics."""
    model.train()
    seen, correct = 0, 0
    with Stopwatch(device) as clock:
        for x, y in loader:
            x, y = x.to(device), y.to(device)
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            logits = model(x)
            loss = F.cross_entropy(logits, y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            correct += (logits.argmax(1) == y).sum().item()
            seen += len(y)
    return per_second(seen, clock.seconds)


class PILImageDataset(torch.utils.data.Dataset):
    """Per item what ``torchvision.datasets.CIFAR10.__getitem__`` does: a uint8
    ``(H, W, C)`` array -> PIL image -> ``transform``. (torchvision's class
    itself reads only the original pickles, which an offline copy may lack.)"""

    def __init__(self, images, labels, transform):
        self.data = images.permute(0, 2, 3, 1).contiguous().numpy()  # (N, H, W, C), as torchvision keeps it
        self.targets = labels.tolist()
        self.transform = transform

    def __len__(self):
        return len(self.targets)

    def __getitem__(self, index):
        from PIL import Image

        return self.transform(Image.fromarray(self.data[index])), self.targets[index]


def matmul_gflops(size, repeats=5, device=None):
    """The float32 rate of ``torch.mm`` on square matrices, in GFLOP/s (the best of ``repeats``)."""
    a = torch.randn(size, size, device=device)
    b = torch.randn(size, size, device=device)
    best = time_it(lambda: torch.mm(a, b), repeats=repeats, warmup=1, device=a.device).fastest
    return per_second(2 * size**3, best) / 1e9


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=5_120, help="training images per timed pass")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3, help="timed passes per variant (the median is shown)")
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 2], help="DataLoader num_workers to time")
    parser.add_argument("--matmul-size", type=int, default=2048)
    layout = parser.add_mutually_exclusive_group()
    layout.add_argument("--channels-last", dest="channels_last", action="store_true", default=True,
                        help="channels-last memory for every variant (default: faster for ResNet-20 on x86 CPUs, "
                             "see benchmarks/memory_layout.py)")
    layout.add_argument("--contiguous", dest="channels_last", action="store_false")
    args = parser.parse_args(argv)
    from torch.utils.data import DataLoader
    from torchvision import transforms

    device = get_device()
    data = load_dataset("cifar10")
    n = min(args.images, len(data.train_labels))
    chosen = torch.randperm(len(data.train_labels), generator=torch.Generator().manual_seed(0))[:n]
    images, labels = data.train_images[chosen], data.train_labels[chosen]  # random: the copy is sorted by class
    batch_size = args.batch_size
    print(f"device {device} ({platform.processor() or platform.machine()}), {torch.get_num_threads()} threads, "
          f"ResNet-20, batch {batch_size}, {n:,} CIFAR-10 images per pass, "
          f"{'channels-last' if args.channels_last else 'contiguous'}, median of {args.repeats}")

    def in_memory_batches(seed):
        return Batches(images, labels, batch_size, mean=data.mean, std=data.std, device=device, shuffle=True,
                       augment=True, seed=seed)

    train_batches = in_memory_batches(seed=0)
    prepared = []
    for x, y in in_memory_batches(seed=1):
        if args.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        prepared.append((x, y))
    normalise = transforms.Normalize(data.mean.tolist(), data.std.tolist())
    per_image = transforms.Compose([transforms.RandomCrop(32, padding=4), transforms.RandomHorizontalFlip(),
                                    transforms.ToTensor(), normalise])
    pil_data = PILImageDataset(images, labels, per_image)
    loaders = {w: DataLoader(pil_data, batch_size=batch_size, shuffle=True, num_workers=w,
                             pin_memory=device.type == "cuda") for w in args.workers}

    def run_fit():
        model, optimizer = fresh(device, args.channels_last)
        history = fit(model, train_batches, epochs=1, optimizer=optimizer, channels_last=args.channels_last,
                      progress=False, log=False)
        return history.final.examples_per_s

    def run_ceiling():
        model, optimizer = fresh(device, args.channels_last)
        return ceiling_epoch(model, optimizer, prepared, device)

    def run_textbook(workers):
        model, optimizer = fresh(device, args.channels_last)
        return textbook_epoch(model, optimizer, loaders[workers], device, args.channels_last)

    runs = {"fit, in-memory batches + batch augmentation": run_fit,
            "ceiling: bare steps on pre-built tensors": run_ceiling}
    runs.update({f"DataLoader + per-image transforms, {w} workers": (lambda w=w: run_textbook(w))
                 for w in args.workers})

    model, optimizer = fresh(device, args.channels_last)
    for x, y in prepared[:5]:  # one-time set-up costs (oneDNN kernels, allocator) are not timed
        train_step(model, optimizer, x, y)
    gflops = [matmul_gflops(args.matmul_size, device=device)]
    speeds = {name: [] for name in runs}
    for _ in range(args.repeats):
        for name, run in runs.items():
            speeds[name].append(run())
        gflops.append(matmul_gflops(args.matmul_size, device=device))

    median = {name: statistics.median(v) for name, v in speeds.items()}
    ceiling = median["ceiling: bare steps on pre-built tensors"]
    peak = statistics.median(gflops)
    macs = count_macs(resnet.resnet_cifar(20), (1, 3, 32, 32))
    print(f"\nfloat32 matmul ({args.matmul_size}x{args.matmul_size}): {peak:,.1f} GFLOP/s "
          f"(runs: {', '.join(f'{g:.1f}' for g in gflops)})")
    print(f"ResNet-20: {macs / 1e6:.1f} M multiply-adds per 32x32 image forward; training ~ 6 x that in FLOPs\n")
    print(f"{'variant':<48}{'examples/s':>11}{'of ceiling':>12}{'GFLOP/s':>9}{'of matmul':>11}   runs")
    for name, v in speeds.items():
        rate = 6 * macs * median[name] / 1e9
        print(f"{name:<48}{median[name]:>11,.0f}{median[name] / ceiling:>12.0%}{rate:>9.1f}{rate / peak:>11.0%}"
              f"   {', '.join(f'{s:,.0f}' for s in v)}")
    ours = median["fit, in-memory batches + batch augmentation"]
    best_loader = max((n for n in median if n.startswith("DataLoader")), key=median.get)
    print(f"\nfit / ceiling: {ours / ceiling:.1%} (target >= 90%);  fit / best DataLoader "
          f"({best_loader.rsplit(', ', 1)[1]}): {ours / median[best_loader]:.2f}x (target > 1)")


if __name__ == "__main__":
    main()
