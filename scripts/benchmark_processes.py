"""One process against N under ``torchrun``, with the defaults, for each method: the final ACC and NMI.

    python scripts/benchmark_processes.py --methods deepcluster deepcluster_v2 swav odc --seeds 0 1 2 \\
        --out docs/benchmarks/processes_digits.md

Each (method, seed, processes) is `kedro run` on the digits default in a fresh scratch copy of the
project (``scripts/benchmark_collections.py``'s ``one_run``) whose conf/local/parameters.yml sets
only ``method.name`` and ``runtime.seed``; with N > 1 it runs under ``torchrun --standalone
--nproc_per_node=N`` (gloo on this CPU). Results are appended to ``<out>.jsonl`` as each run ends;
``--from-jsonl`` tabulates without running (several files: e.g. the 1-process and the N-process runs
made by two commands with ``--only``); ``--pool`` pools the per-seed differences of several machines'
runs (one comma-separated group of files each), with a 90 % t-interval that says whether the two sides
agree within ``--margin`` (0.02, issue 17's bar). The table gives, per method, each seed's trained ACC
and NMI with 1 and N processes, the means over seeds, and the differences; kNN-20 beside them says whether
the networks differ or only their partitions.
"""

from __future__ import annotations

import argparse
import json
import sys
from itertools import combinations
from pathlib import Path

import numpy as np
from scipy import stats

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT.parent / "src"))
from benchmark_collections import one_run, scores  # noqa: E402

from deepcluster.methods import METHODS  # noqa: E402


def table(results: list[dict], processes: int) -> str:
    lines = [
        f"| method | seed | ACC 1 process | ACC {processes} processes | difference "
        f"| NMI 1 process | NMI {processes} processes | kNN-20 1 / {processes} | wall 1 / {processes} (s) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for method in dict.fromkeys(r["method"] for r in results):
        runs = {(r["seed"], r["processes"]): r for r in results if r["method"] == method}
        seeds = sorted({seed for seed, count in runs if (seed, 1) in runs and (seed, processes) in runs})
        figures = {key: scores(runs[key]["report"], "trained") for key in runs}
        for seed in seeds:
            one, many = figures[seed, 1], figures[seed, processes]
            walls = f"{runs[seed, 1]['wall_seconds']:.0f} / {runs[seed, processes]['wall_seconds']:.0f}"
            lines.append(
                f"| {method} | {seed} | {one['acc']:.3f} | {many['acc']:.3f} | {many['acc'] - one['acc']:+.3f} "
                f"| {one['nmi']:.3f} | {many['nmi']:.3f} "
                f"| {one['knn20_top1']:.3f} / {many['knn20_top1']:.3f} | {walls} |"
            )
        if len(seeds) > 1:
            mean = {
                (key, p): np.mean([figures[s, p][key] for s in seeds])
                for key in ("acc", "nmi", "knn20_top1")
                for p in (1, processes)
            }
            acc = {p: mean["acc", p] for p in (1, processes)}
            lines.append(
                f"| {method} | mean | {acc[1]:.3f} | {acc[processes]:.3f} | {acc[processes] - acc[1]:+.3f} "
                f"| {mean['nmi', 1]:.3f} | {mean['nmi', processes]:.3f} "
                f"| {mean['knn20_top1', 1]:.3f} / {mean['knn20_top1', processes]:.3f} | |"
            )
    return "\n".join(lines)


def pooled_differences(groups: list[list[dict]], processes: int, margin: float = 0.02) -> str:
    """Per method, the ACC differences (N processes - one) of every seed run both ways, pooled over groups
    of results that pair only among themselves (one group per machine): their mean, standard error and
    90 % t-interval. An interval inside ``±margin`` is the two one-sided tests' verdict, at 5 % each, that
    the two sides agree within the margin. Beside it: the spread of one process's ACC over the same seeds;
    the share of the three-seed subsets whose mean difference is within the margin (how often a bar on three
    seeds passes); and the seeds the interval would need to fit inside the margin at this spread, were the
    true difference zero."""
    pairs: dict[str, list[tuple[float, float]]] = {}
    for results in groups:
        acc = {(r["method"], r["seed"], r["processes"]): scores(r["report"], "trained")["acc"] for r in results}
        for method, seed, count in acc:
            if count == 1 and (method, seed, processes) in acc:
                pairs.setdefault(method, []).append((acc[method, seed, 1], acc[method, seed, processes]))
    lines = [
        f"| method | pairs | mean difference | standard error | 90 % interval | within ±{margin} "
        f"| std of 1 process's ACC | 3-seed means within ±{margin} | seeds needed |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for method, values in pairs.items():
        one, many = np.array(values).T
        differences = many - one
        if len(differences) < 3:
            lines.append(f"| {method} | {len(differences)} | {differences.mean():+.4f} | | | | | | |")
            continue
        error = stats.sem(differences)
        low, high = stats.t.interval(0.90, len(differences) - 1, loc=differences.mean(), scale=error)
        triples = [abs(differences[list(t)].mean()) <= margin for t in combinations(range(len(differences)), 3)]
        spread = np.std(differences, ddof=1)
        needed = next(n for n in range(3, 10_000) if stats.t.ppf(0.95, n - 1) * spread / np.sqrt(n) < margin)
        lines.append(
            f"| {method} | {len(differences)} | {differences.mean():+.4f} | {error:.4f} "
            f"| [{low:+.4f}, {high:+.4f}] | {'yes' if -margin < low and high < margin else 'no'} "
            f"| {np.std(one, ddof=1):.4f} | {sum(triples)} of {len(triples)} | {needed} |"
        )
    return "\n".join(lines)


def read_jsonl(paths: list[Path]) -> list[dict]:
    return [json.loads(line) for path in paths for line in path.read_text().splitlines() if line]


def chosen(results: list[dict], methods: list[str]) -> list[dict]:
    """The runs of ``--methods`` alone (all of them by default)."""
    return [result for result in results if result["method"] in methods]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--processes", type=int, default=2, help="N, compared with one process")
    parser.add_argument("--only", type=int, choices=[1, 2, 3, 4, 8], help="run only this many processes (1 or N)")
    parser.add_argument("--work", type=Path, default=Path("/tmp/processes_benchmark"))
    parser.add_argument("--checkout", type=Path, default=ROOT.parent, help="the project to run, e.g. a git worktree")
    parser.add_argument("--out", type=Path, help="markdown table; raw results go to <out>.jsonl")
    parser.add_argument("--from-jsonl", nargs="+", type=Path, help="tabulate these instead of running")
    parser.add_argument(
        "--pool",
        nargs="+",
        help="instead: comma-separated jsonl files of one machine per argument; the differences pooled over all",
    )
    parser.add_argument("--margin", type=float, default=0.02, help="with --pool: the agreement to test")
    args = parser.parse_args()
    if args.pool:
        groups = [chosen(read_jsonl([Path(name) for name in group.split(",")]), args.methods) for group in args.pool]
        print(pooled_differences(groups, args.processes, args.margin))
        return
    if args.from_jsonl:
        results = chosen(read_jsonl(args.from_jsonl), args.methods)
    else:
        args.work.mkdir(parents=True, exist_ok=True)
        results = []
        for method in args.methods:
            for seed in args.seeds:
                for processes in [args.only] if args.only else [1, args.processes]:
                    extra = {"method": {"name": method}}
                    result = one_run("digits", seed, args.work / method, extra, args.checkout.resolve(), processes)
                    result["method"] = method
                    results.append(result)
                    print(f"{method} seed {seed}, {processes} processes: {result['wall_seconds']:.0f} s", flush=True)
                    if args.out:
                        with args.out.with_suffix(".jsonl").open("a") as stream:
                            stream.write(json.dumps(result) + "\n")
    text = table(results, args.processes)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
