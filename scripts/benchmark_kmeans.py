"""k-means backends side by side: faiss and the project's PyTorch implementation.

For every (n, k) in the grid, on random points of dimension d: both backends start
from the same k points and run the same number of Lloyd iterations; the table
gives seconds per iteration and the objective reached (sum of squared distances).
It also times the distance step alone (``assign_to_nearest_centroid``) and a plain
matrix product of the same shape on the same device, to show how close the
distance step runs to the device's matrix-multiply throughput.

    python scripts/benchmark_kmeans.py --n 10000 100000 --k 100 1000 --device cpu
    python scripts/benchmark_kmeans.py --n 10000 100000 1000000 --k 100 1000 10000 --device cuda

Combinations whose iterations would exceed --max-flop are skipped (on a 2-core CPU,
n = 1M with k = 10000 takes minutes per iteration).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from deepcluster.clustering.kmeans import (
    assign_to_nearest_centroid,
    faiss_available,
    faiss_gpu_available,
    faiss_kmeans,
    torch_kmeans,
)


def synchronise(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def seconds_of(device: torch.device, work, repeats: int = 3) -> float:
    """Median wall time of ``work`` over ``repeats`` calls, after one warm-up."""
    work()
    times = []
    for _ in range(repeats):
        synchronise(device)
        started = time.perf_counter()
        work()
        synchronise(device)
        times.append(time.perf_counter() - started)
    return float(np.median(times))


def one_case(n: int, d: int, k: int, iterations: int, device: torch.device, backends: list[str]) -> dict:
    generator = torch.Generator(device=device).manual_seed(0)
    points = torch.nn.functional.normalize(torch.randn(n, d, device=device, generator=generator), dim=1)
    init = points[torch.randperm(n, device=device, generator=generator)[:k]].clone()
    row: dict = {"n": n, "d": d, "k": k}
    flop = 2.0 * n * k * d
    distance = seconds_of(device, lambda: assign_to_nearest_centroid(points, init))
    matmul = seconds_of(device, lambda: points @ init.T)
    row["distance_step_s"] = distance
    row["matmul_s"] = matmul
    row["matmul_tflops"] = flop / matmul / 1e12
    row["distance_step_tflops"] = flop / distance / 1e12
    row["distance_step_fraction_of_matmul"] = matmul / distance
    if "torch" in backends:
        synchronise(device)
        started = time.perf_counter()
        result = torch_kmeans(points, k, n_iter=iterations, init_centroids=init)
        synchronise(device)
        row["torch_s_per_iteration"] = (time.perf_counter() - started) / (iterations + 1)
        row["torch_objective"] = result.objective
    if "faiss" in backends:
        host_points, host_init = points.cpu().numpy(), init.cpu().numpy()
        use_gpu = device.type == "cuda"
        started = time.perf_counter()
        result = faiss_kmeans(host_points, k, n_iter=iterations, init_centroids=host_init, use_gpu=use_gpu)
        row["faiss_s_per_iteration"] = (time.perf_counter() - started) / (iterations + 1)
        row["faiss_objective"] = result.objective
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--k", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--d", type=int, default=256)
    parser.add_argument("--iterations", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--max-flop", type=float, default=2e12, help="skip cases with more FLOP per iteration")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    backends = ["torch"]
    if faiss_available() and (device.type == "cpu" or faiss_gpu_available()):
        backends.append("faiss")
    rows = []
    print(
        f"device {torch.cuda.get_device_name(device) if device.type == 'cuda' else 'cpu'}, "
        f"torch {torch.__version__}, backends {backends}, d = {args.d}, {args.iterations} iterations, "
        f"{args.threads} threads"
    )
    print(
        "| n | k | torch s/iter | faiss s/iter | torch objective | faiss objective | distance step TFLOP/s | "
        "matmul TFLOP/s | distance / matmul |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for n in args.n:
        for k in args.k:
            if 2.0 * n * k * args.d > args.max_flop or k > n:
                flop = 2.0 * n * k * args.d
                print(f"| {n:,} | {k:,} | skipped: {flop:.1e} FLOP per iteration > --max-flop | | | | | | |")
                continue
            r = one_case(n, args.d, k, args.iterations, device, backends)
            rows.append(r)
            faiss_s = f"{r['faiss_s_per_iteration']:.3f}" if "faiss_s_per_iteration" in r else "-"
            faiss_obj = f"{r['faiss_objective']:.1f}" if "faiss_objective" in r else "-"
            print(
                f"| {n:,} | {k:,} | {r['torch_s_per_iteration']:.3f} | {faiss_s} | {r['torch_objective']:.1f} | "
                f"{faiss_obj} | {r['distance_step_tflops']:.2f} | {r['matmul_tflops']:.2f} | "
                f"{r['distance_step_fraction_of_matmul']:.0%} |",
                flush=True,
            )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
