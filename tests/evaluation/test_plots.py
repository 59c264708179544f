import numpy as np

from deepcluster.evaluation.plots import cluster_montage, nearest_members


def test_nearest_members_of_the_largest_clusters():
    assignments = np.array([2, 2, 2, 0, 0, 5])
    distances = np.array([0.3, 0.1, 0.2, 0.5, 0.4, 0.0])
    rows = nearest_members(assignments, distances, n_clusters=2, per_cluster=2)
    assert [(c, s) for c, s, _ in rows] == [(2, 3), (0, 2)]
    np.testing.assert_array_equal(rows[0][2], [1, 2])
    np.testing.assert_array_equal(rows[1][2], [4, 3])


def test_montage_shows_each_cluster_on_its_own_row(planted):
    # cluster = planted class; the 'top' class (1) is bright in its upper half
    distances = np.zeros(len(planted))
    montage = cluster_montage(planted, planted.labels, distances, n_clusters=3, per_cluster=4, tile=16)
    assert montage.size == (110 + 4 * 18, 3 * 18)
    pixels = np.asarray(montage.convert("L"), dtype=float)
    row_of_class_1 = pixels[18:34, 110:126]  # first tile of the second row (clusters of equal size keep id order)
    assert row_of_class_1[:8].mean() > row_of_class_1[8:].mean() + 100
