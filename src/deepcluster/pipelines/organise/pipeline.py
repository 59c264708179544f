"""Organise: `kedro run --pipeline organise` after a run writes a folder per cluster of its images under
``organise.folder``, from the run's catalog entries (its images and final partition). Not part of training."""

from kedro.pipeline import Pipeline, node

from deepcluster.pipelines.organise.nodes import organise_images


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            node(
                organise_images,
                ["export.assignment_table", "images", "params:organise", "params:data", "data_store"],
                "organise.files",
                name="organise_images",
            )
        ]
    )
