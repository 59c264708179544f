"""Where a finished run's largest misplaced group came from, round by round.

    python scripts/trace_misplaced_group.py /tmp/mnist_run            # the largest misplaced group
    python scripts/trace_misplaced_group.py /tmp/mnist_run --class 7  # the largest one of class 7

The final partition (``07_model_output/final/assignments.parquet``) is matched one-to-one to the classes
(Hungarian, as ACC). The misplaced group is the largest set of one class's images that share a cluster
matched to another class. For every round, the script prints which cluster of that round's targets
(``07_model_output/rounds/round_NNN/assignments.parquet``, one row per image in the index's order) holds
most of the group, and that cluster's largest classes; first it names the group's first images, to look at.
A group that is a pure cluster of its own in the k-means rounds and then moves between other classes'
clusters is a mode of the class that the clustering attaches arbitrarily, not noise. Labels are read only
here, after the run.

``--neighbours 0,1,16`` adds where the group sits in the features: for the pixels and for each named round's
kept checkpoint, the classes of each member's ten nearest images outside the group (cosine). A group whose
neighbours are its own class in the pixels and another class under the network was moved there by training.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment
from sklearn.neighbors import NearestNeighbors

NEIGHBOURS = 10


def matched_class_of_cluster(classes: np.ndarray, clusters: np.ndarray) -> dict[int, str]:
    """Each cluster's class under the one-to-one match that maximises agreement (unmatched clusters: none)."""
    table = pd.crosstab(clusters, classes)
    rows, cols = linear_sum_assignment(table.to_numpy(), maximize=True)
    return {int(table.index[r]): str(table.columns[c]) for r, c in zip(rows, cols)}


def largest_misplaced_group(final: pd.DataFrame, class_name: str | None) -> tuple[np.ndarray, str, int, str]:
    """The rows of the largest set of one class's images in a cluster matched to another class, with that
    class, the cluster and the cluster's matched class."""
    classes = final["class_name"].astype(str).to_numpy()
    clusters = final["cluster"].to_numpy()
    matched = matched_class_of_cluster(classes, clusters)
    counts = pd.crosstab(classes, clusters)
    if class_name is not None and class_name not in counts.index:
        raise SystemExit(f"--class {class_name}: no such class; the classes are {', '.join(counts.index)}")
    best = (0, "", -1)
    for name in counts.index if class_name is None else [class_name]:
        for cluster, count in counts.loc[name].items():
            if matched.get(int(cluster)) != name and count > best[0]:
                best = (int(count), name, int(cluster))
    count, name, cluster = best
    if not count:
        raise SystemExit("no misplaced images: every image is in its class's cluster")
    rows = np.flatnonzero((classes == name) & (clusters == cluster))
    return rows, name, cluster, matched.get(cluster, "none")


def neighbour_classes(points: np.ndarray, classes: np.ndarray, rows: np.ndarray) -> pd.Series:
    """How many of the ``NEIGHBOURS`` nearest images (cosine) outside the group ``rows`` each class gives the
    group's members, together; the largest first."""
    outside = np.setdiff1d(np.arange(len(points)), rows)
    search = NearestNeighbors(n_neighbors=NEIGHBOURS, metric="cosine").fit(points[outside])
    nearest = outside[search.kneighbors(points[rows], return_distance=False)]
    return pd.Series(classes[nearest.ravel()]).value_counts()


def print_neighbours(project: Path, rounds: list[int], classes: np.ndarray, rows: np.ndarray) -> None:
    """``neighbour_classes`` for the pixels and for each of ``rounds``' kept checkpoints."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from score_every_round import checkpoint_features, run_of

    from deepcluster.auto import pixel_rows

    run, images = run_of(project)
    subjects = {"pixels": lambda: pixel_rows(images, np.arange(len(images))).numpy()}
    checkpoints = project / "data" / "06_models" / "checkpoints"
    for number in rounds:
        path = checkpoints / f"round_{number:03d}.pt"
        if not path.exists():
            raise SystemExit(f"--neighbours {number}: {path} is not kept; raise keep_last and run again")
        subjects[f"round_{number:03d}"] = lambda path=path: checkpoint_features(path, run, images).numpy()
    for name, points in subjects.items():
        counts = neighbour_classes(points(), classes, rows).head(4)
        edges = ", ".join(f"{count} of class {label}" for label, count in counts.items())
        print(f"{name}: of the group's {NEIGHBOURS * len(rows)} nearest images outside it, {edges}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("project", type=Path, help="a finished run's project folder (its data/ is read)")
    parser.add_argument("--class", dest="class_name", help="only this class's misplaced images")
    parser.add_argument("--neighbours", help="rounds whose features to search, comma-separated (e.g. 0,1,16)")
    args = parser.parse_args()
    output = args.project / "data" / "07_model_output"
    final = pd.read_parquet(output / "final" / "assignments.parquet")
    if "class_name" not in final:
        raise SystemExit(f"{output / 'final' / 'assignments.parquet'} has no class_name: the run had no labels")
    rows, name, cluster, cluster_class = largest_misplaced_group(final, args.class_name)
    classes = final["class_name"].astype(str).to_numpy()
    members = int((classes == name).sum())
    print(f"{len(rows)} of the {members} images of class {name} are in final cluster {cluster} (class {cluster_class})")
    print("the first of them (image_id):", " ".join(final["image_id"].astype(str).to_numpy()[rows[:12]]))
    for path in sorted((output / "rounds").glob("round_*/assignments.parquet")):
        clusters = pd.read_parquet(path)["cluster"].to_numpy()
        if clusters.size != classes.size:
            continue  # round 0 has no targets
        holder, held = np.unique(clusters[rows], return_counts=True)
        top = holder[held.argmax()]
        composition = pd.Series(classes[clusters == top]).value_counts().head(3)
        mix = ", ".join(f"{count} of class {label}" for label, count in composition.items())
        print(f"{path.parent.name}: {held.max()} of the group in cluster {top}, which holds {mix}")
    if args.neighbours:
        print_neighbours(args.project, [int(number) for number in args.neighbours.split(",")], classes, rows)


if __name__ == "__main__":
    main()
