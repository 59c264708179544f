"""Defaults on a user's photos: the trained network against its own untrained network and the pixels.

For each labelled folder and each configuration, one full run per seed through the
project's nodes (see ``deepcluster.pipelines.plain_runner``); every run evaluates the
trained network, the same network untrained and the raw pixels with one protocol, so
each row carries its own baselines:

    python scripts/make_photo_collection.py --classes airplane frog truck --per-class 150 --out /tmp/photos_3x150
    python scripts/benchmark_photo_defaults.py --folders /tmp/photos_3x150 --seeds 0 1 2 \\
        --variant "before|data.image_size=8;model.input_size=8;model.name=small_convnet;kmeans.k=50" \\
        --variant "after: auto|"

(docs/benchmarks/photo_defaults.md quotes the exact command, whose "before" also
spells out the digits augmentation block.)

A variant is "label|a.b=v;c.d=w", applied over conf/base with ``data.source: folder``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from benchmark_quality import one_run

from deepcluster.pipelines.plain_runner import dotted_override, merge, subject_report

SUBJECTS = (("trained", "trained"), ("random_network", "untrained"), ("pixels", "pixels"))


def mean_std(values: list[float]) -> str:
    return f"{np.mean(values):.3f} ± {np.std(values):.3f}" if len(values) > 1 else f"{values[0]:.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--folders", type=Path, nargs="+", required=True)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--variant", action="append", required=True, help='"label|a.b=v;c.d=w"')
    parser.add_argument("--out", type=Path, help="also write the table here, and every run's report as .jsonl")
    args = parser.parse_args()
    header = "| collection | configuration | resolved settings | ACC trained | ACC untrained | ACC pixels |"
    header += " kNN-20 trained / untrained / pixels | wall time (s) |"
    lines, records = [header, "|---" * 8 + "|"], []
    for folder in args.folders:
        for text in args.variant:
            label, _, assignments = text.partition("|")
            overrides = {"data": {"source": "folder", "folder": {"path": str(folder), "labels": "subfolders"}}}
            for assignment in filter(None, assignments.split(";")):
                overrides = merge(overrides, dotted_override(assignment))
            runs = [one_run("base", seed, overrides) for seed in args.seeds]
            for run in runs:
                records.append({"folder": str(folder), "variant": label, **run})
                print(
                    f"{folder.name} / {label} / seed {run['seed']}: "
                    + ", ".join(f"{name} {subject_report(run['report'], s)['acc']:.3f}" for s, name in SUBJECTS),
                    flush=True,
                )
            reports = [run["report"] for run in runs]
            acc = [mean_std([subject_report(r, s)["acc"] for r in reports]) for s, _ in SUBJECTS]
            knn = " / ".join(
                f"{np.mean([subject_report(r, s)['knn20_top1'] for r in reports]):.3f}" for s, _ in SUBJECTS
            )
            resolved = ", ".join(f"{k} {v}" for k, v in runs[0]["resolved"].items())
            wall = np.median([run["wall_seconds"] for run in runs])
            images, classes = reports[0]["images"], len({p.name for p in folder.iterdir() if p.is_dir()})
            lines.append(
                f"| {folder.name} ({images} images, {classes} classes) | {label} | {resolved} | "
                + " | ".join(acc)
                + f" | {knn} | {wall:.0f} |"
            )
    seeds = ", ".join(map(str, args.seeds))
    lines += [
        "",
        f"Mean ± std over seeds {seeds}. ACC: k-means with k = number of classes (Hungarian); "
        "kNN-20 on a stratified 20 % held-out part.",
    ]
    text = "\n".join(lines)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
        args.out.with_suffix(".jsonl").write_text("\n".join(json.dumps(r, default=str) for r in records) + "\n")


if __name__ == "__main__":
    main()
