"""What Kedro, the catalog and MLflow cost per round of ``kedro run``.

Runs ``kedro run`` (the default configuration with ``--set`` overrides, in a
temporary copy of conf/) with R1 and then R2 rounds. The project's NodeTimes hook records the time inside node
functions and the whole pipeline time (data/08_reporting/run_timing.json); the
rest is overhead: loading and saving catalog entries, MLflow logging, Kedro's
bookkeeping. The difference between the two runs divided by R2 - R1 gives the
overhead and the compute of one round; process start-up (imports, session,
config) is reported apart.

    python scripts/benchmark_kedro_overhead.py --rounds 10 30
    python scripts/benchmark_kedro_overhead.py --rounds 2 6 --set method.name=deepcluster_v2 \
        --set model.name=resnet18   # a GPU-sized network: ResNet-18's checkpoint in every round
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from deepcluster.pipelines.plain_runner import dotted_override, merge
from deepcluster.pipelines.scratch import scratch_project

ROOT = Path(__file__).resolve().parents[1]


def kedro_run(rounds: int, overrides: dict) -> dict:
    with tempfile.TemporaryDirectory() as folder:
        project = Path(folder)
        scratch_project(ROOT, project, merge(overrides, {"rounds": rounds}))
        environment = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "1"}
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "kedro", "run"], cwd=project, env=environment, check=True, capture_output=True
        )
        process = time.perf_counter() - started
        timing = json.loads((project / "data" / "08_reporting" / "run_timing.json").read_text())
    timing["process_seconds"] = process
    return timing


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, nargs=2, default=[10, 30])
    parser.add_argument("--set", action="append", default=[], help="override one parameter: a.b=value (YAML)")
    args = parser.parse_args()
    overrides: dict = {}
    for assignment in args.set:
        overrides = merge(overrides, dotted_override(assignment))
    short, long = (kedro_run(r, overrides) for r in args.rounds)
    extra = args.rounds[1] - args.rounds[0]
    compute = (long["node_compute_seconds"] - short["node_compute_seconds"]) / extra
    overhead = (long["overhead_seconds"] - short["overhead_seconds"]) / extra
    print("| run | process s | pipeline s | inside nodes s | overhead s | start-up s |")
    print("|---|---|---|---|---|---|")
    for rounds, t in zip(args.rounds, (short, long)):
        print(
            f"| {rounds} rounds | {t['process_seconds']:.1f} | {t['pipeline_seconds']:.1f} | "
            f"{t['node_compute_seconds']:.1f} | {t['overhead_seconds']:.1f} | "
            f"{t['process_seconds'] - t['pipeline_seconds']:.1f} |"
        )
    print(
        f"\nPer round: {compute:.3f} s inside nodes, {overhead:.3f} s of Kedro + catalog + MLflow overhead "
        f"= {overhead / (compute + overhead):.1%} of the round."
    )
    print(
        "Largest catalog costs in the longer run (s): "
        + ", ".join(f"{k} {v:.2f}" for k, v in list(long["catalog_seconds"].items())[:6])
    )


if __name__ == "__main__":
    main()
