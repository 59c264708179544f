"""Export: cluster every image with the final network and save what a user takes away.

The final network is the last round's; its features (extracted once, shared with
the evaluation) are reduced and clustered as a round would (same PCA and k-means
settings), under the seeds of round N + 1.
"""

from kedro.pipeline import Pipeline, node, pipeline

from deepcluster.pipelines import bind_round, round_name
from deepcluster.pipelines.deepcluster.nodes import cluster_round_features, reduce_round_features
from deepcluster.pipelines.evaluation.pipeline import final_features
from deepcluster.pipelines.export.nodes import draw_cluster_montage, export_backbone, tabulate_assignments


def create_pipeline(rounds: int = 1, **kwargs) -> Pipeline:
    after_last = rounds + 1
    template = Pipeline(
        [
            node(
                bind_round(reduce_round_features, after_last),
                ["final_features", "params:pca", "params:runtime"],
                ["features", "feature_summary"],
                name="reduce_features",
            ),
            node(
                bind_round(cluster_round_features, after_last),
                ["features", "params:kmeans", "params:runtime"],
                ["assignments", "centroids", "clustering_summary"],
                name="cluster_features",
            ),
            node(
                tabulate_assignments,
                ["assignments", "image_index"],
                ["assignment_table", "assignment_table_csv"],
                name="tabulate_assignments",
            ),
            node(export_backbone, "final_checkpoint", "backbone", name="export_backbone"),
            node(
                draw_cluster_montage,
                ["images", "assignments", "params:export"],
                "cluster_montage",
                name="draw_cluster_montage",
            ),
        ]
    )
    exported = pipeline(
        template,
        namespace="export",
        inputs={
            "final_checkpoint": f"{round_name(rounds)}.checkpoint",
            "final_features": "final_features",
            "images": "images",
            "image_index": "image_index",
        },
        parameters={"params:pca", "params:kmeans", "params:runtime", "params:export"},
    )
    return final_features(rounds) + exported
