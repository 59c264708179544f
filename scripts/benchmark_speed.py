"""Stage-by-stage timing of DeepCluster rounds, with the library alone (no Kedro).

Runs R rounds on a chosen dataset and model and prints, per stage, the median
seconds per round: data loading (one pass over the images without a network),
feature extraction, PCA, k-means, resampling, training and evaluation; images/s
for extraction and training; peak host and GPU memory. It also times the model's
bare forward + backward + SGD step on synthetic tensors already on the device,
at the same batch size and precision, so that training is reported as a fraction
of that ceiling.

Examples:

    python scripts/benchmark_speed.py --source digits --rounds 5
    python scripts/benchmark_speed.py --source synthetic --n 50000 --size 32 --channels 3 \\
        --model resnet18 --model-options '{"small_input": true}' --k 100 --pca-dim 128 --device cuda
    python scripts/benchmark_speed.py --source synthetic --n 20000 --size 224 --channels 3 \\
        --model alexnet_bn --k 1000 --pca-dim 256 --batch-size 256 --device cuda

The Kedro, catalog and MLflow overhead is measured separately by
``scripts/benchmark_kedro_overhead.py``.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.metrics import normalized_mutual_info_score

import deepcluster  # noqa: F401  (OpenMP wait policy before torch loads)
from deepcluster.augment import Augmentation
from deepcluster.data import ImageCollection, collection_from_arrays, iterate_pixel_batches
from deepcluster.features import extract_features
from deepcluster.kmeans import kmeans
from deepcluster.metrics import (
    cluster_size_summary,
    feature_collapse_std,
    labelling_agreement,
)
from deepcluster.models import build_model, new_head
from deepcluster.pca import fit_pca_whitening, usable_pca_dim
from deepcluster.runtime import Execution, execution_from_settings
from deepcluster.sampling import sample_uniformly_over_clusters
from deepcluster.sources import load_image_collection
from deepcluster.training import EpochSettings, body_optimizer, train_one_epoch

STAGES = ("loading", "extraction", "pca", "kmeans", "resampling", "training", "evaluation")


def load_collection(args: argparse.Namespace) -> ImageCollection:
    if args.source == "synthetic":
        rng = np.random.default_rng(0)
        pixels = rng.integers(0, 256, (args.n, args.channels, args.size, args.size), dtype=np.uint8)
        return collection_from_arrays(pixels, rng.integers(0, 10, args.n), [], args.size, "synthetic")
    if args.source == "npz":
        arrays = np.load(args.path)
        labels = arrays["labels"] if "labels" in arrays else None
        return collection_from_arrays(arrays["pixels"], labels, [], args.size, "npz")
    if args.source == "digits":
        return load_image_collection("sklearn_digits", args.size).collection
    options = (
        {"path": args.path, "channels": args.channels} if args.source == "folder" else json.loads(args.source_options)
    )
    return load_image_collection(args.source, args.size, **options).collection


def synchronise(execution: Execution) -> None:
    if execution.device.type == "cuda":
        torch.cuda.synchronize(execution.device)


def timed(execution: Execution, work):
    synchronise(execution)
    started = time.perf_counter()
    result = work()
    synchronise(execution)
    return result, time.perf_counter() - started


def bare_training_throughput(model, execution: Execution, args, k: int, steps: int = 20) -> float:
    """Images/s of forward + backward + SGD step on random tensors already on the device."""
    head = new_head(model.feature_dim, k, torch.Generator().manual_seed(0)).to(execution.device)
    optimizer = torch.optim.SGD(list(model.parameters()) + list(head.parameters()), lr=1e-4, momentum=0.9)
    images = torch.randn(args.batch_size, args.channels, args.size, args.size, device=execution.device)
    images = execution.place_input(images)
    targets = torch.randint(0, k, (args.batch_size,), device=execution.device)
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
    _, seconds = timed(execution, lambda: [step() for _ in range(steps)])
    return steps * args.batch_size / seconds


def run(args: argparse.Namespace) -> dict:
    execution = execution_from_settings(
        {
            "device": args.device,
            "mixed_precision": args.mixed_precision,
            "channels_last": args.channels_last,
            "compile": args.compile,
        }
    )
    torch.set_num_threads(args.threads)
    collection, ingest_seconds = timed(execution, lambda: load_collection(args))
    n = len(collection)
    model = execution.place_model(
        build_model(args.model, collection.channels, seed=0, **json.loads(args.model_options))
    )
    optimizer = body_optimizer(model, lr=args.lr)
    settings = EpochSettings(
        Augmentation(output_size=args.size, crop_scale=(0.2, 1.0), flip_probability=0.5),
        lr=args.lr,
        batch_size=args.batch_size,
    )
    generator = torch.Generator().manual_seed(0)
    rng = np.random.default_rng(0)
    everything = np.arange(n)
    per_round: dict[str, list[float]] = {stage: [] for stage in STAGES}
    previous = None
    for round_number in range(1, args.rounds + 1):

        def load_all():
            for _ in iterate_pixel_batches(collection, everything, args.batch_size, execution.device):
                pass

        _, seconds = timed(execution, load_all)
        per_round["loading"].append(seconds)
        features, seconds = timed(
            execution, lambda: extract_features(model, collection, args.batch_size, execution, args.size)
        )
        per_round["extraction"].append(seconds)

        def reduce():
            pca = fit_pca_whitening(features, usable_pca_dim(args.pca_dim, features.shape[1], n))
            return pca.transform(features)

        reduced, seconds = timed(execution, reduce)
        per_round["pca"].append(seconds)
        clustering, seconds = timed(
            execution, lambda: kmeans(reduced, args.k, n_iter=20, seed=round_number, backend=args.kmeans_backend)
        )
        per_round["kmeans"].append(seconds)
        indices, seconds = timed(execution, lambda: sample_uniformly_over_clusters(clustering.assignments, n, rng))
        per_round["resampling"].append(seconds)
        log, seconds = timed(
            execution,
            lambda: train_one_epoch(
                model, optimizer, collection, indices, clustering.assignments, args.k, settings, execution, generator
            ),
        )
        per_round["training"].append(seconds)

        def evaluate():
            metrics = cluster_size_summary(clustering.assignments, args.k)
            metrics["collapse"] = feature_collapse_std(features[: min(n, 20_000)].cpu().numpy())
            if previous is not None:
                metrics["nmi_previous"] = normalized_mutual_info_score(previous, clustering.assignments)
            if collection.labels is not None:
                metrics.update(labelling_agreement(collection.labels, clustering.assignments))
            return metrics

        _, seconds = timed(execution, evaluate)
        per_round["evaluation"].append(seconds)
        previous = clustering.assignments
        print(
            f"round {round_number}: "
            + ", ".join(f"{s} {per_round[s][-1]:.2f}s" for s in STAGES)
            + f", loss {log['loss']:.3f}",
            flush=True,
        )
    bare = bare_training_throughput(model, execution, args, args.k)
    # round 1 pays the warm-up (cuDNN autotuning, allocator growth): report it apart
    steady = {stage: times[1:] or times for stage, times in per_round.items()}
    median = {stage: statistics.median(times) for stage, times in steady.items()}
    return {
        "settings": vars(args),
        "device": torch.cuda.get_device_name(execution.device) if execution.device.type == "cuda" else "cpu",
        "torch": torch.__version__,
        "execution": {
            "mixed_precision": execution.mixed_precision,
            "channels_last": execution.channels_last,
            "compile": execution.compile,
        },
        "images": n,
        "ingest_seconds": ingest_seconds,
        "median_seconds": median,
        "first_round_seconds": {stage: times[0] for stage, times in per_round.items()},
        "round_seconds": sum(median.values()),
        "extraction_images_per_second": n / median["extraction"],
        "training_images_per_second": n / median["training"],
        "bare_training_images_per_second": bare,
        "training_fraction_of_bare": n / median["training"] / bare,
        "peak_host_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "peak_gpu_mb": torch.cuda.max_memory_allocated() / 2**20 if execution.device.type == "cuda" else 0.0,
    }


def markdown(result: dict) -> str:
    s = result["settings"]
    lines = [
        f"{result['images']:,} images of {s['channels']}x{s['size']}x{s['size']} ({s['source']}), "
        f"{s['model']}, k = {s['k']}, PCA {s['pca_dim']}, batch {s['batch_size']}, {s['rounds']} rounds, "
        f"device {result['device']}, torch {result['torch']}, {result['execution']}",
        "",
        "Median over rounds 2..R (round 1, with the warm-up, in the last column):",
        "",
        "| stage | median s / round | share | round 1 s |",
        "|---|---|---|---|",
    ]
    total = result["round_seconds"]
    for stage, seconds in result["median_seconds"].items():
        lines.append(
            f"| {stage} | {seconds:.3f} | {seconds / total:.1%} | {result['first_round_seconds'][stage]:.3f} |"
        )
    lines += [
        f"| **round** | **{total:.3f}** | | {sum(result['first_round_seconds'].values()):.3f} |",
        "",
        f"- ingest (once): {result['ingest_seconds']:.2f} s",
        f"- extraction: {result['extraction_images_per_second']:,.0f} images/s",
        f"- training: {result['training_images_per_second']:,.0f} images/s; bare forward+backward on "
        f"in-memory tensors: {result['bare_training_images_per_second']:,.0f} images/s; "
        f"training at {result['training_fraction_of_bare']:.0%} of that",
        f"- peak host memory {result['peak_host_mb']:,.0f} MB; peak GPU memory {result['peak_gpu_mb']:,.0f} MB",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", default="digits", choices=["digits", "synthetic", "npz", "folder", "idx", "cifar"])
    parser.add_argument("--path", help="npz file (arrays 'pixels' N,C,H,W uint8 and 'labels') or folder")
    parser.add_argument("--source-options", default="{}", help="JSON settings of an idx or cifar source")
    parser.add_argument("--n", type=int, default=10_000, help="synthetic images")
    parser.add_argument("--size", type=int, default=8)
    parser.add_argument("--channels", type=int, default=1)
    parser.add_argument("--model", default="small_convnet")
    parser.add_argument("--model-options", default='{"width": 32, "feature_dim": 128}')
    parser.add_argument("--k", type=int, default=50)
    parser.add_argument("--pca-dim", type=int, default=64)
    parser.add_argument("--kmeans-backend", default="auto")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--mixed-precision", default="auto")
    parser.add_argument("--channels-last", default="auto")
    parser.add_argument("--compile", action="store_true")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--json", type=Path, help="also write the result here")
    args = parser.parse_args()
    if args.channels_last in ("true", "false"):
        args.channels_last = args.channels_last == "true"
    if args.mixed_precision in ("true", "false"):
        args.mixed_precision = args.mixed_precision == "true"
    result = run(args)
    print(markdown(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1, default=str))


if __name__ == "__main__":
    main()
