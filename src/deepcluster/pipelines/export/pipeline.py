"""Export: cluster every image with the final network and save what a user takes away.

The final network is the last round's; its features are clustered exactly as a
round would (same PCA and k-means settings), under the seeds of round N + 1.
"""

from kedro.pipeline import Pipeline, node, pipeline

from deepcluster.pipelines import round_name
from deepcluster.pipelines.deepcluster.pipeline import clustering_pipeline
from deepcluster.pipelines.export.nodes import draw_cluster_montage, export_backbone, tabulate_assignments


def create_pipeline(rounds: int = 1, **kwargs) -> Pipeline:
    after_last = rounds + 1
    template = clustering_pipeline(after_last, checkpoint="final_checkpoint", features="features")
    template += Pipeline(
        [
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
    return pipeline(
        template,
        namespace="export",
        inputs={
            "final_checkpoint": f"{round_name(rounds)}.checkpoint",
            "images": "images",
            "image_index": "image_index",
        },
        parameters={
            "params:model",
            "params:features",
            "params:pca",
            "params:kmeans",
            "params:runtime",
            "params:export",
        },
    )
