"""A folder per cluster of the user's images, as links or copies; the originals are never moved or changed.

Files on disk are linked (symbolic links to their absolute path) or copied; files in an object store are
copied (a link cannot point into a bucket); images that were never files (idx, npz, CIFAR batches, sklearn's
digits) are written as PNG. Each cluster's folder keeps the files' paths below the collection's folder, so
two files of one name in different subfolders stay apart.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from deepcluster.data.collection import ImageCollection, as_picture, iterate_pixel_batches


def check_target(folder: str | None, setting: str = "organise.folder") -> Path:
    """``folder`` as a path, refused while unset or holding anything (nothing is written then)."""
    if folder is None:
        raise ValueError(
            f"{setting} is not set: name a new or empty folder in conf/local/parameters.yml "
            "(organise: {folder: path/to/clusters}), then `kedro run --pipeline organise`"
        )
    target = Path(folder).expanduser()
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise ValueError(
            f"{setting} = {folder!r} already holds files: name a new or empty folder (nothing was written, "
            "and nothing there was changed)"
        )
    return target


def cluster_folder(cluster: int, clusters: int) -> str:
    """``cluster_007``: zero-padded, so folders sort in cluster order."""
    return f"cluster_{cluster:0{len(str(max(clusters - 1, 0)))}d}"


def place_files(
    sources: list[str],
    relative: list[str],
    clusters: np.ndarray,
    target: Path,
    mode: str,
    read: Callable[[str], bytes] | None = None,
) -> list[str]:
    """Each source file under ``target/cluster_<c>/<its relative path>``: linked or copied by ``mode``, or, when
    ``read`` is given (an object store's files), written from the bytes it returns. The paths written."""
    count = int(np.max(clusters)) + 1 if len(clusters) else 0
    written = []
    for source, name, cluster in zip(sources, relative, clusters, strict=True):
        destination = target / cluster_folder(int(cluster), count) / name
        destination.parent.mkdir(parents=True, exist_ok=True)
        if read is not None:
            destination.write_bytes(read(source))
        elif mode == "link":
            destination.symlink_to(Path(source).resolve())
        else:
            shutil.copy2(source, destination)
        written.append(str(destination))
    return written


def write_pngs(images: ImageCollection, clusters: np.ndarray, target: Path) -> list[str]:
    """Every image of a collection that was never a file as ``target/cluster_<c>/<its id>.png`` (its pixels
    as read). The paths written."""
    count = int(np.max(clusters)) + 1 if len(clusters) else 0
    width = len(str(len(images) - 1))
    written = []
    rows = np.arange(len(images))
    for start, batch in zip(range(0, len(images), 256), iterate_pixel_batches(images, rows, 256, torch.device("cpu"))):
        for offset, pixels in enumerate(batch.numpy()):
            row = start + offset
            destination = (
                target / cluster_folder(int(clusters[row]), count) / f"{str(images.ids[row]).zfill(width)}.png"
            )
            destination.parent.mkdir(parents=True, exist_ok=True)
            as_picture(pixels).save(destination)
            written.append(str(destination))
    return written
