"""Nodes of a DeepCluster round. Each calls into the library and converts to catalog types."""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np
import pandas as pd
import torch

from deepcluster.augment import Augmentation
from deepcluster.data import ImageCollection
from deepcluster.features import extract_reduced_features
from deepcluster.kmeans import check_k, kmeans
from deepcluster.metrics import (
    cluster_size_summary,
    labelling_agreement,
    normalized_mutual_information,
)
from deepcluster.models import build_model
from deepcluster.pca import usable_pca_dim
from deepcluster.runtime import derive_seed, execution_from_settings
from deepcluster.sampling import sample_uniformly_over_clusters
from deepcluster.training import (
    EpochSettings,
    body_optimizer,
    learning_rate_for_round,
    make_checkpoint,
    network_from_checkpoint,
    restore_training_state,
    train_one_epoch,
)

logger = logging.getLogger(__name__)


def _optimizer_settings(training: dict[str, Any]) -> dict[str, float]:
    return {k: training[k] for k in ("lr", "momentum", "weight_decay")}


def initialise_network(
    images: ImageCollection,
    model: dict[str, Any],
    pca: dict[str, Any],
    kmeans: dict[str, Any],
    training: dict[str, Any],
    runtime: dict[str, Any],
) -> tuple[dict[str, Any], pd.DataFrame]:
    """Check the settings against the data, then build the round-0 network and optimiser.

    Every setting that could fail later (k, pca.dim, the model name, the input
    size) is checked here, before any round spends time. Round 0 has no
    clustering, so its assignment table is empty.
    """
    check_k(kmeans["k"], len(images))
    if model["input_size"] > images.image_size:
        raise ValueError(
            f"model.input_size = {model['input_size']} is larger than the images "
            f"(data.image_size = {images.image_size}); lower model.input_size or raise data.image_size"
        )
    config = {
        "name": model["name"],
        "in_channels": images.channels,
        "sobel": model.get("sobel", False),
        "seed": runtime["seed"],
        **((model.get("options") or {}).get(model["name"]) or {}),
    }
    network = build_model(**config)
    usable_pca_dim(pca["dim"], network.feature_dim, len(images))
    optimizer = body_optimizer(network, **_optimizer_settings(training))
    no_assignments = pd.DataFrame({"cluster": pd.Series(dtype="int64"), "distance": pd.Series(dtype="float32")})
    return make_checkpoint(network, optimizer, config, round_number=0), no_assignments


def extract_round_features(
    previous_checkpoint: dict[str, Any],
    images: ImageCollection,
    model: dict[str, Any],
    features: dict[str, Any],
    pca: dict[str, Any],
    runtime: dict[str, Any],
    round_number: int,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Whitened, L2-normalised PCA features of every image under the previous round's network."""
    started = time.perf_counter()
    execution = execution_from_settings(runtime)
    network = network_from_checkpoint(previous_checkpoint, execution)
    reduced = extract_reduced_features(
        network,
        images,
        pca_dim=pca["dim"],
        batch_size=features["batch_size"],
        execution=execution,
        crop_size=model["input_size"],
        pca_fit_size=pca.get("fit_size"),
        seed=derive_seed(runtime["seed"], round_number, "pca_sample"),
    )
    summary = {
        "feature_collapse_std": reduced.collapse_std,
        "pca_dim": reduced.pca.output_dim,
        "pca_fit_size": reduced.pca_fit_size,
        "extraction_seconds": time.perf_counter() - started,
    }
    return reduced.features, summary


def cluster_round_features(
    reduced_features: torch.Tensor | np.ndarray,
    kmeans_settings: dict[str, Any],
    runtime: dict[str, Any],
    round_number: int,
) -> tuple[pd.DataFrame, np.ndarray, dict[str, Any]]:
    """k-means with this round's seed: every image's cluster and squared distance to it, the centroids."""
    started = time.perf_counter()
    result = kmeans(
        torch.as_tensor(reduced_features),  # a tensor in memory, an array when read back from disk
        kmeans_settings["k"],
        n_iter=kmeans_settings["iterations"],
        seed=derive_seed(runtime["seed"], round_number, "kmeans"),
        backend=kmeans_settings["backend"],
    )
    assignments = pd.DataFrame({"cluster": result.assignments, "distance": result.distances})
    summary = {
        "kmeans_objective": result.objective,
        "kmeans_splits": result.n_splits,
        "kmeans_backend": result.backend,
        "kmeans_seconds": time.perf_counter() - started,
    }
    return assignments, result.centroids, summary


def sample_training_set(assignments: pd.DataFrame, runtime: dict[str, Any], round_number: int) -> np.ndarray:
    """Indices of the epoch's images, drawn uniformly over the non-empty clusters."""
    rng = np.random.default_rng(derive_seed(runtime["seed"], round_number, "sampling"))
    clusters = assignments["cluster"].to_numpy()
    return sample_uniformly_over_clusters(clusters, len(clusters), rng)


def train_round(
    previous_checkpoint: dict[str, Any],
    images: ImageCollection,
    assignments: pd.DataFrame,
    training_indices: np.ndarray,
    model: dict[str, Any],
    kmeans_settings: dict[str, Any],
    training: dict[str, Any],
    runtime: dict[str, Any],
    rounds: int,
    round_number: int,
) -> tuple[dict[str, Any], dict[str, float]]:
    """One epoch on the pseudo-labels with a fresh head; the new checkpoint and the epoch's log."""
    execution = execution_from_settings(runtime)
    network, optimizer = restore_training_state(previous_checkpoint, execution, _optimizer_settings(training))
    augmentation = dict(training["augmentation"])
    crop_scale = augmentation.pop("crop_scale")
    settings = EpochSettings(
        augmentation=Augmentation(
            output_size=model["input_size"],
            crop_scale=None if crop_scale is None else tuple(crop_scale),
            **augmentation,
        ),
        lr=learning_rate_for_round(training["lr"], training["lr_schedule"], round_number, rounds),
        weight_decay=training["weight_decay"],
        batch_size=training["batch_size"],
    )
    generator = torch.Generator().manual_seed(derive_seed(runtime["seed"], round_number, "training"))
    log = train_one_epoch(
        network,
        optimizer,
        images,
        training_indices,
        assignments["cluster"].to_numpy(),
        kmeans_settings["k"],
        settings,
        execution,
        generator,
    )
    checkpoint = make_checkpoint(network, optimizer, previous_checkpoint["model_config"], round_number)
    return checkpoint, log


def evaluate_round(
    assignments: pd.DataFrame,
    previous_assignments: pd.DataFrame,
    image_index: pd.DataFrame,
    feature_summary: dict[str, float],
    clustering_summary: dict[str, Any],
    training_log: dict[str, float],
    kmeans_settings: dict[str, Any],
    round_number: int,
) -> dict[str, Any]:
    """Everything known about the round, as one flat record."""
    clusters = assignments["cluster"].to_numpy()
    metrics: dict[str, Any] = {"round": round_number}
    if len(previous_assignments):
        metrics["nmi_previous_round"] = normalized_mutual_information(
            previous_assignments["cluster"].to_numpy(), clusters
        )
    labelled = image_index["label"].notna().to_numpy()
    if labelled.any():
        labels = image_index["label"].to_numpy()[labelled].astype(np.int64)
        agreement = labelling_agreement(labels, clusters[labelled])
        metrics.update({f"{name}_labels": value for name, value in agreement.items()})
    metrics.update(cluster_size_summary(clusters, kmeans_settings["k"]))
    metrics.update(feature_summary)
    metrics.update(clustering_summary)
    metrics.update({f"train_{name}": value for name, value in training_log.items()})
    return metrics


def round_metrics_for_mlflow(round_metrics: dict[str, Any]) -> dict[str, dict[str, float]]:
    """The round's numeric metrics as MLflow history entries with step = round (and one log line)."""
    step = round_metrics["round"]
    shown = ("nmi_previous_round", "nmi_labels", "majority_acc_labels", "clusters_non_empty", "train_loss")
    logger.info("round %d: %s", step, ", ".join(f"{k} {round_metrics[k]:.3f}" for k in shown if k in round_metrics))
    return {
        name: {"value": float(value), "step": step}
        for name, value in round_metrics.items()
        if name != "round" and isinstance(value, (int, float))
    }
