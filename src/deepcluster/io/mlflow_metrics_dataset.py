"""A write-only Kedro dataset that logs a dict of metrics to the active MLflow run in one call."""

from __future__ import annotations

import logging
import time
from typing import Any

import mlflow
from kedro.io import AbstractDataset, DatasetError
from mlflow.entities import Metric
from mlflow.tracking import MlflowClient

logger = logging.getLogger(__name__)


class MlflowMetricsBatchDataset(AbstractDataset[None, dict]):
    """Saves ``{name: {"value": v, "step": s}}`` with one ``log_batch`` (kedro-mlflow's
    metrics dataset makes one call, a SQLite transaction, per metric).

    It never exists, so a resumed run logs its rounds' metrics again into its own
    new MLflow run. Without an active run (MLflow tracking disabled) it logs nothing.
    """

    def __init__(self, metadata: dict[str, Any] | None = None) -> None:
        self.metadata = metadata

    def _describe(self) -> dict[str, Any]:
        return {}

    def _exists(self) -> bool:
        return False

    def _load(self) -> None:
        raise DatasetError("MlflowMetricsBatchDataset is write-only; read metrics in the MLflow UI or client")

    def _save(self, data: dict[str, dict[str, float]]) -> None:
        run = mlflow.active_run()
        if run is None:
            logger.warning("no active MLflow run: %d metrics not logged", len(data))
            return
        now = int(time.time() * 1000)
        metrics = [Metric(name, float(m["value"]), now, int(m["step"])) for name, m in data.items()]
        client = MlflowClient()
        for start in range(0, len(metrics), 1000):  # MLflow's limit per batch
            client.log_batch(run.info.run_id, metrics=metrics[start : start + 1000])
