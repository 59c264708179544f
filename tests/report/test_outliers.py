import numpy as np

from deepcluster.clustering.neighbours import similar_neighbours
from deepcluster.report.outliers import NEIGHBOURS, neighbour_distance, outlier_scores, outlier_table


def planted_with_strays(seed: int = 0, strays: int = 6):
    """Three tight groups of 100 points on the unit sphere, and ``strays`` points far from them and each other."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(3, 32))
    groups = np.repeat(centres, 100, axis=0) + 0.15 * rng.normal(size=(300, 32))
    return np.concatenate([groups, rng.normal(size=(strays, 32))]).astype(np.float32)


def test_points_far_from_every_group_score_highest_and_the_typical_point_scores_one():
    points = planted_with_strays()
    similarities, _ = similar_neighbours(points, NEIGHBOURS)
    distance = neighbour_distance(similarities)
    assert set(np.argsort(-distance)[:6]) == set(range(300, 306))
    assert np.median(distance) == 1.0
    assert distance[300:].min() > 2 * np.percentile(distance[:300], 99)


def test_the_distance_is_the_mean_to_the_nearest_points_over_its_median():
    points = planted_with_strays(seed=1)
    rows = points / np.linalg.norm(points, axis=1, keepdims=True)
    cosine = rows @ rows.T
    np.fill_diagonal(cosine, -np.inf)
    distance = 1 - np.sort(cosine, axis=1)[:, ::-1][:, :NEIGHBOURS].mean(axis=1)
    similarities, _ = similar_neighbours(points, NEIGHBOURS)
    np.testing.assert_allclose(neighbour_distance(similarities), distance / np.median(distance), rtol=1e-4)


def test_strays_that_group_together_in_the_features_still_stand_out_by_their_pixels():
    """Twelve strays that the features hold as one tight group of their own, but that are far apart in pixels."""
    rng = np.random.default_rng(2)
    features = planted_with_strays(seed=2, strays=0)
    features = np.concatenate(
        [features, features[:1] * 0 + rng.normal(size=(1, 32)) + 0.15 * rng.normal(size=(12, 32))]
    )
    pixels = np.concatenate([planted_with_strays(seed=3, strays=0), rng.normal(size=(12, 32))])
    scores = outlier_scores(similar_neighbours(features, NEIGHBOURS)[0], similar_neighbours(pixels, NEIGHBOURS)[0])
    assert set(np.argsort(-scores)[:12]) == set(range(300, 312))
    feature_only = neighbour_distance(similar_neighbours(features, NEIGHBOURS)[0])
    assert len(set(np.argsort(-feature_only)[:12]) & set(range(300, 312))) < 12  # the features alone miss some


def test_the_table_ranks_every_image_the_most_odd_first():
    scores = np.array([1.0, 3.0, 0.5, 2.0], dtype=np.float32)
    table = outlier_table(scores, ["a", "b", "c", "d"], np.array([0, 1, 0, 1]))
    assert table["image_id"].tolist() == ["b", "d", "a", "c"]
    assert table["rank"].tolist() == [1, 2, 3, 4]
    assert table["cluster"].tolist() == [1, 1, 0, 0]
    assert table["row"].tolist() == [1, 3, 0, 2]
