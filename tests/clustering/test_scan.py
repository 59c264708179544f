"""SCAN's clustering head: the loss by hand, and a planted case k-means gets wrong."""

import math

import numpy as np
import pytest
import torch

from deepcluster.clustering.kmeans import kmeans_best_of
from deepcluster.clustering.scan import scan_clustering, scan_loss
from deepcluster.evaluation.metrics import hungarian_accuracy
from tests.conftest import four_blobs

pytestmark = pytest.mark.learning  # CI runs these again on other floating-point paths


def test_too_many_neighbours_names_the_setting():
    with pytest.raises(ValueError, match=r"scan.neighbours = 10: .*below the number of images"):
        scan_clustering(torch.randn(10, 4), 2, neighbours=10)


def test_loss_by_hand():
    # one head, two anchors over k = 2
    anchors = torch.tensor([[[0.9, 0.1]], [[0.2, 0.8]]])
    partners = torch.tensor([[[0.8, 0.2]], [[0.4, 0.6]]])
    consistency = -(math.log(0.9 * 0.8 + 0.1 * 0.2) + math.log(0.2 * 0.4 + 0.8 * 0.6)) / 2
    mean = [0.55, 0.45]
    entropy = -sum(p * math.log(p) for p in mean)
    loss = scan_loss(anchors, partners, entropy_weight=2.0)
    assert loss.shape == (1,)
    assert loss.item() == pytest.approx(consistency - 2.0 * entropy, rel=1e-6)


def _wide_and_tight_blobs(seed: int) -> tuple[torch.Tensor, np.ndarray]:
    """Two classes of equal size: a wide blob and a tight one beside it, on a plane away from the origin.

    k-means puts its border half-way between the centres, inside the wide blob's tail.
    """
    rng = np.random.default_rng(seed)
    wide = rng.normal(0, 1.0, (300, 2))
    tight = rng.normal(0, 0.15, (300, 2)) + [2.6, 0.0]
    points = np.concatenate([np.concatenate([wide, tight]), np.full((600, 1), 4.0)], axis=1)
    return torch.tensor(points, dtype=torch.float32), np.repeat([0, 1], 300)


@pytest.mark.parametrize("seed", [0, 2])
def test_follows_the_classes_where_kmeans_cuts_a_blob(seed):
    features, labels = _wide_and_tight_blobs(seed)
    kmeans_accuracy = hungarian_accuracy(
        labels, kmeans_best_of(torch.nn.functional.normalize(features, dim=1), 2, restarts=5).assignments
    )
    result = scan_clustering(features, 2, neighbours=10, steps=1500, batch_size=128, seed=seed)
    scan_accuracy = hungarian_accuracy(labels, result.assignments)
    assert kmeans_accuracy < 0.93
    assert scan_accuracy > 0.96
    assert result.assignments.dtype == np.int64 and result.confidence.shape == (600,)
    # the head is sure of most images, and least sure where the classes meet
    assert np.median(result.confidence) > 0.9
    between = (features[:, 0] > 1.0) & (features[:, 0] < 2.0)  # the wide blob's tail, next to the tight one
    assert result.confidence[between.numpy()].mean() < result.confidence[~between.numpy()].mean()


def test_same_seed_same_clusters_and_k_is_checked():
    features, _ = _wide_and_tight_blobs(1)
    first = scan_clustering(features, 3, steps=10, seed=4)
    again = scan_clustering(features, 3, steps=10, seed=4)
    assert (first.assignments == again.assignments).all() and first.loss == again.loss
    with pytest.raises(ValueError, match="2 <= k <= the number of images"):
        scan_clustering(features[:5], 6, neighbours=2)


def test_dropping_heads_leaves_the_kept_ones_as_they_were():
    # each head's loss and Adam moments are its own: a kept head trains as if none had been dropped, so the
    # pruned run's winner is one of the full run's heads, and no better than the full run's best
    features, labels = _wide_and_tight_blobs(3)
    options = dict(neighbours=10, steps=90, batch_size=128, seed=5)
    everyone = scan_clustering(features, 2, heads=8, kept_heads=8, **options)
    pruned = scan_clustering(features, 2, heads=8, kept_heads=3, **options)
    unpruned_twin = scan_clustering(features, 2, heads=8, kept_heads=20, **options)
    assert unpruned_twin.loss == everyone.loss and (unpruned_twin.weight == everyone.weight).all()
    assert pruned.loss >= everyone.loss - 1e-6
    # here the full run's winner leads at the cut as well, so the pruned run ends on the same head
    assert np.allclose(pruned.weight, everyone.weight, atol=1e-4) and pruned.loss == pytest.approx(everyone.loss)
    assert hungarian_accuracy(labels, pruned.assignments) > 0.9


@pytest.mark.parametrize("seed", [0, 1])
def test_the_neighbour_space_decides_which_blobs_share_a_cluster(seed):
    features, spaces, corners = four_blobs(seed)
    for column, axis in enumerate("xy"):
        result = scan_clustering(features, 2, neighbours=10, steps=300, batch_size=128, seed=seed,
                                 neighbour_space=spaces[axis])  # fmt: skip
        assert hungarian_accuracy(corners[:, column], result.assignments) > 0.98
        assert hungarian_accuracy(corners[:, 1 - column], result.assignments) < 0.6


def test_a_neighbour_space_of_other_images_is_refused():
    features, spaces, _ = four_blobs(0)
    with pytest.raises(ValueError, match="neighbour_space has 599 rows for 600 images"):
        scan_clustering(features, 2, neighbour_space=spaces["x"][1:])
