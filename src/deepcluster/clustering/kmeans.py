"""k-means (DeepCluster step 3), with two interchangeable backends.

* ``faiss``: faiss.Kmeans, on the GPU when faiss-gpu is installed and the device is CUDA.
* ``torch``: the same algorithm in plain PyTorch, on whatever device the features are on.

Both start from k distinct data points drawn with the given seed, run a fixed
number of Lloyd iterations over every point (no subsampling), and refill an
empty cluster by splitting a populated one (chosen with probability
proportional to its size), as faiss does.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch

from deepcluster.clustering.partition import Clusterer, Partition
from deepcluster.distributed.reduce import all_reduce_sum

logger = logging.getLogger(__name__)

BACKENDS = ("auto", "faiss", "torch")
# restarts only while points x clusters is at most this (every shared collection: MNIST's 10,000 images in
# 100 clusters are 10^6): they rescue a small fit from a poor start, and on a large one each costs a whole fit
# (ten would take minutes at 50,000 points in 1,000 clusters)
RESTARTS_UP_TO = 10**7
# faiss perturbs a copied centroid by this relative amount when it splits a cluster
_SPLIT_EPS = 1.0 / 1024.0


@dataclass
class KMeansResult:
    """Where k-means ended: centroids, each point's cluster and squared distance."""

    centroids: np.ndarray  # (k, d) float32
    assignments: np.ndarray  # (n,) int64
    distances: np.ndarray  # (n,) float32, squared distance to the assigned centroid
    n_splits: int = 0  # empty clusters refilled during the iterations
    backend: str = ""

    @property
    def objective(self) -> float:
        """Sum of squared distances of every point to its final centroid."""
        return float(self.distances.astype(np.float64).sum())

    @property
    def n_empty(self) -> int:
        k = self.centroids.shape[0]
        return int(k - np.unique(self.assignments).size)


def check_k(k: int, n_points: int) -> None:
    """Stop early, with the fix, when k cannot be used on n points."""
    if k < 1:
        raise ValueError(f"kmeans.k must be at least 1, got {k}")
    if k > n_points:
        raise ValueError(
            f"kmeans.k = {k} is larger than the number of images ({n_points}); "
            f"set kmeans.k to at most {n_points} (a tenth of that or less works better)"
        )


def faiss_available() -> bool:
    try:
        import faiss  # noqa: F401
    except ImportError:
        return False
    return True


def faiss_gpu_available() -> bool:
    if not faiss_available():
        return False
    import faiss

    return hasattr(faiss, "get_num_gpus") and faiss.get_num_gpus() > 0


def choose_backend(backend: str, device: torch.device) -> str:
    """Resolve ``auto``: faiss where it runs on the features' device, torch otherwise."""
    if backend not in BACKENDS:
        raise ValueError(f"k-means backend {backend!r} is unknown; choose one of {BACKENDS}")
    if backend != "auto":
        if backend == "faiss" and not faiss_available():
            raise ValueError(
                "the faiss k-means backend was asked for but faiss is not installed; "
                "pip install faiss-cpu (or faiss-gpu-cu12 on CUDA machines), or use 'torch'"
            )
        return backend
    if device.type == "cuda":
        return "faiss" if faiss_gpu_available() else "torch"
    return "faiss" if faiss_available() else "torch"


def assign_to_nearest_centroid(
    points: torch.Tensor, centroids: torch.Tensor, chunk_bytes: int = 256 * 2**20
) -> tuple[torch.Tensor, torch.Tensor]:
    """Index of, and squared distance to, each point's nearest centroid.

    Distances come from one matrix product per chunk of points,
    ||x||^2 - 2 x.c + ||c||^2, so that the chunk's n x k block stays within
    ``chunk_bytes``.
    """
    k = centroids.shape[0]
    rows = max(1, chunk_bytes // (4 * k))
    centroid_norms = (centroids * centroids).sum(dim=1)
    labels = torch.empty(points.shape[0], dtype=torch.int64, device=points.device)
    distances = torch.empty(points.shape[0], dtype=torch.float32, device=points.device)
    for start in range(0, points.shape[0], rows):
        chunk = points[start : start + rows]
        # -2 x.c + ||c||^2; ||x||^2 does not change the argmin, so add it after
        scores = torch.addmm(centroid_norms, chunk, centroids.T, beta=1.0, alpha=-2.0)
        best, index = scores.min(dim=1)
        labels[start : start + rows] = index
        distances[start : start + rows] = (best + (chunk * chunk).sum(dim=1)).clamp_min(0)
    return labels, distances


def _split_empty_clusters(centroids: torch.Tensor, counts: torch.Tensor, generator: torch.Generator) -> int:
    """Refill empty clusters in place by splitting populated ones; returns how many."""
    empty = torch.nonzero(counts == 0).flatten().tolist()
    if not empty:
        return 0
    counts = counts.to("cpu", torch.float64).clone()
    signs = torch.ones(centroids.shape[1], device=centroids.device)
    signs[1::2] = -1
    for target in empty:
        # a cluster of one point cannot be split; weight the others by size - 1
        weights = (counts - 1).clamp_min(0)
        source = int(torch.multinomial(weights, 1, generator=generator))
        centroids[target] = centroids[source] * (1 + _SPLIT_EPS * signs)
        centroids[source] = centroids[source] * (1 - _SPLIT_EPS * signs)
        counts[target] = counts[source] // 2
        counts[source] -= counts[target]
    return len(empty)


def _random_points(points: torch.Tensor, k: int, generator: torch.Generator) -> torch.Tensor:
    chosen = torch.randperm(points.shape[0], generator=generator)[:k].to(points.device)
    return points[chosen].clone()


def torch_kmeans(
    points: torch.Tensor,
    k: int,
    n_iter: int = 20,
    seed: int = 0,
    init_centroids: torch.Tensor | None = None,
) -> KMeansResult:
    """Lloyd's k-means in PyTorch on the device ``points`` live on."""
    points = points.float().contiguous()
    generator = torch.Generator().manual_seed(seed)
    if init_centroids is None:
        centroids = _random_points(points, k, generator)
    else:
        centroids = init_centroids.to(points.device, torch.float32).clone()
    n_splits = 0
    for _ in range(n_iter):
        labels, _ = assign_to_nearest_centroid(points, centroids)
        counts = torch.bincount(labels, minlength=k)
        sums = torch.zeros_like(centroids).index_add_(0, labels, points)
        populated = counts > 0
        centroids[populated] = sums[populated] / counts[populated, None].float()
        n_splits += _split_empty_clusters(centroids, counts, generator)
    labels, distances = assign_to_nearest_centroid(points, centroids)
    return KMeansResult(
        centroids=centroids.cpu().numpy(),
        assignments=labels.cpu().numpy(),
        distances=distances.cpu().numpy(),
        n_splits=n_splits,
        backend="torch",
    )


def faiss_kmeans(
    points: np.ndarray,
    k: int,
    n_iter: int = 20,
    seed: int = 0,
    init_centroids: np.ndarray | None = None,
    use_gpu: bool = False,
) -> KMeansResult:
    """faiss.Kmeans with every point used in every iteration."""
    import faiss

    points = np.ascontiguousarray(points, dtype=np.float32)
    n, d = points.shape
    model = faiss.Kmeans(
        d,
        k,
        niter=n_iter,
        seed=seed,
        # no subsampling, and no warning for clusters under faiss's default minimum
        max_points_per_centroid=max(n, 1) + 1,
        min_points_per_centroid=1,
        gpu=use_gpu,
        verbose=False,
    )
    init = None if init_centroids is None else np.ascontiguousarray(init_centroids, np.float32)
    model.train(points, init_centroids=init)
    distances, labels = model.index.search(points, 1)
    return KMeansResult(
        centroids=model.centroids.copy(),
        assignments=labels[:, 0].astype(np.int64),
        distances=np.maximum(distances[:, 0], 0),
        n_splits=int(sum(s["nsplit"] for s in model.iteration_stats)),
        backend="faiss-gpu" if use_gpu else "faiss",
    )


def kmeans(
    points: torch.Tensor,
    k: int,
    n_iter: int = 20,
    seed: int = 0,
    backend: str = "auto",
) -> KMeansResult:
    """Cluster the rows of ``points`` into k groups with the chosen backend."""
    check_k(k, points.shape[0])
    backend = choose_backend(backend, points.device)
    if backend == "torch":
        return torch_kmeans(points, k, n_iter=n_iter, seed=seed)
    return faiss_kmeans(
        points.detach().float().cpu().numpy(),
        k,
        n_iter=n_iter,
        seed=seed,
        use_gpu=points.device.type == "cuda" and faiss_gpu_available(),
    )


def kmeans_best_of(
    points: torch.Tensor,
    k: int,
    restarts: int,
    n_iter: int = 20,
    seed: int = 0,
    backend: str = "auto",
) -> KMeansResult:
    """Several k-means runs from different seeds (one above ``RESTARTS_UP_TO`` points x clusters); the one with
    the lowest objective wins.

    Choosing by objective uses no labels, so it is fair for evaluation.
    """
    if restarts < 1:
        raise ValueError(f"restarts must be at least 1, got {restarts}")
    if points.shape[0] * k > RESTARTS_UP_TO:
        restarts = 1
    runs = (kmeans(points, k, n_iter=n_iter, seed=seed + i, backend=backend) for i in range(restarts))
    return min(runs, key=lambda result: result.objective)


@dataclass
class SphericalKMeansResult:
    """Unit-norm centroids, each point's cluster, and how many clusters ended empty."""

    centroids: torch.Tensor  # (k, d), on the points' device
    assignments: torch.Tensor  # (n,) int64, on the points' device
    n_empty: int


def spherical_kmeans(
    points: torch.Tensor,
    k: int,
    n_iter: int = 10,
    seed: int = 0,
    init_centroids: torch.Tensor | None = None,
    chunk: int = 65536,
) -> SphericalKMeansResult:
    """k-means on the unit sphere (DeepCluster-v2): points and centroids L2-normalised, each point
    assigned to the centroid of highest cosine similarity, each centroid the normalised sum of its points.

    Runs on the points' device. Sums and counts go through ``all_reduce_sum``, so with
    each process holding its own shard of the points (and the same ``init_centroids``,
    which a sharded call must give) every process ends with the same centroids. A
    cluster that loses all its points keeps its previous centroid, as in the SwAV repository.
    """
    if init_centroids is None:
        check_k(k, points.shape[0])
    points = torch.nn.functional.normalize(points.float(), dim=1)
    if init_centroids is None:
        centroids = _random_points(points, k, torch.Generator().manual_seed(seed))
    else:
        centroids = torch.nn.functional.normalize(init_centroids.to(points.device, torch.float32), dim=1)

    def assign(centroids: torch.Tensor) -> torch.Tensor:
        return torch.cat([(part @ centroids.T).argmax(dim=1) for part in points.split(chunk)])

    assignments = assign(centroids)
    for _ in range(n_iter):
        sums = all_reduce_sum(torch.zeros_like(centroids).index_add_(0, assignments, points))
        counts = all_reduce_sum(torch.bincount(assignments, minlength=k))
        populated = counts > 0
        centroids = torch.where(populated[:, None], torch.nn.functional.normalize(sums, dim=1), centroids)
        assignments = assign(centroids)
    counts = all_reduce_sum(torch.bincount(assignments, minlength=k))
    return SphericalKMeansResult(centroids, assignments, int((counts == 0).sum()))


@dataclass(frozen=True)
class KMeansClusterer(Clusterer):
    """k-means (faiss or PyTorch), the best of ``restarts`` runs by objective; new points go to the nearest centroid."""

    iterations: int = 100
    restarts: int = 10
    backend: str = "auto"
    name: ClassVar[str] = "kmeans"
    score_name: ClassVar[str] = "distance"
    # each of 100 iterations costs points x k x d: 50,000 points are 50 per cluster at k = 1,000, more than the
    # 39 faiss asks for
    fit_limit: ClassVar[int] = 50_000

    def _fit(self, points: torch.Tensor, k: int, seed: int) -> Partition:
        result = kmeans_best_of(points, k, self.restarts, n_iter=self.iterations, seed=seed, backend=self.backend)
        return Partition(
            self.name, k, result.assignments, result.distances, "distance",
            {"centroids": result.centroids}, {"objective": result.objective, "backend": result.backend},
        )  # fmt: skip

    def assign(self, partition: Partition, points: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        centroids = torch.as_tensor(partition.state["centroids"], device=points.device)
        clusters, distances = assign_to_nearest_centroid(points.float(), centroids)
        return clusters.cpu().numpy(), distances.cpu().numpy()
