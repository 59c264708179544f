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

Louvain runs in igraph's C implementation (``community_multilevel``): networkx's pure-Python one took 148 s
on a 5-NN graph of 100,000 points (issue 37's measure) and 1.3-2.0 s on MNIST's groups estimate, where
igraph's takes 0.06-0.15 s (docs/benchmarks/scale.md). igraph is one compiled wheel that needs nothing else,
and its Louvain is the algorithm networkx ran, so the group counts keep their meaning.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import igraph
import numpy as np
import scipy.sparse as sp
import torch
from scipy import special

from deepcluster.clustering.neighbours import nearest_neighbours


def knn_graph(features: torch.Tensor, neighbours: int, exact: bool | None = None) -> sp.csr_matrix:
    """The undirected graph joining each row to its ``neighbours`` most cosine-similar rows (edge weight 1),
    found exactly or not as ``deepcluster.clustering.neighbours`` decides (or as ``exact`` says)."""
    n = features.shape[0]
    targets = nearest_neighbours(features, min(neighbours, n - 1), exact)
    sources = np.repeat(np.arange(n), targets.shape[1])
    directed = sp.csr_matrix((np.ones(sources.size), (sources, targets.ravel())), shape=(n, n))
    return directed.maximum(directed.T).tocsr()


def _inside_and_chance(graph: sp.csr_matrix, assignments: np.ndarray) -> tuple[float, float]:
    """The share of ``graph``'s edge weight inside the clusters of ``assignments``, and the share that random
    edges with the same degrees would put there."""
    assignments = np.asarray(assignments)
    members = sp.csr_matrix(
        (np.ones(assignments.size), (np.arange(assignments.size), np.unique(assignments, return_inverse=True)[1]))
    )
    total = graph.sum()
    inside = (members.T @ graph @ members).diagonal().sum() / total
    degree_share = np.asarray(members.T @ graph.sum(axis=1)).ravel() / total
    return float(inside), float((degree_share**2).sum())


def modularity(graph: sp.csr_matrix, assignments: np.ndarray) -> float:
    """Newman's modularity of ``assignments`` on ``graph``: the share of edge weight inside clusters
    minus what random edges with the same degrees would put there (0 for one cluster, at most 1)."""
    inside, chance = _inside_and_chance(graph, assignments)
    return inside - chance


def planted_partition_likelihood(graph: sp.csr_matrix, assignments: np.ndarray) -> float:
    """How well ``assignments`` explains ``graph``: the maximised log-likelihood per edge of the degree-corrected
    planted-partition model it implies (one edge rate inside clusters, one between; Newman, Phys. Rev. E 94,
    052315, 2016), up to a constant that is the same for every partition of the graph.

    With ``p`` the share of edges inside clusters and ``q`` the share that chance would put there, it is the
    binary KL divergence ``p log(p/q) + (1-p) log((1-p)/(1-q))``. Modularity (``p - q``) is this model's
    likelihood at one fixed ratio of the two rates; here each partition's own rates are fitted, so a partition
    that keeps a similar share of edges inside clusters that are each a smaller share of the graph scores
    higher.
    """
    inside, chance = _inside_and_chance(graph, assignments)
    return float(special.rel_entr(inside, chance) + special.rel_entr(1 - inside, 1 - chance))


@dataclass(frozen=True)
class Communities:
    """Louvain's partition of the nearest-neighbour graph: how many groups, and how clearly."""

    count: int
    modularity: float
    assignments: np.ndarray


def louvain(graph: sp.csr_matrix, seed: int) -> np.ndarray:
    """Louvain's communities (igraph, resolution 1) of an unweighted undirected ``graph``: one id per node.

    igraph draws its node orders from one generator for the whole process; the seed's own generator is
    set for this call and igraph's default put back after it.
    """
    upper = sp.triu(graph, k=1).tocoo()
    network = igraph.Graph(n=graph.shape[0], edges=np.column_stack([upper.row, upper.col]))
    igraph.set_random_number_generator(random.Random(seed))
    try:
        found = network.community_multilevel(resolution=1)
    finally:
        igraph.set_random_number_generator(random)
    return np.asarray(found.membership, dtype=np.int64)


def communities(features: torch.Tensor, neighbours: int = 5, seed: int = 0) -> Communities:
    """Louvain communities (resolution 1) of the ``neighbours``-NN graph of ``features``."""
    graph = knn_graph(features, neighbours)
    assignments = louvain(graph, seed)
    return Communities(int(assignments.max()) + 1, modularity(graph, assignments), assignments)
