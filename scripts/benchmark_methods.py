"""The three methods side by side, with a kNN curve over the rounds.

Each (method, seed) is one full run through the project's pipelines (the plain
runner: the nodes of ``kedro run`` in memory). Every round's checkpoint is kept;
after the run, the backbone of every ``--knn-every``-th round is scored by weighted
kNN-20 (the final evaluation's protocol) on a stratified held-out part of
``evaluation.test_fraction`` drawn with the run's seed (the final evaluation draws its
own, so the curve's round 0 and the table's untrained row score different splits); the
curve starts at the untrained network (round 0). Writes a
markdown table (final evaluation: clustering ACC/NMI/ARI, linear probe, kNN; the
untrained network and raw pixels from the same runs), a JSON-lines file of the
results and a plot of the curves.

    python scripts/benchmark_methods.py --env cifar10_cpu --seeds 0 --knn-every 2 \\
        --out docs/benchmarks/raw/methods_cifar10_cpu.md
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from deepcluster.config import check_parameters
from deepcluster.data.sources import load_image_collection
from deepcluster.evaluation.protocols import held_out_split, knn_accuracy
from deepcluster.features import (
    INFERENCE_BATCH_SIZE,  # noqa: E402
    extract_features,
)
from deepcluster.methods import METHODS
from deepcluster.pipelines import round_name
from deepcluster.pipelines.evaluation.nodes import TEST_FRACTION  # noqa: E402
from deepcluster.pipelines.plain_runner import dotted_override, load_parameters, merge, run, subject_report
from deepcluster.runtime import derive_seed  # noqa: E402
from deepcluster.training import network_from_checkpoint

ROOT = Path(__file__).resolve().parents[1]
COLUMNS = [("acc", "ACC"), ("nmi", "NMI"), ("ari", "ARI"), ("linear_top1", "linear top-1"), ("knn20_top1", "kNN-20")]


def knn_curve(parameters: dict, checkpoints: dict[int, dict]) -> dict[int, float]:
    """kNN-20 top-1 of each kept round's backbone on a stratified held-out split seeded with the run's seed."""
    settings = check_parameters(parameters)
    data = settings.data
    images = load_image_collection(**data.model_dump(), seed=derive_seed(settings.runtime.seed, 0, "max_images"))
    images = images.collection
    train, test = held_out_split(images.labels, TEST_FRACTION, settings.runtime.seed)
    execution = settings.runtime.execution()
    curve = {}
    for round_number, checkpoint in sorted(checkpoints.items()):
        network = network_from_checkpoint(checkpoint, execution).eval()
        features = extract_features(network, images, INFERENCE_BATCH_SIZE, execution, images.image_size)
        curve[round_number] = knn_accuracy(
            features[train], images.labels[train], features[test], images.labels[test], k=20
        )
    return curve


def one_run(env: str | None, method: str, seed: int, overrides: dict, knn_every: int) -> dict:
    parameters = load_parameters(
        ROOT / "conf", env, merge(overrides, {"method": {"name": method}, "runtime": {"seed": seed}})
    )
    rounds = check_parameters(parameters).rounds
    kept_rounds = sorted({*range(0, rounds + 1, knn_every), rounds})
    keep = tuple(f"{round_name(r)}.checkpoint" for r in kept_rounds)
    started = time.perf_counter()
    result = run(parameters, log=lambda line: print(f"  {method} seed {seed}: {line}", flush=True), keep=keep)
    wall = time.perf_counter() - started
    curve = knn_curve(parameters, {r: result["kept"][f"{round_name(r)}.checkpoint"] for r in kept_rounds})
    return {
        "method": method,
        "seed": seed,
        "wall_seconds": wall,
        "report": result["report"],
        "knn20_by_round": curve,
        "rounds": [{k: v for k, v in m.items() if isinstance(v, (int, float))} for m in result["rounds"]],
        "resolved": result["resolved"],
    }


def cell(values: list[float]) -> str:
    if not values:
        return "–"
    return f"{np.mean(values):.3f} ± {np.std(values):.3f}" if len(values) > 1 else f"{values[0]:.3f}"


def table(results: list[dict]) -> str:
    lines = ["| | " + " | ".join(name for _, name in COLUMNS) + " | wall time (min) |", "|---" * 7 + "|"]
    first_method = [r for r in results if r["method"] == results[0]["method"]]
    for label, key, runs in [
        ("raw pixels", "pixels", first_method),
        ("untrained network", "random_network", first_method),
        *((f"`{m}`", "trained", [r for r in results if r["method"] == m]) for m in METHODS),
    ]:
        if not runs:
            continue
        cells = [cell([subject_report(r["report"], key)[c] for r in runs]) for c, _ in COLUMNS]
        wall = cell([r["wall_seconds"] / 60 for r in runs]) if key == "trained" else "–"
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {wall} |")
    return "\n".join(lines)


def plot(results: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6, 4))
    for r in results:
        rounds = sorted(r["knn20_by_round"])
        axes.plot(rounds, [r["knn20_by_round"][k] for k in rounds], marker="o", label=f"{r['method']} seed {r['seed']}")
    pixels = np.mean([r["report"]["pixels"]["knn20_top1"] for r in results])
    axes.axhline(pixels, color="grey", linestyle="--", label="raw pixels")
    axes.set_xlabel("round")
    axes.set_ylabel("kNN-20 top-1 (held-out 20 %)")
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", help="a folder of conf/ whose parameters*.yml override conf/base")
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--set", action="append", default=[], help="override for every run: a.b=value (YAML)")
    parser.add_argument("--knn-every", type=int, default=1, help="score every n-th round's backbone")
    parser.add_argument("--out", type=Path, required=True, help="markdown table; .jsonl and .png beside it")
    parser.add_argument("--from-jsonl", type=Path, nargs="+", help="tabulate these results instead of running")
    args = parser.parse_args()
    overrides: dict = {}
    for assignment in args.set:
        overrides = merge(overrides, dotted_override(assignment))
    results = []
    for path in args.from_jsonl or []:
        for line in filter(str.strip, path.read_text().splitlines()):
            result = json.loads(line)
            result["knn20_by_round"] = {int(r): v for r, v in result["knn20_by_round"].items()}  # JSON keys: text
            results.append(result)
    jsonl = args.out.with_suffix(".jsonl")
    for seed in [] if args.from_jsonl else args.seeds:
        for method in args.methods:
            results.append(one_run(args.env, method, seed, overrides, args.knn_every))
            jsonl.write_text("\n".join(json.dumps(r, default=str) for r in results) + "\n")
            print(f"{method} seed {seed}: {subject_report(results[-1]['report'], 'trained')}", flush=True)
    plot(results, args.out.with_suffix(".png"))
    args.out.write_text(table(results) + "\n")
    print(table(results))


if __name__ == "__main__":
    main()
