"""Nodes of the export pipeline."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd
import torch
from PIL import Image

from deepcluster.assign import Preprocessing, SimilarityIndex
from deepcluster.clustering.final import final_partition
from deepcluster.clustering.partition import Partition
from deepcluster.data.collection import ImageCollection
from deepcluster.evaluation.plots import cluster_montage, cluster_size_histogram
from deepcluster.models import torchvision_state_dict
from deepcluster.run import RunContext
from deepcluster.runtime import Execution
from deepcluster.training import network_from_checkpoint

logger = logging.getLogger(__name__)


def partition_images(
    final_points: torch.Tensor, run_context: RunContext
) -> tuple[Partition, dict[str, dict[str, float]], dict[str, str]]:
    """The final partition (``deepcluster.clustering.final``): ``clustering.groups`` clusters of the final
    network's L2-normalised features; its MLflow metrics (each candidate's label-free score) and tag (which
    clusterer)."""
    groups = run_context.block("clustering").groups
    choice = final_partition(final_points, groups, run_context)
    logger.info(
        "final partition: %d groups by %s (label-free score %s)",
        choice.partition.k,
        choice.chosen,
        ", ".join(f"{name} {value:.3f}" for name, value in choice.scores.items()),
    )
    metrics = {
        f"final_partition_criterion_{name}": {"value": value, "step": 0} for name, value in choice.scores.items()
    }
    return choice.partition, metrics, {"final_partition": choice.chosen}


def tabulate_assignments(partition: Partition, image_index: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Image id (path or position), cluster and its ``distance`` (squared, to the centroid) or ``confidence``,
    with the class where known. Returned twice: for parquet and for CSV."""
    table = image_index[["image_id"]].assign(cluster=partition.assignments, **{partition.score_name: partition.scores})
    table["class_name"] = image_index["class_name"]
    return table, table


def export_backbone(best_network: dict[str, Any]) -> dict[str, Any]:
    """The chosen network: for ``deepcluster.models.build_model``, and under torchvision's names where possible."""
    config = best_network["model_config"]
    network = network_from_checkpoint(best_network, Execution())
    exported = {
        "model_config": config,
        "model_state": best_network["model_state"],
        "round": best_network["round"],
    }
    torchvision_weights = torchvision_state_dict(network, config["name"])
    if torchvision_weights is not None:
        exported["torchvision_architecture"] = config["name"]
        exported["torchvision_state_dict"] = torchvision_weights
    return exported


def normalised_features(final_points: torch.Tensor) -> np.ndarray:
    """The final network's L2-normalised features, one row per image (for similarity search)."""
    return final_points.cpu().numpy()


def describe_preprocessing(images: ImageCollection, run_context: RunContext) -> dict[str, Any]:
    """What the run's images went through before the network, for new images to go through the same."""
    return Preprocessing.of(images, run_context.input_size).to_dict()


def index_features(features: np.ndarray, image_index: pd.DataFrame) -> SimilarityIndex:
    """The similarity index over every image's exported features (built once per run)."""
    return SimilarityIndex(features, image_index["image_id"].astype(str).tolist())


def draw_cluster_montage(images: ImageCollection, partition: Partition) -> Image.Image:
    """Members of each of the largest clusters, nearest the centroid (or most confidently placed) first."""
    closeness = partition.scores if partition.score_name == "distance" else -partition.scores
    return cluster_montage(images, partition.assignments, closeness)


def plot_cluster_sizes(partition: Partition):
    """How many images each cluster of the final partition holds."""
    return cluster_size_histogram(partition.assignments, partition.k)
