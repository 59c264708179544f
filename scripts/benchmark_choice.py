"""The label-free choice of the final partition on many small groups, from runs already made.

    python scripts/benchmark_choice.py /tmp/collections_benchmark/*_seed0 --per-class 10 --draws 3

Each argument is a project that `benchmark_collections.py` ran (its trained network's features,
``data/07_model_output/final/features.npy``, and its classes, ``image_index.parquet``). Each draw keeps
``--per-class`` images of every class that has as many (a collection of many small groups, like 40 people
with 10 photos each), fits every registered clusterer at k = classes as the final partition does, and scores
them against the classes. The table gives each clusterer's ACC, the best, and the ACC of the partition each
rule chooses without labels: the final partition's own (``deepcluster.clustering.final``: the graph's
neighbours follow the groups' size), and the same rule with a graph of each of ``--neighbours`` instead
(10: the rule before it followed the groups).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
from deepcluster.auto import scan_neighbours_for  # noqa: E402
from deepcluster.clustering.clusterers import (  # noqa: E402
    CLUSTERERS,
    Choice,
    choose_partition,
    criterion_neighbours,
    label_free_scores,
)
from deepcluster.clustering.final import PREFERRED, TOLERANCE  # noqa: E402
from deepcluster.evaluation.metrics import labelling_agreement  # noqa: E402


def small_groups(labels: np.ndarray, per_class: int, seed: int) -> np.ndarray:
    """``per_class`` indices of every class with at least that many images, drawn with ``seed``."""
    rng = np.random.default_rng(seed)
    chosen = [
        rng.choice(np.flatnonzero(labels == label), per_class, replace=False)
        for label in np.unique(labels)
        if (labels == label).sum() >= per_class
    ]
    return np.sort(np.concatenate(chosen))


def one_draw(points: torch.Tensor, labels: np.ndarray, neighbours: list[int], seed: int) -> dict:
    k = int(np.unique(labels).size)
    candidates = {name: CLUSTERERS[name]() for name in CLUSTERERS}
    candidates["scan"] = CLUSTERERS["scan"](neighbours=scan_neighbours_for(len(labels), k))
    choice = choose_partition(points, k, candidates, seed, PREFERRED, TOLERANCE)
    acc = {name: labelling_agreement(labels, p.assignments)["acc"] for name, p in choice.partitions.items()}
    row = {"images": len(labels), "classes": k} | {f"acc_{name}": value for name, value in acc.items()}
    row |= {"best": max(acc.values()), "chosen": choice.chosen, "acc_chosen": acc[choice.chosen]}
    row["criterion_neighbours"] = criterion_neighbours(len(labels), k)
    for count in neighbours:
        scores = label_free_scores(points, choice.partitions, seed, neighbours=count)
        chosen = Choice(choice.partitions, scores, PREFERRED, TOLERANCE).chosen
        row |= {f"chosen_{count}nn": chosen, f"acc_{count}nn": acc[chosen]}
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("projects", nargs="+", type=Path)
    parser.add_argument("--per-class", type=int, default=10)
    parser.add_argument("--draws", type=int, default=3)
    parser.add_argument("--neighbours", type=int, nargs="+", default=[3, 5, 10])
    parser.add_argument("--out", type=Path, default=None, help="markdown table; rows also to <out>.csv")
    args = parser.parse_args()
    rows = []
    for project in args.projects:
        features = np.load(project / "data" / "07_model_output" / "final" / "features.npy")
        labels = pd.read_parquet(project / "data" / "02_intermediate" / "image_index.parquet")["label"].to_numpy()
        for draw in range(args.draws):
            kept = small_groups(labels, args.per_class, draw)
            row = {"run": project.name, "draw": draw}
            row |= one_draw(torch.as_tensor(features[kept]), labels[kept], args.neighbours, draw)
            rows.append(row)
            print(row, flush=True)
    table = pd.DataFrame(rows)
    cells = table.map(lambda value: f"{value:.3f}" if isinstance(value, float) else str(value))
    text = "\n".join(
        ["| " + " | ".join(table.columns) + " |", "|" + "---|" * len(table.columns)]
        + ["| " + " | ".join(row) + " |" for row in cells.to_numpy().tolist()]
    )
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
        table.to_csv(args.out.with_suffix(".csv"), index=False)


if __name__ == "__main__":
    main()
