"""Nodes of a round around the method's own steps: settings resolved once, the run context, the untrained
method, and what every round does after its epoch (measure, keep the best network, evaluate, log)."""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import normalized_mutual_info_score

from deepcluster.auto import (
    architecture_for,
    augmentation_for,
    estimate_groups,
    model_options_for,
    representation_for,
    scan_neighbours_for,
)
from deepcluster.blocks import AUTO
from deepcluster.clustering.kmeans import check_k
from deepcluster.config import check_parameters
from deepcluster.data.collection import ImageCollection
from deepcluster.distributed.processes import from_main_process, world_size
from deepcluster.evaluation.metrics import cluster_size_summary, labelling_agreement
from deepcluster.evaluation.protocols import label_free_signals, signal_sample
from deepcluster.methods import METHODS
from deepcluster.methods.rounds import initialise_method
from deepcluster.run import RunContext
from deepcluster.runtime import derive_seed
from deepcluster.training import features_under

logger = logging.getLogger(__name__)


def resolve_settings(images: ImageCollection, parameters: dict[str, Any]) -> dict[str, Any]:
    """Check the settings against the data and resolve the ``auto`` ones, once, before round 1.

    Every setting that could fail later (k, pca.dim) is checked here,
    before any round spends time. The values the run uses for the settings that may be
    ``auto`` are logged and kept; the nodes of every later round read them from here
    (``deepcluster.config.resolved``). The number of groups is estimated from the
    pixels without labels (``deepcluster.auto.estimate_groups``).
    """
    run = check_parameters(parameters)
    model, kmeans, scan, clustering = run.model, run.kmeans, run.scan, run.clustering
    n = len(images)
    settings: dict[str, Any] = {
        "data.images": n,
        "data.image_size": images.image_size,
        "data.channels": images.channels,
    }
    name = architecture_for(images.image_size, run.runtime.execution().device) if model.name == AUTO else model.name
    representation = representation_for(name) if model.representation == AUTO else model.representation
    # the network sees the whole image (a centre crop of data.image_size)
    settings |= {"model.name": name, "model.representation": representation, "model.input_size": images.image_size}
    groups = clustering.groups
    if groups == AUTO:
        estimate = estimate_groups(images, derive_seed(run.runtime.seed, 0, "groups"))
        groups = min(estimate.count, n)
        settings["clustering.groups_estimate_modularity"] = estimate.modularity
    settings["clustering.groups"] = groups
    settings["kmeans.k"] = kmeans.k_for(n, groups)
    settings |= model_options_for(name, images.image_size, n / groups)
    check_k(settings["kmeans.k"], n)
    settings["scan.k"] = groups
    settings["scan.neighbours"] = scan_neighbours_for(n, groups)
    settings["scan.rounds"] = scan.rounds_of(run.rounds)
    settings["method.rounds"] = run.rounds - settings["scan.rounds"]
    method = METHODS[run.method.name]
    batch_size = run.training.batch_size
    settings["training.batch_size"] = method.default_batch_size if batch_size == AUTO else batch_size
    settings |= method.resolve_settings(run, settings)
    # DeepCluster's epochs, and the SCAN rounds after any method
    augmentation, block = augmentation_for(images.channels, n / groups)
    settings["training.augmentation"] = augmentation
    settings["training.augmentation_block"] = block
    settings["runtime.processes"] = world_size()
    logger.info("settings in use: %s", ", ".join(f"{key} = {value}" for key, value in settings.items()))
    return settings


def build_run_context(parameters: dict[str, Any], resolved_settings: dict[str, Any]) -> RunContext:
    """What every later node needs besides its data, built once (``deepcluster.run.RunContext``)."""
    return RunContext.create(check_parameters(parameters), resolved_settings)


def initialise_network(images: ImageCollection, run_context: RunContext) -> tuple[dict[str, Any], pd.DataFrame, dict]:
    """The round-0 method and optimiser, an empty assignment table (round 0 has no clustering), and no
    best network yet (round 0's untrained network is a baseline, never the result)."""
    no_assignments = pd.DataFrame({"cluster": pd.Series(dtype="int64"), "distance": pd.Series(dtype="float32")})
    return initialise_method(images, run_context), no_assignments, {}


def log_resolved_settings(resolved_settings: dict[str, Any]) -> dict[str, Any]:
    """The resolved settings as MLflow parameters (``resolved.<key>``), beside the configured ones."""
    return {f"resolved.{key}": value for key, value in resolved_settings.items()}


def evaluate_round(
    assignments: pd.DataFrame,
    previous_assignments: pd.DataFrame,
    image_index: pd.DataFrame,
    training_log: dict[str, float],
    run_context: RunContext,
    *summaries: dict[str, Any],
    round_number: int,
    cluster_count_setting: str = "kmeans.k",
) -> dict[str, Any]:
    """Everything known about the round, as one flat record (``summaries``: the earlier nodes' own,
    already named).

    ``cluster_count_setting`` names the resolved setting of how many clusters the round asked for
    (``kmeans.k``: every method's, also the online methods' prototypes; ``scan.k`` in a SCAN round).
    An image the round never saw (cluster -1: an online method's dropped last batch) is counted as
    ``clusters/unassigned`` and left out of the rest. Names are grouped by the prefix before
    "/", which MLflow's UI turns into chart sections. ``clusters_vs_labels`` scores the round's k
    clusters against the classes: one-to-one (Hungarian) ACC can match only as many clusters as there
    are classes, so with k = 50 and 10 classes it stays low; the final evaluation clusters into exactly
    as many groups as classes.
    """
    clusters = assignments["cluster"].to_numpy()
    seen = clusters >= 0
    metrics: dict[str, Any] = {"round": round_number, "clusters/unassigned": int((~seen).sum())}
    if len(previous_assignments):
        previous = previous_assignments["cluster"].to_numpy()
        both = seen & (previous >= 0)
        metrics["clusters_vs_previous_round/nmi"] = normalized_mutual_info_score(previous[both], clusters[both])
    labelled = image_index["label"].notna().to_numpy() & seen
    if labelled.any():
        labels = image_index["label"].to_numpy()[labelled].astype(np.int64)
        agreement = labelling_agreement(labels, clusters[labelled])
        names = {"acc": "acc_one_to_one", "majority_acc": "acc_majority_vote", "nmi": "nmi", "ari": "ari"}
        metrics.update({f"clusters_vs_labels/{names[name]}": value for name, value in agreement.items()})
    sizes = cluster_size_summary(clusters[seen], run_context.resolved[cluster_count_setting])
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


def measure_network(checkpoint: dict[str, Any], images: ImageCollection, run_context: RunContext) -> dict[str, float]:
    """The label-free signals of the round's new network (``deepcluster.evaluation.protocols.label_free_signals``), on
    the same sample of images every round."""
    started = time.perf_counter()
    run = run_context
    sample = signal_sample(len(images), run.seed)
    extracted = features_under(checkpoint, images, run, indices=sample, representation=True)
    signals = from_main_process(lambda: label_free_signals(extracted, run.seed))
    summary = {f"network/{name}": value for name, value in signals.items()}
    return summary | {"timing/measure_network_seconds": time.perf_counter() - started}


def keep_best_network(
    previous_best: dict[str, Any],
    checkpoint: dict[str, Any],
    network_summary: dict[str, float],
    run_context: RunContext,
) -> dict[str, Any]:
    """The network the export and the evaluation will use, as of this round: with ``final_network: best``
    the latest round whose label-free signal (``network/knn_modularity``) is above the highest of the rounds
    before it, with ``last`` this round's. Round 0's untrained network is never chosen."""
    parameters = run_context.parameters
    signal = network_summary["network/knn_modularity"]
    # checkpoints written before the tolerance existed hold the chosen round's signal alone, then the highest
    highest = previous_best.get("highest_signal", previous_best.get("signal", -np.inf))
    if parameters.final_network == "best" and previous_best and signal <= highest:
        return previous_best
    return {
        "round": checkpoint["round"],
        "rounds": parameters.rounds,
        "signal": signal,
        "highest_signal": max(highest, signal),
        "model_config": checkpoint["model_config"],
        "model_state": checkpoint["model_state"],
    }
