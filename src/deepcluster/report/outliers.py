"""Which images fit the collection least, without labels.

An image's outlier score is its mean cosine distance to its ``NEIGHBOURS`` most similar other images in the
learned features, divided by the median of that distance over the whole collection: 1 is a typical image,
3 is three times farther from its nearest images than the typical one. It is the k-nearest-neighbour
distance of Ramaswamy et al. (2000), averaged over the neighbours so that one near-copy of an odd image
does not hide it, and scaled so that its values read the same on every collection.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

NEIGHBOURS = 10


def outlier_scores(similarities: np.ndarray) -> np.ndarray:
    """Each image's outlier score from its neighbours' cosine similarities (n x neighbours, most similar first)."""
    distances = 1.0 - similarities[:, :NEIGHBOURS].astype(np.float64).mean(axis=1)
    return (distances / max(float(np.median(distances)), 1e-12)).astype(np.float32)


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
