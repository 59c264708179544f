import numpy as np
import pytest
import torch
from sklearn.decomposition import PCA

from deepcluster.clustering.pca import CovarianceAccumulator, fit_pca_whitening, usable_pca_dim


@pytest.fixture
def correlated():
    rng = np.random.default_rng(0)
    mixing = rng.normal(size=(20, 20))
    return torch.from_numpy(rng.normal(size=(5000, 20)) @ mixing + 3.0).float()


def test_whitening_gives_identity_covariance(correlated):
    pca = fit_pca_whitening(correlated, 10)
    reduced = pca.transform(correlated, normalise=False).double()
    covariance = torch.cov(reduced.T)
    torch.testing.assert_close(covariance, torch.eye(10, dtype=torch.float64), atol=1e-3, rtol=0)
    assert reduced.mean(dim=0).abs().max() < 1e-3


def test_components_and_variances_match_scikit_learn(correlated):
    pca = fit_pca_whitening(correlated, 5)
    reference = PCA(n_components=5).fit(correlated.numpy().astype(np.float64))
    np.testing.assert_allclose(pca.eigenvalues.numpy(), reference.explained_variance_, rtol=1e-4)
    alignment = np.abs((pca.components.numpy().T * reference.components_).sum(axis=1))
    np.testing.assert_allclose(alignment, 1.0, atol=1e-4)


def test_rows_are_l2_normalised_by_default(correlated):
    reduced = fit_pca_whitening(correlated, 8).transform(correlated)
    torch.testing.assert_close(reduced.norm(dim=1), torch.ones(len(correlated)))


def test_batches_accumulate_to_the_same_fit(correlated):
    accumulator = CovarianceAccumulator(20)
    for batch in correlated.split(700):
        accumulator.add(batch)
    streamed = accumulator.fit(6)
    whole = fit_pca_whitening(correlated, 6)
    torch.testing.assert_close(streamed.eigenvalues, whole.eigenvalues)
    torch.testing.assert_close(streamed.mean, whole.mean)


def test_pca_dim_larger_than_features_names_the_setting():
    with pytest.raises(ValueError, match=r"pca.dim = 300 is larger than the model's feature size 128"):
        usable_pca_dim(300, feature_dim=128, n_samples=1000)


def test_pca_dim_is_capped_by_the_number_of_samples():
    assert usable_pca_dim(256, feature_dim=512, n_samples=100) == 99
    assert usable_pca_dim(64, feature_dim=512, n_samples=100) == 64
