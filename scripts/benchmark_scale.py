"""How each clustering stage grows with the number of images: planted features at 10k, 100k and 1M points.

    python scripts/benchmark_scale.py --out docs/benchmarks/scale.md
    python scripts/benchmark_scale.py --sizes 10000 100000 --stages graph round_kmeans   # a part of it

The features are ``--groups`` groups in ``--dim`` dimensions (``planted``): random centres, each group spread
along a few directions of its own (``--spread`` times the centres' length), so that groups overlap and no
stage scores them perfectly; ``--directions 128`` makes the spread isotropic, the hardest case for
approximate neighbours. Every n uses
k = ``--groups`` clusters: a k that followed n would make every n x k stage grow as n^2.

Each (stage, n) runs in a process of its own, which draws the features again (the same seed) and reports
the stage's seconds and the process's peak resident memory (features included). The stages call the
library as a run does:

* ``graph``: the ``CRITERION_NEIGHBOURS``-NN graph of every point (exact up to ``EXACT_LIMIT``, an inverted
  file above);
* ``round_kmeans``: a round's k-means (DeepCluster step 2) on every point;
* ``groups``: the groups estimate (Louvain on the 5-NN graph of a ``GROUPS_SAMPLE`` sample);
* ``fit_<clusterer>``: the clusterer's fit on every point (on its ``fit_limit`` sample, the rest placed), and
  ``assign_<clusterer>``: placing every point with the fitted partition;
* ``choice``: the label-free choice's criterion (the candidates' planted-partition likelihood on a sample's graph);
* ``evaluation``: the protocols on a 4:1 split (kNN-20, the linear probe, ACC/NMI/ARI of a partition);
* ``recall``: the inverted file against exact search, recall@10 on ``--queries`` points;
* ``exact_vs_approximate``: Louvain's partition of the whole 10-NN graph found exactly and through the
  inverted file, each scored by NMI against the planted groups.

Each row goes to ``<out>.jsonl`` as soon as it is measured; the tables (seconds, peak memory, and the
log-log slope between the two largest sizes) are written to ``--out``.

``--compare-louvain`` compares the groups estimate of igraph's Louvain (the project's) with networkx's (the
project's before) on the shared collections, seeds 0-2: the same sampled pixels' graph given to both.

``--end-to-end WORK`` runs ``kedro run`` instead, with the defaults and ``--rounds`` rounds, on the 60,000
CIFAR-10 images as a user would have them: one folder per class under WORK that links the class's train and
test images. It writes each node's seconds (from the run's ``run_timing.json``) and the peak memory of its
largest process (GNU time) to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import normalized_mutual_info_score

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
from deepcluster.auto import GROUPS_NEIGHBOURS, GROUPS_SAMPLE  # noqa: E402
from deepcluster.clustering import neighbours  # noqa: E402
from deepcluster.clustering.clusterers import (  # noqa: E402
    CLUSTERERS,
    CRITERION_NEIGHBOURS,
    CRITERION_SAMPLE,
    Partition,
    label_free_scores,
)
from deepcluster.clustering.graph import communities, knn_graph, louvain  # noqa: E402
from deepcluster.clustering.kmeans import kmeans  # noqa: E402
from deepcluster.evaluation.metrics import labelling_agreement  # noqa: E402
from deepcluster.evaluation.protocols import held_out_split, knn_accuracy, linear_probe_accuracy  # noqa: E402
from deepcluster.methods.deepcluster import ROUND_KMEANS_ITERATIONS  # noqa: E402
from deepcluster.pipelines.scratch import scratch_project  # noqa: E402

CIFAR10 = ROOT.parent / "shared" / "datasets" / "cifar10"

STAGES = (
    "graph", "round_kmeans", "groups", *(f"fit_{name}" for name in CLUSTERERS), "choice", "evaluation",
)  # fmt: skip


def planted(
    n: int, groups: int, dim: int, spread: float, directions: int = 16, noise: float = 0.2, seed: int = 0
) -> tuple[torch.Tensor, np.ndarray]:
    """``n`` points of ``groups`` planted groups, and each point's group.

    A group is a random centre (standard normal) and a random ``directions``-dimensional subspace of its own,
    in which its points spread (a Gaussian whose RMS length is ``spread`` times the centres'), plus noise in
    every direction (RMS length ``noise`` times the centres'): learned features vary along few directions
    per group, and isotropic noise in 128 dimensions would make every point nearly as far from all others.
    """
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((groups, dim)).astype(np.float32)
    bases = np.linalg.qr(rng.standard_normal((groups, dim, directions)))[0].astype(np.float32)
    labels = rng.integers(0, groups, n)
    points = centres[labels]
    for start in range(0, n, 10_000):  # a block at a time: a small temporary beside the points
        block, members = points[start : start + 10_000], labels[start : start + 10_000]
        along = rng.standard_normal((len(members), directions), dtype=np.float32) * spread * np.sqrt(dim / directions)
        block += np.einsum("nd,nkd->nk", along, bases[members])
        block += noise * rng.standard_normal(block.shape, dtype=np.float32)
    return torch.from_numpy(points), labels


def timed(call):
    started = time.perf_counter()
    result = call()
    return result, time.perf_counter() - started


def measure(stage: str, n: int, args: argparse.Namespace) -> dict:
    """One stage at one size, in this process: its seconds and what it found."""
    if args.features:  # real features (the recall stage): every row, no planted groups
        points, labels = torch.from_numpy(np.load(args.features)), None
        n = points.shape[0]
    else:
        points, labels = planted(n, args.groups, args.dim, args.spread, args.directions)
    k = args.groups
    row: dict = {"stage": stage, "n": n}
    if stage == "graph":
        graph, row["seconds"] = timed(lambda: knn_graph(points, CRITERION_NEIGHBOURS))
        row |= {"exact": n <= neighbours.EXACT_LIMIT, "edges": int(graph.nnz // 2)}
    elif stage == "round_kmeans":
        result, row["seconds"] = timed(lambda: kmeans(points, k, n_iter=ROUND_KMEANS_ITERATIONS, seed=0))
        row["nmi"] = normalized_mutual_info_score(labels, result.assignments)
    elif stage == "groups":
        sample = np.sort(np.random.default_rng(0).choice(n, min(n, GROUPS_SAMPLE), replace=False))
        found, row["seconds"] = timed(lambda: communities(points[torch.as_tensor(sample)], GROUPS_NEIGHBOURS))
        row |= {"sample": int(sample.size), "groups_found": found.count}
    elif stage.startswith("fit_"):
        clusterer = CLUSTERERS[stage.removeprefix("fit_")]()
        partition, row["seconds"] = timed(lambda: clusterer.fit(points, k, seed=0))
        _, row["assign_seconds"] = timed(lambda: clusterer.assign(partition, points))
        row |= {"fitted_on": partition.summary.get("fitted_on", n)}
        row["nmi"] = normalized_mutual_info_score(labels, partition.assignments)
    elif stage == "choice":
        shuffled = np.random.default_rng(1).permutation(labels)
        partitions = {
            name: Partition(name, k, assignments, np.zeros(n, np.float32), "confidence", {})
            for name, assignments in (("planted", labels), ("shuffled", shuffled))
        }
        scores, row["seconds"] = timed(lambda: label_free_scores(points, partitions, seed=0))
        row |= {"sample": min(n, CRITERION_SAMPLE)} | {f"criterion_{name}": value for name, value in scores.items()}
    elif stage == "evaluation":
        train, test = held_out_split(labels, 0.2, seed=0)
        assignments = np.random.default_rng(2).integers(0, k, n)
        started = time.perf_counter()
        row["knn20"] = knn_accuracy(points[train], labels[train], points[test], labels[test], k=20)
        row["knn_seconds"] = time.perf_counter() - started
        row["probe"] = linear_probe_accuracy(points[train], labels[train], points[test], labels[test])
        row["agreement_nmi"] = labelling_agreement(labels, assignments)["nmi"]
        row["seconds"] = time.perf_counter() - started
    elif stage == "recall":
        queries = points[torch.as_tensor(np.random.default_rng(3).choice(n, args.queries, replace=False))]
        found = {}
        for name, exact in (("approximate", False), ("exact", True)):
            index_and_search = lambda: neighbours.NeighbourIndex(points, exact=exact).search(queries, 10)  # noqa: E731
            (_, found[name]), row[f"{name}_seconds"] = timed(index_and_search)
        pairs = zip(found["approximate"], found["exact"])
        row["recall_at_10"] = float(np.mean([len(set(a) & set(b)) / 10 for a, b in pairs]))
        row["seconds"] = row["approximate_seconds"]
        row["queries"] = args.queries
    elif stage == "exact_vs_approximate":
        for name, exact in (("exact", True), ("approximate", False)):
            found, seconds = timed(lambda: louvain(knn_graph(points, CRITERION_NEIGHBOURS, exact), seed=0))
            row |= {f"{name}_nmi": normalized_mutual_info_score(labels, found), f"{name}_seconds": seconds}
        row["seconds"] = row["approximate_seconds"]
    else:
        raise ValueError(f"unknown stage {stage!r}; choose from {STAGES + ('recall', 'exact_vs_approximate')}")
    row["peak_gib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    return row


def slope(rows: list[dict], key: str) -> str:
    """The log-log slope of ``key`` between the two largest sizes measured."""
    measured = sorted((row["n"], row[key]) for row in rows if key in row)
    if len(measured) < 2 or measured[-2][1] <= 0:
        return ""
    (n0, t0), (n1, t1) = measured[-2:]
    return f"{np.log(t1 / t0) / np.log(n1 / n0):.2f}"


def table(rows: list[dict], sizes: list[int]) -> list[str]:
    header = ["stage", *(f"{n:,} s" for n in sizes), *(f"{n:,} GiB" for n in sizes), "slope", "notes"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    stages = list(dict.fromkeys(row["stage"] for row in rows))
    for stage in stages:
        mine = [row for row in rows if row["stage"] == stage]
        at = {row["n"]: row for row in mine}
        for key, name in (("seconds", stage), ("assign_seconds", stage.replace("fit_", "assign_"))):
            if not any(key in row for row in mine):
                continue
            seconds = [f"{at[n][key]:.1f}" if n in at and key in at[n] else "" for n in sizes]
            memory = [f"{at[n]['peak_gib']:.2f}" if n in at else "" for n in sizes]
            notes = "; ".join(
                f"{n:,}: " + ", ".join(f"{k} {fmt(v)}" for k, v in at[n].items() if k not in NOT_NOTES)
                for n in sizes
                if n in at and key == "seconds"
            )
            lines.append("| " + " | ".join([name, *seconds, *memory, slope(mine, key), notes]) + " |")
    return lines


NOT_NOTES = {"stage", "n", "seconds", "assign_seconds", "peak_gib", "machine"}


def fmt(value) -> str:
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def linked_cifar10(target: Path) -> Path:
    """One folder per CIFAR-10 class under ``target``, linking that class's train and test images (once)."""
    for split in ("train", "test"):
        for image in sorted((CIFAR10 / split).glob("*/*.png")):
            link = target / image.parent.name / f"{split}_{image.name}"
            if not link.is_symlink():
                link.parent.mkdir(parents=True, exist_ok=True)
                link.symlink_to(image)
    return target


def end_to_end(work: Path, rounds: int) -> list[str]:
    """``kedro run`` with the defaults on the linked CIFAR-10 folder: each node's seconds and the peak memory."""
    folder = linked_cifar10(work / "cifar10_all")
    project = scratch_project(
        ROOT, work / "project", {"data": {"source": "folder", "path": str(folder)}, "rounds": rounds}
    )
    environment = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "1", "PYTHONPATH": str(ROOT / "src")}
    started = time.perf_counter()
    with (work / "kedro_run.log").open("w") as log:
        done = subprocess.run(
            ["/usr/bin/time", "-v", sys.executable, "-m", "kedro", "run"],
            cwd=project, env=environment, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    seconds = time.perf_counter() - started
    if done.returncode:
        raise RuntimeError(f"kedro run failed; see {work / 'kedro_run.log'}")
    peak_kib = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", (work / "kedro_run.log").read_text())[1])
    timing = json.loads((project / "data" / "08_reporting" / "run_timing.json").read_text())
    lines = [
        f"`kedro run` on {sum(1 for _ in folder.rglob('*.png')):,} images, {rounds} rounds: {seconds:.0f} s, "
        f"peak memory of its largest process {peak_kib / 2**20:.2f} GiB",
        "",
        "| node | seconds |",
        "|---|---|",
        *(f"| {name} | {value:.1f} |" for name, value in timing["node_seconds"].items()),
    ]
    return lines


def compare_louvain() -> list[str]:
    """The groups estimate's count and modularity by igraph and by networkx on each shared collection, seeds 0-2."""
    import networkx

    from deepcluster.auto import pixel_pca, pixel_rows
    from deepcluster.clustering.graph import modularity
    from deepcluster.data.sources import load_image_collection

    shared = ROOT.parent / "shared" / "datasets"
    collections = {
        "digits": ("sklearn_digits", None),
        "mnist": ("idx", shared / "mnist_test" / "t10k-images-idx3-ubyte.gz"),
        **{name: ("folder", shared / "collections" / name) for name in ("coil20", "umist", "palm", "omniglot_latin")},
    }
    lines = [
        "| collection | seed | igraph: groups, modularity, s | networkx: groups, modularity, s |",
        "|---|---|---|---|",
    ]
    for name, (source, path) in collections.items():
        images = load_image_collection(source, "auto", path and str(path), max_auto_size=32, workers=1).collection
        for seed in range(3):
            sample = np.arange(len(images))
            if len(images) > GROUPS_SAMPLE:
                sample = np.sort(np.random.default_rng(seed).choice(len(images), GROUPS_SAMPLE, replace=False))
            graph = knn_graph(pixel_pca(pixel_rows(images, sample), seed), GROUPS_NEIGHBOURS)
            ours, ours_seconds = timed(lambda: louvain(graph, seed))
            found, theirs_seconds = timed(
                lambda: networkx.community.louvain_communities(networkx.from_scipy_sparse_array(graph), seed=seed)
            )
            theirs = np.empty(graph.shape[0], dtype=np.int64)
            for label, members in enumerate(found):
                theirs[list(members)] = label
            lines.append(
                f"| {name} | {seed} | {ours.max() + 1}, {modularity(graph, ours):.3f}, {ours_seconds:.2f} "
                f"| {len(found)}, {modularity(graph, theirs):.3f}, {theirs_seconds:.2f} |"
            )
            print(lines[-1], flush=True)
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--stages", nargs="+", default=list(STAGES))
    parser.add_argument("--groups", type=int, default=1000)
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--spread", type=float, default=1.7)
    parser.add_argument("--directions", type=int, default=16)
    parser.add_argument("--queries", type=int, default=10_000)
    parser.add_argument("--features", type=Path, default=None, help="a .npy of real features for --stages recall")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--from-jsonl", nargs="+", type=Path, help="tabulate these rows (later files win) instead")
    parser.add_argument("--compare-louvain", action="store_true")
    parser.add_argument("--end-to-end", type=Path, default=None, metavar="WORK")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--child", nargs=2, metavar=("STAGE", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child[0], int(args.child[1]), args)))
        return
    if args.end_to_end or args.compare_louvain:
        lines = end_to_end(args.end_to_end, args.rounds) if args.end_to_end else compare_louvain()
        print("\n".join(lines))
        if args.out:
            args.out.write_text("\n".join(lines) + "\n")
        return
    if args.from_jsonl:
        latest = {}
        for path in args.from_jsonl:
            for line in path.read_text().splitlines():
                row = json.loads(line)
                latest[row["stage"], row["n"]] = row
        order = {stage: i for i, stage in enumerate(STAGES)}
        rows = sorted(latest.values(), key=lambda row: (order.get(row["stage"], len(order)), row["n"]))
        lines = table(rows, sorted({row["n"] for row in rows}))
        print("\n".join(lines))
        if args.out:
            args.out.write_text("\n".join(lines) + "\n")
        return
    rows = []
    raw = args.out.with_suffix(".jsonl") if args.out else None
    shared = ["--groups", str(args.groups), "--dim", str(args.dim), "--spread", str(args.spread)]
    shared += ["--directions", str(args.directions)] + (["--features", str(args.features)] if args.features else [])
    for stage in args.stages:
        for n in args.sizes:
            command = [sys.executable, __file__, "--child", stage, str(n), *shared, "--queries", str(args.queries)]
            done = subprocess.run(command, capture_output=True, text=True)
            if done.returncode:
                print(f"{stage} at {n}: failed\n{done.stderr[-2000:]}", file=sys.stderr)
                continue
            row = json.loads(done.stdout.strip().splitlines()[-1])
            rows.append(row)
            print(json.dumps(row), flush=True)
            if raw:
                with raw.open("a") as handle:
                    handle.write(json.dumps(row | {"machine": platform.machine()}) + "\n")
    lines = table(rows, args.sizes)
    print("\n".join(lines))
    if args.out:
        args.out.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
