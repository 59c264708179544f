"""`kedro run` in a scratch copy of the project with a conf environment and overrides applied.

Copies conf/base and pyproject.toml into --project-dir, writes the chosen environment's
parameters plus every --set into conf/local/parameters.yml there, and runs `kedro run`
in that folder (artifacts under <project-dir>/data, MLflow in <project-dir>/mlflow.db).
Prints the wall time, the ingest counts and the evaluation report.

    python scripts/kedro_run_with.py --env cifar10 --set rounds=2 --set model.name=small_convnet \\
        --project-dir /tmp/cifar10_run
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
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
    args = parser.parse_args()
    project = args.project_dir.resolve()
    if project.exists():
        shutil.rmtree(project)
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
    scratch_project(ROOT, project, overrides)
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "kedro", "run"],
        cwd=project,
        check=True,
        env={**os.environ, "KEDRO_DISABLE_TELEMETRY": "1"},
    )
    print(f"\nkedro run took {time.perf_counter() - started:.0f} s")
    reporting = project / "data" / "08_reporting"
    print("ingest:", (reporting / "ingest" / "counts.json").read_text())
    print("evaluation:", json.dumps(json.loads((reporting / "evaluation.json").read_text()), indent=1))


if __name__ == "__main__":
    main()
