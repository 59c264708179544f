"""Pictures of a clustering that a person can look at."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image, ImageDraw

from deepcluster.data import ImageCollection, iterate_pixel_batches


def nearest_members(
    assignments: np.ndarray, distances: np.ndarray, n_clusters: int, per_cluster: int
) -> list[tuple[int, int, np.ndarray]]:
    """For the ``n_clusters`` largest clusters: (cluster, size, indices of its members nearest the centroid)."""
    sizes = np.bincount(assignments)
    largest = np.argsort(-sizes, kind="stable")[:n_clusters]
    rows = []
    for cluster in largest:
        if sizes[cluster] == 0:
            break
        members = np.flatnonzero(assignments == cluster)
        nearest = members[np.argsort(distances[members], kind="stable")[:per_cluster]]
        rows.append((int(cluster), int(sizes[cluster]), nearest))
    return rows


def cluster_montage(
    images: ImageCollection,
    assignments: np.ndarray,
    distances: np.ndarray,
    n_clusters: int = 10,
    per_cluster: int = 12,
    tile: int = 48,
) -> Image.Image:
    """One row per large cluster (largest first): its id and size, then its members nearest the centroid."""
    rows = nearest_members(np.asarray(assignments), np.asarray(distances), n_clusters, per_cluster)
    chosen = np.concatenate([members for _, _, members in rows])
    pixels = torch.cat(list(iterate_pixel_batches(images, chosen, 256, torch.device("cpu")))).numpy()
    label_width, gap = 110, 2
    montage = Image.new("RGB", (label_width + per_cluster * (tile + gap), len(rows) * (tile + gap)), "white")
    draw = ImageDraw.Draw(montage)
    position = 0
    for row, (cluster, size, members) in enumerate(rows):
        top = row * (tile + gap)
        draw.text((4, top + tile // 2 - 10), f"cluster {cluster}\n{size} images", fill="black")
        for column in range(len(members)):
            array = pixels[position].transpose(1, 2, 0)
            position += 1
            picture = Image.fromarray(array[..., 0] if array.shape[-1] == 1 else array)
            picture = picture.convert("RGB").resize((tile, tile), Image.Resampling.NEAREST)
            montage.paste(picture, (label_width + column * (tile + gap), top))
    return montage
