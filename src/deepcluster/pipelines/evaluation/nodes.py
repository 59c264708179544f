"""Nodes of the evaluation pipeline: the same protocol for the trained network and the baselines."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd
import torch

from deepcluster.config import EvaluationSettings, KMeansSettings, ModelSettings, RuntimeSettings, ScanSettings
from deepcluster.data import ImageCollection, iterate_pixel_batches
from deepcluster.evaluation import baselines_above, held_out_split, knn_accuracy, linear_probe_accuracy
from deepcluster.features import extract_features
from deepcluster.kmeans import kmeans_best_of
from deepcluster.metrics import labelling_agreement, majority_accuracy
from deepcluster.pca import fit_pca_whitening, usable_pca_dim
from deepcluster.plots import cluster_size_histogram, confusion_figure, embedding_scatter, metric_curves
from deepcluster.runtime import derive_seed
from deepcluster.scan import scan_clustering
from deepcluster.training import network_from_checkpoint

logger = logging.getLogger(__name__)

SUBJECTS = ("deepcluster", "random_network", "pixels")


def _labels(image_index: pd.DataFrame) -> np.ndarray | None:
    labels = image_index["label"]
    if labels.isna().any():
        return None
    return labels.to_numpy().astype(np.int64)


def _class_names(image_index: pd.DataFrame) -> list[str]:
    pairs = image_index[["label", "class_name"]].drop_duplicates().sort_values("label")
    return [str(name) for name in pairs["class_name"]]


def extract_network_features(
    checkpoint: dict[str, Any],
    images: ImageCollection,
    model: ModelSettings,
    evaluation: EvaluationSettings,
    runtime: RuntimeSettings,
) -> torch.Tensor:
    """Features of every image under a checkpoint's network (eval mode, no augmentation)."""
    execution = runtime.execution()
    network = network_from_checkpoint(checkpoint, execution)
    return extract_features(
        network,
        images,
        batch_size=evaluation.batch_size,
        execution=execution,
        crop_size=model.input_size_for(images.image_size),
    )


def pixel_features(images: ImageCollection, evaluation: EvaluationSettings) -> torch.Tensor:
    """Raw pixels in [0, 1], one flat row per image: the baseline 'features'."""
    everything = np.arange(len(images))
    batches = iterate_pixel_batches(images, everything, evaluation.batch_size, torch.device("cpu"))
    return torch.cat([batch.flatten(1).float() / 255.0 for batch in batches])


def cluster_into_classes(
    features: torch.Tensor,
    image_index: pd.DataFrame,
    evaluation: EvaluationSettings,
    scan: ScanSettings,
    runtime: RuntimeSettings,
) -> np.ndarray:
    """k = number of classes clusters, by ``evaluation.clustering.algorithm`` (no labels used but their count).

    Features are reduced as ``evaluation.clustering`` says: PCA (whitened or not) or
    none, then L2-normalised. k-means keeps the best of several restarts by objective;
    SCAN (the ``scan`` block's head) the best of its heads by loss. Empty when the data
    has no labels.
    """
    labels = _labels(image_index)
    if labels is None:
        return np.empty(0, dtype=np.int64)
    settings = evaluation.clustering
    points = features.float()
    if settings.pca_dim:
        dim = usable_pca_dim(min(settings.pca_dim, points.shape[1]), points.shape[1], points.shape[0])
        points = fit_pca_whitening(points, dim).transform(points, whiten=settings.whiten)
    else:
        points = torch.nn.functional.normalize(points, dim=1)
    k = int(np.unique(labels).size)
    seed = derive_seed(runtime.seed, 0, "evaluation_kmeans")
    if settings.algorithm == "scan":
        return scan_clustering(points, k, seed=seed, **scan.head_options()).assignments
    return kmeans_best_of(points, k, restarts=settings.restarts, n_iter=settings.iterations, seed=seed).assignments


def score_clustering(clusters: np.ndarray, image_index: pd.DataFrame) -> dict[str, float]:
    """ACC (Hungarian), NMI and ARI of the k = classes clustering."""
    labels = _labels(image_index)
    if labels is None:
        return {}
    scores = labelling_agreement(labels, clusters)
    return {name: scores[name] for name in ("acc", "nmi", "ari")}


def probe_features(
    features: torch.Tensor, image_index: pd.DataFrame, evaluation: EvaluationSettings, runtime: RuntimeSettings
) -> dict[str, float]:
    """Linear-probe and weighted-kNN top-1 on a stratified held-out part of the images."""
    labels = _labels(image_index)
    if labels is None:
        return {}
    train, test = held_out_split(labels, evaluation.test_fraction, seed=derive_seed(runtime.seed, 0, "split"))
    features = features.float()
    scores = {
        "linear_top1": linear_probe_accuracy(
            features[train], labels[train], features[test], labels[test], weight_decay=evaluation.probe_weight_decay
        )
    }
    for k in evaluation.knn_k:
        scores[f"knn{k}_top1"] = knn_accuracy(features[train], labels[train], features[test], labels[test], k=k)
    return scores


def overclustering_accuracy(final_assignments: pd.DataFrame, image_index: pd.DataFrame) -> dict[str, float]:
    """Accuracy when each of the last round's k clusters predicts its majority class."""
    labels = _labels(image_index)
    if labels is None:
        return {}
    return {"overclustering_acc": majority_accuracy(labels, final_assignments["cluster"].to_numpy())}


def summarise_evaluation(
    deepcluster_clustering: dict[str, float],
    deepcluster_probes: dict[str, float],
    overclustering: dict[str, float],
    random_clustering: dict[str, float],
    random_probes: dict[str, float],
    pixel_clustering: dict[str, float],
    pixel_probes: dict[str, float],
    round_number: int,
) -> tuple[dict[str, Any], dict[str, dict[str, float]], dict[str, str]]:
    """One report: the trained network against the random network and raw pixels, its MLflow
    form, and MLflow tags that say whether training ended below either baseline."""
    report = {
        "rounds": round_number,
        "deepcluster": {**deepcluster_clustering, **deepcluster_probes, **overclustering},
        "random_network": {**random_clustering, **random_probes},
        "pixels": {**pixel_clustering, **pixel_probes},
    }
    for subject in SUBJECTS:
        shown = ", ".join(f"{name} {value:.3f}" for name, value in report[subject].items())
        logger.info("final evaluation, %s: %s", subject, shown or "no labels to score against")
    mlflow_metrics = {
        f"final_{group}_{name}": {"value": float(value), "step": round_number}
        for group, metrics in report.items()
        if isinstance(metrics, dict)
        for name, value in metrics.items()
    }
    above = baselines_above({subject: report[subject] for subject in SUBJECTS}, "deepcluster", "acc")
    if above:
        logger.warning(
            "training ended below its baselines: clustering ACC %.3f for the trained network, but %s; "
            "see the README's advice for small collections (kmeans.k, training.augmentation, rounds)",
            report["deepcluster"]["acc"],
            ", ".join(f"{subject} {report[subject]['acc']:.3f}" for subject in above),
        )
    scored = "acc" in report["deepcluster"]
    tags = {"below_baselines": ", ".join(above) if above else ("none" if scored else "unscored (no labels)")}
    return report, mlflow_metrics, tags


def plot_metric_curves(*round_metrics: dict[str, Any]):
    """Label agreement, stability and cluster balance over the rounds."""
    names = [
        "clusters_vs_labels/nmi",
        "clusters_vs_labels/acc_one_to_one",
        "clusters_vs_labels/acc_majority_vote",
        "clusters_vs_previous_round/nmi",
        "clusters/size_entropy_normalised",
    ]
    return metric_curves(list(round_metrics), names)


def plot_cluster_sizes(final_assignments: pd.DataFrame, kmeans_settings: KMeansSettings):
    clusters = final_assignments["cluster"].to_numpy()
    return cluster_size_histogram(clusters, kmeans_settings.k_for(len(clusters)))


def plot_embedding(
    features: torch.Tensor, clusters: np.ndarray, image_index: pd.DataFrame, evaluation: EvaluationSettings
):
    """t-SNE of up to ``evaluation.embedding_points`` images, by cluster and by label."""
    labels = _labels(image_index)
    n = features.shape[0]
    chosen = np.sort(np.random.default_rng(0).choice(n, size=min(n, evaluation.embedding_points), replace=False))
    colour = clusters[chosen] if len(clusters) else np.zeros(len(chosen))
    return embedding_scatter(features[chosen].float().cpu().numpy(), colour, None if labels is None else labels[chosen])


def plot_confusion(clusters: np.ndarray, image_index: pd.DataFrame):
    labels = _labels(image_index)
    if labels is None:
        return confusion_figure(np.zeros(1, dtype=np.int64), np.zeros(1, dtype=np.int64), ["unlabelled"])
    return confusion_figure(labels, clusters, _class_names(image_index))
