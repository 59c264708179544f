"""The project's nodes run in DAG order without Kedro, for benchmarks and machines without it.

``kedro run`` is the product; this runs the same node functions on the same
parameters (read from conf/base plus one environment, merged key by key as the
project's config loader does) in the same order, keeping everything in memory
and writing no catalog artifacts. Benchmarks use it to repeat runs over seeds
in one process, and the GPU machine, which has no Kedro, to train.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import yaml

from deepcluster.config import check_parameters
from deepcluster.pipelines.deepcluster.nodes import (
    cluster_round_features,
    evaluate_round,
    extract_round_features,
    initialise_network,
    sample_training_set,
    train_round,
)
from deepcluster.pipelines.evaluation.nodes import (
    cluster_into_classes,
    extract_network_features,
    overclustering_accuracy,
    pixel_features,
    probe_features,
    score_clustering,
)
from deepcluster.pipelines.ingest.nodes import index_images, load_images


def merge(base: dict, override: dict) -> dict:
    """``override`` laid over ``base`` key by key, nested dicts merged (Kedro's soft merge)."""
    merged = dict(base)
    for key, value in override.items():
        merged[key] = (
            merge(merged[key], value) if isinstance(value, dict) and isinstance(merged.get(key), dict) else value
        )
    return merged


def load_parameters(conf: Path, env: str | None = None, overrides: dict | None = None) -> dict:
    """Parameters from ``conf/base/parameters*.yml``, then ``conf/<env>/parameters*.yml``, then ``overrides``."""
    parameters: dict = {}
    for folder in ["base"] + ([env] if env else []):
        files = sorted((conf / folder).glob("parameters*.yml"))
        if folder != "base" and not files:
            raise ValueError(f"no parameters*.yml in {conf / folder}")
        for file in files:
            parameters = merge(parameters, yaml.safe_load(file.read_text()) or {})
    return merge(parameters, overrides or {})


def dotted_override(assignment: str) -> dict:
    """``a.b.c=value`` (value in YAML) as the nested dict {a: {b: {c: value}}}."""
    key, _, text = assignment.partition("=")
    nested: Any = yaml.safe_load(text)
    for part in reversed(key.split(".")):
        nested = {part: nested}
    return nested


def run(parameters: dict[str, Any], log=print) -> dict[str, Any]:
    """Ingest, ``rounds`` DeepCluster rounds and the evaluation; the per-round metrics and the report."""
    settings = check_parameters(parameters)
    p = {name: getattr(settings, name) for name in type(settings).model_fields}
    timings: dict[str, float] = {}
    started = time.perf_counter()
    images, _, counts = load_images(p["data"], p["runtime"])
    image_index = index_images(images)
    timings["ingest_seconds"] = time.perf_counter() - started
    initial_checkpoint, assignments, resolved = initialise_network(
        images, p["model"], p["pca"], p["kmeans"], p["training"], p["runtime"]
    )
    checkpoint, rounds = initial_checkpoint, []
    started = time.perf_counter()
    for r in range(1, p["rounds"] + 1):
        features, feature_summary = extract_round_features(
            checkpoint, images, p["model"], p["features"], p["pca"], p["runtime"], round_number=r
        )
        new_assignments, _, clustering_summary = cluster_round_features(
            features, p["kmeans"], p["runtime"], round_number=r
        )
        indices = sample_training_set(new_assignments, p["runtime"], round_number=r)
        checkpoint, training_log = train_round(
            checkpoint,
            images,
            new_assignments,
            indices,
            p["model"],
            p["kmeans"],
            p["training"],
            p["runtime"],
            p["rounds"],
            round_number=r,
        )
        metrics = evaluate_round(
            new_assignments,
            assignments,
            image_index,
            feature_summary,
            clustering_summary,
            training_log,
            p["kmeans"],
            round_number=r,
        )
        rounds.append(metrics)
        assignments = new_assignments
        log(f"round {r}: " + ", ".join(f"{k} {v:.3f}" for k, v in metrics.items() if k in LOGGED))
    timings["rounds_seconds"] = time.perf_counter() - started
    started = time.perf_counter()
    report: dict[str, Any] = {"rounds": p["rounds"], "images": counts["images_used"]}
    subjects = {
        "deepcluster": extract_network_features(checkpoint, images, p["model"], p["evaluation"], p["runtime"]),
        "random_network": extract_network_features(
            initial_checkpoint, images, p["model"], p["evaluation"], p["runtime"]
        ),
        "pixels": pixel_features(images, p["evaluation"]),
    }
    for subject, features in subjects.items():
        clusters = cluster_into_classes(features, image_index, p["evaluation"], p["runtime"])
        report[subject] = {
            **score_clustering(clusters, image_index),
            **probe_features(features, image_index, p["evaluation"], p["runtime"]),
        }
    report["deepcluster"].update(overclustering_accuracy(assignments, image_index))
    timings["evaluation_seconds"] = time.perf_counter() - started
    return {"report": report, "rounds": rounds, "timings": timings, "parameters": parameters, "resolved": resolved}


LOGGED = (
    "clusters_vs_labels/nmi",
    "clusters_vs_labels/acc_majority_vote",
    "clusters_vs_previous_round/nmi",
    "training/loss",
    "timing/train_seconds",
)
