"""Nodes of the ingest pipeline."""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd

from deepcluster.data import ImageCollection
from deepcluster.sources import load_image_collection

logger = logging.getLogger(__name__)


def load_images(data: dict[str, Any]) -> tuple[ImageCollection, pd.DataFrame, dict[str, int]]:
    """Read ``data.source`` at ``data.image_size`` pixels; list the files that were skipped."""
    source = data["source"]
    result = load_image_collection(
        source,
        data["image_size"],
        max_images=data.get("max_images"),
        seed=data.get("seed", 0),
        **(data.get(source) or {}),
    )
    skipped = pd.DataFrame(result.skipped, columns=["path", "reason"])
    counts = result.counts
    logger.info(
        "%d images found, %d used, %d skipped (listed in the ingest report)",
        counts["images_found"],
        counts["images_used"],
        counts["images_skipped"],
    )
    return result.collection, skipped, counts


def index_images(images: ImageCollection) -> pd.DataFrame:
    """One row per image: its id (path or position) and, where known, its class."""
    labels = images.labels
    return pd.DataFrame(
        {
            "image_id": images.ids,
            "label": pd.array(labels if labels is not None else [None] * len(images), dtype="Int64"),
            "class_name": [images.class_names[i] for i in labels] if labels is not None else None,
        }
    )
