"""Which process this is, and the process group that ``torchrun`` asks for.

``torchrun`` starts N copies of ``kedro run`` and tells each its place through the
environment (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT). Every copy
runs the same pipeline: the nodes split the images between the processes where the
work is per image (feature extraction, the training epoch) and combine the results
through ``deepcluster.distributed.reduce``; rank 0 alone writes the catalog and logs to MLflow.
Without ``torchrun`` (or with one process) nothing here does anything.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import timedelta
from typing import TypeVar

import numpy as np
import torch
import torch.distributed as dist

T = TypeVar("T")


def launched_processes() -> int:
    """How many processes the launcher started (``WORLD_SIZE``; 1 when run directly)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def rank() -> int:
    """This process's place among them: 0 for the one that writes (and when run directly)."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank()
    return int(os.environ.get("RANK", "0"))


def world_size() -> int:
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size()
    return 1


def is_main_process() -> bool:
    return rank() == 0


def start_process_group(timeout_minutes: float = 30) -> bool:
    """Join the launcher's process group (nccl with CUDA, gloo without), once; False in one process."""
    if launched_processes() <= 1 or dist.is_initialized():
        return dist.is_initialized()
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group(backend, timeout=timedelta(minutes=timeout_minutes))
    return True


def stop_process_group() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def barrier() -> None:
    if world_size() > 1:
        dist.barrier()


def from_main_process(compute: Callable[[], T]) -> T:
    """``compute()`` run by rank 0 alone and its result sent to every process (for work that is not
    reproducible bit for bit across processes, like faiss's multi-threaded k-means). ``compute``
    must not itself communicate."""
    if world_size() == 1:
        return compute()
    message = [compute() if rank() == 0 else None]
    dist.broadcast_object_list(message, src=0)
    return message[0]


def shard(count: int) -> slice:
    """This process's contiguous part of ``count`` items (sizes differ by at most one; in rank order
    the parts cover every item once)."""
    bounds = np.linspace(0, count, world_size() + 1).round().astype(int)
    return slice(int(bounds[rank()]), int(bounds[rank() + 1]))


def global_batch_size(batch_size: int) -> int:
    """The positions a step takes for all processes together (``shard_batches``): ``batch_size`` rounded down
    to a multiple of the processes, at least two each."""
    return max(2, batch_size // world_size()) * world_size()


def shard_batches(count: int, batch_size: int) -> tuple[np.ndarray, int]:
    """The positions (of 0..count-1, in an epoch's order) that this process trains on, and how many per step.

    ``batch_size`` is the global batch, what one process alone would take per step, so that
    N processes make the steps one process makes, at the same learning rate: every step
    takes the next ``batch_size`` positions and gives each process an interleaved share of
    ``batch_size // N`` (the global batch is rounded down to a multiple of N, at least two
    images each for batch norm). Together the processes see each position once. A last
    global batch too small to give every process two images is left out on every process
    alike; in one process that is a single last image.
    """
    processes = world_size()
    share = global_batch_size(batch_size) // processes
    full, rest = divmod(count, share * processes)
    usable = full * share * processes + (rest if rest >= 2 * processes else 0)
    return np.arange(usable)[rank() :: processes], share
