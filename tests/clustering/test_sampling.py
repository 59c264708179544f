import numpy as np
import pytest

from deepcluster.clustering.sampling import sample_uniformly_over_clusters


def test_every_non_empty_cluster_gets_the_same_share():
    # one huge cluster and many small ones; cluster ids with gaps (empty clusters 1, 3)
    sizes = {0: 900, 2: 10, 4: 40, 5: 25, 6: 25}
    assignments = np.concatenate([np.full(size, cluster) for cluster, size in sizes.items()])
    rng = np.random.default_rng(0)
    indices = sample_uniformly_over_clusters(assignments, len(assignments), rng)
    assert len(indices) == len(assignments)
    counts = np.bincount(assignments[indices], minlength=7)
    per_cluster = len(assignments) // len(sizes) + 1  # 205
    assert counts[1] == counts[3] == 0
    drawn = counts[list(sizes)]
    # truncation to N removes at most len(sizes) * per_cluster - N draws in all
    assert drawn.max() <= per_cluster
    assert drawn.sum() == len(assignments)
    assert drawn.min() >= per_cluster - (len(sizes) * per_cluster - len(assignments))


def test_indices_point_at_members_of_their_cluster():
    assignments = np.random.default_rng(1).integers(0, 7, 300)
    indices = sample_uniformly_over_clusters(assignments, 300, np.random.default_rng(2))
    assert indices.min() >= 0 and indices.max() < 300
    # large clusters are drawn without replacement
    for cluster in range(7):
        members = indices[assignments[indices] == cluster]
        if (assignments == cluster).sum() >= 300 // 7 + 1:
            assert len(np.unique(members)) == len(members)


def test_small_clusters_are_drawn_with_replacement():
    assignments = np.array([0] * 98 + [1, 1])
    indices = sample_uniformly_over_clusters(assignments, 100, np.random.default_rng(0))
    assert (assignments[indices] == 1).sum() >= 49
    assert set(indices[assignments[indices] == 1]) == {98, 99}


def test_sampling_is_reproducible_and_shuffled():
    assignments = np.repeat(np.arange(4), 25)
    first = sample_uniformly_over_clusters(assignments, 100, np.random.default_rng(5))
    second = sample_uniformly_over_clusters(assignments, 100, np.random.default_rng(5))
    np.testing.assert_array_equal(first, second)
    assert not np.all(np.diff(assignments[first]) >= 0)  # not ordered cluster by cluster


def test_zero_samples_is_refused():
    with pytest.raises(ValueError, match="positive"):
        sample_uniformly_over_clusters(np.zeros(5, dtype=int), 0, np.random.default_rng(0))
