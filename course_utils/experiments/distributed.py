"""One run over several processes with PyTorch's distributed engine.

``torchrun --nproc-per-node 2 -m course_utils.experiments run ...`` starts two
processes and tells each its ``RANK``, ``LOCAL_RANK``, ``WORLD_SIZE`` and
where to meet (``MASTER_ADDR``, ``MASTER_PORT``). :func:`start` joins them
into a process group: NCCL between GPUs, gloo between CPU processes. Each
process holds a copy of the model wrapped in ``DistributedDataParallel``,
computes the gradient of its own part of every mini-batch, and DDP averages
the gradients over the processes during the backward pass, so every copy
takes the same optimizer step. A process started without torchrun is a
group of one and nothing here communicates.

Batch norm is the one layer that looks across the images of a batch: each
process normalises over its own images only, unless the model uses
``torch.nn.SyncBatchNorm``, which shares the statistics (NCCL only: PyTorch
does not support it on the CPU). :func:`batch_norm_plan` decides, from a
run's ``recipe.bn_batch``, how many images each statistic covers, so that
one configuration computes the same thing on one process or several.
"""

import os
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.distributed as dist

from course_utils.device import get_device


@dataclass(frozen=True)
class Processes:
    """This process's place in a run: ``rank`` of ``world_size``, its device."""

    rank: int
    world_size: int
    local_rank: int
    device: torch.device
    backend: str = None  # "nccl", "gloo", or None for a single process

    @property
    def is_main(self):
        """Rank 0 evaluates, writes results and checkpoints, and prints."""
        return self.rank == 0


def start(device=None):
    """Join the process group that torchrun describes in the environment, or
    return a single process on ``device`` (default: the best available)."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size == 1:
        return Processes(0, 1, 0, torch.device(device) if device is not None else get_device())
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if get_device().type == "cuda":  # get_device also turns on cuDNN's autotuner, as for one process
        backend, device = "nccl", torch.device("cuda", local_rank)
        torch.cuda.set_device(device)  # NCCL's collectives use the current device
    else:
        backend, device = "gloo", torch.device("cpu")
    if not dist.is_initialized():
        dist.init_process_group(backend)  # rendezvous at MASTER_ADDR:MASTER_PORT, set by torchrun
    return Processes(rank, world_size, local_rank, device, backend)


def stop():
    """Leave the process group, if this process joined one."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def broadcast(obj, processes):
    """Rank 0's ``obj`` (any picklable object), on every rank."""
    if processes.world_size == 1:
        return obj
    box = [obj if processes.is_main else None]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def sum_over_ranks(tensor, processes):
    """``tensor`` summed over all ranks, in place (every rank gets the sum)."""
    if processes.world_size > 1:
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def barrier(processes):
    """Wait until every rank gets here (e.g. while rank 0 writes files)."""
    if processes.world_size > 1:
        dist.barrier()


@contextmanager
def main_first(processes):
    """Run the block on rank 0 first and on the other ranks after it, e.g. a
    dataset's download and cache: the others then read what rank 0 wrote
    instead of downloading into one folder at once. Rank 0 reaches the
    barrier also when its block fails, so the others do not wait forever
    (they then try the block themselves and report their own error)."""
    if not processes.is_main:
        barrier(processes)
    try:
        yield
    finally:
        if processes.is_main:
            barrier(processes)


@dataclass(frozen=True)
class BatchNormPlan:
    """How a process runs its share of a mini-batch.

    ``local_batch`` images per process, fed to the model in ``chunks``
    forward passes of ``local_batch // chunks`` images each (every chunk's
    batch norms see only that chunk); ``sync``: the batch norms are
    ``SyncBatchNorm`` and share statistics over all processes.
    """

    local_batch: int
    chunks: int
    sync: bool


def batch_norm_plan(recipe, world_size, device_type):
    """Spread ``recipe``'s mini-batch over ``world_size`` processes so that
    every batch norm computes its statistics over ``recipe.norm_batch`` images.

    - ``norm_batch`` equal to a process's share: plain batch norm on each process.
    - smaller: each process feeds its share in chunks of ``norm_batch``
      images and adds up their gradients ("ghost batches"); one process with
      ``norm_batch = batch_size / 2`` so computes what two processes compute.
    - larger: only the whole mini-batch is supported, with ``SyncBatchNorm``
      over all processes, on GPUs (PyTorch has no CPU ``SyncBatchNorm``).
    """
    batch, norm = recipe.batch_size, recipe.norm_batch
    if batch % world_size:
        raise ValueError(f"a mini-batch of {batch} cannot be split evenly over {world_size} processes: "
                         f"run with a number of processes that divides {batch}")
    local = batch // world_size
    if norm <= local:
        if local % norm:
            raise ValueError(f"each of the {world_size} processes holds {local} images, which is not a multiple "
                             f"of recipe.bn_batch={norm}: choose a bn_batch that divides {local}")
        return BatchNormPlan(local, local // norm, sync=False)
    if norm != batch:
        raise ValueError(f"recipe.bn_batch={norm} spans several of the {world_size} processes but not all: "
                         f"only statistics over one process's {local} images (or fewer) or over the whole batch "
                         f"of {batch} are supported")
    if device_type != "cuda":
        raise ValueError(f"recipe.bn_batch asks for batch-norm statistics over the whole batch of {batch} images, "
                         f"but each of the {world_size} processes holds {local} and SyncBatchNorm, which would "
                         f"share them, runs only on GPUs. On CPUs run with --set recipe.bn_batch={local} (each "
                         f"process normalises its own {local} images; a different run) or with one process")
    return BatchNormPlan(local, 1, sync=True)
