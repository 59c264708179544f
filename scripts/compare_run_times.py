"""The default run's wall time at two checkouts, measured alternately in one session.

    git worktree add --detach /tmp/before <commit>
    python scripts/compare_run_times.py --before /tmp/before --after . --pairs 3 --work /tmp/run_times

On a shared machine the time of one run moves by a fifth from hour to hour; runs of the two
checkouts taken in turn see the same load, so their ratio means more than either median.
Each run is ``scripts/kedro_run_with.py`` of that checkout (a fresh scratch project, its
conf/base, its package on PYTHONPATH). Prints every run's line and the medians and ratio.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
from pathlib import Path

WALL = re.compile(r"kedro run took (\d+) s \(pipeline ([\d.]+) s")


def timed_run(checkout: Path, project: Path) -> tuple[float, float, str]:
    """One default run of ``checkout``: the wall seconds, the pipeline seconds and the printed line."""
    environment = {**os.environ, "PYTHONPATH": str(checkout / "src")}
    finished = subprocess.run(
        [sys.executable, str(checkout / "scripts" / "kedro_run_with.py"), "--project-dir", str(project)],
        env=environment,
        capture_output=True,
        text=True,
        check=True,
    )
    match = WALL.search(finished.stdout)
    if match is None:
        raise RuntimeError(f"no timing line in the output of {checkout}'s run:\n{finished.stdout[-2000:]}")
    line = finished.stdout[match.start() :].splitlines()[0]
    return float(match.group(1)), float(match.group(2)), line


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", type=Path, required=True, help="a checkout, e.g. a git worktree")
    parser.add_argument("--after", type=Path, required=True)
    parser.add_argument("--pairs", type=int, default=3, help="runs of each, taken in turn")
    parser.add_argument("--work", type=Path, default=Path("/tmp/run_times"))
    args = parser.parse_args()
    walls: dict[str, list[float]] = {"before": [], "after": []}
    pipelines: dict[str, list[float]] = {"before": [], "after": []}
    for pair in range(1, args.pairs + 1):
        for label, checkout in (("before", args.before), ("after", args.after)):
            wall, pipeline, line = timed_run(checkout.resolve(), args.work / label)
            walls[label].append(wall)
            pipelines[label].append(pipeline)
            print(f"pair {pair}, {label} ({checkout}): {line}", flush=True)
    medians = {label: statistics.median(values) for label, values in walls.items()}
    for label in walls:
        print(
            f"{label}: median wall {medians[label]:.0f} s, median pipeline {statistics.median(pipelines[label]):.1f} s"
        )
    print(f"after / before, median wall: {medians['after'] / medians['before']:.2f}")


if __name__ == "__main__":
    main()
