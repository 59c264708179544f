"""Nodes of the report pipeline: outliers, near-duplicate groups and the HTML report of a run."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from deepcluster.clustering.neighbours import NeighbourIndex, similar_neighbours
from deepcluster.clustering.partition import Partition
from deepcluster.data.collection import ImageCollection
from deepcluster.evaluation.plots import confusion_figure, metric_curves, png_bytes
from deepcluster.report.duplicates import duplicate_groups, near_copies, pixel_descriptors
from deepcluster.report.outliers import NEIGHBOURS, outlier_scores, outlier_table
from deepcluster.report.page import RunSummary, render_report
from deepcluster.run import RunContext

# the evaluation's figures per subject: label-free, then those that need labels
LABEL_FREE = ["partition", "knn_modularity", "communities"]
LABELLED = ["acc", "nmi", "ari", "linear_top1", "knn20_top1"]


def describe_pixels(images: ImageCollection) -> tuple[np.ndarray, NeighbourIndex]:
    """Every image's pixel descriptor (``deepcluster.report.duplicates``) and their index, built once for the
    outliers and the near-copies."""
    descriptors = pixel_descriptors(images)
    return descriptors, NeighbourIndex(descriptors)


def find_outliers(
    features: np.ndarray,
    descriptors: np.ndarray,
    descriptor_index: NeighbourIndex,
    image_index: pd.DataFrame,
    partition: Partition,
) -> pd.DataFrame:
    """Every image's outlier score (``deepcluster.report.outliers``), the least typical first."""
    count = min(NEIGHBOURS, features.shape[0] - 1)
    in_pixels = similar_neighbours(descriptors, count, index=descriptor_index)[0]
    scores = outlier_scores(similar_neighbours(features, count)[0], in_pixels)
    return outlier_table(scores, image_index["image_id"].astype(str).tolist(), partition.assignments)


def find_duplicates(
    descriptors: np.ndarray, descriptor_index: NeighbourIndex, features: np.ndarray, image_index: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The pairs of near-copies, with their files, and their groups (``deepcluster.report.duplicates``)."""
    ids = image_index["image_id"].astype(str)
    pairs = near_copies(descriptors, features, descriptor_index)
    named = pairs.assign(first_id=ids.to_numpy()[pairs["first"]], second_id=ids.to_numpy()[pairs["second"]])
    return named, duplicate_groups(pairs, ids.tolist())


def summarise_subjects(evaluation: dict[str, Any]) -> pd.DataFrame:
    """One row per evaluation subject (the trained network first): its label-free figures, and its scores
    against the labels where the images have them."""
    rows = [{"subject": name} | value for name, value in evaluation.items() if isinstance(value, dict)]
    table = pd.DataFrame(rows)
    return table[[column for column in ["subject", *LABEL_FREE, *LABELLED] if column in table]]


def write_report(
    images: ImageCollection,
    image_index: pd.DataFrame,
    partition: Partition,
    outliers: pd.DataFrame,
    duplicates: pd.DataFrame,
    skipped_images: pd.DataFrame,
    ingest_counts: dict[str, int],
    evaluation: dict[str, Any],
    run_context: RunContext,
    *round_metrics: dict[str, Any],
) -> str:
    """The run's HTML report (``deepcluster.report.page``)."""
    parameters = run_context.parameters
    settings = pd.json_normalize(parameters.model_dump(), sep=".").iloc[0].to_dict()
    settings |= {f"resolved.{key}": value for key, value in run_context.resolved.items()}
    figures = {"metric curves": png_bytes(metric_curves(list(round_metrics)))}
    if image_index["label"].notna().all():
        labels = image_index["label"].to_numpy(dtype=np.int64)
        confusion = confusion_figure(labels, partition.assignments, images.class_names)
        figures["clusters against classes"] = png_bytes(confusion)
    source = parameters.data.path if parameters.data.source == "folder" else parameters.data.source
    summary = RunSummary(
        title=f"{parameters.method.name} on {source}",
        counts=ingest_counts,
        settings=settings,
        subjects=summarise_subjects(evaluation),
        figures=figures,
        skipped=skipped_images,
    )
    ids = image_index["image_id"].astype(str).tolist()
    return render_report(images, ids, partition, outliers, duplicates, summary)
