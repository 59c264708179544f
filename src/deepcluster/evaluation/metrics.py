"""Clustering quality: agreement between two labellings, and the shape of a clustering.

NMI and ARI are scikit-learn's; ACC uses the Hungarian algorithm from scipy on
the contingency table.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score
from sklearn.metrics.cluster import contingency_matrix


def contingency_table(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Counts of every (value of ``a``, value of ``b``) pair, values relabelled to 0..m-1."""
    a, b = np.asarray(a).ravel(), np.asarray(b).ravel()
    if a.shape != b.shape:
        raise ValueError(f"labellings differ in length: {a.size} and {b.size}")
    return contingency_matrix(a, b)


def _entropy(counts: np.ndarray) -> float:
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log(p)).sum())


def hungarian_accuracy(labels: np.ndarray, clusters: np.ndarray) -> float:
    """Accuracy under the best one-to-one map from clusters to classes.

    With more clusters than classes, the clusters left unmatched count as errors,
    which is the field's convention for ACC at k = number of classes.
    """
    table = contingency_table(clusters, labels)
    rows, cols = linear_sum_assignment(table, maximize=True)
    return float(table[rows, cols].sum() / table.sum())


def majority_accuracy(labels: np.ndarray, clusters: np.ndarray) -> float:
    """Accuracy when every cluster predicts its most frequent class (over-clustering ACC)."""
    table = contingency_table(clusters, labels)
    return float(table.max(axis=1).sum() / table.sum())


def cluster_size_summary(assignments: np.ndarray, k: int) -> dict[str, float]:
    """How the points spread over the k clusters (ids 0..k-1): non-empty count, extremes, entropy."""
    assignments = np.asarray(assignments)
    if assignments.size and (assignments.min() < 0 or assignments.max() >= k):
        raise ValueError(f"cluster ids must lie in 0..{k - 1}; got {assignments.min()}..{assignments.max()}")
    sizes = np.bincount(assignments, minlength=k)
    non_empty = sizes[sizes > 0]
    entropy = _entropy(sizes) if non_empty.size else 0.0
    return {
        "non_empty": int(non_empty.size),
        "empty": int(k - non_empty.size),
        "size_min": int(non_empty.min()) if non_empty.size else 0,
        "size_max": int(non_empty.max(initial=0)),
        # 1.0 means perfectly even sizes; near 0 means everything in one cluster
        "size_entropy_normalised": entropy / np.log(k) if k > 1 else 0.0,
    }


def labelling_agreement(labels: np.ndarray, clusters: np.ndarray) -> dict[str, float]:
    """The standard external metrics of a clustering against ground-truth labels."""
    return {
        "acc": hungarian_accuracy(labels, clusters),
        "nmi": float(normalized_mutual_info_score(labels, clusters)),
        "ari": float(adjusted_rand_score(labels, clusters)),
        "majority_acc": majority_accuracy(labels, clusters),
    }


def feature_collapse_std(features, chunk: int = 4096) -> float:
    """Mean per-dimension std of L2-normalised features: ~0 collapsed, ~1/sqrt(d) healthy.

    Takes a numpy array or a torch tensor (on any device) and works through it in
    chunks, so memory stays O(d).
    """
    import torch

    features = torch.as_tensor(features)
    total = torch.zeros(features.shape[1], dtype=torch.float64, device=features.device)
    squares = torch.zeros_like(total)
    for start in range(0, features.shape[0], chunk):
        part = torch.nn.functional.normalize(features[start : start + chunk].double(), dim=1, eps=1e-12)
        total += part.sum(dim=0)
        squares += (part * part).sum(dim=0)
    n = features.shape[0]
    variance = (squares - total * total / n) / max(n - 1, 1)
    return float(variance.clamp_min(0).sqrt().mean())
