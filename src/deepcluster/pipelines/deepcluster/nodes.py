"""Nodes of a DeepCluster round. Each calls into the library and converts to catalog types."""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np
import pandas as pd
import torch
from sklearn.metrics import normalized_mutual_info_score

from deepcluster import methods
from deepcluster.augment import Augmentation
from deepcluster.auto import architecture_for, augmentation_for, estimate_groups, scan_neighbours_for
from deepcluster.clustering.kmeans import check_k, kmeans
from deepcluster.clustering.pca import usable_pca_dim
from deepcluster.clustering.sampling import sample_uniformly_over_clusters
from deepcluster.clustering.scan import scan_clustering
from deepcluster.config import (
    AUTO,
    ClusteringSettings,
    FeatureSettings,
    KMeansSettings,
    MethodSettings,
    ModelSettings,
    PcaSettings,
    RuntimeSettings,
    ScanSettings,
    TrainingSettings,
    resolved,
)
from deepcluster.data import ImageCollection
from deepcluster.distributed import from_main_process, world_size
from deepcluster.evaluation import label_free_signals, signal_sample
from deepcluster.features import ReducedFeatures, extract_features, extract_reduced_features
from deepcluster.methods import DeepCluster, EpochPlan, PseudoLabels
from deepcluster.metrics import (
    cluster_size_summary,
    feature_collapse_std,
    labelling_agreement,
)
from deepcluster.models import build_model
from deepcluster.pipelines.deepcluster.online_nodes import (
    ONLINE_METHODS,
    build_online_method,
    make_online_checkpoint,
    online_optimizer,
    prototype_counts,
)
from deepcluster.runtime import derive_seed
from deepcluster.training import (
    body_optimizer,
    learning_rate_for_round,
    make_checkpoint,
    network_from_checkpoint,
    restore_training_state,
)

logger = logging.getLogger(__name__)


def _optimizer_settings(training: TrainingSettings) -> dict[str, float]:
    return {"lr": training.lr, "momentum": training.momentum, "weight_decay": training.weight_decay}


def resolve_settings(
    images: ImageCollection,
    method: MethodSettings,
    model: ModelSettings,
    kmeans: KMeansSettings,
    scan: ScanSettings,
    clustering: ClusteringSettings,
    training: TrainingSettings,
    runtime: RuntimeSettings,
    rounds: int,
) -> dict[str, Any]:
    """Check the settings against the data and resolve the ``auto`` ones, once, before round 1.

    Every setting that could fail later (k, pca.dim, the input size) is checked here,
    before any round spends time. The values the run uses for the settings that may be
    ``auto`` are logged and kept; the nodes of every later round read them from here
    (``deepcluster.config.resolved``). The number of groups is estimated from the
    pixels without labels (``deepcluster.auto.estimate_groups``).
    """
    n = len(images)
    input_size = model.input_size_for(images.image_size)
    if input_size > images.image_size:
        raise ValueError(
            f"model.input_size = {input_size} is larger than the images "
            f"(data.image_size = {images.image_size}); lower model.input_size or raise data.image_size"
        )
    settings: dict[str, Any] = {"data.image_size": images.image_size, "data.channels": images.channels}
    name, options = model.name, {}
    if name == AUTO:
        name, options = architecture_for(images.image_size, runtime.execution().device)
    settings |= {"model.name": name, "model.input_size": input_size}
    settings |= {f"model.options.{name}.{key}": value for key, value in options.items()}
    groups = clustering.groups
    if groups == AUTO:
        estimate = estimate_groups(images, derive_seed(runtime.seed, 0, "groups"))
        groups = min(estimate.count, n)
        settings["clustering.groups_estimate_modularity"] = estimate.modularity
    settings["clustering.groups"] = groups
    settings["kmeans.k"] = kmeans.k_for(n) if kmeans.k == AUTO else kmeans.k
    check_k(settings["kmeans.k"], n)
    settings["scan.k"] = groups if scan.k == AUTO else scan.k
    settings["scan.neighbours"] = scan_neighbours_for(n, groups) if scan.neighbours == AUTO else scan.neighbours
    settings["scan.self_labelling_rounds"] = scan.self_labelling_rounds_of(rounds)
    settings["method.rounds"] = rounds - settings["scan.self_labelling_rounds"]
    if method.name in ONLINE_METHODS:
        settings["method.prototypes"] = prototype_counts(method, settings["kmeans.k"])
    if training.augmentation == AUTO:  # DeepCluster's epochs, and the self-labelling ones after any method
        name, block = augmentation_for(images.channels, n / groups)
        settings["training.augmentation"] = name
        settings["training.augmentation_block"] = block
    settings["runtime.processes"] = world_size()
    logger.info("settings in use: %s", ", ".join(f"{key} = {value}" for key, value in settings.items()))
    return settings


def initialise_network(
    images: ImageCollection,
    method: MethodSettings,
    model: ModelSettings,
    pca: PcaSettings,
    training: TrainingSettings,
    runtime: RuntimeSettings,
    resolved_settings: dict[str, Any],
) -> tuple[dict[str, Any], pd.DataFrame, dict[str, Any]]:
    """The round-0 network and optimiser, an empty assignment table (round 0 has no clustering), and no
    best network yet (round 0's untrained network is a baseline, never the result)."""
    name = resolved_settings["model.name"]
    prefix = f"model.options.{name}."
    options = {key.removeprefix(prefix): value for key, value in resolved_settings.items() if key.startswith(prefix)}
    config = {
        "name": name,
        "in_channels": images.channels,
        "sobel": model.sobel,
        "seed": runtime.seed,
        **model.options_of(name),
        **options,
    }
    network = build_model(**config)
    usable_pca_dim(pca.dim, network.feature_dim, len(images))
    if method.name in ONLINE_METHODS:
        online = build_online_method(
            method, network, runtime.seed, len(images), resolved_settings["model.input_size"],
            resolved_settings["method.prototypes"],
        )  # fmt: skip
        checkpoint = make_online_checkpoint(online, online_optimizer(online, method), config, 0, step=0)
    else:
        checkpoint = make_checkpoint(network, body_optimizer(network, **_optimizer_settings(training)), config, 0)
    no_assignments = pd.DataFrame({"cluster": pd.Series(dtype="int64"), "distance": pd.Series(dtype="float32")})
    return checkpoint, no_assignments, {}


def log_resolved_settings(resolved_settings: dict[str, Any]) -> dict[str, Any]:
    """The resolved settings as MLflow parameters (``resolved.<key>``), beside the configured ones."""
    return {f"resolved.{key}": value for key, value in resolved_settings.items()}


def extract_round_features(
    previous_checkpoint: dict[str, Any],
    images: ImageCollection,
    model: ModelSettings,
    features: FeatureSettings,
    pca: PcaSettings,
    runtime: RuntimeSettings,
    round_number: int,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Whitened, L2-normalised PCA features of every image under the previous round's network."""
    started = time.perf_counter()
    execution = runtime.execution()
    network = network_from_checkpoint(previous_checkpoint, execution)
    reduced = extract_reduced_features(
        network,
        images,
        pca_dim=pca.dim,
        batch_size=features.batch_size,
        execution=execution,
        crop_size=model.input_size_for(images.image_size),
        pca_fit_size=pca.fit_size,
        seed=derive_seed(runtime.seed, round_number, "pca_sample"),
    )
    return reduced.features, _feature_summary(reduced, time.perf_counter() - started)


def _feature_summary(reduced: ReducedFeatures, seconds: float) -> dict[str, float]:
    return {
        "features/collapse_std": reduced.collapse_std,
        "features/pca_dim": reduced.pca.output_dim,
        "features/pca_fit_images": reduced.pca_fit_size,
        "timing/extract_features_seconds": seconds,
    }


def cluster_round_features(
    reduced_features: torch.Tensor | np.ndarray,
    kmeans_settings: KMeansSettings,
    clustering: ClusteringSettings,
    runtime: RuntimeSettings,
    resolved_settings: dict[str, Any],
    round_number: int,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The round's ``kmeans.k`` clusters by ``clustering.rounds`` with this round's seed: every image's
    cluster and its squared distance to the centroid (k-means) or confidence (Ward, PIC)."""
    started = time.perf_counter()
    points = torch.as_tensor(reduced_features)  # a tensor in memory, an array when read back from disk
    settings = resolved(kmeans_settings, resolved_settings, "kmeans")
    seed = derive_seed(runtime.seed, round_number, "kmeans")
    summary: dict[str, Any] = {}
    # faiss's threads may sum in any order: one process clusters, every process gets its answer
    if clustering.rounds == "kmeans":
        result = from_main_process(
            lambda: kmeans(points, settings.k, n_iter=settings.iterations, seed=seed, backend=settings.backend)
        )
        assignments = pd.DataFrame({"cluster": result.assignments, "distance": result.distances})
        summary |= {
            "kmeans/objective": result.objective,
            "kmeans/empty_cluster_splits": result.n_splits,
            "kmeans/backend": result.backend,
        }
    else:
        clusterer = clustering.clusterers(None, [clustering.rounds])[clustering.rounds]
        partition = from_main_process(lambda: clusterer.fit(points, settings.k, seed))
        assignments = pd.DataFrame({"cluster": partition.assignments, partition.score_name: partition.scores})
    return assignments, summary | {"timing/kmeans_seconds": time.perf_counter() - started}


def epoch_size(n_images: int, training: TrainingSettings) -> int:
    """Images in a round's epoch: all of them once, or more (drawn again) so that the epoch takes at least
    ``training.min_steps`` steps. The round's new head starts from random weights; on a small collection
    one pass is too few steps for it to learn the clusters before its gradients steer the network."""
    return max(n_images, training.min_steps * training.batch_size)


def sample_training_set(
    assignments: pd.DataFrame, training: TrainingSettings, runtime: RuntimeSettings, round_number: int
) -> np.ndarray:
    """Indices of the epoch's images (``epoch_size``), drawn uniformly over the non-empty clusters."""
    rng = np.random.default_rng(derive_seed(runtime.seed, round_number, "sampling"))
    clusters = assignments["cluster"].to_numpy()
    return sample_uniformly_over_clusters(clusters, epoch_size(len(clusters), training), rng)


def extract_round_network_features(
    previous_checkpoint: dict[str, Any],
    images: ImageCollection,
    model: ModelSettings,
    features: FeatureSettings,
    runtime: RuntimeSettings,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Features of every image under the previous round's network, not reduced (SCAN's neighbours need
    the network's own geometry: whitening weighs noise directions like the signal)."""
    started = time.perf_counter()
    execution = runtime.execution()
    network = network_from_checkpoint(previous_checkpoint, execution)
    extracted = extract_features(
        network,
        images,
        batch_size=features.batch_size,
        execution=execution,
        crop_size=model.input_size_for(images.image_size),
    )
    summary = {
        "features/collapse_std": feature_collapse_std(extracted),
        "timing/extract_features_seconds": time.perf_counter() - started,
    }
    return extracted, summary


def cluster_round_features_by_neighbours(
    features: torch.Tensor,
    scan: ScanSettings,
    runtime: RuntimeSettings,
    resolved_settings: dict[str, Any],
    round_number: int,
) -> tuple[pd.DataFrame, dict[str, float]]:
    """A self-labelling round's targets: SCAN's ``scan.k`` clusters and the head's confidence in each."""
    started = time.perf_counter()
    seed = derive_seed(runtime.seed, round_number, "scan")
    settings = resolved(scan, resolved_settings, "scan")
    # like k-means: one process clusters, every process gets its answer
    result = from_main_process(lambda: scan_clustering(features, settings.k, seed=seed, **settings.head_options()))
    assignments = pd.DataFrame({"cluster": result.assignments, "confidence": result.confidence})
    summary = {
        "scan/loss": result.loss,
        "scan/confident_fraction": float((result.confidence > scan.confidence).mean()),
        "timing/scan_seconds": time.perf_counter() - started,
    }
    return assignments, summary


def sample_confident_training_set(
    assignments: pd.DataFrame,
    scan: ScanSettings,
    training: TrainingSettings,
    runtime: RuntimeSettings,
    round_number: int,
) -> np.ndarray:
    """As many indices as images, drawn uniformly over the clusters from the images the head is confident of
    (all images when it is confident of none)."""
    rng = np.random.default_rng(derive_seed(runtime.seed, round_number, "sampling"))
    clusters = assignments["cluster"].to_numpy()
    confident = np.flatnonzero(assignments["confidence"].to_numpy() > scan.confidence)
    if confident.size == 0:
        logger.warning(
            "round %d: SCAN's head is confident (> scan.confidence = %s) of no image; training on all of them",
            round_number,
            scan.confidence,
        )
        confident = np.arange(len(clusters))
    return confident[sample_uniformly_over_clusters(clusters[confident], epoch_size(len(clusters), training), rng)]


def train_round(
    previous_checkpoint: dict[str, Any],
    images: ImageCollection,
    assignments: pd.DataFrame,
    training_indices: np.ndarray,
    model: ModelSettings,
    scan: ScanSettings,
    training: TrainingSettings,
    runtime: RuntimeSettings,
    rounds: int,
    resolved_settings: dict[str, Any],
    round_number: int,
    self_labelling: bool = False,
) -> tuple[dict[str, Any], dict[str, float]]:
    """One epoch on the pseudo-labels with a fresh head; the new checkpoint and the epoch's log.

    The pseudo-labels are the round's ``kmeans.k`` clusters, or in a self-labelling round
    (which may follow any method's rounds) SCAN's ``scan.k``, trained at ``scan.training_lr``.
    """
    execution = runtime.execution()
    if self_labelling and previous_checkpoint.get("method", "deepcluster") != "deepcluster":
        # the first self-labelling round after DeepCluster-v2 or SwAV: their backbone, a new body optimiser
        network = network_from_checkpoint(previous_checkpoint, execution)
        optimizer = body_optimizer(network, **_optimizer_settings(training))
    else:
        network, optimizer = restore_training_state(previous_checkpoint, execution, _optimizer_settings(training))
    views = Augmentation(
        output_size=model.input_size_for(images.image_size),
        **training.augmentation_of(resolved_settings).model_dump(),
    )
    if self_labelling:
        # the method's schedule has all but ended by its last rounds; self-labelling keeps its own rate
        plan = EpochPlan.constant(training.batch_size, scan.training_lr, lr_setting="scan.training_lr")
    else:
        lr = learning_rate_for_round(training.lr, training.lr_schedule, round_number, rounds)
        plan = EpochPlan.constant(training.batch_size, lr, lr_setting="training.lr")
    generator = torch.Generator().manual_seed(derive_seed(runtime.seed, round_number, "training"))
    k = resolved_settings["scan.k" if self_labelling else "kmeans.k"]
    targets = PseudoLabels(assignments["cluster"].to_numpy(), k)
    method = DeepCluster(network, views, head_weight_decay=training.weight_decay)
    log = methods.train_round(
        method, targets, optimizer, images, training_indices, plan, execution, generator, runtime.sync_batchnorm
    )
    checkpoint = make_checkpoint(network, optimizer, previous_checkpoint["model_config"], round_number)
    return checkpoint, log


def evaluate_round(
    assignments: pd.DataFrame,
    previous_assignments: pd.DataFrame,
    image_index: pd.DataFrame,
    training_log: dict[str, float],
    resolved_settings: dict[str, Any],
    *summaries: dict[str, Any],
    round_number: int,
    clustering: str = "kmeans",
) -> dict[str, Any]:
    """Everything known about the round, as one flat record (``summaries``: the earlier nodes' own,
    already named).

    ``clustering`` names the block whose ``k`` the round asked for (``kmeans``, or ``scan`` in a
    self-labelling round). Names are grouped by the prefix before "/", which MLflow's UI turns into chart
    sections. ``clusters_vs_labels`` scores the round's k clusters against the
    classes: one-to-one (Hungarian) ACC can match only as many clusters as there
    are classes, so with k = 50 and 10 classes it stays low; the final evaluation
    clusters into exactly as many groups as classes.
    """
    clusters = assignments["cluster"].to_numpy()
    metrics: dict[str, Any] = {"round": round_number}
    if len(previous_assignments):
        metrics["clusters_vs_previous_round/nmi"] = normalized_mutual_info_score(
            previous_assignments["cluster"].to_numpy(), clusters
        )
    labelled = image_index["label"].notna().to_numpy()
    if labelled.any():
        labels = image_index["label"].to_numpy()[labelled].astype(np.int64)
        agreement = labelling_agreement(labels, clusters[labelled])
        names = {"acc": "acc_one_to_one", "majority_acc": "acc_majority_vote", "nmi": "nmi", "ari": "ari"}
        metrics.update({f"clusters_vs_labels/{names[name]}": value for name, value in agreement.items()})
    sizes = cluster_size_summary(clusters, resolved_settings[f"{clustering}.k"])
    metrics.update({f"clusters/{name}": value for name, value in sizes.items()})
    for summary in summaries:
        metrics.update(summary)
    training = dict(training_log)
    metrics["timing/train_seconds"] = training.pop("seconds")
    metrics.update({f"training/{name}": value for name, value in training.items()})
    return metrics


def round_metrics_for_mlflow(round_metrics: dict[str, Any]) -> dict[str, dict[str, float]]:
    """The round's numeric metrics as MLflow history entries with step = round (and one log line)."""
    step = round_metrics["round"]
    shown = (
        "clusters_vs_previous_round/nmi",
        "clusters_vs_labels/nmi",
        "clusters_vs_labels/acc_majority_vote",
        "clusters/non_empty",
        "training/loss",
    )
    logger.info("round %d: %s", step, ", ".join(f"{k} {round_metrics[k]:.3f}" for k in shown if k in round_metrics))
    return {
        name: {"value": float(value), "step": step}
        for name, value in round_metrics.items()
        if name != "round" and isinstance(value, (int, float))
    }


def measure_network(
    checkpoint: dict[str, Any],
    images: ImageCollection,
    model: ModelSettings,
    features: FeatureSettings,
    runtime: RuntimeSettings,
) -> dict[str, float]:
    """The label-free signals of the round's new network (``deepcluster.evaluation.label_free_signals``), on
    the same sample of images every round."""
    started = time.perf_counter()
    execution = runtime.execution()
    sample = signal_sample(len(images), runtime.seed)
    extracted = extract_features(
        network_from_checkpoint(checkpoint, execution),
        images,
        batch_size=features.batch_size,
        execution=execution,
        crop_size=model.input_size_for(images.image_size),
        indices=sample,
    )
    signals = from_main_process(lambda: label_free_signals(extracted, runtime.seed))
    summary = {f"network/{name}": value for name, value in signals.items()}
    return summary | {"timing/measure_network_seconds": time.perf_counter() - started}


def keep_best_network(
    previous_best: dict[str, Any],
    checkpoint: dict[str, Any],
    network_summary: dict[str, float],
    rounds: int,
    final_network: str,
) -> dict[str, Any]:
    """The network the export and the evaluation will use, as of this round: with ``final_network: best``
    the one so far with the highest label-free signal (``network/knn_modularity``), with ``last`` this
    round's. Round 0's untrained network is never chosen."""
    signal = network_summary["network/knn_modularity"]
    if final_network == "best" and previous_best and previous_best["signal"] >= signal:
        return previous_best
    return {
        "round": checkpoint["round"],
        "rounds": rounds,
        "signal": signal,
        "model_config": checkpoint["model_config"],
        "model_state": checkpoint["model_state"],
    }
