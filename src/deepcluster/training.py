"""DeepCluster's run state: the body's optimiser, the per-round learning rate, checkpoints; and the
check that stops a diverging epoch.

The body keeps one SGD optimiser (with momentum) for the whole run; the round's
fresh head and its optimiser live in ``deepcluster.methods.DeepCluster``.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from deepcluster.models import DeepClusterNet, build_model
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
