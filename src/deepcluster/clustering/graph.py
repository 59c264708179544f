"""The nearest-neighbour graph of a set of features, and what it says without labels.

A class of images that is not one round blob (the poses of one face, the views of an
object turning on a table) is still a chain of near neighbours. The graph that joins
each image to its few nearest neighbours keeps those chains, and two measures on it
need no labels:

* ``modularity``: how much more of the graph's edges a partition keeps inside its
  clusters than chance would (Newman); it scores partitions made by any clusterer;
* ``communities``: Louvain's partition of the graph, found without being told how
  many groups there are. Its count estimates the number of groups in a collection,
  and its modularity says how clearly the features fall into groups at all.
"""

from __future__ import annotations

from dataclasses import dataclass

import networkx as nx
import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F


def nearest_neighbours(features: torch.Tensor, count: int, chunk: int = 4096) -> torch.Tensor:
    """Each row's ``count`` most cosine-similar other rows, as row indices (n x count), a chunk of rows at a time."""
    if not 1 <= count < features.shape[0]:
        raise ValueError(f"neighbours = {count}: must be at least 1 and below the number of images")
    points = F.normalize(features.float(), dim=1)
    found = []
    for start in range(0, points.shape[0], chunk):
        similarity = points[start : start + chunk] @ points.T
        rows = torch.arange(similarity.shape[0], device=points.device)
        similarity[rows, rows + start] = -float("inf")  # a point is not its own neighbour
        found.append(similarity.topk(count, dim=1).indices)
    return torch.cat(found)


def knn_graph(features: torch.Tensor, neighbours: int) -> sp.csr_matrix:
    """The undirected graph joining each row to its ``neighbours`` most cosine-similar rows (edge weight 1)."""
    n = features.shape[0]
    targets = nearest_neighbours(features, min(neighbours, n - 1)).cpu().numpy()
    sources = np.repeat(np.arange(n), targets.shape[1])
    directed = sp.csr_matrix((np.ones(sources.size), (sources, targets.ravel())), shape=(n, n))
    return directed.maximum(directed.T).tocsr()


def modularity(graph: sp.csr_matrix, assignments: np.ndarray) -> float:
    """Newman's modularity of ``assignments`` on ``graph``: the share of edge weight inside clusters
    minus what random edges with the same degrees would put there (0 for one cluster, at most 1)."""
    assignments = np.asarray(assignments)
    members = sp.csr_matrix(
        (np.ones(assignments.size), (np.arange(assignments.size), np.unique(assignments, return_inverse=True)[1]))
    )
    total = graph.sum()
    inside = (members.T @ graph @ members).diagonal().sum() / total
    degree_share = np.asarray(members.T @ graph.sum(axis=1)).ravel() / total
    return float(inside - (degree_share**2).sum())


@dataclass(frozen=True)
class Communities:
    """Louvain's partition of the nearest-neighbour graph: how many groups, and how clearly."""

    count: int
    modularity: float
    assignments: np.ndarray


def communities(features: torch.Tensor, neighbours: int = 5, seed: int = 0) -> Communities:
    """Louvain communities (networkx, resolution 1) of the ``neighbours``-NN graph of ``features``."""
    graph = knn_graph(features, neighbours)
    found = nx.community.louvain_communities(nx.from_scipy_sparse_array(graph), seed=seed)
    assignments = np.empty(graph.shape[0], dtype=np.int64)
    for label, members in enumerate(found):
        assignments[list(members)] = label
    return Communities(len(found), modularity(graph, assignments), assignments)
