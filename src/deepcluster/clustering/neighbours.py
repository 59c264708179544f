"""Nearest neighbours by cosine similarity, through faiss: the one place every caller finds them (the graphs,
the vote that places points, SCAN's neighbour table, the evaluation's kNN, the similar-image index).

Exact search compares every query with every indexed point, n^2 work for a graph of n points: 20,000 points
take a second here, a million would take some 45 minutes. Above ``EXACT_LIMIT`` indexed points the search
walks an HNSW graph instead (Malkov and Yashunin 2018), whose cost grows as n log n; its recall@10 against
exact search is measured by ``scripts/benchmark_scale.py`` (docs/benchmarks/scale.md) and tested on planted
groups (tests/clustering/test_neighbours.py). HNSW builds its graph on several threads, so two builds may
differ in a few neighbours.
"""

from __future__ import annotations

import faiss
import numpy as np
import torch

# at most this many indexed points are searched exactly (about a second for their whole graph here)
EXACT_LIMIT = 20_000
# HNSW's links per point and search depths: recall@10 0.993 on planted groups of low intrinsic dimension at
# 300k points, where 16 links gave 0.957; a depth of 128 gave 0.996 at twice the search time
# (docs/benchmarks/scale.md)
HNSW_LINKS = 32
HNSW_BUILD_DEPTH = 40
HNSW_SEARCH_DEPTH = 64


def unit_rows(points: np.ndarray | torch.Tensor) -> np.ndarray:
    """``points`` as contiguous float32 rows of length 1 (what inner-product search needs for cosine)."""
    if isinstance(points, torch.Tensor):
        points = points.detach().float().cpu().numpy()
    points = np.ascontiguousarray(points, dtype=np.float32)
    return points / np.maximum(np.linalg.norm(points, axis=1, keepdims=True), 1e-12)


class NeighbourIndex:
    """The points of ``reference``, searched by cosine similarity: exactly up to ``EXACT_LIMIT`` points (or when
    ``exact`` is True), through HNSW above it (or when ``exact`` is False)."""

    def __init__(self, reference: np.ndarray | torch.Tensor, exact: bool | None = None) -> None:
        rows = unit_rows(reference)
        self.exact = rows.shape[0] <= EXACT_LIMIT if exact is None else exact
        if self.exact:
            self._index = faiss.IndexFlatIP(rows.shape[1])
        else:
            self._index = faiss.IndexHNSWFlat(rows.shape[1], HNSW_LINKS, faiss.METRIC_INNER_PRODUCT)
            self._index.hnsw.efConstruction = HNSW_BUILD_DEPTH
        self._index.add(rows)

    def __len__(self) -> int:
        return self._index.ntotal

    def search(self, queries: np.ndarray | torch.Tensor, count: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``count`` most cosine-similar indexed points of each query, most similar first: their
        similarities (float32) and row numbers (int64), two (m, count) arrays."""
        if not 1 <= count <= len(self):
            raise ValueError(f"{count} neighbours asked of {len(self)} indexed points")
        parameters = None if self.exact else faiss.SearchParametersHNSW(efSearch=max(HNSW_SEARCH_DEPTH, count))
        similarities, rows = self._index.search(unit_rows(queries), count, params=parameters)
        return similarities, rows

    def __getstate__(self) -> dict:
        return {"exact": self.exact, "index": faiss.serialize_index(self._index)}

    def __setstate__(self, state: dict) -> None:
        self.exact = state["exact"]
        self._index = faiss.deserialize_index(state["index"])


def nearest_neighbours(points: np.ndarray | torch.Tensor, count: int, exact: bool | None = None) -> np.ndarray:
    """Each point's ``count`` most cosine-similar other points, as row numbers (n x count, most similar first)."""
    n = points.shape[0]
    if not 1 <= count < n:
        raise ValueError(f"neighbours = {count}: must be at least 1 and below the number of images ({n})")
    _, rows = NeighbourIndex(points, exact).search(points, count + 1)
    # a point is not its own neighbour: drop it where it was found, else the last (least similar) column;
    # among exact copies the point itself need not come first
    itself = rows == np.arange(n)[:, None]
    itself[~itself.any(axis=1), -1] = True
    itself &= np.cumsum(itself, axis=1) == 1  # one column per row, even where a row lists itself twice
    return rows[~itself].reshape(n, count)
