import numpy as np
import pytest
from scipy.sparse.csgraph import connected_components

from deepcluster.clustering.neighbours import similar_neighbours
from deepcluster.report.duplicates import CANDIDATES, SIMILARITY, duplicate_groups


def with_copies(seed: int = 0):
    """200 random points and near-copies of some: point 3 twice, points 10, 20 and 30 once each."""
    rng = np.random.default_rng(seed)
    points = rng.normal(size=(200, 64))
    originals = [3, 3, 10, 20, 30]
    copies = points[originals] + 0.01 * rng.normal(size=(len(originals), 64))
    return np.concatenate([points, copies]).astype(np.float32), originals


def test_planted_copies_form_one_group_each_the_largest_first():
    points, _ = with_copies()
    similarities, rows = similar_neighbours(points, CANDIDATES)
    table = duplicate_groups(similarities, rows, [f"image{i}" for i in range(len(points))])
    groups = [sorted(g["row"]) for _, g in table.groupby("group")]
    assert groups == [[3, 200, 201], [10, 202], [20, 203], [30, 204]]
    assert (table["similarity"] >= SIMILARITY).all()
    assert table.loc[table["row"] == 200, "image_id"].item() == "image200"


@pytest.mark.parametrize("threshold", [0.3, 0.5])
def test_groups_are_the_components_of_every_pair_above_the_threshold(threshold):
    """Against all n x n pairs: with every other point a candidate, the same groups."""
    rng = np.random.default_rng(1)
    points = rng.normal(size=(60, 4)).astype(np.float32)
    unit = points / np.linalg.norm(points, axis=1, keepdims=True)
    close = unit @ unit.T >= threshold
    count, component = connected_components(close, directed=False)
    expected = sorted(sorted(np.flatnonzero(component == c)) for c in range(count) if (component == c).sum() > 1)
    similarities, rows = similar_neighbours(points, 59)
    table = duplicate_groups(similarities, rows, [str(i) for i in range(60)], threshold)
    assert sorted(sorted(g["row"]) for _, g in table.groupby("group")) == expected


def test_no_copies_no_groups():
    points = np.random.default_rng(2).normal(size=(100, 64)).astype(np.float32)
    similarities, rows = similar_neighbours(points, CANDIDATES)
    assert duplicate_groups(similarities, rows, [str(i) for i in range(100)]).empty
