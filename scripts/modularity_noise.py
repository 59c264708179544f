"""How far apart two clusterers' modularities must be before the label-free choice can tell them apart.

Fits every clusterer on a run's exported features (``data/07_model_output/final/features.npy``) with k
clusters, scores each partition's modularity on the 10-nearest-neighbour graph (what ``clustering.final:
auto`` compares), then does the same on the subgraphs of random halves of the images. The spread of the
difference between the preferred clusterer and each other one over the halves is the criterion's own noise:
the scale of ``clustering.tolerance``.

    python scripts/modularity_noise.py /tmp/run/data/07_model_output/final/features.npy --k 10
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from deepcluster.clustering.clusterers import (  # noqa: E402
    CRITERION_NEIGHBOURS,
    KMeansClusterer,
    PicClusterer,
    ScanClusterer,
    WardClusterer,
)
from deepcluster.clustering.graph import knn_graph, modularity  # noqa: E402
from deepcluster.evaluation import clustering_points  # noqa: E402


def half_differences(graph, partitions: dict[str, np.ndarray], preferred: str, halves: int, seed: int):
    """Per other clusterer, the preferred one's modularity minus its own on each of ``halves`` random halves."""
    rng = np.random.default_rng(seed)
    n = graph.shape[0]
    differences: dict[str, list[float]] = {name: [] for name in partitions if name != preferred}
    for _ in range(halves):
        half = np.sort(rng.choice(n, n // 2, replace=False))
        subgraph = graph[half][:, half]
        scores = {name: modularity(subgraph, assignments[half]) for name, assignments in partitions.items()}
        for name in differences:
            differences[name].append(scores[preferred] - scores[name])
    return differences


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("features", type=Path, help="a run's exported features (.npy)")
    parser.add_argument("--k", type=int, required=True, help="clusters (the collection's groups)")
    parser.add_argument("--scan-neighbours", type=int, default=20, help="scan.neighbours as the run resolved it")
    parser.add_argument("--preferred", default="scan")
    parser.add_argument("--halves", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    points = clustering_points(torch.as_tensor(np.load(args.features)))
    scan = ScanClusterer({"neighbours": args.scan_neighbours})
    clusterers = [KMeansClusterer(), WardClusterer(), PicClusterer(), scan]
    partitions = {c.name: c.fit(points, args.k, args.seed).assignments for c in clusterers if c.fits(len(points))}
    graph = knn_graph(points, CRITERION_NEIGHBOURS)
    whole = {name: modularity(graph, assignments) for name, assignments in partitions.items()}
    print("modularity, all images: " + ", ".join(f"{name} {value:.4f}" for name, value in whole.items()))
    for name, values in half_differences(graph, partitions, args.preferred, args.halves, args.seed).items():
        print(
            f"{args.preferred} - {name}: {whole[args.preferred] - whole[name]:+.4f} on all images; "
            f"over {args.halves} random halves mean {np.mean(values):+.4f}, standard deviation {np.std(values):.4f}"
        )


if __name__ == "__main__":
    main()
