"""Every clusterer against an independent reference on planted data, and the rules that place new points."""

import numpy as np
import pytest
import scipy.cluster.hierarchy
import torch
from sklearn.cluster import KMeans, SpectralClustering
from sklearn.datasets import make_blobs, make_circles
from sklearn.metrics import adjusted_rand_score

from deepcluster.clustering import clusterers
from deepcluster.clustering.clusterers import CLUSTERERS, choose_partition
from deepcluster.clustering.kmeans import KMeansClusterer
from deepcluster.clustering.partition import Partition
from deepcluster.clustering.pic import PicClusterer
from deepcluster.clustering.scan import ScanClusterer
from deepcluster.clustering.ward import WardClusterer

pytestmark = pytest.mark.learning  # CI runs these again on other floating-point paths

SCAN = ScanClusterer(neighbours=5, heads=10, steps=600)


def blobs(seed: int = 0, n: int = 300, k: int = 4, dim: int = 8):
    points, labels = make_blobs(n, dim, centers=k, cluster_std=0.6, random_state=seed)
    return torch.as_tensor(points, dtype=torch.float32), labels


def rings(seed: int = 0, n: int = 400):
    """Two concentric rings: one class is not one round blob, so k-means cuts both rings in half. Lifted off
    the origin (a third coordinate of 3), so that cosine similarity, which every graph here uses, follows
    distance in the rings' plane."""
    points, labels = make_circles(n, factor=0.4, noise=0.03, random_state=seed)
    lifted = np.column_stack([points, np.full(n, 3.0)])
    return torch.as_tensor(lifted, dtype=torch.float32), labels


def test_kmeans_finds_what_scikit_learn_finds():
    points, _ = blobs()
    ours = KMeansClusterer(iterations=50, restarts=5).fit(points, 4, seed=0)
    reference = KMeans(4, n_init=10, random_state=0).fit(points.numpy())
    assert adjusted_rand_score(reference.labels_, ours.assignments) == 1.0
    assert ours.score_name == "distance"
    objective = ((points.numpy() - ours.state["centroids"][ours.assignments]) ** 2).sum()
    assert ours.summary["objective"] == pytest.approx(objective, rel=1e-4)
    assert objective == pytest.approx(reference.inertia_, rel=1e-4)


@pytest.mark.parametrize("seed", [0, 1])
def test_ward_equals_scipy_hierarchical_ward(seed):
    points, _ = blobs(seed, k=5)
    ours = WardClusterer().fit(points, 5, seed=0)
    tree = scipy.cluster.hierarchy.linkage(points.numpy().astype(np.float64), method="ward")
    reference = scipy.cluster.hierarchy.fcluster(tree, 5, criterion="maxclust")
    assert adjusted_rand_score(reference, ours.assignments) == 1.0


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_pic_follows_rings_like_spectral_clustering_where_kmeans_cuts_them(seed):
    points, labels = rings(seed)
    pic = PicClusterer(neighbours=8).fit(points, 2, seed=seed).assignments
    spectral = SpectralClustering(2, affinity="nearest_neighbors", n_neighbors=8, random_state=seed).fit_predict(points)
    kmeans = KMeansClusterer(restarts=3).fit(points, 2, seed=seed).assignments
    assert adjusted_rand_score(labels, spectral) > 0.95  # the reference solves it
    assert adjusted_rand_score(labels, pic) > 0.95
    assert adjusted_rand_score(labels, kmeans) < 0.2


@pytest.mark.parametrize("name", list(CLUSTERERS))
def test_every_clusterer_recovers_blobs_and_places_new_points_by_its_own_rule(name):
    points, labels = blobs(n=240)
    clusterer = SCAN if name == "scan" else CLUSTERERS[name]()
    partition = clusterer.fit(points, 4, seed=0)
    assert adjusted_rand_score(labels, partition.assignments) > 0.95
    assert partition.scores.shape == (240,) and partition.k == 4
    # a slightly moved copy of a fitted point lands in that point's cluster
    moved = points[::7] + 0.01 * torch.randn(points[::7].shape, generator=torch.Generator().manual_seed(0))
    clusters, scores = clusterer.assign(partition, moved)
    assert (clusters == partition.assignments[::7]).all()
    if partition.score_name == "confidence":
        assert ((scores > 0.5) & (scores <= 1.0)).all()
    else:
        nearest = torch.cdist(moved, torch.as_tensor(partition.state["centroids"])).argmin(dim=1).numpy()
        assert (clusters == nearest).all()


def test_the_label_free_choice_prefers_the_clusterer_that_follows_the_rings():
    points, labels = rings()
    candidates = {"kmeans": KMeansClusterer(restarts=3), "pic": PicClusterer(neighbours=8)}
    choice = choose_partition(points, 2, candidates, seed=0)
    assert choice.chosen == "pic"
    assert choice.scores["pic"] > choice.scores["kmeans"]
    assert adjusted_rand_score(labels, choice.partition.assignments) > 0.95


def test_a_fixed_clusterer_wins_whatever_the_scores():
    points, _ = rings()
    candidates = {"kmeans": KMeansClusterer(restarts=3), "pic": PicClusterer(neighbours=8)}
    fixed = choose_partition(points, 2, candidates, seed=0, fixed="kmeans")
    assert fixed.scores["pic"] > fixed.scores["kmeans"] and fixed.chosen == "kmeans"
    assert (fixed.partition.assignments == fixed.partitions["kmeans"].assignments).all()


def test_scan_wins_only_within_the_tolerance_of_the_highest_score(monkeypatch):
    points, _ = rings()
    candidates = {"kmeans": KMeansClusterer(restarts=3), "pic": PicClusterer(neighbours=8)}
    monkeypatch.setattr(clusterers, "PREFERRED", "kmeans")  # stands for SCAN: two fast candidates
    fitted = choose_partition(points, 2, candidates, seed=0)
    gap = fitted.scores["pic"] - fitted.scores["kmeans"]
    assert gap > 0.05  # k-means halves both rings: worse on the graph
    monkeypatch.setattr(clusterers, "TOLERANCE", gap / 2)
    assert fitted.chosen == fitted.highest == "pic"
    monkeypatch.setattr(clusterers, "TOLERANCE", gap * 2)
    assert fitted.highest == "pic" and fitted.chosen == "kmeans"
    assert (fitted.partition.assignments == fitted.partitions["kmeans"].assignments).all()
    # a preferred clusterer that is not a candidate leaves the highest to win
    monkeypatch.setattr(clusterers, "PREFERRED", "scan")
    assert fitted.chosen == "pic"


def test_on_many_small_groups_the_criterion_prefers_the_planted_partition_to_one_that_merges_and_splits():
    # 30 groups of 10: the shape of 40 people with 10 photos each
    points, labels = make_blobs(300, 16, centers=30, cluster_std=1.0, center_box=(-6, 6), random_state=3)
    merged = labels.copy()
    merged[merged == 1] = 0  # two groups as one, and another cut in two, so that k stays 30
    merged[np.flatnonzero(labels == 2)[:5]] = 1
    shuffled = np.random.default_rng(0).permutation(labels)
    partitions = {
        name: Partition(name, 30, assignments, np.zeros(300, np.float32), "confidence", {})
        for name, assignments in (("planted", labels), ("merged", merged), ("shuffled", shuffled))
    }
    scores = clusterers.label_free_scores(torch.as_tensor(points, dtype=torch.float32), partitions, seed=0)
    assert scores["planted"] > scores["merged"] > scores["shuffled"]
    assert scores["shuffled"] < 0.01  # chance keeps as many edges inside as it expects: nothing to explain


@pytest.mark.parametrize("name", list(CLUSTERERS))
def test_above_its_fit_limit_a_clusterer_fits_a_sample_and_places_the_rest_as_the_full_fit_does(name, monkeypatch):
    points, labels = blobs(n=480)
    clusterer = SCAN if name == "scan" else CLUSTERERS[name]()
    whole = clusterer.fit(points, 4, seed=0)
    monkeypatch.setattr(type(clusterer), "fit_limit", 120)
    sampled = clusterer.fit(points, 4, seed=0)
    assert sampled.summary["fitted_on"] == 120 and "fitted_on" not in whole.summary
    assert sampled.assignments.shape == sampled.scores.shape == (480,)
    assert adjusted_rand_score(whole.assignments, sampled.assignments) > 0.95
    assert adjusted_rand_score(labels, sampled.assignments) > 0.95
    if "points" in sampled.state:  # the vote's reference is the sample, not every point
        assert sampled.state["points"].shape[0] == sampled.state["assignments"].shape[0] == 120


def test_the_choice_measured_on_a_sample_of_the_graph_still_follows_the_rings(monkeypatch):
    points, labels = rings(n=800)
    candidates = {"kmeans": KMeansClusterer(restarts=3), "pic": PicClusterer(neighbours=8)}
    monkeypatch.setattr(clusterers, "CRITERION_SAMPLE", 300)
    choice = choose_partition(points, 2, candidates, seed=0)
    assert choice.chosen == "pic" and choice.partition.assignments.shape == (800,)
    assert adjusted_rand_score(labels, choice.partition.assignments) > 0.95


@pytest.mark.parametrize("n,k,neighbours", [(1797, 10, 10), (2000, 100, 6), (520, 26, 6), (400, 40, 3), (60, 20, 3)])
def test_the_criterions_graph_joins_each_point_to_a_third_of_an_average_cluster(n, k, neighbours):
    assert clusterers.criterion_neighbours(n, k) == neighbours
