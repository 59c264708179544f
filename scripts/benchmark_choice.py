"""The label-free choice of the final partition, on whole collections and on many small groups, from runs
already made.

    python scripts/benchmark_choice.py /tmp/collections_benchmark/*_seed* --per-class 10 --draws 2

Each argument is a project that `benchmark_collections.py` ran (its trained network's features,
``data/07_model_output/final/features.npy``, and its classes, ``image_index.parquet``). The whole collection is
scored, and ``--draws`` subsets that keep ``--per-class`` images of every class (a collection of many small
groups, like 40 people with 10 photos each, drawn where every class has more). Every registered clusterer
partitions each at k = classes, as the final partition does; the table gives each one's ACC, the best, and
the ACC of the partition each rule chooses without labels:

* ``chosen``: the final partition's own rule (``deepcluster.clustering.clusterers.choose_partition``; each
  candidate's score is ``score_<clusterer>``);
* ``before``: the rule it replaced, the highest modularity on the graph joining each point to half an
  average cluster's points (3 to 10), SCAN's head kept unless another is higher by more than 0.005.

On whole collections, ``noise`` is how far the difference between two candidates' scores moves between two
random halves of the images (the median over every pair of candidates): differences smaller than that are not
resolved by the criterion.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
from deepcluster.auto import scan_neighbours_for  # noqa: E402
from deepcluster.clustering.clusterers import CLUSTERERS, choose_partition, label_free_scores  # noqa: E402
from deepcluster.clustering.graph import knn_graph, modularity  # noqa: E402
from deepcluster.evaluation.metrics import labelling_agreement  # noqa: E402

WITHIN = 0.02  # the held-out target: the chosen partition within this ACC of the best candidate


def small_groups(labels: np.ndarray, per_class: int, seed: int) -> np.ndarray:
    """``per_class`` indices of every class with at least that many images, drawn with ``seed``."""
    rng = np.random.default_rng(seed)
    chosen = [
        rng.choice(np.flatnonzero(labels == label), per_class, replace=False)
        for label in np.unique(labels)
        if (labels == label).sum() >= per_class
    ]
    return np.sort(np.concatenate(chosen))


def chosen_before(points: torch.Tensor, partitions: dict, k: int) -> str:
    """The rule before: modularity on the graph of half an average cluster's neighbours, SCAN within 0.005."""
    graph = knn_graph(points, int(min(10, max(3, points.shape[0] // (2 * k)))))
    scores = {name: modularity(graph, partition.assignments) for name, partition in partitions.items()}
    highest = max(scores, key=scores.get)
    return "scan" if scores[highest] - scores["scan"] <= 0.005 else highest


def half_noise(points: torch.Tensor, partitions: dict, seed: int) -> float:
    """The median, over pairs of candidates, of how far the difference of their scores moves between two random
    halves of the points."""
    order = np.random.default_rng(seed).permutation(points.shape[0])
    halves = [np.sort(order[: order.size // 2]), np.sort(order[order.size // 2 :])]
    scores = [
        label_free_scores(
            points[torch.as_tensor(half)],
            {
                name: replace(p, assignments=p.assignments[half], scores=p.scores[half])
                for name, p in partitions.items()
            },
            seed,
        )
        for half in halves
    ]
    names = list(partitions)
    moved = [
        abs((scores[0][a] - scores[0][b]) - (scores[1][a] - scores[1][b]))
        for i, a in enumerate(names)
        for b in names[i + 1 :]
    ]
    return float(np.median(moved))


def one_subset(points: torch.Tensor, labels: np.ndarray, seed: int, whole: bool) -> dict:
    k = int(np.unique(labels).size)
    candidates = {name: CLUSTERERS[name]() for name in CLUSTERERS}
    candidates["scan"] = CLUSTERERS["scan"](neighbours=scan_neighbours_for(len(labels), k))
    choice = choose_partition(points, k, candidates, seed)
    acc = {name: labelling_agreement(labels, p.assignments)["acc"] for name, p in choice.partitions.items()}
    before = chosen_before(points, choice.partitions, k)
    row = {"images": len(labels), "classes": k} | {f"acc_{name}": value for name, value in acc.items()}
    row |= {"best": max(acc.values()), "chosen": choice.chosen, "acc_chosen": acc[choice.chosen]}
    row |= {"before": before, "acc_before": acc[before]} | {f"score_{n}": v for n, v in choice.scores.items()}
    return row | {"noise": half_noise(points, choice.partitions, seed) if whole else np.nan}


def summary(table: pd.DataFrame) -> str:
    """Per shape of subset (whole collections, 10 a class) and per collection: each rule's mean ACC, and how
    often it is within ``WITHIN`` of the best candidate."""
    per_class = table.images < table.groupby("run").images.transform("max")
    table = table.assign(
        collection=table.run.str.replace(r"_seed\d+$", "", regex=True),
        shape=np.where(per_class, "small groups", "whole"),
    )
    groups = list(table.groupby(["shape", "collection"]))
    groups += [((shape, "every collection"), rows) for shape, rows in table.groupby("shape")]
    lines = [
        "| subsets | collection | best candidate | the rule: ACC, within 0.02 | before: ACC, within 0.02 |",
        "|---|---|---|---|---|",
    ]
    for (shape, collection), rows in groups:
        cells = [f"{rows.best.mean():.3f}"]
        for column in ("acc_chosen", "acc_before"):
            within = int((rows.best - rows[column] <= WITHIN + 1e-9).sum())
            cells.append(f"{rows[column].mean():.3f}, {within} / {len(rows)}")
        lines.append(f"| {shape} | {collection} | " + " | ".join(cells) + " |")
    noise = table.noise.dropna()
    if noise.size:
        lines.append(
            f"\nOn whole collections, a difference of two candidates' scores moves by a median {noise.median():.3f}"
        )
        lines[-1] += f" between random halves of the images (from {noise.min():.3f} to {noise.max():.3f})."
    return "\n".join(lines)


def markdown(table: pd.DataFrame) -> str:
    cells = table.map(lambda value: f"{value:.3f}" if isinstance(value, float) else str(value))
    return "\n".join(
        ["| " + " | ".join(table.columns) + " |", "|" + "---|" * len(table.columns)]
        + ["| " + " | ".join(row) + " |" for row in cells.to_numpy().tolist()]
    )


def project_rows(project: Path, args: argparse.Namespace) -> list[dict]:
    """The whole collection of one run's project, and its draws of small groups."""
    features = np.load(project / "data" / "07_model_output" / "final" / "features.npy")
    points = torch.nn.functional.normalize(torch.as_tensor(features, dtype=torch.float32), dim=1)
    labels = pd.read_parquet(project / "data" / "02_intermediate" / "image_index.parquet")["label"].to_numpy()
    subsets = [("all", np.arange(len(labels)))]
    if len(labels) > args.per_class * np.unique(labels).size:
        subsets += [(f"draw {draw}", small_groups(labels, args.per_class, draw)) for draw in range(args.draws)]
    rows = []
    for seed, (subset, kept) in enumerate(subsets):
        rows.append(
            {"run": project.name, "subset": subset} | one_subset(points[kept], labels[kept], seed, subset == "all")
        )
        print(rows[-1], flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("projects", nargs="*", type=Path)
    parser.add_argument("--per-class", type=int, default=10)
    parser.add_argument("--draws", type=int, default=2)
    parser.add_argument("--out", type=Path, default=None, help="markdown tables; rows also to <out>.csv")
    parser.add_argument("--from-csv", type=Path, default=None, help="tabulate these rows instead of fitting")
    args = parser.parse_args()
    if args.from_csv:
        table = pd.read_csv(args.from_csv)
    else:
        table = pd.DataFrame([row for project in args.projects for row in project_rows(project, args)])
    text = summary(table) + "\n\n" + markdown(table)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
        table.to_csv(args.out.with_suffix(".csv"), index=False)


if __name__ == "__main__":
    main()
