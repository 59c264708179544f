"""Clustering quality: agreement between two labellings, and the shape of a clustering.

NMI and ARI are computed from the contingency table here (and tested against
scikit-learn); ACC uses the Hungarian algorithm from scipy.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment


def contingency_table(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Counts of every (value of ``a``, value of ``b``) pair, values relabelled to 0..m-1."""
    a = np.asarray(a).ravel()
    b = np.asarray(b).ravel()
    if a.shape != b.shape:
        raise ValueError(f"labellings differ in length: {a.size} and {b.size}")
    _, a_codes = np.unique(a, return_inverse=True)
    _, b_codes = np.unique(b, return_inverse=True)
    table = np.zeros((a_codes.max(initial=-1) + 1, b_codes.max(initial=-1) + 1), dtype=np.int64)
    np.add.at(table, (a_codes, b_codes), 1)
    return table


def _entropy(counts: np.ndarray) -> float:
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log(p)).sum())


def normalized_mutual_information(a: np.ndarray, b: np.ndarray) -> float:
    """NMI with the arithmetic-mean normaliser (scikit-learn's default)."""
    table = contingency_table(a, b)
    n = table.sum()
    h_a, h_b = _entropy(table.sum(axis=1)), _entropy(table.sum(axis=0))
    if h_a == 0.0 and h_b == 0.0:
        return 1.0  # both labellings are a single group: identical
    rows, cols = np.nonzero(table)
    joint = table[rows, cols] / n
    marginal = np.outer(table.sum(axis=1), table.sum(axis=0))[rows, cols] / n**2
    mutual_information = float((joint * np.log(joint / marginal)).sum())
    return max(0.0, mutual_information / ((h_a + h_b) / 2))


def adjusted_rand_index(a: np.ndarray, b: np.ndarray) -> float:
    """Rand index corrected for chance (Hubert and Arabie)."""
    table = contingency_table(a, b)

    def pairs(x: np.ndarray) -> float:
        return float((x * (x - 1) / 2).sum())

    index = pairs(table)
    row_pairs, col_pairs = pairs(table.sum(axis=1)), pairs(table.sum(axis=0))
    total_pairs = pairs(np.array([table.sum()]))
    expected = row_pairs * col_pairs / total_pairs if total_pairs else 0.0
    maximum = (row_pairs + col_pairs) / 2
    if maximum == expected:
        return 1.0
    return (index - expected) / (maximum - expected)


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
    """How the points spread over the k clusters: non-empty count, extremes, entropy."""
    sizes = np.bincount(np.asarray(assignments), minlength=k)
    non_empty = sizes[sizes > 0]
    entropy = _entropy(sizes)
    return {
        "non_empty": int(non_empty.size),
        "empty": int(k - non_empty.size),
        "size_min": int(non_empty.min()),
        "size_max": int(non_empty.max()),
        # 1.0 means perfectly even sizes; near 0 means everything in one cluster
        "size_entropy_normalised": entropy / np.log(k) if k > 1 else 0.0,
    }


def labelling_agreement(labels: np.ndarray, clusters: np.ndarray) -> dict[str, float]:
    """The standard external metrics of a clustering against ground-truth labels."""
    return {
        "acc": hungarian_accuracy(labels, clusters),
        "nmi": normalized_mutual_information(labels, clusters),
        "ari": adjusted_rand_index(labels, clusters),
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
