"""The nearest-neighbour graph and the label-free measures on it, against igraph."""

import random

import igraph
import numpy as np
import pytest
import scipy.sparse as sp
import torch
from scipy.optimize import minimize
from sklearn.datasets import make_blobs

from deepcluster.clustering.graph import communities, knn_graph, modularity, planted_partition_likelihood
from deepcluster.clustering.neighbours import nearest_neighbours

pytestmark = pytest.mark.learning  # CI runs these again on other floating-point paths


def test_the_graph_is_symmetric_and_joins_each_point_to_its_neighbours():
    points = torch.randn(100, 5, generator=torch.Generator().manual_seed(1))
    graph = knn_graph(points, 4)
    assert (graph != graph.T).nnz == 0 and graph.diagonal().sum() == 0
    neighbours = nearest_neighbours(points, 4)
    assert all(graph[i, j] == 1 for i in range(100) for j in neighbours[i])
    assert (np.asarray(graph.sum(axis=1)).ravel() >= 4).all()


def test_modularity_equals_igraphs():
    points = torch.randn(200, 6, generator=torch.Generator().manual_seed(2))
    graph = knn_graph(points, 5)
    assignments = np.random.default_rng(0).integers(0, 6, 200)
    upper = sp.triu(graph, k=1).tocoo()
    expected = igraph.Graph(n=200, edges=np.column_stack([upper.row, upper.col])).modularity(assignments)
    assert modularity(graph, assignments) == pytest.approx(expected)
    assert modularity(graph, np.zeros(200, dtype=int)) == pytest.approx(0.0)


def _planted_partition_log_likelihood(adjacency: np.ndarray, assignments: np.ndarray) -> float:
    """The degree-corrected planted-partition model's log-likelihood (Newman 2016, Poisson edges, every ordered
    pair), maximised numerically over its two edge rates, from the dense matrix."""
    degree = adjacency.sum(axis=1)
    twice_edges = degree.sum()
    same = assignments[:, None] == assignments[None, :]
    expected = np.outer(degree, degree) / twice_edges

    def negative(log_rates):
        rate = np.where(same, np.exp(log_rates[0]), np.exp(log_rates[1]))
        return -0.5 * (adjacency * np.log(rate * expected + 1e-300) - rate * expected).sum()

    return -minimize(negative, x0=np.zeros(2), method="Nelder-Mead", options={"xatol": 1e-10, "fatol": 1e-10}).fun


def test_the_planted_partition_likelihood_ranks_partitions_as_the_model_maximised_by_hand_does():
    points = torch.randn(120, 6, generator=torch.Generator().manual_seed(3))
    graph = knn_graph(points, 5)
    adjacency = graph.toarray()
    edges = adjacency.sum() / 2
    rng = np.random.default_rng(0)
    one_cluster = np.zeros(120, dtype=int)
    reference = _planted_partition_log_likelihood(adjacency, one_cluster)
    for assignments in (rng.integers(0, 4, 120), np.argmax(points[:, :3].numpy(), axis=1)):
        # the model's likelihood is the score times the number of edges, up to what one cluster scores
        by_hand = (_planted_partition_log_likelihood(adjacency, assignments) - reference) / edges
        assert planted_partition_likelihood(graph, assignments) == pytest.approx(by_hand, abs=1e-6)
    assert planted_partition_likelihood(graph, one_cluster) == pytest.approx(0.0)


@pytest.mark.parametrize("groups", [3, 12])
def test_louvain_counts_planted_groups(groups):
    points, _ = make_blobs(groups * 25, 10, centers=groups, cluster_std=0.3, center_box=(-20, 20), random_state=groups)
    found = communities(torch.as_tensor(points, dtype=torch.float32), neighbours=5)
    assert found.count == groups
    assert found.modularity > 0.95 * (1 - 1 / groups)  # the most that equal, unconnected groups give


def test_louvain_gives_the_same_communities_for_the_same_seed_and_leaves_the_random_module_alone():
    points, _ = make_blobs(300, 10, centers=6, cluster_std=3.0, random_state=0)
    points = torch.as_tensor(points, dtype=torch.float32)
    random.seed(5)
    expected_draw = random.random()
    random.seed(5)
    first = communities(points, neighbours=5, seed=3)
    assert random.random() == expected_draw
    assert (communities(points, neighbours=5, seed=3).assignments == first.assignments).all()
