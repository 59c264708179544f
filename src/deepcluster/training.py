"""One DeepCluster training epoch on pseudo-labels (steps 5 and 6), and the run's state.

The body keeps one SGD optimiser (with momentum) for the whole run; every
epoch gets a new linear head with its own momentum-free SGD, because cluster
ids are an arbitrary permutation from one clustering to the next.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from deepcluster.augment import Augmentation, normalise, warp
from deepcluster.data import ImageCollection, iterate_pixel_batches
from deepcluster.models import DeepClusterNet, build_model, new_head
from deepcluster.progress import progress_bar
from deepcluster.runtime import Execution


class NonFiniteLossError(RuntimeError):
    """The training loss became NaN or infinite."""


def check_finite(mean_loss: float, learning_rate_setting: str) -> float:
    """``mean_loss``, or ``NonFiniteLossError`` naming the setting to lower and how to resume."""
    if not math.isfinite(mean_loss):
        raise NonFiniteLossError(
            f"the training loss became {mean_loss}; lower {learning_rate_setting} "
            "in conf/local/parameters.yml, then resume with "
            "`kedro run --only-missing-outputs`; earlier rounds are kept"
        )
    return mean_loss


@dataclass(frozen=True)
class EpochSettings:
    """How one training epoch is run."""

    augmentation: Augmentation
    lr: float = 0.05
    weight_decay: float = 1e-5
    batch_size: int = 256


LR_SCHEDULES = ("constant", "cosine")


def learning_rate_for_round(base_lr: float, schedule: str, round_number: int, rounds: int) -> float:
    """The epoch's learning rate: ``constant`` (the paper), or ``cosine`` from base_lr at round 1 towards 0."""
    if schedule == "constant":
        return base_lr
    if schedule == "cosine":
        return base_lr * 0.5 * (1 + math.cos(math.pi * (round_number - 1) / rounds))
    raise ValueError(f"training.lr_schedule = {schedule!r} is unknown; choose one of {LR_SCHEDULES}")


def body_optimizer(
    model: torch.nn.Module, lr: float = 0.05, momentum: float = 0.9, weight_decay: float = 1e-5
) -> torch.optim.SGD:
    """The body's SGD, created once per run."""
    return torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)


def train_one_epoch(
    model: DeepClusterNet,
    optimizer: torch.optim.Optimizer,
    collection: ImageCollection,
    indices: np.ndarray,
    pseudo_labels: np.ndarray,
    k: int,
    settings: EpochSettings,
    execution: Execution,
    generator: torch.Generator,
) -> dict[str, float]:
    """Train on ``collection[indices]`` to predict ``pseudo_labels[indices]`` with a new head.

    ``optimizer``'s learning rate is set to ``settings.lr`` for the epoch; the head's
    optimiser uses the same rate.

    Returns the epoch's mean loss, accuracy on the pseudo-labels, image count and
    wall time. Raises ``NonFiniteLossError`` (after the epoch, to avoid a device
    sync per step) if the loss was ever NaN or infinite.
    """
    device = execution.device
    head = new_head(model.feature_dim, k, generator).to(device)
    head_optimizer = torch.optim.SGD(head.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    for group in optimizer.param_groups:
        group["lr"] = settings.lr
    targets_all = torch.tensor(pseudo_labels, dtype=torch.int64, device=device)
    order = torch.tensor(indices, dtype=torch.int64, device=device)
    # the epoch's random maps, drawn at once: no host-to-device copy (and sync) per step
    maps = settings.augmentation.matrices(len(indices), generator).to(device)
    model.train()
    forward = execution.forward_of(model)
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), device=device, dtype=torch.int64)
    seen = 0
    started = time.perf_counter()
    batches = iterate_pixel_batches(collection, indices, settings.batch_size, device)
    with progress_bar("training", len(indices)) as advance:
        for start, pixels in zip(range(0, len(indices), settings.batch_size), batches):
            if pixels.shape[0] < 2:  # batch norm cannot train on a single image
                continue
            targets = targets_all[order[start : start + pixels.shape[0]]]
            images = warp(
                pixels.float() / 255.0, maps[start : start + pixels.shape[0]], settings.augmentation.output_size
            )
            images = execution.place_input(normalise(images, collection.mean, collection.std))
            with execution.autocast():
                logits = head(F.relu(forward(images)))
                loss = F.cross_entropy(logits.float(), targets)
            optimizer.zero_grad(set_to_none=True)
            head_optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            head_optimizer.step()
            loss_sum += loss.detach() * pixels.shape[0]
            correct += (logits.argmax(dim=1) == targets).sum()
            seen += pixels.shape[0]
            advance(pixels.shape[0])
    mean_loss = check_finite(float(loss_sum) / max(seen, 1), f"training.lr (now {settings.lr})")
    return {
        "loss": mean_loss,
        "pseudo_label_accuracy": float(correct) / max(seen, 1),
        "images": seen,
        "seconds": time.perf_counter() - started,
    }


def make_checkpoint(
    model: DeepClusterNet,
    optimizer: torch.optim.Optimizer,
    model_config: dict[str, Any],
    round_number: int,
) -> dict[str, Any]:
    """Everything needed to continue the run after ``round_number``: body weights and optimiser."""
    return {
        "round": round_number,
        "model_config": dict(model_config),
        "model_state": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "optimizer_state": optimizer.state_dict(),
    }


def network_from_checkpoint(checkpoint: dict[str, Any], execution: Execution) -> DeepClusterNet:
    """The network as it was when ``checkpoint`` was made, placed for ``execution``."""
    model = build_model(**checkpoint["model_config"])
    model.load_state_dict(checkpoint["model_state"])
    return execution.place_model(model)


def restore_training_state(
    checkpoint: dict[str, Any], execution: Execution, optimizer_settings: dict[str, float]
) -> tuple[DeepClusterNet, torch.optim.SGD]:
    """The network and its body optimiser, momentum buffers included, from ``checkpoint``."""
    if checkpoint.get("method", "deepcluster") != "deepcluster":
        raise ValueError(
            f"the checkpoint of round {checkpoint['round']} was made by {checkpoint['method']}, not by "
            "method.name = 'deepcluster': set method.name back, or start a new run "
            "(delete data/06_models/checkpoints and run `kedro run` without --only-missing-outputs)"
        )
    model = network_from_checkpoint(checkpoint, execution)
    optimizer = body_optimizer(model, **optimizer_settings)
    optimizer.load_state_dict(checkpoint["optimizer_state"])
    # keep the momentum buffers but take the current settings (e.g. a lowered lr)
    for group in optimizer.param_groups:
        group.update(optimizer_settings)
    return model, optimizer
