"""Project hooks."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import mlflow
from kedro.framework.context import KedroContext
from kedro.framework.hooks import hook_impl
from kedro.pipeline import Pipeline
from kedro.pipeline.node import Node
from kedro_mlflow.framework.hooks.mlflow_hook import MlflowHook
from kedro_mlflow.framework.hooks.utils import _flatten_dict
from kedro_mlflow.pipeline.pipeline_ml import PipelineML
from mlflow.entities import Param
from mlflow.tracking import MlflowClient
from mlflow.utils.validation import MAX_PARAM_VAL_LENGTH

from deepcluster.config import check_parameters
from deepcluster.distributed.processes import is_main_process, start_process_group, stop_process_group
from deepcluster.io.checkpoint_dataset import CheckpointDataset


class CheckpointWrites:
    """A run ends when its last checkpoint is on disk: ``CheckpointDataset`` writes in a background
    thread, and a failed write fails the run."""

    @hook_impl
    def after_pipeline_run(self) -> None:
        CheckpointDataset.wait_for_writes()

    @hook_impl
    def on_pipeline_error(self) -> None:
        # what was saved before the error is resumed from: let its write finish
        CheckpointDataset.wait_for_writes()


class DistributedRun:
    """Join the process group when ``torchrun`` started several copies of ``kedro run``, and leave it
    at the end (nothing in one process). The catalog (``MainProcessWritesCatalog``) and the hooks
    registered for rank 0 alone (settings.py) keep the other processes from writing."""

    @hook_impl
    def before_pipeline_run(self) -> None:
        if start_process_group() and not is_main_process():
            logging.getLogger("deepcluster").setLevel(logging.WARNING)  # rank 0 reports progress, once

    @hook_impl
    def after_pipeline_run(self) -> None:
        stop_process_group()


class CheckParameters:
    """Validate every parameter before any work starts, and refuse a ``rounds``, ``method.name`` or
    ``scan.rounds`` the pipelines were not built with.

    Kedro also validates each node's typed parameters, but one block at a time
    and without a top-level view; this reports every unknown key, wrong type and
    out-of-range value at once, each with its dotted key and the fix. The
    pipelines are built from conf/base, conf/local and ``$KEDRO_ENV``; a value
    from ``--params`` or from ``--env`` alone cannot change their shape afterwards.
    """

    @hook_impl
    def after_context_created(self, context: KedroContext) -> None:
        from deepcluster.pipeline_registry import configured_parameters  # keeps settings.py light

        wanted = check_parameters(context.config_loader["parameters"])
        built = configured_parameters()
        for key, asked, shaped in (
            ("rounds", wanted.rounds, built.rounds),
            ("method.name", wanted.method.name, built.method.name),
            ("scan.rounds", wanted.scan.rounds, built.scan.rounds),
            ("export.registered_model_name", wanted.export.registered_model_name, built.export.registered_model_name),
        ):
            if asked != shaped:
                raise ValueError(
                    f"{key} = {asked!r} for this run, but the pipelines were built with {key} = {shaped!r}: "
                    f"{key} shapes the pipeline, so set it in conf (base or local) and choose an "
                    f"environment with `KEDRO_ENV={context.env} kedro run`, not `--env` or `--params`"
                )


class NodeTimes:
    """Time inside node functions versus the whole run, to show what Kedro, the catalog and MLflow cost.

    Kedro calls ``before_node_run`` after a node's inputs are loaded and
    ``after_node_run`` before its outputs are saved, so the difference is pure
    compute; loads and saves are timed too, summed per kind of dataset (MLflow
    logging happens in the metric datasets' saves). Written to
    ``data/08_reporting/run_timing.json`` after each run.
    """

    def __init__(self) -> None:
        self._report: Path | None = None
        self._run_started = 0.0
        self._node_started: dict[str, float] = {}
        self._node_seconds: dict[str, float] = {}
        self._io_started: dict[tuple[str, str], float] = {}
        self._io_seconds: dict[str, float] = {}

    def _io_begin(self, action: str, dataset_name: str) -> None:
        self._io_started[action, dataset_name] = time.perf_counter()

    def _io_end(self, action: str, dataset_name: str) -> None:
        # round_7.checkpoint and round_8.checkpoint add up under "load checkpoint"
        kind = f"{action} {dataset_name.split('.')[-1]}"
        elapsed = time.perf_counter() - self._io_started.pop((action, dataset_name))
        self._io_seconds[kind] = self._io_seconds.get(kind, 0.0) + elapsed

    @hook_impl
    def after_context_created(self, context: KedroContext) -> None:
        self._report = Path(context.project_path) / "data" / "08_reporting" / "run_timing.json"

    @hook_impl
    def before_pipeline_run(self) -> None:
        self._run_started = time.perf_counter()
        self._node_seconds = {}
        self._io_seconds = {}

    @hook_impl
    def before_dataset_loaded(self, dataset_name: str) -> None:
        self._io_begin("load", dataset_name)

    @hook_impl
    def after_dataset_loaded(self, dataset_name: str) -> None:
        self._io_end("load", dataset_name)

    @hook_impl
    def before_dataset_saved(self, dataset_name: str) -> None:
        self._io_begin("save", dataset_name)

    @hook_impl
    def after_dataset_saved(self, dataset_name: str) -> None:
        self._io_end("save", dataset_name)

    @hook_impl
    def before_node_run(self, node: Node) -> None:
        self._node_started[node.name] = time.perf_counter()

    @hook_impl
    def after_node_run(self, node: Node) -> None:
        self._node_seconds[node.name] = time.perf_counter() - self._node_started.pop(node.name)

    @hook_impl
    def after_pipeline_run(self) -> None:
        total = time.perf_counter() - self._run_started
        compute = sum(self._node_seconds.values())
        report: dict[str, Any] = {
            "pipeline_seconds": total,
            "node_compute_seconds": compute,
            "overhead_seconds": total - compute,
            "catalog_seconds": dict(sorted(self._io_seconds.items(), key=lambda item: -item[1])),
            "node_seconds": self._node_seconds,
        }
        if self._report is not None:
            self._report.parent.mkdir(parents=True, exist_ok=True)
            self._report.write_text(json.dumps(report, indent=1))


def plain(value: Any) -> Any:
    """``value`` with every pydantic model in it turned into a dict (typed node parameters are models)."""
    if hasattr(value, "model_dump"):
        return value.model_dump()
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    return value


def run_parameters(parameters: dict[str, Any]) -> dict[str, Any]:
    """Every validated setting of the run, flattened with dots (``method.name``, ``training.lr``): what MLflow's UI
    compares runs by."""
    return _flatten_dict(d=check_parameters(plain(parameters)).model_dump(), recursive=True, sep=".")


def run_name(env: str, parameters: dict[str, Any]) -> str:
    """What a run is, as its MLflow name: ``local · deepcluster · sklearn_digits · seed 0``."""
    data = parameters["data"]
    source = data["source"]
    if source == "folder":
        source = f"folder:{Path(data['path']).resolve().name}"
    method = (parameters.get("method") or {}).get("name", "deepcluster")  # conf without a method runs DeepCluster
    return f"{env} · {method} · {source} · seed {parameters['runtime']['seed']}"


class BatchedMlflowHook(MlflowHook):
    """kedro-mlflow's hook, but parameters are logged once per run, in batches, not before every node.

    kedro-mlflow logs each node's parameters and reopens the MLflow run before every
    node; with six nodes a round and a SQLite store, that cost about a third of a
    round of the default run. Here every validated setting (``run_parameters``) is
    logged at the run's start in a few ``log_batch`` calls, whether or not a node
    reads it, and the run is reopened only in a thread that does not have it.
    Registered in settings.py in place of the plugin's own.

    Runs are named after what they are (``run_name``) unless mlflow.yml names them,
    and the experiment is tagged as model training, not GenAI, for MLflow 3's UI.
    """

    @hook_impl
    def after_context_created(self, context: KedroContext) -> None:
        super().after_context_created(context=context)
        self._env = context.env or context.config_loader.default_run_env

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline: Pipeline, catalog: Any) -> None:
        if self.mlflow_config.tracking.run.name is None:  # kedro-mlflow would name it after the pipeline
            self.mlflow_config.tracking.run.name = run_name(self._env, plain(catalog.load("parameters")))
        super().before_pipeline_run(run_params=run_params, pipeline=pipeline, catalog=catalog)
        if not self._is_mlflow_enabled:
            return
        client = MlflowClient()
        # marks the experiment as model training, not GenAI, for the MLflow 3 UIs that read the tag
        # (3.17 follows its own GenAI / Model training switch; see README); set on every run so
        # that experiments created earlier get it too
        client.set_experiment_tag(
            mlflow.active_run().info.experiment_id, "mlflow.experimentKind", "custom_model_development"
        )
        values = run_parameters(catalog.load("parameters"))
        params = [Param(self.sanitize_param_name(k), str(v)[:MAX_PARAM_VAL_LENGTH]) for k, v in values.items()]
        for start in range(0, len(params), 100):  # MLflow's limit per batch
            client.log_batch(self.run_id, params=params[start : start + 100])

    @hook_impl
    def after_pipeline_run(self, run_params: dict[str, Any], pipeline: Pipeline, catalog: Any) -> None:
        # the training pipeline logs its inference pipeline as a model, unless a partial run
        # (--to-nodes, --tags) stopped before the export wrote what the model carries
        if isinstance(pipeline, PipelineML):
            carried = pipeline.inference.inputs() - {pipeline.input_name}
            if not all(catalog.exists(name) for name in carried):
                pipeline = pipeline.training
        super().after_pipeline_run(run_params=run_params, pipeline=pipeline, catalog=catalog)

    @hook_impl
    def before_node_run(self, node: Node, catalog: Any, inputs: dict[str, Any], is_async: bool) -> None:
        active = mlflow.active_run()
        if self.run_id is not None and (active is None or active.info.run_id != self.run_id):
            mlflow.start_run(run_id=self.run_id, nested=self.mlflow_config.tracking.run.nested)
