"""The evaluation protocol over several seeds: a markdown table of mean ± std.

Each (configuration, seed) is one full run through the project's nodes (ingest,
rounds, evaluation; see ``deepcluster.pipelines.plain_runner``). Every run also
evaluates raw pixels and the untrained network with the same protocol, so the
table's baseline rows come from the same runs:

    python scripts/benchmark_quality.py --faithful faithful --best base --seeds 0 1 2 \\
        --title "scikit-learn digits" --out docs/benchmarks/quality_digits.md

``base`` means conf/base alone. ``--variant "label|env|a.b=v;c.d=w"`` adds a row:
the environment with those parameters changed (an ablation). Results already
computed elsewhere (e.g. by scripts/gpu_measurements.sh, one JSON object per line
with "env" and "seed") can be tabulated with --from-jsonl instead of running.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from deepcluster.pipelines.plain_runner import dotted_override, load_parameters, merge, run, subject_report

ROOT = Path(__file__).resolve().parents[1]
COLUMNS = [
    ("acc", "ACC"),
    ("nmi", "NMI"),
    ("ari", "ARI"),
    ("linear_top1", "linear top-1"),
    ("knn20_top1", "kNN-20 top-1"),
    ("knn200_top1", "kNN-200 top-1"),
]


def parse_variant(text: str) -> tuple[str, str, dict]:
    label, env, changes = (text.split("|") + ["", ""])[:3]
    overrides: dict = {}
    for assignment in filter(None, changes.split(";")):
        overrides = merge(overrides, dotted_override(assignment))
    return label, env, overrides


def one_run(env: str, seed: int, overrides: dict) -> dict:
    parameters = load_parameters(
        ROOT / "conf", None if env == "base" else env, merge(overrides, {"runtime": {"seed": seed}})
    )
    started = time.perf_counter()
    result = run(parameters, log=lambda line: None)
    result["wall_seconds"] = time.perf_counter() - started
    result.update(env=env, seed=seed)
    checked = result.pop("parameters")
    result["protocol"] = {
        "rounds": checked["rounds"],
        "scan_rounds": checked["scan"]["rounds"],
        "clustering": checked["clustering"]["final"],
    }
    return result


def summary(values: list[float]) -> str:
    return f"{np.mean(values):.3f} ± {np.std(values):.3f}" if values else "–"


def table(results: list[dict], faithful: str, best: str, variants: list[str]) -> str:
    def plain(env: str) -> list[dict]:
        return [r for r in results if r["env"] == env and not r.get("variant")]

    def walls(runs: list[dict]) -> list[float]:
        return [r.get("wall_seconds", sum(r["timings"].values())) for r in runs]

    rows = [
        ("raw pixels", [r["report"]["pixels"] for r in plain(best)], None),
        ("random network (same architecture, untrained)", [r["report"]["random_network"] for r in plain(best)], None),
        (
            f"faithful DeepCluster (`{faithful}`)",
            [subject_report(r["report"], "trained") for r in plain(faithful)],
            walls(plain(faithful)),
        ),
        (
            f"best configuration (`{best}`)",
            [subject_report(r["report"], "trained") for r in plain(best)],
            walls(plain(best)),
        ),
    ]
    for label in variants:
        mine = [r for r in results if r.get("variant") == label]
        rows.append((label, [subject_report(r["report"], "trained") for r in mine], walls(mine)))
    rows = [row for row in rows if row[1]]  # e.g. no main rows with --variants-only
    lines = [
        "| | " + " | ".join(name for _, name in COLUMNS) + " | wall time (s) |",
        "|---" * (len(COLUMNS) + 2) + "|",
    ]
    for label, reports, wall_times in rows:
        cells = [summary([rep[key] for rep in reports if key in rep]) for key, _ in COLUMNS]
        wall = f"{np.mean(wall_times):.0f}" if wall_times else "(inside the runs below)"
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {wall} |")
    seeds = sorted({r["seed"] for r in results})
    protocols = {r["env"]: r["protocol"] for r in results if "protocol" in r}
    described = "; ".join(
        f"`{env}`: {p['rounds']} rounds ({p['scan_rounds']} of them SCAN rounds), "
        f"k = classes clusters by {p['clustering']}"
        for env, p in protocols.items()
    )
    lines.append("")
    lines.append(
        f"Mean ± std over seeds {seeds}; {results[0]['report']['images']:,} images. {described}. "
        "Probes on a stratified 20 % held-out part. The baseline rows come from the best "
        "configuration's runs (their pixels and round-0 network), clustered as it is."
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--faithful", default="faithful", help="conf environment of the faithful configuration")
    parser.add_argument("--best", default="base", help="conf environment of the best configuration")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--set", action="append", default=[], help="override for every run: a.b=value (YAML)")
    parser.add_argument("--variant", action="append", default=[], help='an extra row: "label|env|a.b=v;c.d=w"')
    parser.add_argument("--variants-only", action="store_true", help="run only the --variant rows")
    parser.add_argument("--best-only", action="store_true", help="skip the faithful configuration's runs")
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
        variants = [parse_variant(text) for text in args.variant]
        for seed in args.seeds:
            for label, env, changes in variants:
                result = one_run(env, seed, merge(overrides, changes))
                result["variant"] = label
                results.append(result)
                print(f"{label} seed {seed}: {subject_report(result['report'], 'trained')}", flush=True)
            main_envs = () if args.variants_only else (args.best,) if args.best_only else (args.best, args.faithful)
            for env in main_envs:
                results.append(one_run(env, seed, overrides))
                print(
                    f"{env} seed {seed}: {subject_report(results[-1]['report'], 'trained')} "
                    f"({results[-1]['wall_seconds']:.0f} s)",
                    flush=True,
                )
    text = "\n".join(
        filter(
            None,
            [
                f"### {args.title}" if args.title else "",
                "",
                table(results, args.faithful, args.best, [v.split("|")[0] for v in args.variant]),
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
