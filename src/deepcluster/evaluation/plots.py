"""Pictures of a clustering that a person can look at."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image, ImageDraw

from deepcluster.data.collection import ImageCollection, as_picture, iterate_pixel_batches


def nearest_members(
    assignments: np.ndarray, distances: np.ndarray, n_clusters: int, per_cluster: int
) -> list[tuple[int, int, np.ndarray]]:
    """For the ``n_clusters`` largest clusters: (cluster, size, indices of its members nearest the centroid)."""
    sizes = np.bincount(assignments)
    largest = np.argsort(-sizes, kind="stable")[:n_clusters]
    rows = []
    for cluster in largest:
        if sizes[cluster] == 0:
            break
        members = np.flatnonzero(assignments == cluster)
        nearest = members[np.argsort(distances[members], kind="stable")[:per_cluster]]
        rows.append((int(cluster), int(sizes[cluster]), nearest))
    return rows


def cluster_montage(
    images: ImageCollection,
    assignments: np.ndarray,
    distances: np.ndarray,
    n_clusters: int = 10,
    per_cluster: int = 12,
    tile: int = 48,
) -> Image.Image:
    """One row per large cluster (largest first): its id and size, then its members nearest the centroid."""
    rows = nearest_members(np.asarray(assignments), np.asarray(distances), n_clusters, per_cluster)
    chosen = np.concatenate([members for _, _, members in rows])
    pixels = torch.cat(list(iterate_pixel_batches(images, chosen, 256, torch.device("cpu")))).numpy()
    label_width, gap = 110, 2
    montage = Image.new("RGB", (label_width + per_cluster * (tile + gap), len(rows) * (tile + gap)), "white")
    draw = ImageDraw.Draw(montage)
    position = 0
    for row, (cluster, size, members) in enumerate(rows):
        top = row * (tile + gap)
        draw.text((4, top + tile // 2 - 10), f"cluster {cluster}\n{size} images", fill="black")
        for column in range(len(members)):
            picture = as_picture(pixels[position]).convert("RGB").resize((tile, tile), Image.Resampling.NEAREST)
            position += 1
            montage.paste(picture, (label_width + column * (tile + gap), top))
    return montage


def _figure(width: float = 6.0, height: float = 4.0):
    import matplotlib

    matplotlib.use("Agg")  # files only, no screen
    from matplotlib import pyplot as plt

    return plt.subplots(figsize=(width, height))


# the round metrics drawn over the rounds: label agreement, stability, balance, the label-free signal
ROUND_CURVES = [
    "clusters_vs_labels/nmi",
    "clusters_vs_labels/acc_one_to_one",
    "clusters_vs_labels/acc_majority_vote",
    "clusters_vs_previous_round/nmi",
    "clusters/size_entropy_normalised",
    "network/knn_modularity",
]


def png_bytes(figure, dpi: int = 80) -> bytes:
    """A matplotlib figure as PNG, the figure closed."""
    import io

    from matplotlib import pyplot as plt

    encoded = io.BytesIO()
    figure.savefig(encoded, format="png", dpi=dpi)
    plt.close(figure)
    return encoded.getvalue()


def metric_curves(rounds: list[dict], names: list[str] = ROUND_CURVES):
    """One line per metric over rounds (metrics missing in a round are left out)."""
    figure, axes = _figure(7, 4)
    for name in names:
        points = [(r["round"], r[name]) for r in rounds if name in r]
        if points:
            x, y = zip(*points)
            axes.plot(x, y, marker=".", label=name)
    axes.set_xlabel("round")
    axes.set_ylim(0, 1.02)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8)
    axes.set_title("DeepCluster metrics per round")
    figure.tight_layout()
    return figure


def cluster_size_histogram(assignments: np.ndarray, k: int):
    """How many clusters have each size (empty clusters in the first bar)."""
    sizes = np.bincount(np.asarray(assignments), minlength=k)
    figure, axes = _figure()
    axes.hist(sizes, bins=min(50, max(10, k // 5)), color="tab:blue")
    axes.set_xlabel("images in the cluster")
    axes.set_ylabel("clusters")
    axes.set_title(f"cluster sizes: {int((sizes == 0).sum())} empty of {k}, largest {sizes.max()}")
    figure.tight_layout()
    return figure


def embedding_scatter(features: np.ndarray, clusters: np.ndarray, labels: np.ndarray | None, seed: int = 0):
    """A 2-D t-SNE of the features, coloured by cluster and, beside it, by label."""
    from sklearn.manifold import TSNE

    points = TSNE(n_components=2, init="pca", random_state=seed, perplexity=min(30, len(features) - 1))
    points = points.fit_transform(np.asarray(features, dtype=np.float32))
    panels = [("cluster", clusters)] + ([("label", labels)] if labels is not None else [])
    figure, _ = _figure(5.5 * len(panels), 5)
    figure.clf()
    axes = np.atleast_1d(figure.subplots(1, len(panels)))
    for ax, (title, colour) in zip(axes, panels):
        ax.scatter(points[:, 0], points[:, 1], c=colour, s=3, cmap="tab20")
        ax.set_title(f"t-SNE of the final features, coloured by {title}")
        ax.set_xticks([])
        ax.set_yticks([])
    figure.tight_layout()
    return figure


def confusion_figure(labels: np.ndarray, clusters: np.ndarray, class_names: list[str]):
    """Clusters (rows, in the order of their best-matching class) against classes (columns)."""
    from scipy.optimize import linear_sum_assignment

    from deepcluster.evaluation.metrics import contingency_table

    table = contingency_table(clusters, labels)
    rows, cols = linear_sum_assignment(table, maximize=True)
    order = list(rows[np.argsort(cols)]) + [r for r in range(table.shape[0]) if r not in rows]
    table = table[order]
    figure, axes = _figure(6, 5)
    image = axes.imshow(table, cmap="Blues")
    figure.colorbar(image, ax=axes)
    names = class_names if len(class_names) == table.shape[1] else [str(c) for c in range(table.shape[1])]
    axes.set_xticks(range(table.shape[1]), names, rotation=60, fontsize=7)
    axes.set_ylabel("cluster (matched order)")
    axes.set_xlabel("class")
    axes.set_title("clusters against classes")
    figure.tight_layout()
    return figure
