"""A small labelled photo folder from CIFAR-10's class folders, for trying the defaults on a user's photos.

    python scripts/make_photo_collection.py --classes airplane frog truck --per-class 150 --out /tmp/photos_3x150

Copies ``--per-class`` randomly chosen images (seeded) of each class from
``--source`` (default ``../shared/datasets/cifar10/train``) into ``--out/<class>/``,
the layout of a user's own labelled folder. The copies are files of their own,
never links, so the collection stands alone; it is never written into the repository.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", type=Path, default=ROOT.parent / "shared" / "datasets" / "cifar10" / "train")
    parser.add_argument("--classes", nargs="+", required=True)
    parser.add_argument("--per-class", type=int, required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    if args.out.resolve().is_relative_to(ROOT):
        parser.error("--out must lie outside the repository")
    rng = np.random.default_rng(args.seed)
    shutil.rmtree(args.out, ignore_errors=True)
    for name in args.classes:
        files = sorted((args.source / name).iterdir())
        (args.out / name).mkdir(parents=True)
        for index in sorted(rng.choice(len(files), size=args.per_class, replace=False)):
            shutil.copy(files[index], args.out / name / files[index].name)
    print(f"{len(args.classes)} classes x {args.per_class} images in {args.out}")


if __name__ == "__main__":
    main()
