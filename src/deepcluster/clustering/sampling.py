"""Resampling the training set uniformly over clusters (DeepCluster step 4)."""

from __future__ import annotations

import numpy as np


def sample_uniformly_over_clusters(assignments: np.ndarray, n_samples: int, rng: np.random.Generator) -> np.ndarray:
    """Indices into the dataset, drawn so that every non-empty cluster is equally represented.

    Each of the k' non-empty clusters contributes ``n_samples // k' + 1`` draws,
    with replacement only when the cluster is smaller than that; the draws are
    shuffled and truncated to ``n_samples``. The returned values index the
    original dataset, so ``assignments[indices]`` are the matching pseudo-labels.
    """
    assignments = np.asarray(assignments)
    if n_samples <= 0:
        raise ValueError(f"n_samples must be positive, got {n_samples}")
    clusters = np.unique(assignments)
    per_cluster = n_samples // len(clusters) + 1
    order = np.argsort(assignments, kind="stable")
    bounds = np.searchsorted(assignments[order], clusters, side="left")
    ends = np.append(bounds[1:], len(order))
    draws = []
    for start, end in zip(bounds, ends):
        members = order[start:end]
        draws.append(rng.choice(members, size=per_cluster, replace=len(members) < per_cluster))
    indices = np.concatenate(draws)
    rng.shuffle(indices)
    return indices[:n_samples]
