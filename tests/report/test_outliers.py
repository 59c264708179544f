import numpy as np

from deepcluster.clustering.neighbours import similar_neighbours
from deepcluster.report.outliers import NEIGHBOURS, outlier_scores, outlier_table


def planted_with_strays(seed: int = 0, strays: int = 6):
    """Three tight groups of 100 points on the unit sphere, and ``strays`` points far from them and each other."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(3, 32))
    groups = np.repeat(centres, 100, axis=0) + 0.15 * rng.normal(size=(300, 32))
    return np.concatenate([groups, rng.normal(size=(strays, 32))]).astype(np.float32)


def test_points_far_from_every_group_score_highest_and_the_typical_point_scores_one():
    points = planted_with_strays()
    similarities, _ = similar_neighbours(points, NEIGHBOURS)
    scores = outlier_scores(similarities)
    assert set(np.argsort(-scores)[:6]) == set(range(300, 306))
    assert np.median(scores) == np.float32(1.0)
    assert scores[300:].min() > 2 * np.percentile(scores[:300], 99)


def test_the_score_is_the_mean_distance_to_the_nearest_points_over_its_median():
    points = planted_with_strays(seed=1)
    rows = points / np.linalg.norm(points, axis=1, keepdims=True)
    cosine = rows @ rows.T
    np.fill_diagonal(cosine, -np.inf)
    distance = 1 - np.sort(cosine, axis=1)[:, ::-1][:, :NEIGHBOURS].mean(axis=1)
    similarities, _ = similar_neighbours(points, NEIGHBOURS)
    np.testing.assert_allclose(outlier_scores(similarities), distance / np.median(distance), rtol=1e-4)


def test_the_table_ranks_every_image_the_most_odd_first():
    scores = np.array([1.0, 3.0, 0.5, 2.0], dtype=np.float32)
    table = outlier_table(scores, ["a", "b", "c", "d"], np.array([0, 1, 0, 1]))
    assert table["image_id"].tolist() == ["b", "d", "a", "c"]
    assert table["rank"].tolist() == [1, 2, 3, 4]
    assert table["cluster"].tolist() == [1, 1, 0, 0]
    assert table["row"].tolist() == [1, 3, 0, 2]
