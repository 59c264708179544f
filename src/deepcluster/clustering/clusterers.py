"""Clusterers as plug-ins: each turns features into k clusters and places new points in them.

Every clusterer answers the same three calls, so that one registry (``CLUSTERERS``)
serves the final partition a user receives, the evaluation of every subject, and the
assignment of new images later:

* ``fit(points, k, seed)``: a ``Partition`` of the points, with what is needed to place new ones;
* ``assign(partition, points)``: each new point's cluster, and its distance or confidence;
* ``fits(n)``: whether the clusterer can run on n points here (Ward keeps n^2 / 2 distances).

The rule for new points follows the clusterer: k-means the nearest centroid; SCAN its
head; Ward and PIC, whose clusters are chains rather than round cells, a vote of the
nearest fitted points. ``choose_partition`` fits every candidate and keeps the one
with the highest modularity on the points' nearest-neighbour graph, which reads no labels;
a preferred clusterer wins when it falls short of the highest by no more than a tolerance,
a difference the criterion cannot resolve.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.cluster import AgglomerativeClustering

from deepcluster.clustering.graph import knn_graph, modularity
from deepcluster.clustering.kmeans import assign_to_nearest_centroid, kmeans_best_of
from deepcluster.clustering.pic import pic_clustering
from deepcluster.clustering.scan import head_probabilities, scan_clustering

# how many fitted points vote for a new point's cluster (Ward, PIC)
VOTERS = 5
# the graph on which candidates are compared
CRITERION_NEIGHBOURS = 10


@dataclass
class Partition:
    """A clusterer's answer on the points it was fitted on, and what it keeps to place new points.

    ``scores`` is each point's ``score_name``: ``distance`` (squared, to its centroid) or
    ``confidence`` (the head's probability, or the share of the nearest fitted points that
    vote for the cluster). ``state`` holds arrays only, so a partition saves anywhere.
    """

    clusterer: str
    k: int
    assignments: np.ndarray
    scores: np.ndarray
    score_name: str
    state: dict[str, np.ndarray]
    summary: dict[str, Any] = field(default_factory=dict)


def _vote(reference: torch.Tensor, labels: np.ndarray, points: torch.Tensor, exclude_self: bool = False):
    """The cluster most of each point's ``VOTERS`` most cosine-similar reference points belong to, and that share."""
    bank = F.normalize(reference.float(), dim=1)
    queries = F.normalize(points.float().to(bank.device), dim=1)
    voters = min(VOTERS, bank.shape[0] - int(exclude_self))
    k = int(labels.max()) + 1
    bank_labels = torch.as_tensor(labels, device=bank.device)
    clusters, shares = [], []
    for start in range(0, queries.shape[0], 4096):
        similarity = queries[start : start + 4096] @ bank.T
        if exclude_self:
            rows = torch.arange(similarity.shape[0], device=bank.device)
            similarity[rows, rows + start] = -float("inf")
        nearest = similarity.topk(voters, dim=1).indices
        counts = torch.zeros(nearest.shape[0], k, device=bank.device).scatter_add_(
            1, bank_labels[nearest], torch.ones(nearest.shape, device=bank.device)
        )
        share, cluster = counts.max(dim=1)
        clusters.append(cluster)
        shares.append(share / voters)
    return torch.cat(clusters).cpu().numpy(), torch.cat(shares).cpu().numpy().astype(np.float32)


class Clusterer:
    """The interface of every clusterer; subclasses set ``name`` and implement ``fit``."""

    name: ClassVar[str] = ""
    score_name: ClassVar[str] = "confidence"

    def fits(self, n_points: int) -> bool:
        return True

    def fit(self, points: torch.Tensor, k: int, seed: int) -> Partition:
        raise NotImplementedError

    def assign(self, partition: Partition, points: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        """Each new point's cluster and score; Ward and PIC by a vote of the nearest fitted points."""
        return _vote(torch.as_tensor(partition.state["points"]), partition.state["assignments"], points)

    def _voted(self, points: torch.Tensor, k: int, assignments: np.ndarray, **summary: float) -> Partition:
        """A partition placed by votes: each fitted point's confidence is its own neighbours' vote."""
        _, shares = _vote(points, assignments, points, exclude_self=True)
        state = {"points": points.float().cpu().numpy(), "assignments": assignments}
        return Partition(self.name, k, assignments, shares, "confidence", state, dict(summary))


@dataclass(frozen=True)
class KMeansClusterer(Clusterer):
    """k-means (faiss or PyTorch), the best of ``restarts`` runs by objective; new points go to the nearest centroid."""

    iterations: int = 100
    restarts: int = 10
    backend: str = "auto"
    name: ClassVar[str] = "kmeans"
    score_name: ClassVar[str] = "distance"

    def fit(self, points: torch.Tensor, k: int, seed: int) -> Partition:
        result = kmeans_best_of(points, k, self.restarts, n_iter=self.iterations, seed=seed, backend=self.backend)
        return Partition(
            self.name, k, result.assignments, result.distances, "distance",
            {"centroids": result.centroids}, {"objective": result.objective, "backend": result.backend},
        )  # fmt: skip

    def assign(self, partition: Partition, points: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        centroids = torch.as_tensor(partition.state["centroids"], device=points.device)
        clusters, distances = assign_to_nearest_centroid(points.float(), centroids)
        return clusters.cpu().numpy(), distances.cpu().numpy()


@dataclass(frozen=True)
class WardClusterer(Clusterer):
    """Ward's agglomerative clustering (scikit-learn): merges that add the least within-cluster variance.

    It keeps every pairwise distance, n^2 / 2 numbers: above ``max_images`` it does not run.
    """

    max_images: int = 10000
    name: ClassVar[str] = "ward"

    def fits(self, n_points: int) -> bool:
        return n_points <= self.max_images

    def fit(self, points: torch.Tensor, k: int, seed: int) -> Partition:
        if not self.fits(points.shape[0]):
            raise ValueError(
                f"Ward on {points.shape[0]} images needs {points.shape[0] ** 2 * 4 / 2**30:.1f} GiB of distances; "
                f"clustering.ward.max_images = {self.max_images}: raise it or use another clusterer"
            )
        assignments = AgglomerativeClustering(k, linkage="ward").fit_predict(points.float().cpu().numpy())
        return self._voted(points, k, assignments.astype(np.int64))


@dataclass(frozen=True)
class PicClusterer(Clusterer):
    """Power iteration clustering on the ``neighbours``-NN graph (``deepcluster.clustering.pic``)."""

    neighbours: int = 5
    name: ClassVar[str] = "pic"

    def fit(self, points: torch.Tensor, k: int, seed: int) -> Partition:
        assignments = pic_clustering(points, k, neighbours=self.neighbours, seed=seed)
        return self._voted(points, k, assignments)


@dataclass(frozen=True)
class ScanClusterer(Clusterer):
    """SCAN's head (``deepcluster.clustering.scan``); new points through the same head."""

    options: dict[str, Any] = field(default_factory=dict)  # scan_clustering's keyword arguments
    name: ClassVar[str] = "scan"

    def fit(self, points: torch.Tensor, k: int, seed: int) -> Partition:
        result = scan_clustering(points, k, seed=seed, **self.options)
        state = {"weight": result.weight, "bias": result.bias}
        return Partition(
            self.name, k, result.assignments, result.confidence, "confidence", state, {"loss": result.loss}
        )

    def assign(self, partition: Partition, points: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        with torch.no_grad():
            confidence, clusters = head_probabilities(points, partition.state["weight"], partition.state["bias"]).max(1)
        return clusters.cpu().numpy(), confidence.cpu().numpy()


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
    skipped: list[str]
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
    """Fit every candidate that can run on these points and compare them by modularity (no labels); ``preferred``
    wins unless another candidate's modularity is higher by more than ``tolerance``, and ``fixed`` (one of the
    candidates) always wins: a fixed clusterer that cannot run on these points is refused."""
    if fixed is not None and not candidates[fixed].fits(points.shape[0]):
        raise ValueError(
            f"clustering.final = {fixed!r} cannot run on {points.shape[0]} images: set it to auto or another clusterer"
        )
    graph = knn_graph(points, CRITERION_NEIGHBOURS)
    usable = {name: clusterer for name, clusterer in candidates.items() if clusterer.fits(points.shape[0])}
    if not usable:
        raise ValueError(f"none of the clusterers {list(candidates)} can run on {points.shape[0]} images")
    partitions = {name: clusterer.fit(points, k, seed) for name, clusterer in usable.items()}
    scores = {name: modularity(graph, partition.assignments) for name, partition in partitions.items()}
    return Choice(partitions, scores, sorted(set(candidates) - set(usable)), preferred, tolerance, fixed)
