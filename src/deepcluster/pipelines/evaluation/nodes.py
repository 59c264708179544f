"""Nodes of the evaluation pipeline."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import torch

from deepcluster.data import ImageCollection
from deepcluster.features import extract_features
from deepcluster.kmeans import kmeans_best_of
from deepcluster.metrics import labelling_agreement
from deepcluster.pca import fit_pca_whitening, usable_pca_dim
from deepcluster.runtime import derive_seed, execution_from_settings
from deepcluster.training import network_from_checkpoint


def _labels(image_index: pd.DataFrame) -> np.ndarray | None:
    labels = image_index["label"]
    if labels.isna().any():
        return None
    return labels.to_numpy().astype(np.int64)


def extract_final_features(
    final_checkpoint: dict[str, Any],
    images: ImageCollection,
    model: dict[str, Any],
    evaluation: dict[str, Any],
    runtime: dict[str, Any],
) -> torch.Tensor:
    """Features of every image under the final network (eval mode, no augmentation)."""
    execution = execution_from_settings(runtime)
    network = network_from_checkpoint(final_checkpoint, execution)
    return extract_features(
        network, images, batch_size=evaluation["batch_size"], execution=execution, crop_size=model["input_size"]
    )


def _reduce_for_clustering(features: torch.Tensor, settings: dict[str, Any]) -> torch.Tensor:
    """Optional PCA (with or without whitening), then L2 normalisation."""
    if not settings["pca_dim"]:
        return torch.nn.functional.normalize(features.float(), dim=1)
    dim = usable_pca_dim(settings["pca_dim"], features.shape[1], features.shape[0])
    return fit_pca_whitening(features, dim).transform(features, whiten=settings["whiten"])


def _cluster_into_classes(
    points: torch.Tensor, labels: np.ndarray, settings: dict[str, Any], seed: int
) -> dict[str, float]:
    result = kmeans_best_of(
        points,
        int(np.unique(labels).size),
        restarts=settings["restarts"],
        n_iter=settings["iterations"],
        seed=seed,
    )
    return labelling_agreement(labels, result.assignments)


def cluster_final_features(
    final_features: torch.Tensor,
    image_index: pd.DataFrame,
    evaluation: dict[str, Any],
    runtime: dict[str, Any],
) -> dict[str, float]:
    """ACC, NMI and ARI of k-means with k = number of classes on the final features."""
    labels = _labels(image_index)
    if labels is None:
        return {}
    settings = evaluation["clustering"]
    points = _reduce_for_clustering(final_features, settings)
    return _cluster_into_classes(points, labels, settings, derive_seed(runtime["seed"], 0, "final_kmeans"))


def cluster_pixels(
    images: ImageCollection, image_index: pd.DataFrame, evaluation: dict[str, Any], runtime: dict[str, Any]
) -> dict[str, float]:
    """The pixel baseline: the same k-means with k = number of classes, on raw pixels."""
    labels = _labels(image_index)
    if labels is None or images.pixels is None:
        return {}
    pixels = torch.from_numpy(images.pixels.reshape(len(images), -1)).float() / 255.0
    return _cluster_into_classes(
        pixels, labels, evaluation["clustering"], derive_seed(runtime["seed"], 0, "pixel_kmeans")
    )


def summarise_evaluation(
    network_metrics: dict[str, float], pixel_metrics: dict[str, float], round_number: int
) -> tuple[dict[str, Any], dict[str, dict[str, float]]]:
    """One report of the final network against the pixel baseline, and its MLflow form."""
    report = {"rounds": round_number, "deepcluster": network_metrics, "pixel_kmeans": pixel_metrics}
    mlflow_metrics = {
        f"final_{group}_{name}": {"value": float(value), "step": round_number}
        for group, metrics in (("deepcluster", network_metrics), ("pixel_kmeans", pixel_metrics))
        for name, value in metrics.items()
    }
    return report, mlflow_metrics
