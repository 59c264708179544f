"""Nodes of the evaluation pipeline: one protocol for the trained network and every baseline."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd
import torch

from deepcluster.auto import pixel_pca, pixel_rows
from deepcluster.clustering.final import final_partition
from deepcluster.clustering.partition import Partition
from deepcluster.data.collection import ImageCollection, subset
from deepcluster.evaluation.metrics import labelling_agreement, majority_accuracy
from deepcluster.evaluation.plots import confusion_figure, embedding_scatter, metric_curves
from deepcluster.evaluation.protocols import (
    clustering_points,
    held_out_split,
    knn_accuracy,
    label_free_signals,
    linear_probe_accuracy,
    score_partitions,
    signal_sample,
)
from deepcluster.run import RunContext
from deepcluster.training import features_under

logger = logging.getLogger(__name__)

TRAINED = "trained"
# the baselines the trained network must beat: the same network untrained, the pixels, and the peer's
# method (PCA of the pixels, then Ward or any other clusterer)
BASELINES = ("random_network", "pixels", "pixels_pca")
SUBJECTS = (TRAINED, *BASELINES)
# the probes: a stratified held-out part of the images, L2 penalty of the linear probe, the kNN's k (the
# field's 20 and 200, cosine at temperature 0.07)
TEST_FRACTION = 0.2
PROBE_WEIGHT_DECAY = 1e-4
KNN_K = (20, 200)
EMBEDDING_POINTS = 1000  # images in the t-SNE picture
# the baselines are scored on at most this many images, drawn at random: every shared collection whole, and
# on CIFAR-10's 60,000 the raw pixels' clusterers alone took 6 minutes (docs/benchmarks/scale.md)
BASELINE_SAMPLE = 10_000


def _labels(image_index: pd.DataFrame) -> np.ndarray | None:
    labels = image_index["label"]
    if labels.isna().any():
        return None
    return labels.to_numpy().astype(np.int64)


def _class_names(image_index: pd.DataFrame) -> list[str]:
    pairs = image_index[["label", "class_name"]].drop_duplicates().sort_values("label")
    return [str(name) for name in pairs["class_name"]]


def baseline_images(
    images: ImageCollection, image_index: pd.DataFrame, run_context: RunContext
) -> tuple[ImageCollection, pd.DataFrame]:
    """The images the baselines are scored on, and their rows of the index: every image up to
    ``BASELINE_SAMPLE``, else that many drawn at random (the same for every baseline)."""
    if len(images) <= BASELINE_SAMPLE:
        return images, image_index
    rng = np.random.default_rng(run_context.seed_for(0, "baseline_sample"))
    kept = np.sort(rng.choice(len(images), BASELINE_SAMPLE, replace=False))
    logger.info("the baselines are scored on %d of the %d images, drawn at random", kept.size, len(images))
    return subset(images, kept), image_index.iloc[kept].reset_index(drop=True)


def extract_network_features(
    checkpoint: dict[str, Any], images: ImageCollection, run_context: RunContext
) -> torch.Tensor:
    """The representation of every image under a checkpoint's network (eval mode, no augmentation)."""
    return features_under(checkpoint, images, run_context, representation=True)


def network_points(features: torch.Tensor) -> torch.Tensor:
    """A network's features as the clusterers see them: L2-normalised rows (as the final partition's)."""
    return clustering_points(features)


def pixel_features(images: ImageCollection) -> torch.Tensor:
    """Raw pixels in [0, 1], one L2-normalised row per image: the simplest baseline."""
    return clustering_points(pixel_rows(images, np.arange(len(images))))


def pixel_pca_features(images: ImageCollection, run_context: RunContext):
    """The pixels on the principal components that keep 95 % of their variance, not normalised: what a user
    gets in seconds from the ``clustimage`` package (with Ward's clustering, one of the clusterers here)."""
    pixels = pixel_rows(images, np.arange(len(images)))
    return pixel_pca(pixels, run_context.seed_for(0, "pixel_pca"))


def cluster_subject(
    points: torch.Tensor, image_index: pd.DataFrame, run_context: RunContext, headline: str
) -> tuple[dict[str, Any], np.ndarray]:
    """The subject partitioned by ``deepcluster.clustering.final`` (the function of the user's partition), and its
    headline partition's assignments.

    With labels: k = number of classes, every candidate clusterer scored by ACC, NMI and ARI;
    the headline is the clusterer the final partition would take (``headline = "auto"``: what a
    user gets with ``clustering.groups`` set to the number of classes) or the one that scores best
    (``"best"``: a baseline, never handicapped by a clusterer that suits it badly). Without labels:
    k = ``clustering.groups`` and the label-free scores alone. ``images``: how many were partitioned.
    """
    labels = _labels(image_index)
    if labels is None:
        choice = final_partition(points, run_context.block("clustering").groups, run_context)
        report = {"clusterers": {name: {"criterion": value} for name, value in choice.scores.items()}}
        return report | {"partition": choice.chosen, "images": points.shape[0]}, choice.partition.assignments
    choice = final_partition(points, int(np.unique(labels).size), run_context, every_candidate=True)
    scores = score_partitions(choice, labels)
    chosen = max(scores, key=lambda name: scores[name]["acc"]) if headline == "best" else choice.chosen
    headline_scores = {key: scores[chosen][key] for key in ("acc", "nmi", "ari")}
    report = {**headline_scores, "partition": chosen, "chosen_by": headline, "clusterers": scores}
    report["images"] = points.shape[0]
    return report, choice.partitions[chosen].assignments


def cluster_trained(
    points: torch.Tensor, received: Partition, image_index: pd.DataFrame, run_context: RunContext
) -> tuple[dict[str, Any], np.ndarray]:
    """The trained network as ``cluster_subject`` scores it at k = classes, beside the partition the user
    received (the export's, k = ``clustering.groups``), scored by NMI and ARI where labels exist."""
    labels = _labels(image_index)
    summary: dict[str, Any] = {"clusterer": received.clusterer, "k": received.k}
    if labels is None:
        return {"partition": received.clusterer, "received": summary}, received.assignments
    agreement = labelling_agreement(labels, received.assignments)
    summary |= {"nmi": agreement["nmi"], "ari": agreement["ari"]}
    report, assignments = cluster_subject(points, image_index, run_context, headline="auto")
    return report | {"received": summary}, assignments


def measure_signals(points: torch.Tensor, run_context: RunContext) -> dict[str, float]:
    """The label-free signals of the subject (``deepcluster.evaluation.protocols.label_free_signals``)."""
    sample = signal_sample(points.shape[0], run_context.seed)
    return label_free_signals(points[torch.as_tensor(sample, device=points.device)], run_context.seed)


def probe_features(features: torch.Tensor, image_index: pd.DataFrame, run_context: RunContext) -> dict[str, float]:
    """Linear-probe and weighted-kNN top-1 on a stratified held-out part of the images."""
    labels = _labels(image_index)
    if labels is None:
        return {}
    train, test = held_out_split(labels, TEST_FRACTION, seed=run_context.seed_for(0, "split"))
    features = features.float()
    scores = {
        "linear_top1": linear_probe_accuracy(
            features[train], labels[train], features[test], labels[test], weight_decay=PROBE_WEIGHT_DECAY
        )
    }
    for k in KNN_K:
        scores[f"knn{k}_top1"] = knn_accuracy(features[train], labels[train], features[test], labels[test], k=k)
    return scores


def overclustering_accuracy(final_assignments: pd.DataFrame, image_index: pd.DataFrame) -> dict[str, float]:
    """Accuracy when each of the last round's k clusters predicts its majority class."""
    labels = _labels(image_index)
    if labels is None:
        return {}
    return {"overclustering_acc": majority_accuracy(labels, final_assignments["cluster"].to_numpy())}


def summarise_evaluation(
    trained_clustering: dict[str, Any],
    trained_signals: dict[str, float],
    trained_probes: dict[str, float],
    overclustering: dict[str, float],
    best_network: dict[str, Any],
    *baselines: dict[str, Any],
) -> tuple[dict[str, Any], dict[str, dict[str, float]], dict[str, str]]:
    """One report: the trained network against every baseline, its MLflow form, and MLflow tags that say
    whether training ended below a baseline.

    ``baselines``: clustering, signals and probes of each of ``BASELINES`` in turn. With labels the
    comparison is the clustering ACC (the trained network's label-free choice against each baseline's
    best clusterer); without, the label-free ``knn_modularity``.
    """
    round_number = best_network["round"]
    report: dict[str, Any] = {
        "rounds": best_network["rounds"],
        "network_round": round_number,
        TRAINED: {**trained_clustering, **trained_signals, **trained_probes, **overclustering},
    }
    for subject, start in zip(BASELINES, range(0, len(baselines), 3)):
        clustering, signals, probes = baselines[start : start + 3]
        report[subject] = {**clustering, **signals, **probes}
    scored = "acc" in report[TRAINED]
    metric = "acc" if scored else "knn_modularity"
    above = [s for s in BASELINES if report[s].get(metric, float("-inf")) > report[TRAINED][metric]]
    for subject in SUBJECTS:
        shown = ", ".join(f"{name} {value:.3f}" for name, value in report[subject].items() if _is_number(value))
        partition = report[subject].get("partition")
        logger.info("final evaluation, %s%s: %s", subject, f" ({partition})" if partition else "", shown)
    if above:
        logger.warning(
            "training ended below its baselines: %s %.3f for the trained network (round %d), but %s; "
            "see the README on your own images",
            metric,
            report[TRAINED][metric],
            round_number,
            ", ".join(f"{subject} {report[subject][metric]:.3f}" for subject in above),
        )
    mlflow_metrics = {
        f"final_{subject}_{name}": {"value": float(value), "step": round_number}
        for subject in SUBJECTS
        for name, value in _flat(report[subject])
    }
    tags = {"below_baselines": ", ".join(above) if above else "none", "compared_by": metric}
    return report, mlflow_metrics, tags


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _flat(metrics: dict[str, Any], prefix: str = ""):
    """(name, value) of every number in a subject's report, nested clusterers as ``<clusterer>_<metric>``."""
    for name, value in metrics.items():
        if isinstance(value, dict):
            yield from _flat(value, f"{prefix}{name}_" if name != "clusterers" else prefix)
        elif _is_number(value):
            yield f"{prefix}{name}", value


def plot_metric_curves(*round_metrics: dict[str, Any]):
    """Label agreement, stability, cluster balance and the label-free signal over the rounds."""
    return metric_curves(list(round_metrics))


def plot_embedding(features: torch.Tensor, clusters: np.ndarray, image_index: pd.DataFrame):
    """t-SNE of up to ``EMBEDDING_POINTS`` images, by cluster and by label."""
    labels = _labels(image_index)
    n = features.shape[0]
    chosen = np.sort(np.random.default_rng(0).choice(n, size=min(n, EMBEDDING_POINTS), replace=False))
    colour = clusters[chosen] if len(clusters) else np.zeros(len(chosen))
    return embedding_scatter(features[chosen].float().cpu().numpy(), colour, None if labels is None else labels[chosen])


def plot_confusion(clusters: np.ndarray, image_index: pd.DataFrame):
    labels = _labels(image_index)
    if labels is None:
        return confusion_figure(np.zeros(1, dtype=np.int64), np.zeros(1, dtype=np.int64), ["unlabelled"])
    return confusion_figure(labels, clusters, _class_names(image_index))
