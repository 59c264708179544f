"""One process against several: images/s per stage of a round, and what communication costs.

Launches the project's pipelines (the plain runner: the nodes of ``kedro run`` in
memory) through ``torchrun`` with 1 and then N processes on this machine, with the
same conf, and reads each round's ``timing/*`` metrics on rank 0. In the
N-process run it also times every collective: the explicit ones (all-reduce,
all-gather, broadcast, barrier: PCA moments, gathered features, k-means sent from
rank 0, the epoch's loss, batch norm statistics, the memory bank) and the gradient
all-reduce of ``DistributedDataParallel`` (from issue to completion; it overlaps the
backward pass, so it is an upper bound on what it adds).

    python scripts/benchmark_distributed.py --processes 2 --rounds 5 --out docs/benchmarks/distributed.md
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STAGES = {
    "timing/extract_features_seconds": "feature extraction + PCA",
    "timing/kmeans_seconds": "k-means",
    "timing/train_seconds": "training epoch",
}


def worker(args: argparse.Namespace) -> None:
    """Inside torchrun: the pipelines with timed collectives; rank 0 writes the JSON."""
    import torch
    import torch.distributed as dist

    import deepcluster.methods.epoch as epoch
    from deepcluster.distributed.processes import is_main_process, start_process_group, stop_process_group, world_size
    from deepcluster.pipelines.plain_runner import dotted_override, load_parameters, merge, run

    seconds = {"collectives": 0.0, "gradient_all_reduce": 0.0}

    def timed(function):
        def wrapper(*arguments, **keywords):
            started = time.perf_counter()
            try:
                return function(*arguments, **keywords)
            finally:
                seconds["collectives"] += time.perf_counter() - started

        return wrapper

    for name in ("all_reduce", "all_gather", "broadcast", "broadcast_object_list", "barrier"):
        setattr(dist, name, timed(getattr(dist, name)))

    class TimedDistributedDataParallel(torch.nn.parallel.DistributedDataParallel):
        def __init__(self, *arguments, **keywords):
            super().__init__(*arguments, **keywords)
            self.register_comm_hook(None, self._timed_all_reduce)

        @staticmethod
        def _timed_all_reduce(state, bucket):
            started = time.perf_counter()
            future = dist.distributed_c10d.all_reduce(bucket.buffer().div_(world_size()), async_op=True).get_future()

            def finished(done):
                seconds["gradient_all_reduce"] += time.perf_counter() - started
                return done.value()[0]

            return future.then(finished)

    epoch.DistributedDataParallel = TimedDistributedDataParallel
    start_process_group()
    overrides: dict = {"rounds": args.rounds}
    for assignment in args.set:
        overrides = merge(overrides, dotted_override(assignment))
    started = time.perf_counter()
    result = run(load_parameters(ROOT / "conf", args.env, overrides), log=lambda line: None)
    wall = time.perf_counter() - started
    if is_main_process():
        Path(args.worker).write_text(
            json.dumps({"rounds": result["rounds"], "run_seconds": wall, "processes": world_size(), **seconds})
        )
    stop_process_group()


def launch(processes: int, threads: int, args: argparse.Namespace, folder: Path) -> dict:
    out = folder / f"{processes}x{threads}.json"
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}"]
    command += [__file__, "--worker", str(out), "--rounds", str(args.rounds)]
    command += [f"--env={args.env}"] if args.env else []
    for assignment in args.set:
        command += ["--set", assignment]
    environment = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "1", "OMP_NUM_THREADS": str(threads)}
    subprocess.run(command, check=True, env=environment, capture_output=True)
    return json.loads(out.read_text())


def _label(launch: tuple[int, int]) -> str:
    processes, threads = launch
    return f"{processes} process{'es' if processes > 1 else ''} × {threads} thread{'s' if threads > 1 else ''}"


def table(results: dict[tuple[int, int], dict]) -> str:
    """Images/s per stage for each launch, and the last launch (several processes) against each of the others."""
    launches = list(results)
    several = launches[-1]
    lines = [
        "| stage | "
        + " | ".join(f"{_label(n)}: images/s" for n in launches)
        + " | "
        + " | ".join(f"ratio to {_label(n)}" for n in launches[:-1])
        + " |",
        "|---" * (2 * len(launches)) + "|",
    ]
    for key, label in STAGES.items():
        speeds = []
        for n in launches:
            rounds = results[n]["rounds"][1:] or results[n]["rounds"]  # round 1 pays the warm-up
            images = statistics.median(r["training/images"] for r in rounds)
            speeds.append(images / statistics.median(r[key] for r in rounds))
        ratios = " | ".join(f"{speeds[-1] / speed:.2f}" for speed in speeds[:-1])
        lines.append(f"| {label} | " + " | ".join(f"{v:,.0f}" for v in speeds) + f" | {ratios} |")
    last = results[several]
    rounds_seconds = sum(sum(r[key] for key in STAGES) for r in last["rounds"])
    lines += [
        "",
        f"Whole run (ingest, {len(last['rounds'])} rounds, evaluation): "
        + ", ".join(f"{_label(n)} {results[n]['run_seconds']:.1f} s" for n in launches)
        + ".",
        f"Communication with {_label(several)} (rank 0): explicit collectives {last['collectives']:.2f} s "
        f"= {last['collectives'] / last['run_seconds']:.1%} of the whole run; gradient all-reduce "
        f"{last['gradient_all_reduce']:.2f} s issued-to-done (overlapping backward) = "
        f"{last['gradient_all_reduce'] / rounds_seconds:.1%} of the rounds' stage time "
        f"({rounds_seconds:.1f} s).",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", help="a folder of conf/ whose parameters*.yml override conf/base")
    parser.add_argument("--set", action="append", default=[], help="override one parameter: a.b=value (YAML)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="threads in all, split between processes")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    with tempfile.TemporaryDirectory() as folder:
        # one process with every thread, one with a process's share of them, then several processes
        share = max(1, args.threads // args.processes)
        launches = [(1, args.threads), (1, share), (args.processes, share)]
        results = {n: launch(*n, args, Path(folder)) for n in dict.fromkeys(launches)}
    text = table(results)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
        as_text = {_label(n): result for n, result in results.items()}
        args.out.with_suffix(".json").write_text(json.dumps(as_text, indent=1, default=str))


if __name__ == "__main__":
    main()
