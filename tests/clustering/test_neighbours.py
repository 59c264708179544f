"""Nearest neighbours through faiss: exact search against scikit-learn, the inverted file against exact search."""

import pickle

import numpy as np
import pytest
import torch
from sklearn.neighbors import NearestNeighbors

from deepcluster.clustering import neighbours
from deepcluster.clustering.neighbours import NeighbourIndex, nearest_neighbours


def planted_groups(n: int, groups: int, dim: int, spread: float, seed: int = 0) -> np.ndarray:
    """Points around ``groups`` random centres, with noise as large as the centres where ``spread`` is 1 (so
    that groups overlap and near neighbours are not trivial to find)."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((groups, dim))
    return (centres[rng.integers(0, groups, n)] + spread * rng.standard_normal((n, dim))).astype(np.float32)


def test_exact_neighbours_match_scikit_learn():
    points = torch.randn(300, 16, generator=torch.Generator().manual_seed(0))
    ours = nearest_neighbours(points, 7)
    reference = NearestNeighbors(n_neighbors=8, metric="cosine").fit(points.numpy())
    expected = reference.kneighbors(points.numpy(), return_distance=False)[:, 1:]
    assert (np.sort(ours, axis=1) == np.sort(expected, axis=1)).mean() > 0.99  # ties may order differently


def test_a_point_is_never_its_own_neighbour_even_beside_exact_copies():
    points = np.repeat(planted_groups(50, 5, 8, 1.0), 3, axis=0)  # every point three times
    found = nearest_neighbours(points, 4)
    assert found.shape == (150, 4)
    assert not (found == np.arange(150)[:, None]).any()
    copies = np.arange(150) // 3
    assert (copies[found[:, :2]] == copies[:, None]).all()  # the two copies come first


@pytest.mark.parametrize("spread", [0.3, 0.7])
def test_the_inverted_file_finds_at_least_95_percent_of_the_exact_neighbours(spread):
    points = planted_groups(20_000, 200, 32, spread)
    queries = points[::20]
    exact = NeighbourIndex(points, exact=True).search(queries, 10)[1]
    approximate = NeighbourIndex(points, exact=False).search(queries, 10)[1]
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(exact, approximate)])
    assert recall >= 0.95


def test_the_search_turns_approximate_above_the_exact_limit(monkeypatch):
    points = planted_groups(400, 4, 8, 0.5)
    assert NeighbourIndex(points).exact
    monkeypatch.setattr(neighbours, "EXACT_LIMIT", 399)
    index = NeighbourIndex(points)
    assert not index.exact
    similarities, rows = index.search(points[:5], 3)
    assert (rows[:, 0] == np.arange(5)).all() and similarities[:, 0] == pytest.approx(1.0, abs=1e-5)
    assert (np.diff(similarities, axis=1) <= 1e-6).all()  # most similar first


@pytest.mark.parametrize("exact", [True, False])
def test_an_index_saves_and_loads_with_the_same_answers(exact):
    points = planted_groups(500, 5, 8, 0.5)
    index = NeighbourIndex(points, exact=exact)
    loaded = pickle.loads(pickle.dumps(index))
    assert loaded.exact == exact and len(loaded) == 500
    assert (loaded.search(points[:20], 5)[1] == index.search(points[:20], 5)[1]).all()


def test_more_neighbours_than_points_is_refused():
    with pytest.raises(ValueError, match=r"neighbours = 10: must be at least 1 and below the number of images \(10\)"):
        nearest_neighbours(planted_groups(10, 2, 4, 0.5), 10)
