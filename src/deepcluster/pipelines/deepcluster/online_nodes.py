"""Nodes of a round of the online methods (DeepCluster-v2, SwAV): gather the memory bank, cluster it,
train one epoch on multi-crop views. Each builds library objects from the settings and calls the
method's lifecycle (``deepcluster.methods``)."""

from __future__ import annotations

import math
import time
from typing import Any

import pandas as pd
import torch

from deepcluster.augment import ColourAugmentation, CropGroup, MultiCrop
from deepcluster.config import AUTO, MethodSettings, ModelSettings, RuntimeSettings
from deepcluster.data import ImageCollection
from deepcluster.methods import (
    BankClustering,
    DeepClusterV2,
    EpochPlan,
    OnlineMethod,
    SwAV,
    cluster_memory_bank,
    fill_memory_bank,
    train_round,
)
from deepcluster.models import DeepClusterNet, build_model
from deepcluster.optim import LARS, parameter_groups
from deepcluster.runtime import Execution, derive_seed

ONLINE_METHODS = ("deepcluster_v2", "swav")
CHECKPOINT_FORMAT = 2
BACKBONE = "backbone."  # the prefix of the backbone's entries in a method's state_dict


def _views(method: MethodSettings, input_size: int) -> MultiCrop:
    sizes = {"large": input_size, "small": max(4, input_size // 2)}
    groups = tuple(
        CropGroup(block.count, sizes[name] if block.size == AUTO else block.size, tuple(block.scale))
        for name, block in (("large", method.views.large), ("small", method.views.small))
        if block.count
    )
    colour = None if method.views.colour is None else ColourAugmentation(**method.views.colour.model_dump())
    return MultiCrop(groups, method.views.flip_probability, colour)


def prototype_counts(method: MethodSettings, auto_k: int) -> list[int]:
    """Prototypes per head; ``auto`` is ``auto_k``, the run's resolved ``kmeans.k``."""
    wanted = method.deepcluster_v2.prototypes if method.name == "deepcluster_v2" else [method.swav.prototypes]
    return [auto_k if k == AUTO else k for k in wanted]


def build_online_method(
    method: MethodSettings, backbone: DeepClusterNet, seed: int, n_images: int, input_size: int, counts: list[int]
) -> OnlineMethod:
    """The method around ``backbone`` with ``counts`` prototypes per head; the same settings and seed always
    give the same heads."""
    projection = (method.projection.hidden_dim, method.projection.output_dim)
    views = _views(method, input_size)
    if method.name == "deepcluster_v2":
        return DeepClusterV2(backbone, projection, counts, views, n_images, method.temperature, seed)
    swav = method.swav
    return SwAV(
        backbone, projection, counts[0], views, n_images, method.temperature, swav.epsilon,
        swav.sinkhorn_iterations, swav.freeze_prototypes_steps, swav.queue_length, seed,
    )  # fmt: skip


def online_optimizer(module: torch.nn.Module, method: MethodSettings) -> torch.optim.Optimizer:
    settings = method.optimizer
    groups = parameter_groups([module], settings.weight_decay)
    if settings.name == "lars":
        return LARS(groups, lr=settings.lr, momentum=settings.momentum, eta=settings.lars_eta)
    for group in groups:
        group.pop("lars")
    return torch.optim.SGD(groups, lr=settings.lr, momentum=settings.momentum)


def make_online_checkpoint(
    module: OnlineMethod, optimizer: torch.optim.Optimizer, model_config: dict, round_number: int, step: int
) -> dict[str, Any]:
    """The backbone as every checkpoint has it (``model_state``), and the rest of what the method trains or
    keeps (``method_state``: heads, prototypes, memory bank, queue), each tensor stored once."""
    state = {k: v.detach().cpu() for k, v in module.state_dict().items()}
    return {
        "format": CHECKPOINT_FORMAT,
        "method": module.name,
        "round": round_number,
        "step": step,
        "model_config": dict(model_config),
        "prototypes": [head.out_features for head in module.prototypes.heads],
        "model_state": {k.removeprefix(BACKBONE): v for k, v in state.items() if k.startswith(BACKBONE)},
        "method_state": {k: v for k, v in state.items() if not k.startswith(BACKBONE)},
        "optimizer_state": optimizer.state_dict(),
    }


def _check_made_by(checkpoint: dict[str, Any], method: MethodSettings) -> None:
    if checkpoint.get("format") != CHECKPOINT_FORMAT or checkpoint.get("method") != method.name:
        made_by = checkpoint.get("method", "deepcluster (or an older version of this project)")
        raise ValueError(
            f"the checkpoint of round {checkpoint.get('round')} was made by {made_by}, not by "
            f"method.name = {method.name!r}: set method.name back, or start a new run "
            "(delete data/06_models/checkpoints and run `kedro run` without --only-missing-outputs)"
        )


def restore_online(
    checkpoint: dict[str, Any], method: MethodSettings, n_images: int, input_size: int, execution: Execution
) -> tuple[OnlineMethod, torch.optim.Optimizer]:
    """The method and its optimiser as ``checkpoint`` left them; a checkpoint of another method or format
    is refused with the way out."""
    _check_made_by(checkpoint, method)
    config = checkpoint["model_config"]
    module = build_online_method(
        method, build_model(**config), config["seed"], n_images, input_size, checkpoint["prototypes"]
    )
    backbone = {BACKBONE + k: v for k, v in checkpoint["model_state"].items()}
    module.load_state_dict({**backbone, **checkpoint["method_state"]})
    module = execution.place_model(module)
    optimizer = online_optimizer(module, method)
    optimizer.load_state_dict(checkpoint["optimizer_state"])
    return module, optimizer


def gather_memory_bank(
    previous_checkpoint: dict[str, Any],
    images: ImageCollection,
    model: ModelSettings,
    method: MethodSettings,
    runtime: RuntimeSettings,
    round_number: int,
) -> dict[str, torch.Tensor]:
    """DeepCluster-v2's memory bank as the last round left it, on the device, with the images written
    since the last clustering (``bank_filled``); in the first round, when it is still empty, filled by
    one pass of the untrained method over the images."""
    _check_made_by(previous_checkpoint, method)
    execution = runtime.execution()
    state = previous_checkpoint["method_state"]
    if bool(state["bank_filled"].any()):
        return {"bank": state["memory_bank"].to(execution.device), "fresh": state["bank_filled"].to(execution.device)}
    module, _ = restore_online(
        previous_checkpoint, method, len(images), model.input_size_for(images.image_size), execution
    )
    generator = torch.Generator().manual_seed(derive_seed(runtime.seed, round_number, "memory_bank"))
    fill_memory_bank(module, images, method.batch_size, execution, generator)
    return {"bank": module.memory_bank, "fresh": module.bank_filled}


def cluster_bank(
    memory_bank: dict[str, torch.Tensor],
    previous_checkpoint: dict[str, Any],
    method: MethodSettings,
    runtime: RuntimeSettings,
    round_number: int,
) -> tuple[BankClustering, dict[str, float]]:
    """Spherical k-means of the bank's fresh rows for every head (as many clusters as it has prototypes),
    with this round's seeds."""
    started = time.perf_counter()
    counts = previous_checkpoint["prototypes"]
    seeds = [derive_seed(runtime.seed, round_number, f"kmeans_head_{head}") for head in range(len(counts))]
    clustering = cluster_memory_bank(
        memory_bank["bank"], counts, method.deepcluster_v2.kmeans_iterations, seeds, memory_bank["fresh"]
    )
    summary = {f"kmeans/head{h}_empty_clusters": float(n) for h, n in enumerate(clustering.n_empty)}
    summary["timing/kmeans_seconds"] = time.perf_counter() - started
    return clustering, summary


def train_online_round(
    previous_checkpoint: dict[str, Any],
    images: ImageCollection,
    model: ModelSettings,
    method: MethodSettings,
    runtime: RuntimeSettings,
    resolved_settings: dict[str, Any],
    targets: BankClustering | None = None,
    *,
    round_number: int,
) -> tuple[dict[str, Any], dict[str, float], pd.DataFrame]:
    """One epoch of the method over every image in a fresh order; the new checkpoint, the epoch's log
    and each image's cluster (DeepCluster-v2: the round's k-means, ``targets``; SwAV, which makes
    its targets inside the epoch: its highest prototype).

    The learning rate warms up and decays over the method's own rounds (``method.rounds``: the
    run's rounds less the self-labelling ones that follow), so it is near ``final_lr`` when they end.
    ``method.batch_size`` is the global batch: N processes take the steps one process takes."""
    execution = runtime.execution()
    input_size = model.input_size_for(images.image_size)
    module, optimizer = restore_online(previous_checkpoint, method, len(images), input_size, execution)
    steps_per_round = math.ceil(len(images) / method.batch_size)
    plan = EpochPlan(
        batch_size=method.batch_size,
        base_lr=method.optimizer.lr,
        final_lr=method.optimizer.final_lr,
        warmup_steps=round(method.optimizer.warmup_rounds * steps_per_round),
        total_steps=resolved_settings["method.rounds"] * steps_per_round,
        first_step=previous_checkpoint["step"],
    )
    generator = torch.Generator().manual_seed(derive_seed(runtime.seed, round_number, "training"))
    order = torch.randperm(len(images), generator=generator).numpy()
    log = train_round(module, targets, optimizer, images, order, plan, execution, generator, runtime.sync_batchnorm)
    checkpoint = make_online_checkpoint(
        module, optimizer, previous_checkpoint["model_config"], round_number, plan.first_step + log["steps"]
    )
    assignments = pd.DataFrame({"cluster": module.assignments[0].cpu().numpy()})
    return checkpoint, log, assignments
