"""Every method's round written once: the untrained method of round 0, and one epoch of any method.

The Kedro nodes, the plain runner and the benchmarks all call these; a method only answers its
lifecycle (``deepcluster.methods.base.Method``) and its round's steps.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import torch

from deepcluster.clustering.pca import usable_pca_dim
from deepcluster.data.collection import ImageCollection
from deepcluster.distributed.batch_norm import GLOBAL_BATCH_NORM
from deepcluster.methods import METHODS
from deepcluster.methods.base import make_checkpoint
from deepcluster.methods.epoch import train_round
from deepcluster.models import build_model
from deepcluster.run import RunContext


def model_config(images: ImageCollection, run: RunContext) -> dict[str, Any]:
    """The backbone's constructor arguments: the resolved architecture, its representation and options (the
    architecture's own defaults otherwise: the small convnet's width 32 and 128 features), the images'
    channels."""
    name = run.resolved["model.name"]
    prefix = f"model.options.{name}."
    options = {key.removeprefix(prefix): value for key, value in run.resolved.items() if key.startswith(prefix)}
    return {
        "name": name,
        "representation": run.resolved["model.representation"],
        "in_channels": images.channels,
        "seed": run.seed,
        **options,
    }


def initialise_method(images: ImageCollection, run: RunContext) -> dict[str, Any]:
    """Round 0's checkpoint: ``method.name``'s untrained method and its optimiser."""
    config = model_config(images, run)
    network = build_model(**config)
    method_class = METHODS[run.parameters.method.name]
    if method_class.uses_pca:
        usable_pca_dim(run.parameters.pca.dim, network.feature_dim, len(images))
    method = method_class.create(network, run, len(images))
    return make_checkpoint(method, method.make_optimizer(run), config, 0, step=0)


def train_method_round(
    previous_checkpoint: dict[str, Any],
    images: ImageCollection,
    run: RunContext,
    targets: Any = None,
    *,
    round_number: int,
    method_name: str,
    scan_round: bool = False,
) -> tuple[dict[str, Any], dict[str, float], pd.DataFrame]:
    """One round's epoch of ``method_name`` on ``targets`` (what its round's steps made, if any): the new
    checkpoint, the epoch's log and every image's cluster.

    A SCAN round after another method's rounds starts DeepCluster around that method's backbone,
    with a new optimiser; otherwise the method continues from ``previous_checkpoint`` as it left it.
    """
    method_class = METHODS[method_name]
    if scan_round and previous_checkpoint["method"] != method_name:
        method, optimizer = method_class.from_backbone_of(previous_checkpoint, run, len(images))
    else:
        method, optimizer = method_class.restore(previous_checkpoint, run, len(images))
    generator = torch.Generator().manual_seed(run.seed_for(round_number, "training"))
    order, plan = method.epoch(run, targets, len(images), round_number, previous_checkpoint["step"], generator)
    log = train_round(method, targets, optimizer, images, order, plan, run.execution, generator, GLOBAL_BATCH_NORM)
    step = plan.first_step + log["steps"]
    checkpoint = make_checkpoint(method, optimizer, previous_checkpoint["model_config"], round_number, step)
    return checkpoint, log, method.cluster_table(targets)
