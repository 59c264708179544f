"""A write-only Kedro dataset that logs a flat dict as parameters or tags of the active MLflow run."""

from __future__ import annotations

import logging
from typing import Any, Literal

import mlflow
from kedro.io import AbstractDataset, DatasetError

logger = logging.getLogger(__name__)


class MlflowKeyValueDataset(AbstractDataset[None, dict]):
    """Saves ``{name: value}`` as the run's parameters (``kind: params``) or tags (``kind: tags``),
    for values known only once the run is under way: the settings that conf left ``auto``,
    the outcome of the evaluation. Never exists, so a resumed run logs them again."""

    def __init__(self, kind: Literal["params", "tags"] = "params", metadata: dict[str, Any] | None = None) -> None:
        if kind not in ("params", "tags"):
            raise DatasetError(f"kind = {kind!r}; use params or tags")
        self._kind = kind
        self.metadata = metadata

    def _describe(self) -> dict[str, Any]:
        return {"kind": self._kind}

    def _exists(self) -> bool:
        return False

    def _load(self) -> None:
        raise DatasetError(f"MlflowKeyValueDataset is write-only; read the {self._kind} in the MLflow UI or client")

    def _save(self, data: dict[str, Any]) -> None:
        if mlflow.active_run() is None:
            logger.warning("no active MLflow run: %d %s not logged", len(data), self._kind)
            return
        (mlflow.log_params if self._kind == "params" else mlflow.set_tags)(data)
