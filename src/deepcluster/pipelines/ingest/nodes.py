"""Nodes of the ingest pipeline."""

from __future__ import annotations

import logging

import pandas as pd

from deepcluster.auto import image_size_cap
from deepcluster.config import DataSettings, RuntimeSettings
from deepcluster.data.collection import ImageCollection
from deepcluster.data.sources import load_image_collection
from deepcluster.runtime import derive_seed

logger = logging.getLogger(__name__)


def load_images(
    data: DataSettings, runtime: RuntimeSettings, data_store: dict
) -> tuple[ImageCollection, pd.DataFrame, dict[str, int]]:
    """Read ``data.source`` at ``data.image_size`` pixels (``auto``: the images' own, capped for the device),
    a URL's through the ``data_store`` credentials; list the files that were skipped."""
    result = load_image_collection(
        **data.model_dump(),
        store_options=data_store,
        seed=derive_seed(runtime.seed, 0, "max_images"),
        max_auto_size=image_size_cap(runtime.execution().device),
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
