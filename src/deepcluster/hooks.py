"""Project hooks."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from kedro.framework.context import KedroContext
from kedro.framework.hooks import hook_impl
from kedro.pipeline.node import Node


class RoundsMatchPipeline:
    """Stop a run whose ``rounds`` parameter differs from the rounds the pipelines were built with.

    The pipelines are built from conf/base, conf/local and ``$KEDRO_ENV``; a value
    from ``--params`` or from ``--env`` alone cannot change their shape afterwards.
    """

    @hook_impl
    def after_context_created(self, context: KedroContext) -> None:
        from deepcluster.pipeline_registry import configured_rounds  # keeps settings.py light

        built = configured_rounds()
        wanted = int(context.params["rounds"])
        if wanted != built:
            raise ValueError(
                f"rounds = {wanted} for this run, but the pipelines were built with rounds = {built}: "
                "the number of rounds shapes the pipeline, so set it in conf (base or local) and choose "
                f"an environment with `KEDRO_ENV={context.env} kedro run`, not `--env` or `--params`"
            )


class NodeTimes:
    """Time inside node functions versus the whole run, to show what Kedro, the catalog and MLflow cost.

    Kedro calls ``before_node_run`` after a node's inputs are loaded and
    ``after_node_run`` before its outputs are saved, so the difference is pure
    compute. Written to ``data/08_reporting/run_timing.json`` after each run.
    """

    def __init__(self) -> None:
        self._report: Path | None = None
        self._run_started = 0.0
        self._node_started: dict[str, float] = {}
        self._node_seconds: dict[str, float] = {}

    @hook_impl
    def after_context_created(self, context: KedroContext) -> None:
        self._report = Path(context.project_path) / "data" / "08_reporting" / "run_timing.json"

    @hook_impl
    def before_pipeline_run(self) -> None:
        self._run_started = time.perf_counter()
        self._node_seconds = {}

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
            "node_seconds": self._node_seconds,
        }
        if self._report is not None:
            self._report.parent.mkdir(parents=True, exist_ok=True)
            self._report.write_text(json.dumps(report, indent=1))
