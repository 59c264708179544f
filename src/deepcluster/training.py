"""DeepCluster's per-round learning rate, the network of a checkpoint, and the check that stops a
diverging epoch. Checkpoints are made by ``deepcluster.methods.base.make_checkpoint``."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from deepcluster.features import INFERENCE_BATCH_SIZE, extract_features
from deepcluster.models import DeepClusterNet, Representation, build_model
from deepcluster.runtime import Execution

if TYPE_CHECKING:
    from deepcluster.data.collection import ImageCollection
    from deepcluster.run import RunContext


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


def learning_rate_for_round(base_lr: float, round_number: int, rounds: int) -> float:
    """The epoch's learning rate: a cosine from ``base_lr`` at round 1 towards 0 after the last round."""
    return base_lr * 0.5 * (1 + math.cos(math.pi * (round_number - 1) / rounds))


def network_from_checkpoint(checkpoint: dict[str, Any], execution: Execution) -> DeepClusterNet:
    """The network as it was when ``checkpoint`` was made, placed for ``execution``."""
    model = build_model(**checkpoint["model_config"])
    model.load_state_dict(checkpoint["model_state"])
    return execution.place_model(model)


def features_under(
    checkpoint: dict[str, Any],
    images: ImageCollection,
    run: RunContext,
    indices: np.ndarray | None = None,
    *,
    representation: bool,
) -> torch.Tensor:
    """Features of the images (all, or ``indices``) under ``checkpoint``'s network: eval mode, centre crop at
    the run's input size, no augmentation. ``representation``: what the run evaluates and exports
    (``DeepClusterNet.represent``), else the features that training clusters."""
    network = network_from_checkpoint(checkpoint, run.execution)
    model = Representation(network) if representation else network
    return extract_features(
        model, images, INFERENCE_BATCH_SIZE, execution=run.execution, crop_size=run.input_size, indices=indices
    )
