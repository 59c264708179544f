"""Ingest: configured source -> image collection and its index of ids and labels."""

from kedro.pipeline import Pipeline, node

from deepcluster.pipelines.ingest.nodes import index_images, load_images


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            node(
                load_images,
                ["params:data", "params:runtime", "data_store"],
                ["images", "skipped_images", "ingest_counts"],
                name="load_images",
            ),
            node(index_images, "images", "image_index", name="index_images"),
        ]
    )
