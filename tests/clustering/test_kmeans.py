import numpy as np
import pytest
import torch
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score

from deepcluster.clustering.kmeans import (
    assign_to_nearest_centroid,
    check_k,
    choose_backend,
    faiss_kmeans,
    kmeans,
    kmeans_best_of,
    spherical_kmeans,
    torch_kmeans,
)

pytestmark = pytest.mark.learning  # CI runs these again on other floating-point paths


@pytest.fixture
def points():
    rng = np.random.default_rng(0)
    return rng.normal(size=(3000, 16)).astype(np.float32)


@pytest.fixture
def blobs():
    rng = np.random.default_rng(1)
    centres = 20.0 * np.eye(8)[:6]  # pairwise distance 28, noise std 1
    labels = np.repeat(np.arange(6), 100)
    return (centres[labels] + rng.normal(size=(600, 8))).astype(np.float32), labels


def test_torch_and_faiss_agree_from_the_same_initialisation(points):
    init = points[np.random.default_rng(3).choice(len(points), 50, replace=False)]
    ours = torch_kmeans(torch.from_numpy(points), 50, n_iter=20, init_centroids=torch.from_numpy(init))
    reference = faiss_kmeans(points, 50, n_iter=20, init_centroids=init)
    assert ours.objective == pytest.approx(reference.objective, rel=0.01)


def test_torch_and_scikit_learn_agree_from_the_same_initialisation(points):
    init = points[np.random.default_rng(4).choice(len(points), 30, replace=False)]
    ours = torch_kmeans(torch.from_numpy(points), 30, n_iter=20, init_centroids=torch.from_numpy(init))
    reference = KMeans(30, init=init, n_init=1, max_iter=20, tol=0, algorithm="lloyd").fit(points)
    assert ours.objective == pytest.approx(reference.inertia_, rel=0.01)
    assert adjusted_rand_score(ours.assignments, reference.labels_) > 0.95


@pytest.mark.parametrize("backend", ["torch", "faiss"])
def test_planted_blobs_are_recovered(blobs, backend):
    data, labels = blobs
    result = kmeans_best_of(torch.from_numpy(data), 6, restarts=3, n_iter=20, seed=0, backend=backend)
    assert adjusted_rand_score(labels, result.assignments) == pytest.approx(1.0)
    assert result.centroids.shape == (6, 8)
    # distances are the squared distances to the assigned centroid
    expected = ((data - result.centroids[result.assignments]) ** 2).sum(axis=1)
    np.testing.assert_allclose(result.distances, expected, rtol=1e-3, atol=1e-3)


def test_empty_clusters_are_refilled_by_splitting(blobs):
    data, _ = blobs
    # four identical initial centroids: three of them start empty
    init = np.repeat(data[:1], 4, axis=0)
    init = np.concatenate([init, data[[150, 350]]])
    result = torch_kmeans(torch.from_numpy(data), 6, n_iter=20, init_centroids=torch.from_numpy(init))
    assert result.n_splits >= 3
    assert result.n_empty == 0


def test_nearest_centroid_matches_brute_force(points):
    centroids = torch.from_numpy(points[:40])
    # a tiny chunk budget forces many chunks
    labels, distances = assign_to_nearest_centroid(torch.from_numpy(points), centroids, chunk_bytes=4096)
    brute = torch.cdist(torch.from_numpy(points).double(), centroids.double()) ** 2
    torch.testing.assert_close(labels, brute.argmin(dim=1))
    torch.testing.assert_close(distances.double(), brute.min(dim=1).values, rtol=1e-4, atol=1e-3)


def test_same_seed_same_result(points):
    first = kmeans(torch.from_numpy(points), 20, seed=7, backend="torch")
    second = kmeans(torch.from_numpy(points), 20, seed=7, backend="torch")
    np.testing.assert_array_equal(first.assignments, second.assignments)


def test_best_of_restarts_keeps_the_lowest_objective(points):
    tensor = torch.from_numpy(points)
    best = kmeans_best_of(tensor, 10, restarts=4, seed=0, backend="torch")
    singles = [kmeans(tensor, 10, seed=s, backend="torch").objective for s in range(4)]
    assert best.objective == pytest.approx(min(singles))


def test_k_larger_than_the_data_names_the_setting():
    with pytest.raises(ValueError, match=r"kmeans.k = 50 is larger than the number of images \(20\)"):
        check_k(50, 20)
    with pytest.raises(ValueError, match="kmeans.k = 50"):
        kmeans(torch.zeros(20, 4), 50)


def test_unknown_backend_is_refused():
    with pytest.raises(ValueError, match=r"k-means backend 'sklearn' is unknown; choose one of"):
        choose_backend("sklearn", torch.device("cpu"))
    assert choose_backend("auto", torch.device("cpu")) == "faiss"


def test_spherical_kmeans_agrees_with_scikit_learn_on_normalised_rows():
    generator = torch.Generator().manual_seed(0)
    directions = torch.nn.functional.normalize(torch.randn(5, 16, generator=generator), dim=1)
    labels = torch.arange(5).repeat_interleave(60)
    points = directions[labels] * torch.rand(300, 1, generator=generator).add(0.5)  # lengths must not matter
    points += 0.15 * torch.randn(300, 16, generator=generator)
    normalised = torch.nn.functional.normalize(points, dim=1)
    start = normalised[[0, 60, 120, 180, 240]]  # the same start for both, one point of each class
    ours = spherical_kmeans(points, 5, n_iter=20, init_centroids=start)
    reference = KMeans(5, init=start.numpy(), n_init=1).fit(normalised.numpy())
    assert adjusted_rand_score(reference.labels_, ours.assignments.numpy()) == pytest.approx(1.0)
    assert adjusted_rand_score(labels.numpy(), ours.assignments.numpy()) > 0.9
    torch.testing.assert_close(ours.centroids.norm(dim=1), torch.ones(5))
    assert ours.n_empty == 0


def test_spherical_kmeans_keeps_the_centroid_of_a_cluster_that_empties():
    points = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]])
    far = torch.tensor([[-1.0, -1.0]])  # a centroid no point is near
    start = torch.cat([points[[0, 2]], far])
    result = spherical_kmeans(points, 3, n_iter=3, init_centroids=start)
    assert result.n_empty == 1
    torch.testing.assert_close(result.centroids[2], torch.nn.functional.normalize(far, dim=1)[0])
