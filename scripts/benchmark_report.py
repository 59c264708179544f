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
  WORK/unplanted_pairs.png (the first 60) for a person to judge which are real near-copies; and the same
  count over every pair of images that share a group (groups join pairs that share an image);
- what the learned features alone would give, for both.

``--rescore`` makes the report's tables of the finished run in WORK again with the code as it is now (no
training), and scores them.
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
from deepcluster.clustering.neighbours import similar_neighbours, unit_rows  # noqa: E402
from deepcluster.pipelines.plain_runner import dotted_override, merge  # noqa: E402
from deepcluster.pipelines.report.nodes import describe_pixels, find_duplicates, find_outliers  # noqa: E402
from deepcluster.pipelines.scratch import scratch_project  # noqa: E402
from deepcluster.report.outliers import NEIGHBOURS, neighbour_distance  # noqa: E402

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
    """WORK/images with the plants (their names say what they are: ``<original>_copy_<how>``, ``foreign/``)."""
    rng = np.random.default_rng(seed)
    files = sorted(collection.rglob("*.png"))
    for path in files:
        target = folder / path.relative_to(collection)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.symlink_to(path)
    for index in rng.choice(len(files), copies, replace=False):
        original = folder / files[index].relative_to(collection)
        with Image.open(original) as image:
            image.load()
        for how, copy in variants(image, flip).items():
            target = original.with_name(f"{original.stem}_copy_{how}")
            copy.convert("RGB" if how.endswith("jpg") else image.mode).save(target)
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
    parser.add_argument(
        "--rescore", action="store_true", help="make the report's tables of the run in WORK again, then score them"
    )
    args = parser.parse_args()
    if not args.rescore:
        if args.outliers and not args.outliers_from:
            parser.error("--outliers needs --outliers-from (or --outliers 0)")
        if args.work.exists():
            parser.error(f"--work {args.work} exists: give a new folder (or --rescore it)")
        run(args)
    else:
        remake_tables(args.work / "project")
    print(json.dumps(score(args.work)))


def run(args: argparse.Namespace) -> None:
    """Plant, then `kedro run` on WORK/images; the settings and wall time go to WORK/run.json."""
    images = args.work / "images"
    images.mkdir(parents=True)
    foreign = COLLECTIONS.get(args.outliers_from)
    plant(COLLECTIONS[args.collection], foreign, args.copies, args.outliers, args.flip, images, args.seed)
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
    if finished.returncode:
        raise SystemExit(f"kedro run failed; see {args.work / 'run.log'}")
    described = {
        "collection": args.collection,
        "settings": parameters,
        "wall_s": round(time.perf_counter() - started, 1),
    }
    (args.work / "run.json").write_text(json.dumps(described))


def remake_tables(project: Path) -> None:
    """The report's outliers and near-duplicates of a finished run, made again from its catalog files by the
    report's nodes as they are now (to judge a change of the report without training again)."""
    data = project / "data"
    images = pd.read_pickle(data / "02_intermediate" / "images.pkl")
    image_index = pd.read_parquet(data / "02_intermediate" / "image_index.parquet")
    features = np.load(data / "07_model_output" / "final" / "features.npy")
    partition = pd.read_pickle(data / "06_models" / "partition.pkl")
    descriptors, descriptor_index = describe_pixels(images)
    tables = data / "08_reporting" / "report"
    outliers = find_outliers(features, descriptors, descriptor_index, image_index, partition)
    outliers.to_parquet(tables / "outliers.parquet")
    pairs, groups = find_duplicates(descriptors, descriptor_index, features, image_index)
    pairs.to_parquet(tables / "duplicate_pairs.parquet")
    groups.to_parquet(tables / "duplicates.parquet")


def planted_answers(image_ids: list[str]) -> tuple[dict[str, str], list[str]]:
    """{copy: original} and the foreign images, read from the names ``plant`` gave them."""
    copy_of = {i: i.split("_copy_")[0] + ".png" for i in image_ids if "_copy_" in i}  # plant() reads PNGs
    return copy_of, [i for i in image_ids if "/foreign/" in i]


def precision_at(scores: np.ndarray, image_ids: list[str], planted: list[str]) -> float:
    top = np.argsort(-scores, kind="stable")[: len(planted)]
    return len({image_ids[i] for i in top} & set(planted)) / len(planted)


def features_alone(features: np.ndarray, image_ids: list[str], copy_of: dict[str, str], planted: list[str]) -> dict:
    """What the learned features would flag alone: outliers by their neighbour distance, and the pairs of
    different images (among each image's 5 nearest) at least as similar as 95 % of the planted copies."""
    found = {}
    if planted:
        distance = neighbour_distance(similar_neighbours(features, NEIGHBOURS)[0])
        found["outlier_precision_features_alone"] = precision_at(distance, image_ids, planted)
    if copy_of:
        rows = unit_rows(features)
        position = {image_id: row for row, image_id in enumerate(image_ids)}
        copies = np.array([[position[c], position[o]] for c, o in copy_of.items()])
        level = float(np.percentile(np.einsum("ij,ij->i", rows[copies[:, 0]], rows[copies[:, 1]]), 5))
        similarities, neighbours = similar_neighbours(features, 5)
        family = np.array([position[copy_of.get(i, i)] for i in image_ids])
        close = (similarities >= level) & (family[neighbours] != family[:, None])
        first = np.repeat(np.arange(len(image_ids)), 5)[close.ravel()]
        second = neighbours.ravel()[close.ravel()]
        found["features_alone_copy_similarity_5th_percentile"] = round(level, 4)
        found["features_alone_unplanted_pairs"] = len(set(zip(np.minimum(first, second), np.maximum(first, second))))
    return found


def score(work: Path) -> dict:
    """The run's tables in WORK scored against what was planted; the unplanted pairs drawn and listed."""
    project = work / "project"
    reporting = project / "data" / "08_reporting"
    image_ids = pd.read_parquet(project / "data" / "02_intermediate" / "image_index.parquet")["image_id"].astype(str)
    image_ids = image_ids.tolist()
    copy_of, planted = planted_answers(image_ids)
    outliers = pd.read_parquet(reporting / "report" / "outliers.parquet")
    duplicates = pd.read_parquet(reporting / "report" / "duplicates.parquet")
    pairs = pd.read_parquet(reporting / "report" / "duplicate_pairs.parquet")
    result = json.loads((work / "run.json").read_text()) | {"images": len(image_ids)}
    if planted:
        ranked = dict(zip(outliers["image_id"], outliers["outlier_score"], strict=True))
        result["outliers_planted"] = len(planted)
        result["outlier_precision_at_planted"] = precision_at(
            np.array([ranked[i] for i in image_ids]), image_ids, planted
        )
    group_of = dict(zip(duplicates["image_id"], duplicates["group"], strict=True))
    found = [copy in group_of and group_of.get(copy) == group_of.get(original) for copy, original in copy_of.items()]
    flagged = list(zip(pairs["first_id"], pairs["second_id"], strict=True))
    grouped = duplicates.groupby("group")["image_id"]
    in_groups = [pair for _, members in grouped for pair in itertools.combinations(sorted(members), 2)]
    wrong = unplanted(flagged, copy_of)
    result |= {
        "copies_planted": len(copy_of),
        "copy_recall": float(np.mean(found)) if found else None,
        "groups": int(duplicates["group"].nunique()),
        "largest_group": int(grouped.size().max()) if len(duplicates) else 0,
        "pairs_flagged": len(flagged),
        "pairs_unplanted": len(wrong),
        "unplanted_share": len(wrong) / max(1, len(flagged)),
        "pairs_in_groups": len(in_groups),
        "pairs_in_groups_unplanted": len(unplanted(in_groups, copy_of)),
    }
    features = np.load(project / "data" / "07_model_output" / "final" / "features.npy")
    result |= features_alone(features, image_ids, copy_of, planted)
    pair_montage(wrong[:60], work / "unplanted_pairs.png")
    (work / "unplanted_pairs.yml").write_text(yaml.safe_dump([list(pair) for pair in wrong]))
    return result


if __name__ == "__main__":
    main()
