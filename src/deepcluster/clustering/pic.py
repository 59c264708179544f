"""Power iteration clustering (Lin and Cohen, ICML 2010) on the nearest-neighbour graph.

The original DeepCluster repository offers PIC beside k-means. A few vectors are
multiplied, again and again, by the random-walk matrix of the k-NN graph
(each row's edge weights summing to 1). Within a group of densely linked images the
entries average out quickly; between groups they mix only slowly. Stopped before
everything has mixed, each image's entries are an embedding in which the graph's
groups are tight blobs, and k-means on it gives k clusters that follow chains of
neighbours, as spectral clustering does, with sparse products only (no eigenvectors).
Several random start vectors, not one, keep many groups apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import scipy.sparse as sp
import torch

from deepcluster.clustering.graph import knn_graph
from deepcluster.clustering.kmeans import kmeans_best_of
from deepcluster.clustering.partition import Clusterer, Partition

# the embedding's widest: one start vector per cluster up to every shared collection's k (palm's 114 groups)
MAX_DIMS = 128


def power_iteration_embedding(
    graph: sp.csr_matrix, dims: int, seed: int, max_iterations: int = 1000, tolerance: float = 1e-5
) -> np.ndarray:
    """``dims`` vectors from random starts, each multiplied by the walk matrix (and L1-normalised) until its
    change stops changing, by at most ``tolerance / n`` per entry (Lin and Cohen's stopping rule); then
    standardised per dimension."""
    n = graph.shape[0]
    degree = np.asarray(graph.sum(axis=1)).ravel()
    walk = sp.diags(1.0 / np.maximum(degree, 1e-12)) @ graph
    vectors = np.random.default_rng(seed).random((n, dims))
    vectors /= np.abs(vectors).sum(axis=0)
    change = np.zeros_like(vectors)
    running = np.arange(dims)
    for _ in range(max_iterations):
        stepped = walk @ vectors[:, running]
        stepped /= np.abs(stepped).sum(axis=0)
        new_change = stepped - vectors[:, running]
        accelerating = np.abs(new_change - change[:, running]).max(axis=0) > tolerance / n
        vectors[:, running], change[:, running] = stepped, new_change
        running = running[accelerating]
        if not running.size:
            break
    centred = vectors - vectors.mean(axis=0)
    return centred / np.maximum(centred.std(axis=0), 1e-12)


def pic_clustering(
    points: torch.Tensor, k: int, neighbours: int = 10, dims: int | None = None, restarts: int = 10, seed: int = 0
) -> np.ndarray:
    """k clusters of ``points`` by PIC: the power-iteration embedding of their ``neighbours``-NN graph
    (``dims`` start vectors; None: k, between 8 and ``MAX_DIMS``), then k-means on it (best of ``restarts`` by
    objective). It separates two concentric rings, which k-means cuts in half (tests/clustering)."""
    if not 2 <= k <= points.shape[0]:
        raise ValueError(f"PIC needs 2 <= k <= the number of images ({points.shape[0]}), got k = {k}")
    graph = knn_graph(points, neighbours)
    # fewer groups need a longer walk to merge what lies within each: the stopping tolerance
    # scales with k (Lin and Cohen's 1e-5 at 20 groups)
    embedding = power_iteration_embedding(graph, dims or min(max(8, k), MAX_DIMS), seed, tolerance=1e-5 * k / 20)
    return kmeans_best_of(
        torch.as_tensor(embedding, dtype=torch.float32), k, restarts, n_iter=50, seed=seed
    ).assignments


@dataclass(frozen=True)
class PicClusterer(Clusterer):
    """Power iteration clustering on the ``neighbours``-NN graph (``deepcluster.clustering.pic``)."""

    neighbours: int = 5
    name: ClassVar[str] = "pic"
    # its k-means on the embedding restarts ten times (at most 20,000 x 1,000 points x clusters)
    fit_limit: ClassVar[int] = 20_000

    def _fit(self, points: torch.Tensor, k: int, seed: int) -> Partition:
        assignments = pic_clustering(points, k, neighbours=self.neighbours, seed=seed)
        return self._voted(points, k, assignments)
