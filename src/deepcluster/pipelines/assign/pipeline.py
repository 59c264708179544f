"""Assign: the images of ``assign.folder`` through the trained run's preprocessing and network, placed in
its partition and compared with its images. It reads what the export saved, not the parameters, so a
change of conf since training cannot make new images differ from the run's own. Not in ``__default__``.

The same placement, without the folder and the search, is the inference pipeline that every training
run logs as an MLflow model (``served_model``, kedro-mlflow's ``PipelineML`` as ``pipeline_ml_factory``
makes it): its ``KedroPipelineModel`` carries the exported backbone, preprocessing and partition as
artifacts, and this package as code.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import faiss
from kedro.pipeline import Pipeline, node, pipeline
from kedro_mlflow.pipeline.pipeline_ml import PipelineML

import deepcluster
from deepcluster.pipelines.assign.nodes import assign_images, draw_new_arrivals, predict_clusters, read_new_images

EXPORTED = ("backbone", "preprocessing", "partition", "similarity_index")


def create_pipeline(**kwargs) -> Pipeline:
    template = Pipeline(
        [
            node(
                read_new_images,
                ["params:assign", "preprocessing"],
                ["images", "skipped_images", "counts"],
                name="read_new_images",
            ),
            node(
                assign_images,
                ["images", *EXPORTED, "params:assign", "params:runtime"],
                ["assignments", "assignments_csv"],
                name="assign_images",
            ),
            node(draw_new_arrivals, ["images", "assignments"], "montage", name="draw_new_arrivals"),
        ]
    )
    return pipeline(
        template,
        namespace="assign",
        inputs={name: f"export.{name}" for name in EXPORTED},
        parameters={"params:assign", "params:runtime"},
    )


MODEL_NAME = "clusterer"  # runs:/<run id>/clusterer
REQUESTS = "predict.requests"
# what the served model imports; faiss as faiss-cpu, so that a model trained on a GPU serves on a CPU
SERVED_DEPENDENCIES = (
    "torch", "torchvision", "numpy", "pandas", "pyarrow", "pillow", "scikit-learn", "scipy", "igraph",
    "pydantic", "rich", "kedro", "kedro-datasets", "kedro-mlflow", "mlflow",
)  # fmt: skip


def create_inference_pipeline() -> Pipeline:
    inputs = [REQUESTS, *(f"export.{name}" for name in ("backbone", "preprocessing", "partition"))]
    return Pipeline([node(predict_clusters, inputs, "predict.clusters", name="predict_clusters")])


def pinned_requirements() -> list[str]:
    """The served model's pip requirements at the versions installed here (from constraints.txt)."""
    pins = []
    for name in SERVED_DEPENDENCIES:
        try:
            pins.append(f"{name}=={version(name).split('+')[0]}")  # 2.14.1+cpu is not on PyPI
        except PackageNotFoundError:
            pins.append(name)
    return [*pins, f"faiss-cpu=={faiss.__version__}"]


def served_model(training: Pipeline, registered_model_name: str | None) -> PipelineML:
    """``training``, which at its end logs the inference pipeline as the MLflow model ``clusterer``
    (registered under ``registered_model_name`` when one is set)."""
    log_model_kwargs = {
        "name": MODEL_NAME,
        # no signature: a request holds a column `path` or a column `image`, which a schema cannot say;
        # kedro-mlflow's "auto" would read an example request from the catalog
        "signature": None,
        "pip_requirements": pinned_requirements(),
        "code_paths": [str(Path(deepcluster.__file__).parent)],
    }
    if registered_model_name:
        log_model_kwargs["registered_model_name"] = registered_model_name
    return ResumablePipelineML(
        nodes=training.nodes,
        inference=create_inference_pipeline(),
        input_name=REQUESTS,
        log_model_kwargs=log_model_kwargs,
    )


class ResumablePipelineML(PipelineML):
    """kedro-mlflow's training pipeline bound to its inference pipeline (what ``pipeline_ml_factory``
    makes), which a resumed run may filter: ``--only-missing-outputs`` after the export finished keeps
    only the nodes after it, and the model's artifacts are then files an earlier launch wrote.
    kedro-mlflow would refuse such a filtered pipeline; the whole one is checked once, when registered."""

    def __init__(self, *args, checked: bool = True, **kwargs) -> None:
        self._checked = checked
        super().__init__(*args, **kwargs)

    def _check_consistency(self) -> None:
        if self._checked:
            super()._check_consistency()

    def _turn_pipeline_to_ml(self, pipeline: Pipeline) -> ResumablePipelineML:
        return ResumablePipelineML(
            nodes=pipeline.nodes,
            inference=self.inference,
            input_name=self.input_name,
            kpm_kwargs=self.kpm_kwargs,
            log_model_kwargs=self.log_model_kwargs,
            checked=False,
        )
