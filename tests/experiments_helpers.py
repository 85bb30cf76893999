"""A tiny CIFAR-10 in the original pickle format and tiny run configurations,
so that the experiment runner's tests (tests/test_experiments_*.py) go through
the real loading code in seconds."""

import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch

from course_utils.experiments.config import Architecture, Recipe, RunConfig, Scale

ROOT = Path(__file__).resolve().parent.parent
TRAIN_PER_BATCH, TEST_IMAGES = 48, 64


def write_fake_cifar(folder, seed=0):
    """``data_batch_1..5`` and ``test_batch`` with random 32x32 images:
    240 training and 64 test images."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for name in names:
        n = TEST_IMAGES if name == "test_batch" else TRAIN_PER_BATCH
        batch = {"data": rng.integers(0, 256, (n, 3 * 32 * 32), dtype=np.uint8),
                 "labels": rng.integers(0, 10, n).tolist()}
        with open(folder / name, "wb") as f:
            pickle.dump(batch, f)
    return folder


def fake_cifar_env(tmp_path, monkeypatch):
    """Point the loader at a fresh fake CIFAR-10 (and an empty cache folder)."""
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("COURSE_CIFAR10_DIR", str(write_fake_cifar(tmp_path / "cifar")))
    monkeypatch.setenv("COURSE_CHECKPOINT_DIR", str(tmp_path / "checkpoints"))


def single_thread():
    """A generator for an autouse fixture: one thread while a test runs. The
    tiny networks gain nothing from a second thread, and on a busy machine
    two threads waiting for each other make every small operation slow."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def tiny_config(**changes):
    """ResNet-8 at a quarter width, mini-batches of 16, 6 iterations."""
    config = RunConfig(Architecture(8), Recipe(iterations=6, milestones=(3, 5), batch_size=16, val_size=32),
                       Scale(width=0.25, eval_every=3, response_images=16), seed=0)
    return config.replace(**changes) if changes else config


TINY_SETS = ["--set", "recipe.iterations=6", "--set", "recipe.milestones=(3, 5)", "--set", "recipe.batch_size=16",
             "--set", "recipe.val_size=32", "--set", "scale.width=0.25", "--set", "scale.iterations=None",
             "--set", "scale.eval_every=3", "--set", "scale.eval_size=None", "--set", "scale.final_eval_size=None",
             "--set", "scale.train_size=None", "--set", "scale.response_images=16"]


def cli(args, timeout=240, torchrun=None, wait=True):
    """Run ``python -m course_utils.experiments ARGS`` (under torchrun with
    ``torchrun`` processes) in a subprocess of the test's environment, one
    thread per process so that results do not depend on the thread count."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1", COURSE_PROFILE="smoke")
    command = [sys.executable]
    if torchrun:
        command += ["-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={torchrun}"]
    command += ["-m", "course_utils.experiments", *args]
    if not wait:
        return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)
    return done.returncode, done.stdout + done.stderr
