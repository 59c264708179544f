"""Using a trained run, timed: `kedro run --pipeline assign` on 1,000 new 32-px images, and one
similarity query over 10,000 indexed images.

    python scripts/benchmark_assign.py --work /tmp/assign_benchmark

1. A scratch project trains on 1,000 CIFAR-10 training photos (100 per class, a labelled folder) with
   the defaults and ``rounds`` (2 unless --rounds): what is timed next does not depend on how long it
   trained.
2. ``assign.folder`` is 1,000 CIFAR-10 test photos (100 per class, flat); `kedro run --pipeline assign`
   runs --repeat times, start to end (the process included), and the median is reported.
3. A ``SimilarityIndex`` over 10,000 random rows of the exported features' width is queried one
   point at a time (the median of 200 queries), and ``similar_images`` on one image file end to end
   against it (read, the run's network, search; the median of 20 calls).
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

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
from deepcluster.assign import SimilarityIndex, similar_images  # noqa: E402
from deepcluster.pipelines.scratch import scratch_project  # noqa: E402

CIFAR = ROOT.parent / "shared" / "datasets" / "cifar10"


def copy_per_class(split: str, target: Path, per_class: int, labelled: bool, seed: int = 0) -> Path:
    """``per_class`` photos of each class of a split, in class folders or flat (once)."""
    if target.is_dir() and sum(1 for _ in target.rglob("*.png")) == 10 * per_class:
        return target
    shutil.rmtree(target, ignore_errors=True)
    rng = np.random.default_rng(seed)
    for folder in sorted((CIFAR / split).iterdir()):
        files = sorted(folder.iterdir())
        destination = target / folder.name if labelled else target
        destination.mkdir(parents=True, exist_ok=True)
        for index in sorted(rng.choice(len(files), size=per_class, replace=False)):
            shutil.copy(files[index], destination / f"{folder.name}_{files[index].name}")
    return target


def kedro(project: Path, *arguments: str) -> float:
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "kedro", "run", *arguments],
        cwd=project,
        env={**os.environ, "KEDRO_DISABLE_TELEMETRY": "1"},
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - started


def milliseconds(call, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        times.append(1000 * (time.perf_counter() - started))
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=Path("/tmp/assign_benchmark"))
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    training = copy_per_class("train", args.work / "training", 100, labelled=True)
    new = copy_per_class("test", args.work / "new", 100, labelled=False)
    project = args.work / "project"
    shutil.rmtree(project, ignore_errors=True)
    parameters = {
        "rounds": args.rounds,
        "data": {"source": "folder", "path": str(training)},
        "assign": {"folder": str(new)},
    }
    scratch_project(ROOT, project, parameters)
    print(f"training ({args.rounds} rounds on {training}): {kedro(project):.0f} s")
    walls = [kedro(project, "--pipeline", "assign") for _ in range(args.repeat)]
    print(
        f"kedro run --pipeline assign, 1,000 new 32-px images: median {statistics.median(walls):.1f} s "
        f"({', '.join(f'{wall:.1f}' for wall in walls)})"
    )

    exported = np.load(project / "data/07_model_output/final/features.npy")
    rng = np.random.default_rng(0)
    rows = rng.normal(size=(10_000, exported.shape[1])).astype(np.float32)
    index = SimilarityIndex(rows, [f"image_{i}" for i in range(len(rows))])
    queries = iter(rng.normal(size=(200, exported.shape[1])).astype(np.float32))
    query_ms = milliseconds(lambda: index.search(next(queries)[None], k=5), 200)
    print(f"one query over {len(index):,} indexed rows of {exported.shape[1]} features: median {query_ms:.3f} ms")

    backbone = torch.load(project / "data/06_models/backbone.pt", weights_only=True)
    preprocessing = json.loads((project / "data/06_models/preprocessing.json").read_text())
    photo = next(new.glob("*.png"))
    end_to_end = milliseconds(lambda: similar_images([photo], backbone, preprocessing, index), 20)
    print(f"similar_images on one file (read, network, search over {len(index):,}): median {end_to_end:.1f} ms")


if __name__ == "__main__":
    main()
