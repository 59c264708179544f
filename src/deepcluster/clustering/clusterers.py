"""Clusterers as plug-ins: each turns features into k clusters and places new points in them.

Every clusterer is one module (``kmeans``, ``ward``, ``pic``, ``scan``) and one line of ``CLUSTERERS``; each
answers the same three calls (``deepcluster.clustering.partition.Clusterer``), so that one registry serves
the final partition a user receives, the evaluation of every subject, the rounds' targets and the
assignment of new images later:

* ``fit(points, k, seed)``: a ``Partition`` of the points, with what is needed to place new ones;
* ``assign(partition, points)``: each new point's cluster, and its distance or confidence.

``choose_partition`` fits every candidate and keeps the one with the highest modularity on the points'
nearest-neighbour graph, which reads no labels; a preferred clusterer wins when it falls short of the
highest by no more than a tolerance, a difference the criterion cannot resolve. The graph joins each point to
half an average cluster's points (at most 10); above ``CRITERION_SAMPLE`` points the modularity is measured
on the graph of that many points drawn at random.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from deepcluster.clustering.graph import knn_graph, modularity
from deepcluster.clustering.kmeans import KMeansClusterer
from deepcluster.clustering.partition import Clusterer, Partition
from deepcluster.clustering.pic import PicClusterer
from deepcluster.clustering.scan import ScanClusterer
from deepcluster.clustering.ward import WardClusterer

# the graph on which candidates are compared joins each point to half an average cluster's points, between
# these bounds: a graph with more neighbours than a group holds joins every group to others, and on groups of
# 10 images modularity on the 10-NN graph chose worse partitions (docs/benchmarks/choice.md); every
# collection of the suite, with 20 or more images per group, keeps 10
MIN_CRITERION_NEIGHBOURS, CRITERION_NEIGHBOURS = 3, 10
# the most points that graph joins: every shared collection whole, in about a second
CRITERION_SAMPLE = 20_000


CLUSTERERS: dict[str, type[Clusterer]] = {
    "kmeans": KMeansClusterer,
    "ward": WardClusterer,
    "pic": PicClusterer,
    "scan": ScanClusterer,
}


def assign_to_partition(partition: Partition, points: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """New points' clusters and scores, by the rule of the clusterer that made ``partition``."""
    return CLUSTERERS[partition.clusterer]().assign(partition, points)


@dataclass
class Choice:
    """Every candidate's partition, its modularity on the points' nearest-neighbour graph, and the winner:
    ``fixed`` where one is set, else the highest modularity, or ``preferred`` where it is within ``tolerance``
    of the highest."""

    partitions: dict[str, Partition]
    modularity: dict[str, float]
    preferred: str | None = None
    tolerance: float = 0.0
    fixed: str | None = None

    @property
    def highest(self) -> str:
        return max(self.modularity, key=self.modularity.get)

    @property
    def chosen(self) -> str:
        if self.fixed is not None:
            return self.fixed
        highest = self.highest
        if self.preferred in self.modularity:
            if self.modularity[highest] - self.modularity[self.preferred] <= self.tolerance:
                return self.preferred
        return highest

    @property
    def partition(self) -> Partition:
        return self.partitions[self.chosen]


def choose_partition(
    points: torch.Tensor,
    k: int,
    candidates: dict[str, Clusterer],
    seed: int,
    preferred: str | None = None,
    tolerance: float = 0.0,
    fixed: str | None = None,
) -> Choice:
    """Fit every candidate and compare them by modularity (no labels); ``preferred`` wins unless another
    candidate's modularity is higher by more than ``tolerance``, and ``fixed`` (one of the candidates) always
    wins."""
    partitions = {name: clusterer.fit(points, k, seed) for name, clusterer in candidates.items()}
    return Choice(partitions, label_free_scores(points, partitions, seed), preferred, tolerance, fixed)


def criterion_neighbours(n_points: int, k: int) -> int:
    """The neighbours of the criterion's graph: half the points of an average cluster, between
    ``MIN_CRITERION_NEIGHBOURS`` and ``CRITERION_NEIGHBOURS``."""
    return int(min(CRITERION_NEIGHBOURS, max(MIN_CRITERION_NEIGHBOURS, n_points // (2 * k))))


def label_free_scores(
    points: torch.Tensor, partitions: dict[str, Partition], seed: int, neighbours: int | None = None
) -> dict[str, float]:
    """Each partition's modularity on the nearest-neighbour graph of the points (of ``CRITERION_SAMPLE`` of them,
    drawn with ``seed``, above that many), with ``criterion_neighbours`` for the largest k (or ``neighbours``)."""
    measured = np.arange(points.shape[0])
    if points.shape[0] > CRITERION_SAMPLE:
        measured = np.sort(np.random.default_rng(seed).choice(points.shape[0], CRITERION_SAMPLE, replace=False))
    k = max(partition.k for partition in partitions.values())
    graph = knn_graph(points[torch.as_tensor(measured)], neighbours or criterion_neighbours(measured.size, k))
    return {name: modularity(graph, partition.assignments[measured]) for name, partition in partitions.items()}
