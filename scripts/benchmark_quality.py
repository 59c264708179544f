"""The evaluation protocol over several seeds: a markdown table of mean ± std.

Each (configuration, seed) is one full run through the project's nodes (ingest,
rounds, evaluation; see ``deepcluster.pipelines.plain_runner``). Every run also
evaluates raw pixels and the untrained network with the same protocol, so the
table's baseline rows come from the same runs:

    python scripts/benchmark_quality.py --faithful faithful --best base --seeds 0 1 2 \\
        --title "scikit-learn digits" --out docs/benchmarks/quality_digits.md

``base`` means conf/base alone. Results already computed elsewhere (e.g. by
scripts/gpu_measurements.sh, one JSON object per line with "env" and "seed") can be
tabulated with --from-jsonl instead of running.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

import deepcluster  # noqa: F401  (OpenMP wait policy before torch loads)
from deepcluster.pipelines.plain_runner import dotted_override, load_parameters, merge, run

ROOT = Path(__file__).resolve().parents[1]
COLUMNS = [
    ("acc", "ACC"),
    ("nmi", "NMI"),
    ("ari", "ARI"),
    ("linear_top1", "linear top-1"),
    ("knn20_top1", "kNN-20 top-1"),
    ("knn200_top1", "kNN-200 top-1"),
]


def one_run(env: str, seed: int, overrides: dict) -> dict:
    parameters = load_parameters(
        ROOT / "conf", None if env == "base" else env, merge(overrides, {"runtime": {"seed": seed}})
    )
    started = time.perf_counter()
    result = run(parameters, log=lambda line: None)
    result["wall_seconds"] = time.perf_counter() - started
    result.update(env=env, seed=seed)
    result.pop("parameters")
    return result


def summary(values: list[float]) -> str:
    return f"{np.mean(values):.3f} ± {np.std(values):.3f}" if values else "–"


def table(results: list[dict], faithful: str, best: str) -> str:
    rows = [
        ("k-means / probes on raw pixels", [r["report"]["pixels"] for r in results if r["env"] == best], None),
        (
            "random network (same architecture, untrained)",
            [r["report"]["random_network"] for r in results if r["env"] == best],
            None,
        ),
        (
            f"faithful DeepCluster (`{faithful}`)",
            [r["report"]["deepcluster"] for r in results if r["env"] == faithful],
            [r.get("wall_seconds", sum(r["timings"].values())) for r in results if r["env"] == faithful],
        ),
        (
            f"best configuration (`{best}`)",
            [r["report"]["deepcluster"] for r in results if r["env"] == best],
            [r.get("wall_seconds", sum(r["timings"].values())) for r in results if r["env"] == best],
        ),
    ]
    lines = ["| | " + " | ".join(name for _, name in COLUMNS) + " | wall time (s) |", "|---" * (len(COLUMNS) + 2) + "|"]
    for label, reports, walls in rows:
        cells = [summary([rep[key] for rep in reports if key in rep]) for key, _ in COLUMNS]
        wall = f"{np.mean(walls):.0f}" if walls else "(inside the runs below)"
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {wall} |")
    seeds = sorted({r["seed"] for r in results})
    lines.append("")
    lines.append(
        f"Mean ± std over seeds {seeds}; {results[0]['report']['images']:,} images, "
        f"{results[0]['report']['rounds']} rounds. ACC/NMI/ARI: k-means with k = number of classes; "
        "probes on a stratified 20 % held-out part. The baseline rows come from the best "
        "configuration's runs (their pixels and round-0 network)."
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--faithful", default="faithful", help="conf environment of the faithful configuration")
    parser.add_argument("--best", default="base", help="conf environment of the best configuration")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--set", action="append", default=[], help="override for every run: a.b=value (YAML)")
    parser.add_argument("--from-jsonl", type=Path, help="tabulate these results instead of running")
    parser.add_argument("--title", default="")
    parser.add_argument("--command", default="", help="the command line to quote under the table")
    parser.add_argument("--machine", default="2-core CPU (this project's development machine)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if args.from_jsonl:
        results = [json.loads(line) for line in args.from_jsonl.read_text().splitlines() if line.strip()]
    else:
        overrides: dict = {}
        for assignment in args.set:
            overrides = merge(overrides, dotted_override(assignment))
        results = []
        for seed in args.seeds:
            for env in (args.best, args.faithful):
                results.append(one_run(env, seed, overrides))
                print(
                    f"{env} seed {seed}: {results[-1]['report']['deepcluster']} ({results[-1]['wall_seconds']:.0f} s)",
                    flush=True,
                )
    text = "\n".join(
        filter(
            None,
            [
                f"### {args.title}" if args.title else "",
                "",
                table(results, args.faithful, args.best),
                "",
                f"Machine: {args.machine}." + (f" Command: `{args.command}`" if args.command else ""),
            ],
        )
    )
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
        args.out.with_suffix(".jsonl").write_text("\n".join(json.dumps(r, default=str) for r in results) + "\n")


if __name__ == "__main__":
    main()
