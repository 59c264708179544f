"""Near-duplicate images: pairs that look the same pixel for pixel and that the network sees alike, in groups.

The learned features alone cannot tell a copy from another image of its cluster: DeepCluster trains them to
be the same across a cluster (on CIFAR-10's test photos, thousands of pairs of different photos are as similar
as the planted copies; docs/benchmarks/report.md). So a pair is a near-copy when

- its two images' *pixel descriptors* (the image as read, in grey, shrunk to ``SIDE`` x ``SIDE``, its mean
  taken off and scaled to length 1: blind to size, re-encoding, brightness and contrast) have a cosine
  similarity of at least ``PIXEL_SIMILARITY``, the second one mirrored if that is higher,
- and their descriptors are closer than ``RELATIVE_DISTANCE`` times the collection's median distance from an
  image to its nearest other: where every image has a look-alike (8 x 8 digits, a filmed head turning), only
  a pair much closer than that is a copy,
- and their learned features have a cosine similarity of at least ``FEATURE_SIMILARITY``.

Each image's ``CANDIDATES`` most similar descriptors, and those of its mirror image, are the pairs looked at
(the neighbour search of ``deepcluster.clustering.neighbours``: no n x n array); pairs that share an image
form one group.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from deepcluster.clustering.neighbours import NeighbourIndex, unit_rows
from deepcluster.data.collection import ImageCollection, iterate_pixel_batches

SIDE = 16
CANDIDATES = 5
PIXEL_SIMILARITY = 0.95
RELATIVE_DISTANCE = 0.5
FEATURE_SIMILARITY = 0.9


def pixel_descriptors(images: ImageCollection, batch_size: int = 1024) -> np.ndarray:
    """(n, ``SIDE`` ** 2) float32: each image in grey, shrunk by area averaging, centred, of length 1."""
    rows = np.arange(len(images))
    parts = []
    for batch in iterate_pixel_batches(images, rows, batch_size, torch.device("cpu")):
        grey = batch.float().mean(dim=1, keepdim=True)
        small = torch.nn.functional.adaptive_avg_pool2d(grey, SIDE).flatten(1)
        parts.append(small - small.mean(dim=1, keepdim=True))
    return unit_rows(torch.cat(parts))


def mirrored(descriptors: np.ndarray) -> np.ndarray:
    """The descriptors of the images flipped left to right."""
    return np.ascontiguousarray(descriptors.reshape(-1, SIDE, SIDE)[:, :, ::-1].reshape(descriptors.shape))


def near_copies(descriptors: np.ndarray, features: np.ndarray, index: NeighbourIndex | None = None) -> pd.DataFrame:
    """The pairs of near-copies (``first`` < ``second``, row numbers) with their ``pixel_similarity`` and
    ``feature_similarity``. ``index``: the descriptors' index where one is built already."""
    n = descriptors.shape[0]
    count = min(CANDIDATES + 1, n)
    index = index or NeighbourIndex(descriptors)
    found = [index.search(queries, count) for queries in (descriptors, mirrored(descriptors))]
    similarity = np.concatenate([s.ravel() for s, _ in found])
    other = np.concatenate([r.ravel() for _, r in found])
    image = np.tile(np.repeat(np.arange(n), count), 2)
    others = (other != image) & (other >= 0)
    # each image's nearest other descriptor, unmirrored (the first search's best row that is not itself)
    unmirrored = similarity[: n * count].reshape(n, count)
    nearest = np.where(others[: n * count].reshape(n, count), unmirrored, -np.inf).max(axis=1)
    closest = min(1 - PIXEL_SIMILARITY, RELATIVE_DISTANCE * float(np.median(1 - nearest)))
    keep = others & (similarity >= 1 - closest - 1e-6)
    pairs = pd.DataFrame(
        {
            "first": np.minimum(image, other)[keep],
            "second": np.maximum(image, other)[keep],
            "pixel_similarity": similarity[keep],
        }
    )
    pairs = pairs.groupby(["first", "second"], as_index=False)["pixel_similarity"].max()
    rows = unit_rows(features)
    pairs["feature_similarity"] = np.einsum("ij,ij->i", rows[pairs["first"]], rows[pairs["second"]])
    return pairs[pairs["feature_similarity"] >= FEATURE_SIMILARITY].reset_index(drop=True)


def duplicate_groups(pairs: pd.DataFrame, image_ids: list[str]) -> pd.DataFrame:
    """One row per image that has a near-copy: its ``group`` (0 is the largest group), ``row``, ``image_id`` and
    ``similarity`` (the highest pixel similarity of its pairs)."""
    n = len(image_ids)
    first, second = pairs["first"].to_numpy(), pairs["second"].to_numpy()
    links = coo_matrix((np.ones(len(pairs)), (first, second)), shape=(n, n))
    _, component = connected_components(links, directed=False)
    members = np.flatnonzero(np.bincount(component, minlength=n)[component] > 1)
    sizes = np.bincount(component[members], minlength=n)
    first_member = np.full(n, n)
    np.minimum.at(first_member, component[members], members)
    renumber = np.empty(n, dtype=np.int64)
    renumber[np.lexsort((first_member, -sizes))] = np.arange(n)  # the largest group first, then by first image
    best = np.zeros(n, dtype=np.float32)
    for side in (first, second):
        np.maximum.at(best, side, pairs["pixel_similarity"].to_numpy(dtype=np.float32))
    table = pd.DataFrame(
        {
            "group": renumber[component[members]],
            "row": members,
            "image_id": [image_ids[i] for i in members],
            "similarity": best[members],
        }
    )
    return table.sort_values(["group", "similarity"], ascending=[True, False], kind="stable").reset_index(drop=True)
