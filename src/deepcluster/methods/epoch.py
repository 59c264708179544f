"""The one round of every method (``train_round``: start_round, one epoch, end_round), and the pass
that fills DeepCluster-v2's memory bank."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch

from deepcluster.augment import Augmentation, MultiCrop, normalise
from deepcluster.data import ImageCollection, iterate_pixel_batches
from deepcluster.methods.base import Method, OnlineMethod
from deepcluster.optim import warmup_cosine
from deepcluster.progress import progress_bar
from deepcluster.runtime import Execution
from deepcluster.training import check_finite


@dataclass(frozen=True)
class EpochPlan:
    """Batches and the per-iteration learning rate of one epoch within the run (a constant rate:
    ``final_lr`` = ``base_lr``). ``lr_setting`` names the setting to lower if the loss diverges."""

    batch_size: int
    base_lr: float
    final_lr: float
    warmup_steps: int
    total_steps: int
    first_step: int  # the run's step count when this epoch starts
    lr_setting: str = "method.optimizer.lr"

    @classmethod
    def constant(cls, batch_size: int, lr: float, lr_setting: str) -> EpochPlan:
        """One rate for the whole epoch (DeepCluster's per-round schedule)."""
        return cls(batch_size, lr, lr, warmup_steps=0, total_steps=1, first_step=0, lr_setting=lr_setting)


def _view_batches(
    views: Augmentation | MultiCrop,
    collection: ImageCollection,
    indices: np.ndarray,
    batch_size: int,
    execution: Execution,
    generator: torch.Generator,
):
    """(normalised views, their image indices on the device) per batch of ``indices``."""
    order = torch.as_tensor(indices, dtype=torch.int64, device=execution.device)
    make_views = views.for_epoch(len(indices), generator, execution.device)
    batches = iterate_pixel_batches(collection, indices, batch_size, execution.device)
    for start, pixels in zip(range(0, len(indices), batch_size), batches):
        made = make_views(pixels.float() / 255.0, start)
        yield (
            [execution.place_input(normalise(view, collection.mean, collection.std)) for view in made],
            order[start : start + pixels.shape[0]],
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
) -> dict[str, float]:
    """A round of ``method``: ``start_round(targets)``, one epoch over ``collection[indices]``, ``end_round``;
    the epoch's log with what the method reported."""
    started = method.start_round(targets, generator)
    log = _train_epoch(method, optimizer, collection, indices, plan, execution, generator)
    return {**log, **started, **method.end_round()}


def _train_epoch(
    method: Method,
    optimizer: torch.optim.Optimizer,
    collection: ImageCollection,
    indices: np.ndarray,
    plan: EpochPlan,
    execution: Execution,
    generator: torch.Generator,
) -> dict[str, float]:
    """One pass over ``collection[indices]``: views, the method's loss, one step of ``optimizer`` and of
    the method's round optimisers per batch.

    The learning rate follows ``warmup_cosine`` of the run's global step. Raises
    ``NonFiniteLossError`` after the epoch (no device sync per step) if the loss was
    ever NaN or infinite.
    """
    method.train()
    optimizers = [optimizer, *method.round_optimizers()]
    forward = execution.forward_of(method.backbone)
    loss_sum = torch.zeros((), device=execution.device)
    seen, step, lr = 0, plan.first_step, plan.base_lr
    started = time.perf_counter()
    batches = _view_batches(method.views, collection, indices, plan.batch_size, execution, generator)
    with progress_bar("training", len(indices)) as advance:
        for views, batch_indices in batches:
            if batch_indices.shape[0] < 2:  # batch norm cannot train on a single image
                continue
            lr = warmup_cosine(step, plan.total_steps, plan.warmup_steps, plan.base_lr, plan.final_lr)
            for each in optimizers:
                for group in each.param_groups:
                    group["lr"] = lr
            with execution.autocast():
                loss = method.training_step(views, batch_indices, step, forward)
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
    mean_loss = check_finite(float(loss_sum) / max(seen, 1), f"{plan.lr_setting} (now {plan.base_lr})")
    return {
        "loss": mean_loss,
        "images": seen,
        "steps": step - plan.first_step,
        "lr": lr,
        "seconds": time.perf_counter() - started,
    }


@torch.no_grad()
def fill_memory_bank(
    method: OnlineMethod,
    collection: ImageCollection,
    batch_size: int,
    execution: Execution,
    generator: torch.Generator,
) -> None:
    """Project the large views of every image once and remember them (DeepCluster-v2's first round)."""
    method.eval()
    large = MultiCrop(method.views.groups[:1], method.views.flip_probability, method.views.colour)
    indices = np.arange(len(collection))
    batches = _view_batches(large, collection, indices, batch_size, execution, generator)
    with progress_bar("filling the memory bank", len(indices)) as advance:
        for views, batch_indices in batches:
            with execution.autocast():
                method.remember(method.project(views), batch_indices)
            advance(batch_indices.shape[0])
