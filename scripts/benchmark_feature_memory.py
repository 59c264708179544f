"""Peak memory of one feature pass over many images with a 4096-d network.

A synthetic in-memory collection of N grey 16 x 16 images goes through a network
whose features are 4096-d (as AlexNet's fc7). Held whole, the features would take
N x 4096 x 4 bytes (16 GB for 1M images); the PCA is instead fitted on a sample of
--pca-fit-size images and every later batch is reduced to --pca-dim as soon as it is
extracted. Prints the peak host memory (ru_maxrss) and GPU memory next to those sizes.

    python scripts/benchmark_feature_memory.py --n 1000000 --device cuda
"""

from __future__ import annotations

import argparse
import json
import resource
import time

import numpy as np
import torch

from deepcluster.data.collection import collection_from_arrays
from deepcluster.features import extract_reduced_features
from deepcluster.models import build_model
from deepcluster.runtime import execution_from_settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=200_000)
    parser.add_argument("--pca-dim", type=int, default=256)
    parser.add_argument("--pca-fit-size", type=int, default=100_000)
    parser.add_argument("--batch-size", type=int, default=2048)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    execution = execution_from_settings({"device": args.device})
    pixels = np.random.default_rng(0).integers(0, 256, (args.n, 1, 16, 16), dtype=np.uint8)
    collection = collection_from_arrays(pixels, None, [], 16, "synthetic")
    baseline_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    model = execution.place_model(build_model("small_convnet", 1, seed=0, width=16, feature_dim=4096))
    started = time.perf_counter()
    reduced = extract_reduced_features(
        model,
        collection,
        pca_dim=args.pca_dim,
        batch_size=args.batch_size,
        execution=execution,
        crop_size=16,
        pca_fit_size=args.pca_fit_size,
    )
    if execution.device.type == "cuda":
        torch.cuda.synchronize()
    result = {
        "images": args.n,
        "device": torch.cuda.get_device_name() if execution.device.type == "cuda" else "cpu",
        "seconds": time.perf_counter() - started,
        "reduced_shape": list(reduced.features.shape),
        "pixels_mb": pixels.nbytes / 2**20,
        "full_features_would_be_mb": args.n * 4096 * 4 / 2**20,
        "reduced_features_mb": reduced.features.numel() * 4 / 2**20,
        "host_peak_before_extraction_mb": baseline_mb,
        "host_peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "gpu_peak_mb": torch.cuda.max_memory_allocated() / 2**20 if execution.device.type == "cuda" else 0.0,
    }
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
