"""CIFAR-10's class folders re-encoded as JPEG, small enough to carry to the lent GPU machine.

    python scripts/make_cifar_jpeg.py --out .device/cifar10_jpeg

Reads ``--source`` (default ``../shared/datasets/cifar10``, lossless PNGs in
``{train,test}/<class>/``) and writes the same layout with JPEG files at
``--quality`` (85: about 48 MiB for the training split, 10 MiB for the test
split), which the ``folder`` source reads as it is. Every figure measured on
this copy must say that the images were JPEG-recompressed. ``--out`` must be an
ignored folder (``.device/`` is): the copy is never committed.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", type=Path, default=ROOT.parent / "shared" / "datasets" / "cifar10")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--quality", type=int, default=85)
    args = parser.parse_args()
    for split in ("train", "test"):
        written, size = 0, 0
        for png in sorted((args.source / split).glob("*/*.png")):
            target = args.out / split / png.parent.name / (png.stem + ".jpg")
            target.parent.mkdir(parents=True, exist_ok=True)
            with Image.open(png) as image:
                image.convert("RGB").save(target, quality=args.quality)
            written, size = written + 1, size + target.stat().st_size
        print(f"{split}: {written} images, {size / 2**20:.1f} MiB at JPEG quality {args.quality}")


if __name__ == "__main__":
    main()
