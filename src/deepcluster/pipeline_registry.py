"""Project pipelines: ingest -> DeepCluster rounds -> export, evaluation and report; apart, assign (new images)
and organise (a folder per cluster)."""

from __future__ import annotations

import os
from pathlib import Path

from kedro.config import OmegaConfigLoader
from kedro.framework.project import settings
from kedro.pipeline import Pipeline
from kedro.utils import find_kedro_project

from deepcluster.config import Parameters, check_parameters
from deepcluster.pipelines.assign import pipeline as assign
from deepcluster.pipelines.deepcluster import pipeline as deepcluster
from deepcluster.pipelines.evaluation import pipeline as evaluation
from deepcluster.pipelines.export import pipeline as export
from deepcluster.pipelines.ingest import pipeline as ingest
from deepcluster.pipelines.organise import pipeline as organise
from deepcluster.pipelines.report import pipeline as report


def configured_parameters() -> Parameters:
    """The parameters in conf (base, then local or $KEDRO_ENV), checked.

    ``rounds``, ``method.name`` and ``scan.rounds`` fix the pipeline's shape, so they are read here,
    when pipelines are registered, rather than from ``kedro run --params``.
    """
    project = find_kedro_project(Path.cwd()) or Path.cwd()
    loader = OmegaConfigLoader(
        conf_source=str(project / settings.CONF_SOURCE),
        env=os.getenv("KEDRO_ENV"),
        **settings.CONFIG_LOADER_ARGS,
    )
    return check_parameters(loader["parameters"])


def register_pipelines() -> dict[str, Pipeline]:
    configured = configured_parameters()
    rounds = configured.rounds
    pipelines = {
        "ingest": ingest.create_pipeline(),
        "deepcluster": deepcluster.create_pipeline(
            rounds=rounds,
            method=configured.method.name,
            scan_rounds=configured.scan.rounds_of(rounds),
        ),
        "export": export.create_pipeline(rounds=rounds),
        "evaluation": evaluation.create_pipeline(rounds=rounds),
        "report": report.create_pipeline(rounds=rounds),
    }
    training = sum(pipelines.values(), Pipeline([]))
    pipelines["__default__"] = assign.served_model(training, configured.export.registered_model_name)
    pipelines["assign"] = assign.create_pipeline()  # a trained run's: not part of training
    pipelines["organise"] = organise.create_pipeline()  # likewise
    return pipelines
