"""The one place where results are combined across processes.

Every statistic that a round accumulates over the images (PCA moments, k-means
sums and counts, Sinkhorn's marginals, the epoch's loss) goes through
``all_reduce_sum``; per-image results computed on a process's share of the images
(features, memory-bank rows, decoded images) are put together by ``all_gather_rows`` and
``merge_written``, and lists of other values (the files skipped) by ``all_gather_items``. In one process
each returns its input; under ``torch.distributed`` every process ends with the same result.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
import torch.distributed.nn.functional as dist_nn


def distributed() -> bool:
    """True inside a ``torch.distributed`` process group of more than one process."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def all_reduce_sum(tensor: torch.Tensor) -> torch.Tensor:
    """``tensor`` summed over every process (in place), or ``tensor`` itself in one process."""
    if distributed():
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def differentiable_sum(tensor: torch.Tensor) -> torch.Tensor:
    """``tensor`` summed over every process, with gradients flowing back to every process's part (a new
    tensor; ``tensor`` itself in one process)."""
    if distributed():
        return dist_nn.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def all_reduce_max(tensor: torch.Tensor) -> torch.Tensor:
    """``tensor``'s elementwise maximum over every process (in place), or ``tensor`` itself in one process."""
    if distributed():
        dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
    return tensor


def all_gather_rows(rows: torch.Tensor) -> torch.Tensor:
    """Every process's ``rows`` (row counts may differ by process), concatenated in rank order."""
    if not distributed():
        return rows
    counts = torch.zeros(dist.get_world_size(), dtype=torch.int64, device=rows.device)
    counts[dist.get_rank()] = rows.shape[0]
    counts = all_reduce_sum(counts).tolist()
    padded = rows.new_zeros((max(counts), *rows.shape[1:]))
    padded[: rows.shape[0]] = rows
    parts = [torch.empty_like(padded) for _ in counts]
    dist.all_gather(parts, padded)
    return torch.cat([part[:count] for part, count in zip(parts, counts)])


def all_gather_items(items: list) -> list:
    """Every process's list of picklable ``items``, concatenated in rank order."""
    if not distributed():
        return items
    parts: list[list] = [[] for _ in range(dist.get_world_size())]
    dist.all_gather_object(parts, items)
    return [item for part in parts for item in part]


def merge_written(tensor: torch.Tensor, written: torch.Tensor, dim: int) -> torch.Tensor:
    """``tensor`` (in place) with each slice along ``dim`` taken from the process that wrote it last.

    ``written`` holds, per slice, when this process last wrote it: 0 for never, and a count that every
    process advances in step (a training step), so that a later write has a higher stamp on any
    process. A slice written by several processes in one round (an epoch of several passes) takes the
    latest write, the highest rank's on a tie; slices that no process wrote keep their value.
    """
    if not distributed():
        return tensor
    shape = [1] * tensor.ndim
    shape[dim] = -1
    latest = all_reduce_max(written.clone())
    mine = (written == latest) & (latest > 0)
    writer = all_reduce_max(torch.where(mine, dist.get_rank(), -1))
    mine = (writer == dist.get_rank()).view(shape)
    values = all_reduce_sum(torch.where(mine, tensor, torch.zeros_like(tensor)))
    return tensor.copy_(torch.where((latest > 0).view(shape), values, tensor))


def same_as_main_process(tensors: list[torch.Tensor]) -> None:
    """Each tensor overwritten (in place) with rank 0's, e.g. batch norm's running statistics."""
    if distributed():
        for tensor in tensors:
            dist.broadcast(tensor, src=0)
