"""The nearest-neighbour graph and the label-free measures on it, against networkx and scikit-learn."""

import networkx as nx
import numpy as np
import pytest
import torch
from sklearn.datasets import make_blobs
from sklearn.neighbors import NearestNeighbors

from deepcluster.clustering.graph import communities, knn_graph, modularity, nearest_neighbours

pytestmark = pytest.mark.learning  # CI runs these again on other floating-point paths


def test_nearest_neighbours_match_scikit_learn_chunk_by_chunk():
    points = torch.randn(300, 16, generator=torch.Generator().manual_seed(0))
    ours = nearest_neighbours(points, 7, chunk=64).numpy()
    reference = NearestNeighbors(n_neighbors=8, metric="cosine").fit(points.numpy())
    expected = reference.kneighbors(points.numpy(), return_distance=False)[:, 1:]
    assert (np.sort(ours, axis=1) == np.sort(expected, axis=1)).mean() > 0.99  # ties may order differently


def test_the_graph_is_symmetric_and_joins_each_point_to_its_neighbours():
    points = torch.randn(100, 5, generator=torch.Generator().manual_seed(1))
    graph = knn_graph(points, 4)
    assert (graph != graph.T).nnz == 0 and graph.diagonal().sum() == 0
    neighbours = nearest_neighbours(points, 4).numpy()
    assert all(graph[i, j] == 1 for i in range(100) for j in neighbours[i])
    assert (np.asarray(graph.sum(axis=1)).ravel() >= 4).all()


def test_modularity_equals_networkx():
    points = torch.randn(200, 6, generator=torch.Generator().manual_seed(2))
    graph = knn_graph(points, 5)
    assignments = np.random.default_rng(0).integers(0, 6, 200)
    groups = [set(np.flatnonzero(assignments == c)) for c in range(6)]
    expected = nx.community.modularity(nx.from_scipy_sparse_array(graph), groups)
    assert modularity(graph, assignments) == pytest.approx(expected)
    assert modularity(graph, np.zeros(200, dtype=int)) == pytest.approx(0.0)


@pytest.mark.parametrize("groups", [3, 12])
def test_louvain_counts_planted_groups(groups):
    points, _ = make_blobs(groups * 25, 10, centers=groups, cluster_std=0.3, center_box=(-20, 20), random_state=groups)
    found = communities(torch.as_tensor(points, dtype=torch.float32), neighbours=5)
    assert found.count == groups
    assert found.modularity > 0.95 * (1 - 1 / groups)  # the most that equal, unconnected groups give
