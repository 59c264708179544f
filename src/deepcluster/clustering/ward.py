"""Ward's agglomerative clustering (scikit-learn): the clusterer of the pixels' PCA baseline, and a candidate
for the final partition."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
from sklearn.cluster import AgglomerativeClustering

from deepcluster.clustering.partition import Clusterer, Partition


@dataclass(frozen=True)
class WardClusterer(Clusterer):
    """Ward's agglomerative clustering (scikit-learn): merges that add the least within-cluster variance.

    It keeps every pairwise distance, n^2 / 2 numbers: above ``max_images`` it does not run.
    """

    max_images: int = 10000
    name: ClassVar[str] = "ward"

    def fits(self, n_points: int) -> bool:
        return n_points <= self.max_images

    def fit(self, points: torch.Tensor, k: int, seed: int) -> Partition:
        if not self.fits(points.shape[0]):
            raise ValueError(
                f"Ward on {points.shape[0]} images needs {points.shape[0] ** 2 * 4 / 2**30:.1f} GiB of distances; "
                f"Ward keeps at most {self.max_images}: use another clusterer"
            )
        assignments = AgglomerativeClustering(k, linkage="ward").fit_predict(points.float().cpu().numpy())
        return self._voted(points, k, assignments.astype(np.int64))
