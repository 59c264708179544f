"""Clusterers as plug-ins: each turns features into k clusters and places new points in them.

Every clusterer is one module (``kmeans``, ``ward``, ``pic``, ``scan``) and one line of ``CLUSTERERS``; each
answers the same three calls (``deepcluster.clustering.partition.Clusterer``), so that one registry serves
the final partition a user receives, the evaluation of every subject, the rounds' targets and the
assignment of new images later:

* ``fit(points, k, seed)``: a ``Partition`` of the points, with what is needed to place new ones;
* ``assign(partition, points)``: each new point's cluster, and its distance or confidence.

``choose_partition`` fits every candidate and keeps the one that best explains the points' nearest-neighbour
graph, which reads no labels: the highest likelihood of the planted-partition model each partition implies
(``graph.planted_partition_likelihood``), or SCAN's head where it falls short by less than the criterion's
noise. The graph joins each point to a third of an average cluster's points (between 3 and 10); above
``CRITERION_SAMPLE`` points it is the graph of that many points drawn at random.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from deepcluster.clustering.graph import knn_graph, planted_partition_likelihood
from deepcluster.clustering.kmeans import KMeansClusterer
from deepcluster.clustering.partition import Clusterer, Partition
from deepcluster.clustering.pic import PicClusterer
from deepcluster.clustering.scan import ScanClusterer
from deepcluster.clustering.ward import WardClusterer

# the graph on which candidates are compared joins each point to a third of an average cluster's points,
# between these bounds: a graph with more neighbours than a group holds joins every group to others, and on
# groups of 10 images a 10-NN graph chose worse partitions (docs/benchmarks/choice.md)
MIN_CRITERION_NEIGHBOURS, CRITERION_NEIGHBOURS = 3, 10
CRITERION_GROUP_SHARE = 3
# the most points that graph joins: every shared collection whole, in about a second
CRITERION_SAMPLE = 20_000
# SCAN's head wins unless another candidate's score is higher by more than the tolerance: a difference
# between two candidates' scores moves by a median 0.056 between random halves of a collection, and where
# the criterion cannot resolve, SCAN's head was the more accurate: on MNIST, PIC scored 0.01 above it and
# 0.012 below it in ACC (docs/benchmarks/choice.md)
PREFERRED, TOLERANCE = "scan", 0.03


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
    """Every candidate's partition, its label-free score (``label_free_scores``), and the winner: ``fixed`` where
    one is set, else the highest score, or ``PREFERRED`` where it falls short of the highest by no more than
    ``TOLERANCE``."""

    partitions: dict[str, Partition]
    scores: dict[str, float]
    fixed: str | None = None

    @property
    def highest(self) -> str:
        return max(self.scores, key=self.scores.get)

    @property
    def chosen(self) -> str:
        if self.fixed is not None:
            return self.fixed
        highest = self.highest
        if PREFERRED in self.scores and self.scores[highest] - self.scores[PREFERRED] <= TOLERANCE:
            return PREFERRED
        return highest

    @property
    def partition(self) -> Partition:
        return self.partitions[self.chosen]


def choose_partition(
    points: torch.Tensor, k: int, candidates: dict[str, Clusterer], seed: int, fixed: str | None = None
) -> Choice:
    """Fit every candidate and compare them without labels (``label_free_scores``); ``fixed`` (one of the
    candidates) always wins."""
    partitions = {name: clusterer.fit(points, k, seed) for name, clusterer in candidates.items()}
    return Choice(partitions, label_free_scores(points, partitions, seed), fixed)


def criterion_neighbours(n_points: int, k: int) -> int:
    """The neighbours of the criterion's graph: a third of the points of an average cluster, between
    ``MIN_CRITERION_NEIGHBOURS`` and ``CRITERION_NEIGHBOURS``."""
    share = n_points // (CRITERION_GROUP_SHARE * k)
    return int(min(CRITERION_NEIGHBOURS, max(MIN_CRITERION_NEIGHBOURS, share)))


def label_free_scores(
    points: torch.Tensor, partitions: dict[str, Partition], seed: int, neighbours: int | None = None
) -> dict[str, float]:
    """Each partition's planted-partition likelihood on the nearest-neighbour graph of the points (of
    ``CRITERION_SAMPLE`` of them, drawn with ``seed``, above that many), with ``criterion_neighbours`` for the
    largest k (or ``neighbours``)."""
    measured = np.arange(points.shape[0])
    if points.shape[0] > CRITERION_SAMPLE:
        measured = np.sort(np.random.default_rng(seed).choice(points.shape[0], CRITERION_SAMPLE, replace=False))
    k = max(partition.k for partition in partitions.values())
    graph = knn_graph(points[torch.as_tensor(measured)], neighbours or criterion_neighbours(measured.size, k))
    return {
        name: planted_partition_likelihood(graph, partition.assignments[measured])
        for name, partition in partitions.items()
    }
