"""Peak memory of ingesting a large folder lazily plus one feature-extraction pass.

Generates N small PNG files (once, under --folder), then in a fresh process per N:
reads the folder without holding its pixels (``max_memory_mb=0``: every file is decoded once to check it),
and extracts whitened PCA features of every image with the small convnet, the PCA
being fitted on a sample. The memory of the process and its DataLoader workers is
sampled every 100 ms as PSS (proportional set size: pages shared between the
processes, such as the torch library, are counted once in total) and the peak of each
phase kept. What the lazy collection itself keeps (paths, labels) is measured apart: it
is the part that grows with the folder. ``--repeats`` runs each size again, to show how
much the peaks vary from run to run.

    python scripts/benchmark_ingest_memory.py --sizes 50000 200000 --folder /tmp/many_images

Prints a markdown table; the per-image growth between the sizes is compared with
the pca_dim x 4 bytes of the feature array.
"""

from __future__ import annotations

import argparse
import gc
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np


def generate(folder: Path, n: int, size: int = 32) -> Path:
    """n distinct PNG images of size x size in 10 class folders (kept between runs)."""
    from PIL import Image

    target = folder / f"n{n}"
    marker = target / ".complete"
    if marker.exists():
        return target
    rng = np.random.default_rng(0)
    for i in range(n):
        cls = target / f"class_{i % 10}"
        cls.mkdir(parents=True, exist_ok=True)
        # smooth random blobs compress like photos, unlike white noise
        small = rng.integers(0, 256, (4, 4, 3), dtype=np.uint8)
        Image.fromarray(small).resize((size, size), Image.Resampling.BILINEAR).save(cls / f"{i:07d}.png")
    marker.write_text("ok")
    return target


def measure(folder: Path, pca_dim: int, pca_fit_size: int, workers: int) -> dict:
    import psutil
    import torch

    from deepcluster.data.sources import load_folder
    from deepcluster.features import extract_reduced_features
    from deepcluster.models import build_model
    from deepcluster.runtime import Execution

    torch.set_num_threads(2)
    process = psutil.Process()
    peak = {"ingest": 0, "extraction": 0}
    phase = "ingest"
    running = True

    def sample() -> None:
        while running:
            total = process.memory_full_info().pss
            for child in process.children(recursive=True):
                try:
                    total += child.memory_full_info().pss
                except psutil.NoSuchProcess:
                    pass
            peak[phase] = max(peak[phase], total)
            time.sleep(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    before_ingest = process.memory_full_info().uss
    started = time.perf_counter()
    result = load_folder(str(folder), image_size=32, channels=3, workers=workers, max_memory_mb=0)
    ingested = time.perf_counter()
    gc.collect()
    # what the lazy collection itself keeps (file paths, labels), the part that grows with the folder
    held_by_collection = process.memory_full_info().uss - before_ingest
    phase = "extraction"
    model = build_model("small_convnet", 3, seed=0, width=32, feature_dim=128)
    reduced = extract_reduced_features(
        model,
        result.collection,
        pca_dim=pca_dim,
        batch_size=512,
        execution=Execution(),
        crop_size=32,
        pca_fit_size=pca_fit_size,
    )
    finished = time.perf_counter()
    running = False
    sampler.join()
    return {
        "images": len(result.collection),
        "skipped": len(result.skipped),
        "in_memory": result.collection.pixels is not None,
        "features_shape": list(reduced.features.shape),
        "feature_array_mb": reduced.features.numel() * 4 / 2**20,
        "ingest_s": ingested - started,
        "extract_s": finished - ingested,
        "held_by_collection_mb": held_by_collection / 2**20,
        "peak_pss_ingest_mb": peak["ingest"] / 2**20,
        "peak_pss_extraction_mb": peak["extraction"] / 2**20,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[50_000, 200_000])
    parser.add_argument("--folder", type=Path, default=Path("/tmp/deepcluster_many_images"))
    parser.add_argument("--pca-dim", type=int, default=64)
    parser.add_argument("--pca-fit-size", type=int, default=20_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=1, help="measure each size this many times")
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)  # internal: one size, this process
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.pca_dim, args.pca_fit_size, args.workers)))
        return
    rows = []
    for n in [size for size in args.sizes for _ in range(args.repeats)]:
        folder = generate(args.folder, n)
        out = subprocess.run(
            [
                sys.executable,
                __file__,
                "--measure",
                str(folder),
                "--pca-dim",
                str(args.pca_dim),
                "--pca-fit-size",
                str(args.pca_fit_size),
                "--workers",
                str(args.workers),
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    header = "| images | pixels held in memory | kept by the collection (MB) | feature array (MB) |"
    print(header + " ingest (s) | extraction (s) | peak PSS in ingest (MB) | peak PSS in extraction (MB) |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['images']:,} | {r['in_memory']} | {r['held_by_collection_mb']:.1f} | "
            f"{r['feature_array_mb']:.1f} | {r['ingest_s']:.0f} | {r['extract_s']:.0f} | "
            f"{r['peak_pss_ingest_mb']:.0f} | {r['peak_pss_extraction_mb']:.0f} |"
        )
    smallest, largest = min(args.sizes), max(args.sizes)
    if largest > smallest:

        def median(key: str, n: int) -> float:
            return float(np.median([r[key] for r in rows if r["images"] == n]))

        for name, key in (
            ("kept by the collection", "held_by_collection_mb"),
            ("peak PSS in ingest", "peak_pss_ingest_mb"),
            ("peak PSS in extraction", "peak_pss_extraction_mb"),
        ):
            growth = (median(key, largest) - median(key, smallest)) * 2**20 / (largest - smallest)
            print(f"\nGrowth per extra image (medians), {name}: {growth:.0f} bytes.")
        print(
            f"\nFor scale: the feature array is {args.pca_dim * 4} bytes per image, "
            f"one decoded 32x32 RGB image {3 * 32 * 32} bytes."
        )


if __name__ == "__main__":
    main()
