import numpy as np
import pytest

from deepcluster.evaluation.metrics import (
    cluster_size_summary,
    feature_collapse_std,
    hungarian_accuracy,
    labelling_agreement,
    majority_accuracy,
)


def test_perfect_clustering_scores_one():
    labels = np.repeat(np.arange(5), 30)
    result = labelling_agreement(labels, labels)
    assert result == pytest.approx({"acc": 1.0, "nmi": 1.0, "ari": 1.0, "majority_acc": 1.0})


def test_permuted_cluster_ids_still_score_one():
    labels = np.repeat(np.arange(5), 30)
    clusters = np.array([3, 0, 4, 1, 2])[labels] + 10  # other ids, other order
    assert hungarian_accuracy(labels, clusters) == 1.0
    assert labelling_agreement(labels, clusters)["nmi"] == pytest.approx(1.0)


def test_random_assignment_scores_about_one_over_k():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, 20_000)
    clusters = rng.integers(0, 10, 20_000)
    assert hungarian_accuracy(labels, clusters) == pytest.approx(0.1, abs=0.015)
    assert labelling_agreement(labels, clusters)["nmi"] < 0.01


def test_hand_computed_accuracies():
    labels = np.array([0, 0, 0, 1, 1, 1, 2, 2])
    clusters = np.array([5, 5, 6, 6, 6, 6, 6, 7])
    # one-to-one: 5->0 (2), 6->1 (3), 7->2 (1)
    assert hungarian_accuracy(labels, clusters) == pytest.approx(6 / 8)
    # majority: 5->0 (2), 6->1 (3), 7->2 (1), same here
    assert majority_accuracy(labels, clusters) == pytest.approx(6 / 8)
    over = np.array([0, 1, 2, 3, 4, 5, 6, 7])
    assert majority_accuracy(labels, over) == 1.0
    assert hungarian_accuracy(labels, over) == pytest.approx(3 / 8)


def test_cluster_size_summary_counts_empty_clusters():
    summary = cluster_size_summary(np.array([0, 0, 0, 2, 2, 4]), k=6)
    assert summary["non_empty"] == 3
    assert summary["empty"] == 3
    assert summary["size_min"] == 1
    assert summary["size_max"] == 3
    p = np.array([3, 2, 1]) / 6
    assert summary["size_entropy_normalised"] == pytest.approx(-(p * np.log(p)).sum() / np.log(6))


def test_collapse_indicator():
    assert feature_collapse_std(np.ones((100, 16))) == pytest.approx(0.0, abs=1e-9)
    gaussian = np.random.default_rng(0).normal(size=(20_000, 64))
    healthy = feature_collapse_std(gaussian, chunk=999)
    assert healthy == pytest.approx(1 / np.sqrt(64), rel=0.05)
    normalised = gaussian / np.linalg.norm(gaussian, axis=1, keepdims=True)
    assert healthy == pytest.approx(normalised.std(axis=0, ddof=1).mean(), rel=1e-9)


def test_labellings_of_different_lengths_are_refused():
    with pytest.raises(ValueError, match="differ in length"):
        hungarian_accuracy(np.zeros(3), np.zeros(4))


def test_cluster_size_summary_refuses_ids_outside_the_k_clusters():
    with pytest.raises(ValueError, match=r"cluster ids must lie in 0..5; got -1..4"):
        cluster_size_summary(np.array([0, -1, 4]), k=6)
    with pytest.raises(ValueError, match=r"0..2; got 0..4"):
        cluster_size_summary(np.array([0, 4]), k=3)  # "empty" would go negative
