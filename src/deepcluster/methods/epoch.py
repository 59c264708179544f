"""The one round of every method (``train_round``: start_round, one epoch, end_round), and the pass
that fills DeepCluster-v2's memory bank."""

from __future__ import annotations

import time

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel

from deepcluster.data.augment import Augmentation, MultiCrop, normalise
from deepcluster.data.collection import ImageCollection, iterate_pixel_batches
from deepcluster.distributed.batch_norm import use_global_batch_norm
from deepcluster.distributed.processes import shard_batches, world_size
from deepcluster.distributed.reduce import all_reduce_sum, same_as_main_process
from deepcluster.methods.base import EpochPlan, Method, OnlineMethod
from deepcluster.methods.optim import warmup_cosine
from deepcluster.progress import progress_bar
from deepcluster.runtime import Execution
from deepcluster.training import check_finite


def _view_batches(
    views: Augmentation | MultiCrop,
    collection: ImageCollection,
    indices: np.ndarray,
    positions: np.ndarray,
    batch_size: int,
    global_batch: int,
    execution: Execution,
    generator: torch.Generator,
):
    """(normalised views, their image indices on the device) per batch of ``indices[positions]``
    (``positions``: this process's share of the epoch, ``distributed.shard_batches``, ``batch_size`` at a
    time, of ``global_batch`` positions a step for all processes together)."""
    device = execution.device
    make_views = views.for_epoch(len(indices), generator, device, global_batch)
    order = torch.as_tensor(indices[positions], dtype=torch.int64, device=device)
    where = torch.as_tensor(positions, dtype=torch.int64)
    batches = iterate_pixel_batches(collection, indices[positions], batch_size, device)
    for start, pixels in zip(range(0, len(positions), batch_size), batches):
        end = start + pixels.shape[0]
        made = make_views(pixels.float() / 255.0, where[start:end])
        yield (
            [execution.place_input(normalise(view, collection.mean, collection.std)) for view in made],
            order[start:end],
        )


def train_round(
    method: Method,
    targets,
    optimizer: torch.optim.Optimizer,
    collection: ImageCollection,
    indices: np.ndarray,
    plan: EpochPlan,
    execution: Execution,
    generator: torch.Generator,
    sync_batchnorm: bool = False,
) -> dict[str, float]:
    """A round of ``method``: ``start_round(targets)``, one epoch over ``collection[indices]``, ``end_round``;
    the epoch's log with what the method reported.

    Under several processes each trains on its share of every batch through
    ``DistributedDataParallel``; ``sync_batchnorm`` makes batch norm use the statistics
    of the whole batch, so that N processes train as one. Otherwise each process normalises
    with its own share, and rank 0's running statistics are copied to the others after the epoch.

    The learning rate follows ``warmup_cosine`` of the run's global step, one step of
    ``optimizer`` and of the method's round optimisers per batch. Raises
    ``NonFiniteLossError`` after the epoch (no device sync per step) if the loss was
    ever NaN or infinite.
    """
    targets_log = method.start_round(targets, generator)
    method.train()
    optimizers = [optimizer, *method.round_optimizers()]
    forward = execution.forward_of(method.backbone)
    loss_sum = torch.zeros((), device=execution.device)
    seen, step, lr = 0, plan.first_step, plan.base_lr
    started = time.perf_counter()
    positions, share = shard_batches(len(indices), plan.batch_size)
    global_batch = share * world_size()
    batches = _view_batches(method.views, collection, indices, positions, share, global_batch, execution, generator)
    trained = distributed_data_parallel(method, execution, sync_batchnorm)
    with progress_bar("training", len(positions)) as advance:
        for views, batch_indices in batches:
            lr = warmup_cosine(step, plan.total_steps, plan.warmup_steps, plan.base_lr, plan.final_lr)
            for each in optimizers:
                for group in each.param_groups:
                    group["lr"] = lr
            with execution.autocast():
                loss = trained(views, batch_indices, step, forward)
            for each in optimizers:
                each.zero_grad(set_to_none=True)
            loss.backward()
            method.before_optimizer_step(step)
            for each in optimizers:
                each.step()
            loss_sum += loss.detach() * batch_indices.shape[0]
            seen += batch_indices.shape[0]
            step += 1
            advance(batch_indices.shape[0])
    same_as_main_process([buffer for module in batch_norms(method) for buffer in module.buffers()])
    totals = all_reduce_sum(torch.stack([loss_sum.double(), torch.tensor(float(seen), device=loss_sum.device)]))
    seen = int(totals[1])
    mean_loss = check_finite(float(totals[0]) / max(seen, 1), f"{plan.lr_setting} (now {plan.base_lr})")
    log = {
        "loss": mean_loss,
        "images": seen,
        "steps": step - plan.first_step,
        "lr": lr,
        "seconds": time.perf_counter() - started,
    }
    return {**log, **targets_log, **method.end_round()}


@torch.no_grad()
def fill_memory_bank(
    method: OnlineMethod,
    collection: ImageCollection,
    batch_size: int,
    execution: Execution,
    generator: torch.Generator,
    sync_batchnorm: bool = False,
) -> None:
    """Project the large views of every image once and remember them (DeepCluster-v2's first round), in
    training mode as the reference's ``init_memory``: batch norm normalises with each batch's statistics,
    not the untrained network's running ones. The batches are the training epoch's (``batch_size`` global,
    shared as ``shard_batches`` shares them), so that with ``sync_batchnorm`` N processes fill what one
    fills; a last batch too small to share is left out, as the epoch leaves it out."""
    method.train()
    large = MultiCrop(method.views.groups[:1], method.views.flip_probability, method.views.colour)
    indices = np.arange(len(collection))
    positions, share = shard_batches(len(indices), batch_size)
    if world_size() > 1 and sync_batchnorm:
        use_global_batch_norm(method)
    batches = _view_batches(large, collection, indices, positions, share, share * world_size(), execution, generator)
    with progress_bar("filling the memory bank", len(positions)) as advance:
        for views, batch_indices in batches:
            with execution.autocast():
                method.remember(method.project(views), batch_indices)
            advance(batch_indices.shape[0])
    same_as_main_process([buffer for module in batch_norms(method) for buffer in module.buffers()])
    method.share_across_processes()


def batch_norms(module: torch.nn.Module) -> list[torch.nn.modules.batchnorm._BatchNorm]:
    return [m for m in module.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]


def distributed_data_parallel(method: Method, execution: Execution, sync_batchnorm: bool) -> torch.nn.Module:
    """``method`` itself in one process; under several, wrapped so that its gradients are averaged over them,
    with ``sync_batchnorm`` its batch norms normalising over the whole global batch (``GlobalBatchNorm``).

    Buffers are not broadcast at every step: the memory bank and the queue are each
    process's own until the method shares them at the end of the round.
    """
    if world_size() == 1:
        return method
    if sync_batchnorm:
        use_global_batch_norm(method)
    device_ids = [execution.device.index] if execution.device.type == "cuda" else None
    return DistributedDataParallel(method, device_ids=device_ids, broadcast_buffers=False)
