"""A throwaway copy of this Kedro project (its conf, not its data), for tests, benchmarks and trial runs."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import yaml


def scratch_project(source: Path, target: Path, parameters: dict[str, Any] | None = None) -> Path:
    """``target`` made a Kedro project with ``source``'s pyproject.toml, conf/base and logging,
    ``parameters`` in conf/local/parameters.yml and its own MLflow database.

    The MLflow URI is absolute: MLflow caches stores by URI, so a relative one would
    keep pointing at the first project's database after the working directory changes.
    """
    target.mkdir(parents=True, exist_ok=True)
    shutil.copy(source / "pyproject.toml", target / "pyproject.toml")
    shutil.copytree(source / "conf" / "base", target / "conf" / "base", dirs_exist_ok=True)
    shutil.copy(source / "conf" / "logging.yml", target / "conf" / "logging.yml")
    (target / "conf" / "local").mkdir(exist_ok=True)
    (target / "src").mkdir(exist_ok=True)  # Kedro wants the folder; the package is installed
    tracking = {"server": {"mlflow_tracking_uri": f"sqlite:///{target.resolve() / 'mlflow.db'}"}}
    (target / "conf" / "local" / "mlflow.yml").write_text(yaml.safe_dump(tracking))
    write_parameters(target, parameters or {})
    return target


def write_parameters(project: Path, parameters: dict[str, Any]) -> None:
    """``parameters`` as the project's conf/local/parameters.yml."""
    (project / "conf" / "local" / "parameters.yml").write_text(yaml.safe_dump(parameters))
