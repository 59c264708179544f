"""The one place where sums and counts are combined across processes.

Every statistic that a round accumulates over the images (PCA moments, k-means
sums and counts, Sinkhorn's marginals) goes through ``all_reduce_sum``: in one
process it returns its input; under ``torch.distributed`` it sums the tensor over
every process, so each one holds the same total.
"""

from __future__ import annotations

import torch
import torch.distributed as dist


def distributed() -> bool:
    """True inside a ``torch.distributed`` process group of more than one process."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def all_reduce_sum(tensor: torch.Tensor) -> torch.Tensor:
    """``tensor`` summed over every process (in place), or ``tensor`` itself in one process."""
    if distributed():
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def all_reduce_max(tensor: torch.Tensor) -> torch.Tensor:
    """``tensor``'s elementwise maximum over every process (in place), or ``tensor`` itself in one process."""
    if distributed():
        dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
    return tensor
