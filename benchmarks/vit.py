"""Vision Transformer benchmark: training images per second of the course's ViT against torchvision's.

Both models have the sizes of notebook 14's CIFAR-10 ViT (patch 4 on 32x32
images, 4 layers, width 96, 4 heads, MLP 192: ``vit.vit_cifar()``) and the
same weights (the course's model is built from torchvision's with
``vit.from_torchvision``); they differ only in the code: the course's
``Encoder`` (``course_utils.attention.MultiheadAttention`` on the fused
``F.scaled_dot_product_attention`` path, the from-scratch ``LayerNorm``)
against torchvision's ``VisionTransformer`` (``nn.MultiheadAttention``,
``nn.LayerNorm``). Each trains for one epoch through
``course_utils.train.fit`` on ``--images`` CIFAR-10 training images with
the notebook's recipe (crop and flip, AdamW, label smoothing 0.1, batches of
128); the two alternate ``--repeats`` times, so a busy spell on a shared
machine hits both. It prints the median training images per second of each
and their ratio (target: the course's model at most 1.2x slower).

Run: ``python benchmarks/vit.py [--threads N] [--images 5000] [--repeats 3]``.
"""

import argparse
import functools
import statistics
import sys
from pathlib import Path

import torch
import torch.nn.functional as F
from torchvision.models.vision_transformer import VisionTransformer as TorchvisionViT

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from course_utils.data import Augment, load_dataset  # noqa: E402
from course_utils.device import seed_everything  # noqa: E402
from course_utils.models import vit  # noqa: E402
from course_utils.train import fit  # noqa: E402

SIZES = dict(image_size=32, patch_size=4, num_layers=4, num_heads=4, hidden_dim=96, mlp_dim=192, num_classes=10)


def torchvision_model(seed):
    torch.manual_seed(seed)
    return TorchvisionViT(**SIZES)


def course_model(seed):
    model = vit.from_torchvision(torchvision_model(seed))
    assert all(layer.self_attn.fused for layer in model.encoder.layers), "the fused attention path should be on"
    return model


def train_once(model, batches, seed):
    seed_everything(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.05)
    history = fit(model.train(), batches, None, epochs=1, optimizer=optimizer,
                  loss_fn=functools.partial(F.cross_entropy, label_smoothing=0.1), progress=False, log=False)
    return history.final.examples_per_s


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=5_000, help="training images per epoch")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: PyTorch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    data = load_dataset("cifar10").subset(args.images, 10)
    batches = data.train_batches(128, augment=Augment(crop_padding=4, flip=True), seed=0)
    makers = {"course_utils": course_model, "torchvision": torchvision_model}
    counts = {name: sum(p.numel() for p in make(0).parameters()) for name, make in makers.items()}
    assert len(set(counts.values())) == 1, f"the two models should have the same parameters: {counts}"
    print(f"{torch.get_num_threads()} threads; {args.images:,} CIFAR-10 images per epoch in {len(batches)} batches "
          f"of 128; ViT patch 4, 4 layers, width 96, 4 heads, MLP 192 ({counts['torchvision']:,} parameters)")
    speeds = {name: [] for name in makers}
    for r in range(args.repeats):
        for name, make in makers.items():
            speeds[name].append(train_once(make(r), batches, seed=r))
            print(f"  repeat {r + 1}: {name:13} {speeds[name][-1]:7,.0f} training images/s", flush=True)
    medians = {name: statistics.median(v) for name, v in speeds.items()}
    for name, value in medians.items():
        print(f"{name:13} median {value:7,.0f} training images/s")
    ratio = medians["torchvision"] / medians["course_utils"]
    print(f"torchvision / course_utils: {ratio:.2f}x (target: at most 1.2x; above 1 the course's model is slower)")


if __name__ == "__main__":
    main()
