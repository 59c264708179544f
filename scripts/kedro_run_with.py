"""`kedro run` in a scratch copy of the project with a conf environment and overrides applied.

Copies conf/base and pyproject.toml into --project-dir, writes the chosen environment's
parameters plus every --set into conf/local/parameters.yml there, and runs `kedro run`
in that folder (artifacts under <project-dir>/data, MLflow in <project-dir>/mlflow.db).
Prints the wall time, the ingest counts and the evaluation report. ``--repeat N`` starts
afresh N times (new copy, no data, new MLflow database) and ends with the median wall time.

    python scripts/kedro_run_with.py --env cifar10 --set rounds=2 --set model.name=small_convnet \\
        --project-dir /tmp/cifar10_run
    python scripts/kedro_run_with.py --repeat 3 --project-dir /tmp/default_run   # the default run, timed
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
from deepcluster.pipelines.plain_runner import dotted_override, merge  # noqa: E402
from deepcluster.pipelines.scratch import scratch_project  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", help="a folder of conf/ whose parameters*.yml to apply")
    parser.add_argument("--set", action="append", default=[], help="a.b=value (YAML)")
    parser.add_argument("--project-dir", type=Path, required=True)
    parser.add_argument("--repeat", type=int, default=1, help="runs, each in a fresh copy")
    args = parser.parse_args()
    project = args.project_dir.resolve()
    overrides: dict = {}
    if args.env:
        for file in sorted((ROOT / "conf" / args.env).glob("parameters*.yml")):
            overrides = merge(overrides, yaml.safe_load(file.read_text()))
    for assignment in args.set:
        overrides = merge(overrides, dotted_override(assignment))
    # relative data paths in the environment were meant from the repository root
    paths = {"folder": ("path",), "idx": ("images", "labels"), "cifar": ("path",), "npz": ("path",)}
    for block, keys in paths.items():
        for key in keys:
            value = overrides.get("data", {}).get(block, {}).get(key)
            if isinstance(value, str) and not os.path.isabs(value):
                overrides["data"][block][key] = str((ROOT / value).resolve())
    walls = []
    for repetition in range(1, args.repeat + 1):
        if project.exists():
            shutil.rmtree(project)
        scratch_project(ROOT, project, overrides)
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "kedro", "run"],
            cwd=project,
            check=True,
            env={**os.environ, "KEDRO_DISABLE_TELEMETRY": "1"},
        )
        walls.append(time.perf_counter() - started)
        reporting = project / "data" / "08_reporting"
        timing = json.loads((reporting / "run_timing.json").read_text())
        print(
            f"\nrun {repetition}: kedro run took {walls[-1]:.0f} s (pipeline {timing['pipeline_seconds']:.1f} s, "
            f"of which Kedro, catalog and MLflow {timing['overhead_seconds']:.1f} s)"
        )
        report = {
            name: round(seconds, 2) for name, seconds in timing["node_seconds"].items() if name.startswith("report.")
        }
        print(f"the report's nodes: {sum(report.values()):.2f} s {report}")
        print("ingest:", (reporting / "ingest" / "counts.json").read_text())
        print("evaluation:", json.dumps(json.loads((reporting / "evaluation.json").read_text()), indent=1))
    if args.repeat > 1:
        print(f"median wall time of {args.repeat} runs: {statistics.median(walls):.0f} s")


if __name__ == "__main__":
    main()
