"""Nodes of the organise pipeline: a folder per cluster of a trained run's images."""

from __future__ import annotations

import logging
import os
from typing import Any

import pandas as pd

from deepcluster.config import DataSettings, OrganiseSettings
from deepcluster.data.collection import ImageCollection
from deepcluster.data.storage import ObjectStore, is_url
from deepcluster.report.organise import check_target, place_files, write_pngs

logger = logging.getLogger(__name__)


def organise_images(
    assignments: pd.DataFrame,
    images: ImageCollection,
    organise: OrganiseSettings,
    data: DataSettings,
    data_store: dict[str, Any],
) -> pd.DataFrame:
    """The run's images under ``organise.folder``, a folder per cluster of the final partition: which file went
    where (``deepcluster.report.organise``)."""
    target = check_target(organise.folder)
    ids = assignments["image_id"].astype(str).tolist()
    clusters = assignments["cluster"].to_numpy()
    if images.source != "folder":
        how, written = "written as PNG", write_pngs(images, clusters, target)
    elif is_url(data.path):
        store = ObjectStore(data.path, data_store)
        root = store.root().rstrip("/") + "/"
        relative = [image_id.removeprefix(root) for image_id in ids]
        how, written = "copied from the store", place_files(ids, relative, clusters, target, "copy", store.read)
    else:
        relative = [os.path.relpath(image_id, os.path.expanduser(data.path)) for image_id in ids]
        how = "linked" if organise.mode == "link" else "copied"
        written = place_files(ids, relative, clusters, target, organise.mode)
    logger.info("organise: %d images %s into %d cluster folders under %s", len(ids), how, clusters.max() + 1, target)
    return pd.DataFrame({"image_id": ids, "cluster": clusters, "written": written})
