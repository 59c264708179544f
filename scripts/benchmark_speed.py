"""Stage-by-stage timing of rounds, through the project's own pipelines (no second loop).

Runs the registered pipelines in memory (``deepcluster.pipelines.plain_runner``:
the nodes of ``kedro run``, without catalog files or MLflow) on the project's conf,
one environment and ``--set`` overrides, and prints per stage the median seconds
per round over rounds 2..R (round 1, with cuDNN autotuning and allocator growth,
apart), read from each round's ``timing/*`` metrics, and the training images/s.
For DeepCluster it also times the network's bare forward + backward + SGD step on
random tensors already on the device, at the same batch size and precision, so
that training is a fraction of that ceiling.

Examples:

    python scripts/benchmark_speed.py --rounds 5
    python scripts/benchmark_speed.py --rounds 5 --set method.name=swav
    python scripts/benchmark_speed.py --synthetic 50000 3 32 --rounds 4 --set runtime.device=cuda \\
        --set model.name=resnet18 --set kmeans.k=100 --set pca.dim=128 --set training.batch_size=256

The Kedro, catalog and MLflow overhead is measured separately by
``scripts/benchmark_kedro_overhead.py``.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from deepcluster.config import check_parameters
from deepcluster.models import build_model, new_head
from deepcluster.pipelines.plain_runner import dotted_override, load_parameters, merge, run

ROOT = Path(__file__).resolve().parents[1]


def synthetic_npz(folder: Path, n: int, channels: int, size: int) -> Path:
    """Random uint8 images with random labels, as the npz source reads them."""
    rng = np.random.default_rng(0)
    path = folder / "synthetic.npz"
    np.savez(
        path, pixels=rng.integers(0, 256, (n, channels, size, size), dtype=np.uint8), labels=rng.integers(0, 10, n)
    )
    return path


def bare_training_throughput(parameters: dict, resolved: dict, model_config: dict, steps: int = 20) -> float:
    """Images/s of forward + backward + SGD step of DeepCluster's network on random tensors on the device."""
    settings = check_parameters(parameters)
    execution = settings.runtime.execution()
    model = execution.place_model(build_model(**model_config))
    channels, size = model_config["in_channels"], resolved["model.input_size"]
    k, batch = resolved["kmeans.k"], settings.training.batch_size
    head = new_head(model.feature_dim, k, torch.Generator().manual_seed(0)).to(execution.device)
    optimizer = torch.optim.SGD(list(model.parameters()) + list(head.parameters()), lr=1e-4, momentum=0.9)
    images = execution.place_input(torch.randn(batch, channels, size, size, device=execution.device))
    targets = torch.randint(0, k, (batch,), device=execution.device)
    forward = execution.forward_of(model)
    model.train()

    def step() -> None:
        with execution.autocast():
            loss = F.cross_entropy(head(F.relu(forward(images))).float(), targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    for _ in range(3):
        step()
    if execution.device.type == "cuda":
        torch.cuda.synchronize(execution.device)
    started = time.perf_counter()
    for _ in range(steps):
        step()
    if execution.device.type == "cuda":
        torch.cuda.synchronize(execution.device)
    return steps * batch / (time.perf_counter() - started)


def summarise(result: dict, parameters: dict) -> dict:
    rounds = result["rounds"]
    stages = sorted({name for metrics in rounds for name in metrics if name.startswith("timing/")})
    steady = rounds[1:] or rounds
    median = {stage: statistics.median(m.get(stage, 0.0) for m in steady) for stage in stages}
    images = statistics.median(m["training/images"] for m in steady)
    summary = {
        "method": parameters["method"]["name"],
        "resolved": result["resolved"],
        "images": result["report"]["images"],
        "rounds": len(rounds),
        "median_seconds": median,
        "first_round_seconds": {stage: rounds[0].get(stage, 0.0) for stage in stages},
        "run_seconds": result["timings"]["run_seconds"],
        "training_images_per_second": images / median["timing/train_seconds"],
        "device": torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu",
        "torch": torch.__version__,
        "peak_host_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "peak_gpu_mb": torch.cuda.max_memory_allocated() / 2**20 if torch.cuda.is_available() else 0.0,
    }
    return summary


def markdown(summary: dict) -> str:
    r = summary["resolved"]
    lines = [
        f"{summary['images']:,} images, {summary['method']}, {r['model.name']} at {r['model.input_size']} px, "
        f"{summary['rounds']} rounds, device {summary['device']}, torch {summary['torch']}",
        "",
        "Median over rounds 2..R (round 1, with the warm-up, in the last column):",
        "",
        "| stage | median s / round | round 1 s |",
        "|---|---|---|",
    ]
    for stage, seconds in summary["median_seconds"].items():
        lines.append(
            f"| {stage.removeprefix('timing/')} | {seconds:.3f} | {summary['first_round_seconds'][stage]:.3f} |"
        )
    lines += [
        "",
        f"- whole run (ingest, rounds, evaluation): {summary['run_seconds']:.1f} s",
        f"- training: {summary['training_images_per_second']:,.0f} images/s",
    ]
    if "bare_training_images_per_second" in summary:
        lines.append(
            f"- bare forward+backward on in-memory tensors: {summary['bare_training_images_per_second']:,.0f} "
            f"images/s; training at {summary['training_fraction_of_bare']:.0%} of that"
        )
    lines.append(
        f"- peak host memory {summary['peak_host_mb']:,.0f} MB; peak GPU memory {summary['peak_gpu_mb']:,.0f} MB"
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", help="a folder of conf/ whose parameters*.yml override conf/base")
    parser.add_argument("--set", action="append", default=[], help="override one parameter: a.b=value (YAML)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--synthetic", type=int, nargs=3, metavar=("N", "CHANNELS", "SIZE"), help="random images")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--json", type=Path, help="also write the result here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    overrides: dict = {"rounds": args.rounds}
    with tempfile.TemporaryDirectory() as folder:
        if args.synthetic:
            n, channels, size = args.synthetic
            path = synthetic_npz(Path(folder), n, channels, size)
            overrides = merge(overrides, {"data": {"source": "npz", "image_size": size, "npz": {"path": str(path)}}})
        for assignment in args.set:
            overrides = merge(overrides, dotted_override(assignment))
        parameters = load_parameters(ROOT / "conf", args.env, overrides)
        last_checkpoint = f"round_{args.rounds:03d}.checkpoint"
        result = run(parameters, keep=(last_checkpoint,))
    summary = summarise(result, parameters)
    if summary["method"] == "deepcluster":
        model_config = result["kept"][last_checkpoint]["model_config"]
        bare = bare_training_throughput(parameters, result["resolved"], model_config)
        summary["bare_training_images_per_second"] = bare
        summary["training_fraction_of_bare"] = summary["training_images_per_second"] / bare
    print(markdown(summary))
    if args.json:
        args.json.write_text(json.dumps(summary, indent=1, default=str))


if __name__ == "__main__":
    main()
