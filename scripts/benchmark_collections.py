"""The defaults on every kind of collection: `kedro run` with only the source and its path, over seeds.

    python scripts/benchmark_collections.py --seeds 0 1 2 --out docs/benchmarks/collections.md
    git worktree add /tmp/before <commit>     # the same suite on an earlier commit, for a before/after table
    python scripts/benchmark_collections.py --checkout /tmp/before --work /tmp/before_runs --out /tmp/before.md

Each (collection, seed) is `kedro run` in a fresh scratch copy of the project (conf/base,
a new MLflow database) whose conf/local/parameters.yml holds nothing but ``data.source``,
the source's path and ``runtime.seed``. The collections:

* ``digits``: scikit-learn's digits (the project's default data);
* ``mnist``: the MNIST test split (idx files);
* ``coil20``, ``umist``, ``palm``, ``omniglot_latin``: objects, faces, palmprints and handwritten letters
  (labelled folders of grey PNGs);
* ``cifar1000``: 1,000 CIFAR-10 photos, 100 per class drawn (seed 0) from the train split,
  copied into a labelled folder under --work.

Every run's report (``data/08_reporting/evaluation.json``), settings and wall time are
appended to ``<out>.jsonl`` as soon as the run ends, so an interrupted benchmark keeps
what it finished; ``--from-jsonl`` tabulates such files without running anything.
The table gives, per collection and subject, the mean ± std over seeds of ACC and NMI (k = classes;
the trained network's final partition, by the clusterer it chose without labels; each baseline's best
ACC and best NMI over every clusterer) and kNN-20 top-1, the run's median wall time, and whether the
trained network met the target on each collection.
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

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
from deepcluster.pipelines.plain_runner import dotted_override, merge, subject_report  # noqa: E402
from deepcluster.pipelines.scratch import scratch_project  # noqa: E402

DATASETS = ROOT.parent / "shared" / "datasets"
COLLECTIONS = {
    "digits": {"source": "sklearn_digits"},
    "mnist": {"source": "idx", "path": str(DATASETS / "mnist_test" / "t10k-images-idx3-ubyte.gz")},
    **{name: {"source": "folder", "path": str(DATASETS / "collections" / name)} for name in
       ("coil20", "umist", "palm", "omniglot_latin")},
    "cifar1000": {"source": "folder", "path": "{work}/cifar1000"},
}  # fmt: skip
METRICS = [("acc", "ACC"), ("nmi", "NMI"), ("knn20_top1", "kNN-20")]


def make_cifar_collection(target: Path, per_class: int = 100, seed: int = 0) -> None:
    """``per_class`` images of each CIFAR-10 class from the train split, as a labelled folder (once)."""
    if target.is_dir() and sum(1 for _ in target.rglob("*.png")) == 10 * per_class:
        return
    shutil.rmtree(target, ignore_errors=True)
    rng = np.random.default_rng(seed)
    source = DATASETS / "cifar10" / "train"
    for folder in sorted(source.iterdir()):
        files = sorted(folder.iterdir())
        (target / folder.name).mkdir(parents=True)
        for index in sorted(rng.choice(len(files), size=per_class, replace=False)):
            shutil.copy(files[index], target / folder.name / files[index].name)


def data_block(collection: str, work: Path) -> dict:
    block = json.loads(json.dumps(COLLECTIONS[collection]).replace("{work}", str(work)))
    return block


def one_run(collection: str, seed: int, work: Path, extra: dict, checkout: Path, processes: int = 1) -> dict:
    """`kedro run` on ``collection`` (under ``torchrun --nproc_per_node=processes`` when above 1)."""
    name = f"{collection}_seed{seed}" + (f"_{processes}processes" if processes > 1 else "")
    project = work / name
    shutil.rmtree(project, ignore_errors=True)
    parameters = merge({"data": data_block(collection, work), "runtime": {"seed": seed}}, extra)
    scratch_project(checkout, project, parameters)
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}"]
    started = time.perf_counter()
    finished = subprocess.run(
        [*(launcher if processes > 1 else [sys.executable]), "-m", "kedro", "run"],
        cwd=project,
        # the checkout's own package, where it is not this one (a before/after table)
        env={**os.environ, "KEDRO_DISABLE_TELEMETRY": "1", "PYTHONPATH": str(checkout / "src")},
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - started
    (work / f"{name}.log").write_text(finished.stdout + finished.stderr)
    if finished.returncode:
        raise RuntimeError(f"{name}: kedro run failed; see {work}/{name}.log")
    reporting = project / "data" / "08_reporting"
    resolved = reporting / "resolved_settings.json"
    labels = pd.read_parquet(project / "data" / "02_intermediate" / "image_index.parquet")["label"]
    return {
        "collection": collection,
        "classes": int(labels.nunique()),
        "seed": seed,
        "processes": processes,
        "settings": extra,
        "wall_seconds": wall,
        "report": json.loads((reporting / "evaluation.json").read_text()),
        "resolved": json.loads(resolved.read_text()) if resolved.exists() else {},
    }


def scores(report: dict, subject: str) -> dict[str, float]:
    """A subject's figures in one run: the trained network's final partition (the clusterer chosen without
    labels); a baseline's best ACC and best NMI over every clusterer, so that no clusterer handicaps it."""
    figures = subject_report(report, subject)
    if "acc" not in figures:
        return {}
    result = {key: figures[key] for key in ("acc", "nmi", "knn20_top1") if key in figures}
    clusterers = figures.get("clusterers")
    if subject != "trained" and clusterers:
        result |= {key: max(c[key] for c in clusterers.values()) for key in ("acc", "nmi")}
    return result


def table(results: list[dict]) -> str:
    """One row per collection and subject: mean ± std over seeds of each metric, and the median wall time;
    then whether the trained network met the target on each collection."""
    lines = [
        "| collection | subject | " + " | ".join(label for _, label in METRICS) + " | seeds | wall time (s) |",
        "|---|---|" + "---|" * (len(METRICS) + 2),
    ]
    verdicts = []
    for collection in dict.fromkeys(r["collection"] for r in results):
        runs = [r for r in results if r["collection"] == collection]
        report = runs[0]["report"]
        subjects = [s for s in report if isinstance(report[s], dict) and "acc" in report[s]]
        walls = [r["wall_seconds"] for r in runs]
        means = {}
        for subject in subjects:
            per_run = [scores(r["report"], subject) for r in runs]
            cells = []
            for key, _ in METRICS:
                values = [figures[key] for figures in per_run if key in figures]
                means[subject, key] = np.mean(values) if values else float("nan")
                cells.append(f"{np.mean(values):.3f} ± {np.std(values):.3f}" if values else "")
            wall = f"{np.median(walls):.0f}" if subject == subjects[0] else ""
            label = subject if subject == "trained" else f"{subject} (best clusterer)"
            lines.append(f"| {collection} | {label} | " + " | ".join(cells) + f" | {len(runs)} | {wall} |")
        trained = "trained" if "trained" in subjects else "deepcluster"
        missed = [
            f"{key} below {subject}"
            for subject in subjects
            if subject != trained
            for key in ("acc", "nmi")
            if means[trained, key] < means[subject, key]
        ]
        if "random_network" in subjects and means[trained, "knn20_top1"] < means["random_network", "knn20_top1"]:
            missed.append("kNN-20 below random_network")
        verdicts.append(f"- {collection}: " + ("met" if not missed else "missed (" + "; ".join(missed) + ")"))
    target = (
        "Target (trained ACC and NMI at least every baseline's, kNN-20 at least the untrained network's; "
        "means over seeds):"
    )
    return "\n".join(lines) + "\n\n" + target + "\n" + "\n".join(verdicts)


def choices(results: list[dict]) -> str:
    """What the runs resolved and chose without labels, per collection (one value per seed): the estimated
    groups against the classes, the rounds' k, the augmentation, the round whose network was kept, and the
    final partition's clusterer."""
    lines = [
        "| collection | classes | groups (estimated) | kmeans.k | augmentation | network round (of) | clusterer |",
        "|---|---|---|---|---|---|---|",
    ]
    for collection in dict.fromkeys(r["collection"] for r in results):
        runs = [r for r in results if r["collection"] == collection]
        resolved = [r["resolved"] for r in runs]
        reports = [r["report"] for r in runs]
        cells = [
            str(runs[0].get("classes", "")),
            ", ".join(str(x.get("clustering.groups", "–")) for x in resolved),
            ", ".join(str(x.get("kmeans.k", "–")) for x in resolved),
            ", ".join(str(x.get("training.augmentation", "–")) for x in resolved),
            ", ".join(f"{x.get('network_round', '–')} ({x.get('rounds', '–')})" for x in reports),
            ", ".join(str(subject_report(x, "trained").get("partition", "–")) for x in reports),
        ]
        lines.append(f"| {collection} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--collections", nargs="+", default=list(COLLECTIONS), choices=list(COLLECTIONS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--work", type=Path, default=Path("/tmp/collections_benchmark"), help="scratch projects")
    parser.add_argument("--set", action="append", default=[], help="a.b=value (YAML): not the defaults any more")
    parser.add_argument(
        "--checkout", type=Path, default=ROOT, help="the project to run (its conf and src), e.g. a git worktree"
    )
    parser.add_argument("--out", type=Path, help="markdown table; raw results go to <out>.jsonl")
    parser.add_argument("--from-jsonl", nargs="+", type=Path, help="tabulate these instead of running")
    args = parser.parse_args()
    if args.from_jsonl:
        results = [json.loads(line) for path in args.from_jsonl for line in path.read_text().splitlines() if line]
    else:
        extra: dict = {}
        for assignment in args.set:
            extra = merge(extra, dotted_override(assignment))
        args.work.mkdir(parents=True, exist_ok=True)
        if "cifar1000" in args.collections:
            make_cifar_collection(args.work / "cifar1000")
        raw = args.out.with_suffix(".jsonl") if args.out else None
        results = []
        for collection in args.collections:
            for seed in args.seeds:
                result = one_run(collection, seed, args.work, extra, args.checkout.resolve())
                results.append(result)
                print(f"{collection} seed {seed}: {result['wall_seconds']:.0f} s", flush=True)
                if raw:
                    with raw.open("a") as stream:
                        stream.write(json.dumps(result) + "\n")
    text = table(results) + "\n\n" + choices(results)
    print(text)
    if args.out:
        args.out.with_suffix(".table.md").write_text(text + "\n")


if __name__ == "__main__":
    main()
