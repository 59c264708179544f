"""Run DeepCluster (ingest, rounds, evaluation) from the project's conf without Kedro.

The same node functions and parameters as ``kedro run``, in memory, no catalog or
MLflow: for machines without Kedro (the GPU machine) and for repeated runs.

    python scripts/run_without_kedro.py --env cifar10 --set runtime.device=cuda --out result.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from deepcluster.pipelines.plain_runner import dotted_override, load_parameters, merge, run

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", help="a folder of conf/ whose parameters*.yml override conf/base")
    parser.add_argument("--set", action="append", default=[], help="override one parameter: a.b=value (YAML)")
    parser.add_argument("--out", type=Path, help="write the report, per-round metrics and timings here (JSON)")
    args = parser.parse_args()
    overrides: dict = {}
    for assignment in args.set:
        overrides = merge(overrides, dotted_override(assignment))
    result = run(load_parameters(ROOT / "conf", args.env, overrides))
    print(json.dumps(result["report"], indent=1))
    print(json.dumps(result["timings"], indent=1))
    if args.out:
        args.out.write_text(json.dumps(result, indent=1, default=str))


if __name__ == "__main__":
    main()
