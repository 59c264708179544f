"""Nodes of the ingest pipeline."""

from __future__ import annotations

from typing import Any

import pandas as pd

from deepcluster.data import ImageCollection, load_image_collection


def load_images(data: dict[str, Any]) -> ImageCollection:
    """Read the images of ``data.source`` at ``data.image_size`` pixels."""
    source = data["source"]
    return load_image_collection(
        source,
        data["image_size"],
        max_images=data.get("max_images"),
        seed=data.get("seed", 0),
        **(data.get(source) or {}),
    )


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
