"""Near-duplicate images: pairs whose learned features are almost the same, joined into groups.

Two images are near-copies when the cosine similarity of their features is at least ``SIMILARITY``; each
image is compared with its ``CANDIDATES`` most similar others (the neighbour search of
``deepcluster.clustering.neighbours``, so no n x n array), and pairs that share an image form one group.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

CANDIDATES = 5
SIMILARITY = 0.97


def duplicate_groups(
    similarities: np.ndarray, neighbours: np.ndarray, image_ids: list[str], threshold: float = SIMILARITY
) -> pd.DataFrame:
    """One row per image that has a near-copy: its ``group`` (0 is the largest group), ``row``, ``image_id`` and
    ``similarity`` to its most similar member of the group. From each image's candidates (n x count row numbers:
    ``CANDIDATES`` neighbours in the report) and their cosine similarities."""
    n = similarities.shape[0]
    close = similarities >= threshold
    sources = np.repeat(np.arange(n), close.sum(axis=1))
    pairs = coo_matrix((similarities[close], (sources, neighbours[close])), shape=(n, n)).tocsr()
    _, component = connected_components(pairs, directed=False)
    members = np.flatnonzero(np.bincount(component, minlength=n)[component] > 1)
    sizes = np.bincount(component[members], minlength=n)
    # groups numbered by size, the largest first, then by their first image
    first = np.full(n, n)
    np.minimum.at(first, component[members], members)
    order = np.lexsort((first, -sizes))
    renumber = np.empty(n, dtype=np.int64)
    renumber[order] = np.arange(n)
    best = np.maximum(pairs.max(axis=1).toarray().ravel(), pairs.max(axis=0).toarray().ravel())
    table = pd.DataFrame(
        {
            "group": renumber[component[members]],
            "row": members,
            "image_id": [image_ids[i] for i in members],
            "similarity": best[members].astype(np.float32),
        }
    )
    return table.sort_values(["group", "similarity"], ascending=[True, False], kind="stable").reset_index(drop=True)
