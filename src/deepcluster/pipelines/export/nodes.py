"""Nodes of the export pipeline."""

from __future__ import annotations

from typing import Any

import pandas as pd
from PIL import Image

from deepcluster.config import ExportSettings
from deepcluster.data import ImageCollection
from deepcluster.models import torchvision_state_dict
from deepcluster.plots import cluster_montage
from deepcluster.runtime import Execution
from deepcluster.training import network_from_checkpoint


def tabulate_assignments(assignments: pd.DataFrame, image_index: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Image id (path or position), cluster and squared distance to its centroid, with the class where known.

    Returned twice: for parquet and for CSV.
    """
    table = pd.concat([image_index[["image_id", "class_name"]], assignments[["cluster", "distance"]]], axis=1)
    table = table[["image_id", "cluster", "distance", "class_name"]]
    return table, table


def export_backbone(final_checkpoint: dict[str, Any]) -> dict[str, Any]:
    """The trained network: for ``deepcluster.models.build_model``, and under torchvision's names where possible."""
    config = final_checkpoint["model_config"]
    network = network_from_checkpoint(final_checkpoint, Execution())
    exported = {
        "model_config": config,
        "model_state": final_checkpoint["model_state"],
        "round": final_checkpoint["round"],
    }
    torchvision_weights = torchvision_state_dict(network, config["name"])
    if torchvision_weights is not None:
        exported["torchvision_architecture"] = config["name"]
        exported["torchvision_state_dict"] = torchvision_weights
    return exported


def draw_cluster_montage(images: ImageCollection, assignments: pd.DataFrame, export: ExportSettings) -> Image.Image:
    """Members nearest the centroid of each of the largest clusters."""
    montage = export.montage
    return cluster_montage(
        images,
        assignments["cluster"].to_numpy(),
        assignments["distance"].to_numpy(),
        n_clusters=montage.clusters,
        per_cluster=montage.per_cluster,
        tile=montage.tile,
    )
