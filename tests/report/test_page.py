import base64
import io
import re
from html.parser import HTMLParser

import numpy as np
import pandas as pd
from PIL import Image

from deepcluster.clustering.partition import Partition
from deepcluster.data.collection import collection_from_arrays
from deepcluster.report.page import (
    ATYPICAL,
    SHOWN_CLUSTERS,
    SHOWN_GROUPS,
    TYPICAL,
    RunSummary,
    cluster_members,
    render_report,
)


class Page(HTMLParser):
    """The ids of a page's elements and the sources of its images."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.ids, self.images = [], []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            self.ids.append(attrs["id"])
        if tag == "img":
            self.images.append(attrs)


def noise_collection(n: int, size: int, channels: int, seed: int = 0):
    pixels = np.random.default_rng(seed).integers(0, 256, (n, channels, size, size), dtype=np.uint8)
    return collection_from_arrays(pixels, None, [], None, "planted")


def partition_of(clusters: np.ndarray, seed: int = 0) -> Partition:
    scores = np.random.default_rng(seed).random(len(clusters)).astype(np.float32)
    return Partition("kmeans", int(clusters.max()) + 1, clusters, scores, "distance", {})


def summary(skipped: pd.DataFrame | None = None) -> RunSummary:
    return RunSummary(
        title="deepcluster on <planted>",
        counts={"images_found": 10, "images_used": 10, "images_skipped": 0},
        settings={"method.name": "deepcluster", "training.lr": 0.05},
        subjects=pd.DataFrame({"subject": ["trained"], "knn_modularity": [0.8]}),
        figures={},
        skipped=pd.DataFrame(columns=["path", "reason"]) if skipped is None else skipped,
    )


def outliers_of(n: int) -> pd.DataFrame:
    rows = np.arange(n)
    return pd.DataFrame(
        {"rank": rows + 1, "row": rows, "image_id": rows.astype(str), "cluster": 0, "outlier_score": 1.0}
    )


def test_each_cluster_shows_its_most_typical_images_first_and_its_least_typical_apart():
    images = noise_collection(60, 8, 1)
    clusters = np.repeat([0, 1, 2], [30, 20, 10])
    partition = partition_of(clusters)
    members = dict(cluster_members(partition))
    for cluster, rows in members.items():
        assert sorted(rows) == list(np.flatnonzero(clusters == cluster))
        assert np.all(np.diff(partition.scores[rows]) >= 0)  # nearest the centroid first
    ids = [f"img{i}.png" for i in range(60)]
    duplicates = pd.DataFrame(
        {"group": [0, 0], "row": [3, 40], "image_id": ["img3.png", "img40.png"], "similarity": [0.99, 0.99]}
    )
    page = Page(render_report(images, ids, partition, outliers_of(60), duplicates, summary()))
    assert {
        "run",
        "clusters",
        "cluster-0",
        "cluster-1",
        "cluster-2",
        "outliers",
        "duplicates",
        "group-0",
        "skipped",
    } <= set(page.ids)
    cluster_0 = re.search(
        r"id='cluster-0'>.*?</section>", render_report(images, ids, partition, outliers_of(60), duplicates, summary())
    )
    shown = re.findall(r'title="(img\d+\.png)"', cluster_0.group())
    expected = list(members[0][:TYPICAL]) + list(members[0][-ATYPICAL:])
    assert shown == [f"img{i}.png" for i in expected]


def test_thumbnails_are_embedded_images_that_decode():
    images = noise_collection(20, 48, 3)
    page = Page(
        render_report(
            images,
            [str(i) for i in range(20)],
            partition_of(np.arange(20) % 2),
            outliers_of(20),
            pd.DataFrame(columns=["group", "row", "image_id", "similarity"]),
            summary(),
        )
    )
    assert page.images
    for attrs in page.images:
        kind, data = re.fullmatch(r"data:image/(png|jpeg);base64,(.+)", attrs["src"]).groups()
        with Image.open(io.BytesIO(base64.b64decode(data))) as picture:
            assert picture.format.lower() == kind
            assert max(picture.size) <= 64


def test_the_page_stays_small_with_many_clusters_and_the_rest_go_to_an_index():
    """300 clusters of 64-pixel colour noise (what compresses worst): 100 in full, 200 in the index, < 20 MB."""
    n = 300 * 13
    images = noise_collection(n, 64, 3)
    clusters = np.arange(n) % 300
    duplicates = pd.DataFrame(
        {
            "group": np.repeat(np.arange(150), 10),
            "row": np.arange(1500),
            "image_id": np.arange(1500).astype(str),
            "similarity": 0.99,
        }
    )
    text = render_report(
        images, [str(i) for i in range(n)], partition_of(clusters), outliers_of(n), duplicates, summary()
    )
    page = Page(text)
    assert sum(i.startswith("cluster-") and i != "cluster-index" for i in page.ids) == SHOWN_CLUSTERS
    assert "cluster-index" in page.ids
    assert [i for i in page.ids if i.startswith("group-")] == [f"group-{g}" for g in range(SHOWN_GROUPS)]
    assert len(text.encode()) < 20 * 2**20


def test_skipped_files_are_listed_with_their_reasons_and_names_are_escaped():
    images = noise_collection(10, 8, 1)
    skipped = pd.DataFrame({"path": ["bad<1>.png"], "reason": ["truncated file"]})
    text = render_report(
        images,
        [f"<{i}>" for i in range(10)],
        partition_of(np.arange(10) % 2),
        outliers_of(10),
        pd.DataFrame(columns=["group", "row", "image_id", "similarity"]),
        summary(skipped),
    )
    assert "bad&lt;1&gt;.png" in text and "truncated file" in text
    assert "<0>" not in text and 'title="&lt;0&gt;"' in text
