"""The final partition's label-free choice applied anew to logged runs, without training again.

Every run of ``benchmark_collections.py`` and ``benchmark_processes.py`` logs, for the trained network, each
candidate clusterer's partition scored against the labels and its modularity (what ``auto`` reads). The choice
is a function of those modularities alone, so the partition a rule would have chosen, and its scores, are exact
from the logs. This prints, per collection (or method and processes), the mean trained ACC under the highest
modularity and under ``clustering.preferred`` within ``clustering.tolerance``, and how many runs the rule changes
and with what effect; ``--out`` writes the runs with the trained network's headline re-chosen, which the
benchmarks' ``--from-jsonl`` and ``--pool`` tabulate.

    python scripts/rechoose_partition.py docs/benchmarks/raw/*.jsonl --preferred scan --tolerance 0.005
    python scripts/rechoose_partition.py docs/benchmarks/raw/collections_amd_epyc.jsonl --out /tmp/rechosen.jsonl
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from deepcluster.clustering.clusterers import Choice  # noqa: E402

HEADLINE = ("acc", "nmi", "ari")


def trained_clusterers(run: dict) -> dict[str, dict[str, float]] | None:
    """The trained network's per-clusterer scores with their modularity, or None where the run did not log them."""
    clusterers = run.get("report", {}).get("trained", {}).get("clusterers", {})
    if not clusterers or not all("modularity" in scores and "acc" in scores for scores in clusterers.values()):
        return None
    return clusterers


def rechosen(run: dict, preferred: str | None, tolerance: float) -> dict:
    """The run with the trained network's headline partition chosen by the rule (the run itself is not changed)."""
    clusterers = trained_clusterers(run)
    modularity = {name: scores["modularity"] for name, scores in clusterers.items()}
    chosen = Choice({}, modularity, [], preferred, tolerance).chosen
    out = copy.deepcopy(run)
    trained = out["report"]["trained"]
    trained.update({key: clusterers[chosen][key] for key in HEADLINE if key in clusterers[chosen]})
    trained["partition"] = chosen
    return out


def group_of(run: dict) -> str:
    name = run.get("collection", "digits")
    if "method" in run:
        name += f" {run['method']} {run.get('processes', 1)}p"
    return name


def summary(runs: list[dict], preferred: str | None, tolerance: float) -> str:
    groups: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for run in runs:
        if trained_clusterers(run) is None:
            continue
        highest = rechosen(run, None, 0.0)["report"]["trained"]["acc"]
        groups[group_of(run)].append((highest, rechosen(run, preferred, tolerance)["report"]["trained"]["acc"]))
    lines = [
        f"| runs of | runs | ACC, highest modularity | ACC, {preferred} within {tolerance} "
        "| changed | gains | losses |",
        "|---|---|---|---|---|---|---|",
    ]
    every = []
    for name, pairs in sorted(groups.items()):
        before, after = np.array(pairs).T
        change = after - before
        every.extend(change)
        lines.append(
            f"| {name} | {len(pairs)} | {before.mean():.3f} | {after.mean():.3f} | {int((change != 0).sum())} "
            f"| {int((change > 0).sum())} | {int((change < 0).sum())} |"
        )
    every = np.array(every)
    moved = every[every != 0]
    lines.append(
        f"\nOver {every.size} runs: {moved.size} changed, {int((moved > 0).sum())} gain and {int((moved < 0).sum())} "
        f"lose ACC; mean change where changed {moved.mean() if moved.size else 0:+.3f}, "
        f"from {moved.min() if moved.size else 0:+.3f} to {moved.max() if moved.size else 0:+.3f}."
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("jsonl", nargs="+", type=Path, help="benchmark results (collections or processes)")
    parser.add_argument("--preferred", default="scan", help="clustering.preferred ('none': the highest always wins)")
    parser.add_argument("--tolerance", type=float, default=0.005, help="clustering.tolerance")
    parser.add_argument("--out", type=Path, help="write the runs, re-chosen, to this jsonl")
    args = parser.parse_args()
    preferred = None if args.preferred == "none" else args.preferred
    runs = [json.loads(line) for path in args.jsonl for line in path.read_text().splitlines() if line]
    print(summary(runs, preferred, args.tolerance))
    if args.out:
        kept = [rechosen(run, preferred, args.tolerance) for run in runs if trained_clusterers(run) is not None]
        args.out.write_text("".join(json.dumps(run) + "\n" for run in kept))


if __name__ == "__main__":
    main()
