"""The report's outliers and near-duplicates on planted answers: `kedro run` on a shared collection with
copies and foreign images mixed in, then the run's own tables scored against what was planted.

    python scripts/benchmark_report.py --collection umist --outliers-from coil20 --work /tmp/report_umist
    python scripts/benchmark_report.py --collection cifar10/test --copies 100 --flip --outliers 0 \\
        --set rounds=3 --work /tmp/report_cifar

The folder WORK/images holds every image of ``--collection`` (linked), ``--copies`` of them copied again as
variants (resized by 0.75 and re-encoded as JPEG, resized by 1.5 as PNG, and with ``--flip`` mirrored), and
``--outliers`` images of ``--outliers-from``, one of each of its classes in turn, converted to the
collection's mode. It prints, as JSON, the run's wall time and:

- outliers: the precision of the run's top-ranked outliers (``report.outliers``) at the number planted;
- duplicates: the recall of planted copies (each copy in its original's group in ``report.duplicates``);
  the pairs flagged (``report.duplicate_pairs``) and those not planted, drawn side by side and numbered in
  WORK/unplanted_pairs.png (the first 60; ``--redraw`` draws it again) for a person to judge which are real
  near-copies; and the same
  count over every pair of images that share a group (groups join pairs that share an image).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from PIL import Image, ImageDraw, ImageOps

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
from deepcluster.pipelines.plain_runner import dotted_override, merge  # noqa: E402
from deepcluster.pipelines.scratch import scratch_project  # noqa: E402

DATASETS = ROOT.parent / "shared" / "datasets"
COLLECTIONS = {"cifar10/test": DATASETS / "cifar10" / "test"} | {
    path.name: path for path in sorted((DATASETS / "collections").glob("*")) if path.is_dir()
}


def variants(image: Image.Image, flip: bool) -> dict[str, Image.Image]:
    """The planted copies of one image, by how each was made (the file suffix says how it is encoded)."""
    width, height = image.size
    made = {
        "small.jpg": image.resize((max(1, width * 3 // 4), max(1, height * 3 // 4)), Image.Resampling.LANCZOS),
        "large.png": image.resize((width * 3 // 2, height * 3 // 2), Image.Resampling.LANCZOS),
    }
    if flip:
        made["flipped.png"] = ImageOps.mirror(image)
    return made


def plant(collection: Path, foreign: Path | None, copies: int, outliers: int, flip: bool, folder: Path, seed: int):
    """WORK/images with the plants; returns {copy: original} and the planted outliers' paths."""
    rng = np.random.default_rng(seed)
    files = sorted(collection.rglob("*.png"))
    for path in files:
        target = folder / path.relative_to(collection)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.symlink_to(path)
    copy_of = {}
    for index in rng.choice(len(files), copies, replace=False):
        original = folder / files[index].relative_to(collection)
        with Image.open(original) as image:
            image.load()
        for how, copy in variants(image, flip).items():
            target = original.with_name(f"{original.stem}_copy_{how}")
            copy.convert("RGB" if how.endswith("jpg") else image.mode).save(target)
            copy_of[str(target)] = str(original)
    planted = []
    if outliers:
        with Image.open(files[0]) as example:
            mode = example.mode
        classes = [sorted(folder_.glob("*.png")) for folder_ in sorted(foreign.iterdir()) if folder_.is_dir()]
        (folder / "foreign").mkdir()
        for number in range(outliers):
            members = classes[number % len(classes)]
            source = members[int(rng.integers(len(members)))]
            target = folder / "foreign" / f"{number:03d}_{source.name}"
            with Image.open(source) as image:
                image.convert(mode).save(target)
            planted.append(str(target))
    return copy_of, planted


def unplanted(pairs: list[tuple[str, str]], copy_of: dict[str, str]) -> list[tuple[str, str]]:
    """The pairs that are not an original and its copy, or two copies of one original."""
    return [(a, b) for a, b in pairs if copy_of.get(a, a) != copy_of.get(b, b)]


def pair_montage(pairs: list[tuple[str, str]], target: Path, tile: int = 96, per_row: int = 4) -> None:
    """The pairs side by side, numbered from 1 as in unplanted_pairs.yml."""
    rows = max(1, -(-len(pairs) // per_row))
    montage = Image.new("RGB", (per_row * (2 * tile + 30), rows * (tile + 16)), "white")
    draw = ImageDraw.Draw(montage)
    for number, pair in enumerate(pairs):
        left = (number % per_row) * (2 * tile + 30)
        top = (number // per_row) * (tile + 16)
        draw.text((left, top), str(number + 1), fill="black")
        for side, path in enumerate(pair):
            with Image.open(path) as image:
                montage.paste(image.convert("RGB").resize((tile, tile)), (left + 12 + side * tile, top + 12))
    montage.save(target)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--collection", choices=sorted(COLLECTIONS), required=True)
    parser.add_argument("--outliers-from", choices=sorted(COLLECTIONS))
    parser.add_argument("--outliers", type=int, default=20)
    parser.add_argument("--copies", type=int, default=40, help="images planted again as variants")
    parser.add_argument("--flip", action="store_true", help="plant mirrored copies too (for colour photos)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--set", action="append", default=[], help="a setting, as dotted.key=value")
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--redraw", action="store_true", help="only draw WORK's unplanted pairs again")
    args = parser.parse_args()
    if args.redraw:
        pairs = yaml.safe_load((args.work / "unplanted_pairs.yml").read_text())
        pair_montage([tuple(pair) for pair in pairs[:60]], args.work / "unplanted_pairs.png")
        return
    if args.outliers and not args.outliers_from:
        parser.error("--outliers needs --outliers-from (or --outliers 0)")
    images = args.work / "images"
    if args.work.exists():
        parser.error(f"--work {args.work} exists: give a new folder")
    images.mkdir(parents=True)
    foreign = COLLECTIONS.get(args.outliers_from)
    copy_of, planted = plant(
        COLLECTIONS[args.collection], foreign, args.copies, args.outliers, args.flip, images, args.seed
    )
    parameters = {"data": {"source": "folder", "path": str(images)}, "runtime": {"seed": args.seed}}
    for item in args.set:
        parameters = merge(parameters, dotted_override(item))
    project = scratch_project(ROOT, args.work / "project", parameters)
    environment = os.environ | {"KEDRO_DISABLE_TELEMETRY": "1"}
    started = time.perf_counter()
    with open(args.work / "run.log", "w") as log:
        finished = subprocess.run(
            [sys.executable, "-m", "kedro", "run"], cwd=project, env=environment, stdout=log, stderr=log
        )
    wall = time.perf_counter() - started
    if finished.returncode:
        raise SystemExit(f"kedro run failed; see {args.work / 'run.log'}")
    reporting = project / "data" / "08_reporting"
    outliers = pd.read_parquet(reporting / "report" / "outliers.parquet")
    duplicates = pd.read_parquet(reporting / "report" / "duplicates.parquet")
    pairs = pd.read_parquet(reporting / "report" / "duplicate_pairs.parquet")
    result = {"collection": args.collection, "settings": parameters, "wall_s": round(wall, 1)}
    result["images"] = len(outliers)
    if planted:
        top = set(outliers.nsmallest(len(planted), "rank")["image_id"])
        result["outliers_planted"] = len(planted)
        result["outlier_precision_at_planted"] = len(top & set(planted)) / len(planted)
    group_of = dict(zip(duplicates["image_id"], duplicates["group"], strict=True))
    found = [copy in group_of and group_of.get(copy) == group_of.get(original) for copy, original in copy_of.items()]
    flagged = list(zip(pairs["first_id"], pairs["second_id"], strict=True))
    in_groups = (
        [
            pair
            for _, group in duplicates.groupby("group")
            for pair in itertools.combinations(sorted(group["image_id"]), 2)
        ]
        if len(duplicates) < 5_000
        else []
    )
    wrong = unplanted(flagged, copy_of)
    result |= {
        "copies_planted": len(copy_of),
        "copy_recall": float(np.mean(found)) if found else None,
        "groups": int(duplicates["group"].nunique()),
        "largest_group": int(duplicates.groupby("group").size().max()) if len(duplicates) else 0,
        "pairs_flagged": len(flagged),
        "pairs_unplanted": len(wrong),
        "unplanted_share": len(wrong) / max(1, len(flagged)),
        "pairs_in_groups": len(in_groups),
        "pairs_in_groups_unplanted": len(unplanted(in_groups, copy_of)),
    }
    pair_montage(wrong[:60], args.work / "unplanted_pairs.png")
    (args.work / "unplanted_pairs.yml").write_text(yaml.safe_dump([list(pair) for pair in wrong]))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
