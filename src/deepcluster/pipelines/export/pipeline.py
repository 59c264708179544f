"""Export: partition every image with the chosen network and save what a user takes away.

The network is the best round's by the label-free signal (``round_NNN.best_network``); its
features (extracted once, shared with the evaluation) are partitioned into
``clustering.groups`` clusters by ``deepcluster.clustering.final``. The preprocessing, the network, the
partition and a similarity index over the features are what ``kedro run --pipeline assign``
needs to place new images.
"""

from kedro.pipeline import Pipeline, node, pipeline

from deepcluster.pipelines import round_name
from deepcluster.pipelines.evaluation.pipeline import final_features
from deepcluster.pipelines.export.nodes import (
    describe_preprocessing,
    draw_cluster_montage,
    export_backbone,
    index_features,
    normalised_features,
    partition_images,
    plot_cluster_sizes,
    tabulate_assignments,
)


def create_pipeline(rounds: int = 1, **kwargs) -> Pipeline:
    template = Pipeline(
        [
            node(
                partition_images,
                ["final_points", "run_context"],
                ["partition", "mlflow_metrics", "mlflow_tags"],
                name="partition_images",
            ),
            node(
                tabulate_assignments,
                ["partition", "image_index"],
                ["assignment_table", "assignment_table_csv"],
                name="tabulate_assignments",
            ),
            node(normalised_features, "final_points", "features", name="keep_features"),
            node(index_features, ["features", "image_index"], "similarity_index", name="index_features"),
            node(describe_preprocessing, ["images", "run_context"], "preprocessing", name="describe_preprocessing"),
            node(export_backbone, "best_network", "backbone", name="export_backbone"),
            node(plot_cluster_sizes, "partition", "cluster_sizes_plot", name="plot_cluster_sizes"),
            node(
                draw_cluster_montage,
                ["images", "partition"],
                "cluster_montage",
                name="draw_cluster_montage",
            ),
        ]
    )
    exported = pipeline(
        template,
        namespace="export",
        inputs={
            "best_network": f"{round_name(rounds)}.best_network",
            "final_points": "final_points",
            "images": "images",
            "image_index": "image_index",
            "run_context": "run_context",
        },
    )
    return final_features(rounds) + exported
