"""Nodes of the assign pipeline: each new image's cluster and most similar training images."""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import BAD_REQUEST
from PIL import Image

from deepcluster.assign import (
    Preprocessing,
    SimilarityIndex,
    answer_requests,
    assign_new_images,
    image_points,
    place_images,
)
from deepcluster.clustering.partition import Partition
from deepcluster.config import AssignSettings, RuntimeSettings
from deepcluster.data.collection import ImageCollection
from deepcluster.evaluation.plots import cluster_montage
from deepcluster.runtime import Execution

logger = logging.getLogger(__name__)


def read_new_images(
    assign: AssignSettings, preprocessing: dict[str, Any]
) -> tuple[ImageCollection, pd.DataFrame, dict[str, int]]:
    """The images of ``assign.folder`` at the run's size and channels, normalised as its images were;
    the files that could not be used, and the counts."""
    if assign.folder is None:
        raise ValueError(
            "assign.folder is not set: name the folder of new images in conf/local/parameters.yml "
            "(assign: {folder: path/to/new/images}), then `kedro run --pipeline assign`"
        )
    result = Preprocessing.from_dict(preprocessing).read_folder(assign.folder)
    counts = result.counts
    logger.info(
        "assign: %d images found, %d used, %d skipped (listed in data/08_reporting/assign/skipped_images.csv)",
        counts["images_found"],
        counts["images_used"],
        counts["images_skipped"],
    )
    return result.collection, pd.DataFrame(result.skipped, columns=["path", "reason"]), counts


def assign_images(
    new_images: ImageCollection,
    backbone: dict[str, Any],
    preprocessing: dict[str, Any],
    partition: Partition,
    similarity_index: SimilarityIndex,
    assign: AssignSettings,
    runtime: RuntimeSettings,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Each new image's cluster (by the partition's own rule), its distance or confidence, and its
    ``assign.similar`` most similar training images. Returned twice: for parquet and for CSV."""
    execution = runtime.execution()
    points = image_points(backbone, new_images, Preprocessing.from_dict(preprocessing), execution)
    table = assign_new_images(new_images.ids, points, partition, similarity_index, assign.similar)
    logger.info(
        "assign: %d images placed in %d of the run's %d clusters", len(table), table["cluster"].nunique(), partition.k
    )
    return table, table


def draw_new_arrivals(new_images: ImageCollection, assignments: pd.DataFrame) -> Image.Image:
    """The new images of the clusters that received the most, nearest the centroid (or most confident) first."""
    scores = assignments["distance"] if "distance" in assignments else -assignments["confidence"]
    return cluster_montage(new_images, assignments["cluster"].to_numpy(), scores.to_numpy())


def predict_clusters(
    requests: pd.DataFrame, backbone: dict[str, Any], preprocessing: dict[str, Any], partition: Partition
) -> pd.DataFrame:
    """The served model: each requested image's (``path`` or ``image`` column) cluster and its distance or
    confidence, on the CPU whatever the run trained on; a row that is no usable image gets cluster -1 and an
    ``error``. A request with no usable row, or with neither column, is refused with the reason, which
    MLflow's server answers as the response's ``message``."""
    preprocessing = Preprocessing.from_dict(preprocessing)
    try:
        images, reasons = preprocessing.read_requests(requests)
    except ValueError as refused:
        raise MlflowException(str(refused), error_code=BAD_REQUEST) from None
    if images is None:
        raise MlflowException("no request row can be used as an image: " + "; ".join(reasons), BAD_REQUEST)
    placed = place_images(images, backbone, preprocessing, partition, Execution())
    return answer_requests(placed, reasons)
