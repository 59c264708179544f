"""Evaluation: the final network's features clustered into the true classes, next to pixel k-means."""


from kedro.pipeline import Pipeline, node

from deepcluster.pipelines import bind_round
from deepcluster.pipelines.evaluation.nodes import (
    cluster_final_features,
    cluster_pixels,
    extract_final_features,
    summarise_evaluation,
)


def create_pipeline(rounds: int = 1, **kwargs) -> Pipeline:
    """Evaluate ``round_{rounds}.checkpoint``, the last round's network."""
    return Pipeline(
        [
            node(
                extract_final_features,
                [f"round_{rounds}.checkpoint", "images", "params:model", "params:evaluation", "params:runtime"],
                "final_features",
                name="extract_final_features",
            ),
            node(
                cluster_final_features,
                ["final_features", "image_index", "params:evaluation", "params:runtime"],
                "final_clustering_metrics",
                name="cluster_final_features",
            ),
            node(
                cluster_pixels,
                ["images", "image_index", "params:evaluation", "params:runtime"],
                "pixel_clustering_metrics",
                name="cluster_pixels",
            ),
            node(
                bind_round(summarise_evaluation, rounds),
                ["final_clustering_metrics", "pixel_clustering_metrics"],
                ["evaluation_report", "evaluation_mlflow_metrics"],
                name="summarise_evaluation",
            ),
        ]
    )
