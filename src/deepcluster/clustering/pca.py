"""PCA with whitening, then L2 normalisation (DeepCluster step 2).

The covariance is accumulated batch by batch in float64, so a PCA can be fitted
on more features than fit in memory at once and applied to each batch as it is
extracted.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from deepcluster.distributed.reduce import all_reduce_sum


@dataclass
class PcaWhitening:
    """A fitted PCA; whitened, ``(x - mean) @ components / sqrt(eigenvalues)`` has identity covariance."""

    mean: torch.Tensor  # (D,)
    components: torch.Tensor  # (D, d): unit eigenvectors, largest eigenvalue first
    eigenvalues: torch.Tensor  # (d,), descending
    eigenvalue_floor: float  # added before the inverse square root

    @property
    def output_dim(self) -> int:
        return self.components.shape[1]

    def transform(self, features: torch.Tensor, whiten: bool = True, normalise: bool = True) -> torch.Tensor:
        """Project a batch of features, whiten unless told not to, then L2-normalise rows."""
        projection = self.components
        if whiten:
            projection = projection / torch.sqrt(self.eigenvalues + self.eigenvalue_floor)
        reduced = (features.float() - self.mean.to(features.device)) @ projection.to(features.device)
        if normalise:
            reduced = torch.nn.functional.normalize(reduced, dim=1)
        return reduced


class CovarianceAccumulator:
    """Running sum and second moment of feature batches, in float64."""

    def __init__(self, dim: int, device: torch.device | str = "cpu") -> None:
        self.count = 0
        self.total = torch.zeros(dim, dtype=torch.float64, device=device)
        self.second_moment = torch.zeros(dim, dim, dtype=torch.float64, device=device)

    def add(self, batch: torch.Tensor) -> None:
        batch = batch.to(self.total.device, torch.float64)
        self.count += batch.shape[0]
        self.total += batch.sum(dim=0)
        self.second_moment += batch.T @ batch

    def fit(self, n_components: int, eps: float = 1e-8) -> PcaWhitening:
        """Whitening PCA from what was accumulated, keeping ``n_components`` directions.

        ``eps`` (relative to the largest eigenvalue) keeps near-zero-variance
        directions, such as dead ReLU units, from being blown up to noise.
        """
        # every process's moments summed: the same PCA everywhere
        count = float(all_reduce_sum(torch.tensor(float(self.count), dtype=torch.float64, device=self.total.device)))
        total = all_reduce_sum(self.total.clone())
        second_moment = all_reduce_sum(self.second_moment.clone())
        if count < 2:
            raise ValueError("PCA needs at least two feature vectors")
        mean = total / count
        covariance = (second_moment - count * torch.outer(mean, mean)) / (count - 1)
        eigenvalues, eigenvectors = torch.linalg.eigh(covariance)
        eigenvalues = eigenvalues.flip(0)[:n_components].clamp_min(0)
        eigenvectors = eigenvectors.flip(1)[:, :n_components]
        floor = eps * float(eigenvalues[0]) + 1e-12
        return PcaWhitening(mean.float(), eigenvectors.float(), eigenvalues.float(), floor)


def fit_pca_whitening(features: torch.Tensor, n_components: int) -> PcaWhitening:
    """Fit a whitening PCA on features held in memory (rows are samples): this process's share of them
    when there are several processes, whose moments are summed in ``CovarianceAccumulator.fit``."""
    accumulator = CovarianceAccumulator(features.shape[1], device=features.device)
    accumulator.add(features)
    return accumulator.fit(n_components)


def usable_pca_dim(requested: int, feature_dim: int, n_samples: int) -> int:
    """The largest output size the data allows: no more than D, nor n - 1 directions."""
    if requested > feature_dim:
        raise ValueError(
            f"pca.dim = {requested} is larger than the model's feature size {feature_dim}; "
            f"set pca.dim to at most {feature_dim} in conf/base/parameters_deepcluster.yml"
        )
    return max(1, min(requested, n_samples - 1))
