"""The project's pipelines run in memory, without a Kedro project, session, catalog files or MLflow.

``kedro run`` is the product; this runs the same registered pipelines (the same
nodes, wired the same way) with Kedro's sequential runner over an in-memory
catalog, on parameters read from conf/base plus one environment, merged key by
key as the project's config loader does. Nothing is written. Benchmarks use it
to repeat runs over seeds in one process, and a machine that carries only the
library and Kedro's package uses it to train.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import yaml
from kedro.io import CatalogConfigResolver, DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner

from deepcluster.config import check_parameters
from deepcluster.pipelines import round_name
from deepcluster.pipelines.deepcluster import pipeline as deepcluster
from deepcluster.pipelines.evaluation import pipeline as evaluation
from deepcluster.pipelines.export import pipeline as export
from deepcluster.pipelines.ingest import pipeline as ingest


class KeptMemoryDataset(MemoryDataset):
    """A memory dataset that the runner cannot release before the run's results are read back."""

    def _release(self) -> None:
        pass


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


def run(parameters: dict[str, Any], log=print, keep: tuple[str, ...] = ()) -> dict[str, Any]:
    """Ingest, the rounds and the evaluation's report; the per-round metrics, the report, timings and
    the datasets named in ``keep`` (e.g. ``round_003.checkpoint``)."""
    settings = check_parameters(parameters)
    rounds = settings.rounds
    read_back = ["ingest_counts", "resolved_settings", "evaluation.report", *keep]
    read_back += [f"{round_name(r)}.round_metrics" for r in range(1, rounds + 1)]
    datasets = (
        {name: KeptMemoryDataset(copy_mode="assign") for name in read_back}
        | {
            f"params:{name}": MemoryDataset(getattr(settings, name), copy_mode="assign")
            for name in type(settings).model_fields
        }
        | {"parameters": MemoryDataset(parameters, copy_mode="assign")}
        # no Kedro credentials here: a URL's store uses its own settings (for S3 the AWS_* variables)
        | {"data_store": MemoryDataset({}, copy_mode="assign")}
    )
    # intermediates are passed on as they are (copies of images and networks would cost time) and
    # released after their last reader, so a long run holds one round's checkpoints, not all of them
    passed_on = {"{default}": {"type": "kedro.io.MemoryDataset", "copy_mode": "assign"}}
    catalog = DataCatalog(datasets, config_resolver=CatalogConfigResolver(default_runtime_patterns=passed_on))
    whole = (
        ingest.create_pipeline()
        + deepcluster.create_pipeline(
            rounds=rounds,
            method=settings.method.name,
            scan_rounds=settings.scan.rounds_of(rounds),
        )
        # the report, and the export's partition it scores; no plots
        + (export.create_pipeline(rounds=rounds) + evaluation.create_pipeline(rounds=rounds)).to_outputs(
            "evaluation.report"
        )
    )
    started = time.perf_counter()
    SequentialRunner().run(whole, catalog)
    timings = {"run_seconds": time.perf_counter() - started}
    per_round = [catalog.load(f"{round_name(r)}.round_metrics") for r in range(1, rounds + 1)]
    for metrics in per_round:
        log(f"round {metrics['round']}: " + ", ".join(f"{k} {metrics[k]:.3f}" for k in LOGGED if k in metrics))
    report = {**catalog.load("evaluation.report"), "images": catalog.load("ingest_counts")["images_used"]}
    return {
        "report": report,
        "rounds": per_round,
        "timings": timings,
        "parameters": parameters,
        "resolved": catalog.load("resolved_settings"),
        "kept": {name: catalog.load(name) for name in keep},
    }


def subject_report(report: dict[str, Any], subject: str) -> dict[str, Any]:
    """One subject of an evaluation report; ``trained`` is read under its earlier name, ``deepcluster``, from
    reports saved before the subject was renamed (the benchmarks' JSON lines in docs/benchmarks)."""
    if subject == "trained" and subject not in report:
        return report["deepcluster"]
    return report[subject]


LOGGED = (
    "clusters_vs_labels/nmi",
    "clusters_vs_labels/acc_majority_vote",
    "clusters_vs_previous_round/nmi",
    "training/loss",
    "timing/train_seconds",
)
