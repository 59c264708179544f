"""Which images fit the collection least, without labels.

An image's outlier score is the mean of two distances, each its mean cosine distance to its ``NEIGHBOURS``
most similar other images divided by the collection's median of it (so 1 is typical, 3 three times farther
than typical): one in the learned features (what the image shows, as the network sees it), one in the pixel
descriptors of ``deepcluster.report.duplicates`` (how it looks). Each is the k-nearest-neighbour distance of
Ramaswamy et al. (2000), averaged over the neighbours so that one near-copy of an odd image does not hide it.
The pixels are needed beside the features: DeepCluster gives foreign images a cluster of their own, in which
they are each other's neighbours (docs/report.md).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

NEIGHBOURS = 10


def neighbour_distance(similarities: np.ndarray) -> np.ndarray:
    """Each image's mean cosine distance to its ``NEIGHBOURS`` nearest, over the collection's median of it,
    from its neighbours' cosine similarities (n x count, most similar first)."""
    distances = 1.0 - similarities[:, :NEIGHBOURS].astype(np.float64).mean(axis=1)
    return distances / max(float(np.median(distances)), 1e-12)


def outlier_scores(feature_similarities: np.ndarray, pixel_similarities: np.ndarray) -> np.ndarray:
    """Each image's outlier score, from its neighbours' similarities in the features and in the pixels."""
    return ((neighbour_distance(feature_similarities) + neighbour_distance(pixel_similarities)) / 2).astype(np.float32)


def outlier_table(scores: np.ndarray, image_ids: list[str], clusters: np.ndarray) -> pd.DataFrame:
    """Every image with its outlier score and cluster, the least typical first (``rank`` 1 is the most odd)."""
    order = np.argsort(-scores, kind="stable")
    return pd.DataFrame(
        {
            "rank": np.arange(1, len(order) + 1),
            "row": order,
            "image_id": [image_ids[i] for i in order],
            "cluster": np.asarray(clusters)[order],
            "outlier_score": scores[order],
        }
    )
