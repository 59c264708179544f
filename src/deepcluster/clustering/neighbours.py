"""Nearest neighbours by cosine similarity, through faiss: the one place every caller finds them (the graphs,
the vote that places points, SCAN's neighbour table, the evaluation's kNN, the similar-image index).

Exact search compares every query with every indexed point, n^2 work for a graph of n points: 100,000 points
take ~20 s here, a million would take some 30 minutes. Above ``EXACT_LIMIT`` indexed points the search is
an inverted file: the points are filed under the nearest of n / ``LIST_SIZE`` centroids (k-means on a sample),
and a query compares itself with the points of its ``PROBES`` nearest lists only. The lists' centroids are
found through an HNSW graph (Malkov and Yashunin 2018), so a query costs about the same at any n and the
whole graph of n points grows as n log n. Its recall@10 against exact search is measured by
``scripts/benchmark_scale.py`` (docs/benchmarks/scale.md) and tested on planted groups
(tests/clustering/test_neighbours.py). The index is built on several threads, so two builds may differ in a
few neighbours.
"""

from __future__ import annotations

import faiss
import numpy as np
import torch

# at most this many indexed points are searched exactly (the whole graph of 100,000 points in ~20 s here): the
# inverted file's recall@10 on planted groups was 0.78 at 100,000 points, 0.99 at a million, where each
# group is denser (docs/benchmarks/scale.md)
EXACT_LIMIT = 100_000
# points per list on average, lists a query searches, and what finds the lists: on a million planted points
# in 1,000 overlapping groups recall@10 was 0.990 with 16 lists of 256, where an HNSW graph of every point
# (32 links, depth 64) reached 0.817 in more time; fewer lists searched lose recall on groups that spread
# in every direction (docs/benchmarks/scale.md)
LIST_SIZE = 256
PROBES = 16
CENTROID_LINKS = 32
CENTROID_SEARCH_DEPTH = 64
# the lists' k-means: this many sample points per list, at most TRAINING_LIMIT in all, 10 iterations
TRAINING_PER_LIST = 64
TRAINING_LIMIT = 256_000
TRAINING_ITERATIONS = 10


def unit_rows(points: np.ndarray | torch.Tensor) -> np.ndarray:
    """``points`` as contiguous float32 rows of length 1 (what inner-product search needs for cosine)."""
    if isinstance(points, torch.Tensor):
        points = points.detach().float().cpu().numpy()
    points = np.ascontiguousarray(points, dtype=np.float32)
    return points / np.maximum(np.linalg.norm(points, axis=1, keepdims=True), 1e-12)


def inverted_file(rows: np.ndarray, seed: int = 0) -> faiss.Index:
    """An inverted file of ``rows`` (unit length): n / ``LIST_SIZE`` lists whose centroids an HNSW graph finds."""
    lists = max(1, rows.shape[0] // LIST_SIZE)
    index = faiss.index_factory(rows.shape[1], f"IVF{lists}_HNSW{CENTROID_LINKS},Flat", faiss.METRIC_INNER_PRODUCT)
    index.cp.niter = TRAINING_ITERATIONS
    index.cp.seed = seed
    sample = min(rows.shape[0], lists * TRAINING_PER_LIST, TRAINING_LIMIT)
    index.train(rows[np.sort(np.random.default_rng(seed).choice(rows.shape[0], sample, replace=False))])
    faiss.downcast_index(index.quantizer).hnsw.efSearch = CENTROID_SEARCH_DEPTH  # filing each point, too
    index.add(rows)
    return index


class NeighbourIndex:
    """The points of ``reference``, searched by cosine similarity: exactly up to ``EXACT_LIMIT`` points (or when
    ``exact`` is True), through an inverted file above it (or when ``exact`` is False)."""

    def __init__(self, reference: np.ndarray | torch.Tensor, exact: bool | None = None) -> None:
        rows = unit_rows(reference)
        self.exact = rows.shape[0] <= EXACT_LIMIT if exact is None else exact
        if self.exact:
            self._index = faiss.IndexFlatIP(rows.shape[1])
            self._index.add(rows)
        else:
            self._index = inverted_file(rows)

    def __len__(self) -> int:
        return self._index.ntotal

    def search(self, queries: np.ndarray | torch.Tensor, count: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``count`` most cosine-similar indexed points of each query, most similar first: their
        similarities (float32) and row numbers (int64), two (m, count) arrays."""
        if not 1 <= count <= len(self):
            raise ValueError(f"{count} neighbours asked of {len(self)} indexed points")
        parameters = None
        if not self.exact:
            centroids = faiss.SearchParametersHNSW(efSearch=max(CENTROID_SEARCH_DEPTH, PROBES))
            parameters = faiss.SearchParametersIVF(nprobe=PROBES, quantizer_params=centroids)
        similarities, rows = self._index.search(unit_rows(queries), count, params=parameters)
        return similarities, rows

    def __getstate__(self) -> dict:
        return {"exact": self.exact, "index": faiss.serialize_index(self._index)}

    def __setstate__(self, state: dict) -> None:
        self.exact = state["exact"]
        self._index = faiss.deserialize_index(state["index"])


def similar_neighbours(
    points: np.ndarray | torch.Tensor, count: int, exact: bool | None = None, index: NeighbourIndex | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Each point's ``count`` most cosine-similar other points: their similarities and row numbers, two
    (n x count) arrays, most similar first. ``index``: the points' index where one is built already."""
    n = points.shape[0]
    if not 1 <= count < n:
        raise ValueError(f"neighbours = {count}: must be at least 1 and below the number of images ({n})")
    similarities, rows = (index or NeighbourIndex(points, exact)).search(points, count + 1)
    # a point is not its own neighbour: drop it where it was found, else the last (least similar) column;
    # among exact copies the point itself need not come first
    itself = rows == np.arange(n)[:, None]
    itself[~itself.any(axis=1), -1] = True
    itself &= np.cumsum(itself, axis=1) == 1  # one column per row, even where a row lists itself twice
    return similarities[~itself].reshape(n, count), rows[~itself].reshape(n, count)


def nearest_neighbours(points: np.ndarray | torch.Tensor, count: int, exact: bool | None = None) -> np.ndarray:
    """Each point's ``count`` most cosine-similar other points, as row numbers (n x count, most similar first)."""
    return similar_neighbours(points, count, exact)[1]
