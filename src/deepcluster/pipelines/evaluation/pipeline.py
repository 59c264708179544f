"""Evaluation: one protocol for the trained network, the same network untrained, and raw pixels.

``evaluation.<subject>`` (deepcluster, random_network, pixels) each get the same
template: k = number of classes clusters (k-means or SCAN's head, by
``evaluation.clustering.algorithm``) scored by ACC / NMI / ARI, and a
linear probe and weighted kNN on a held-out part. Plots and a report follow.
"""

from kedro.pipeline import Pipeline, node, pipeline

from deepcluster.pipelines import bind_round, round_name
from deepcluster.pipelines.evaluation.nodes import (
    cluster_into_classes,
    extract_network_features,
    overclustering_accuracy,
    pixel_features,
    plot_cluster_sizes,
    plot_confusion,
    plot_embedding,
    plot_metric_curves,
    probe_features,
    score_clustering,
    summarise_evaluation,
)

SUBJECTS = ("deepcluster", "random_network", "pixels")


def final_features(rounds: int) -> Pipeline:
    """The last round's network's features of every image, extracted once for the export and the evaluation.

    Both pipelines include this node; joined, Kedro keeps one copy of it.
    """
    return Pipeline(
        [
            node(
                extract_network_features,
                [f"{round_name(rounds)}.checkpoint", "images", "params:model", "params:evaluation", "params:runtime"],
                "final_features",
                name="extract_final_features",
            )
        ]
    )


def protocol_pipeline(subject: str, features: str) -> Pipeline:
    """The protocol for one set of features, under ``evaluation.<subject>``."""
    template = Pipeline(
        [
            node(
                cluster_into_classes,
                ["features", "image_index", "params:evaluation", "params:scan", "params:runtime"],
                "clusters",
                name="cluster_into_classes",
            ),
            node(score_clustering, ["clusters", "image_index"], "clustering_scores", name="score_clustering"),
            node(
                probe_features,
                ["features", "image_index", "params:evaluation", "params:runtime"],
                "probe_scores",
                name="probe_features",
            ),
        ]
    )
    return pipeline(
        template,
        namespace=f"evaluation.{subject}",
        inputs={"image_index": "image_index", "features": features},
        parameters={"params:evaluation", "params:scan", "params:runtime"},
    )


def create_pipeline(rounds: int = 1, **kwargs) -> Pipeline:
    """Evaluate the last round's checkpoint against round 0's and the pixels."""
    feature_inputs = ["images", "params:model", "params:evaluation", "params:runtime"]
    features = final_features(rounds) + Pipeline(
        [
            node(
                extract_network_features,
                [f"{round_name(0)}.checkpoint", *feature_inputs],
                "evaluation.random_network.features",
                name="evaluation.extract_random_network_features",
            ),
            node(
                pixel_features,
                ["images", "params:evaluation"],
                "evaluation.pixels.features",
                name="evaluation.flatten_pixels",
            ),
        ]
    )
    feature_sets = {subject: f"evaluation.{subject}.features" for subject in SUBJECTS} | {
        "deepcluster": "final_features"
    }
    protocols = sum((protocol_pipeline(subject, feature_sets[subject]) for subject in SUBJECTS), Pipeline([]))
    report = Pipeline(
        [
            node(
                overclustering_accuracy,
                [f"{round_name(rounds)}.assignments", "image_index"],
                "evaluation.overclustering",
                name="evaluation.overclustering_accuracy",
            ),
            node(
                bind_round(summarise_evaluation, rounds),
                [
                    "evaluation.deepcluster.clustering_scores",
                    "evaluation.deepcluster.probe_scores",
                    "evaluation.overclustering",
                    "evaluation.random_network.clustering_scores",
                    "evaluation.random_network.probe_scores",
                    "evaluation.pixels.clustering_scores",
                    "evaluation.pixels.probe_scores",
                ],
                ["evaluation.report", "evaluation.mlflow_metrics", "evaluation.mlflow_tags"],
                name="evaluation.summarise",
            ),
            node(
                plot_metric_curves,
                [f"{round_name(r)}.round_metrics" for r in range(1, rounds + 1)],
                "evaluation.metric_curves_plot",
                name="evaluation.plot_metric_curves",
            ),
            node(
                plot_cluster_sizes,
                [f"{round_name(rounds)}.assignments", "params:kmeans"],
                "evaluation.cluster_sizes_plot",
                name="evaluation.plot_cluster_sizes",
            ),
            node(
                plot_embedding,
                [
                    "final_features",
                    "evaluation.deepcluster.clusters",
                    "image_index",
                    "params:evaluation",
                ],
                "evaluation.embedding_plot",
                name="evaluation.plot_embedding",
            ),
            node(
                plot_confusion,
                ["evaluation.deepcluster.clusters", "image_index"],
                "evaluation.confusion_plot",
                name="evaluation.plot_confusion",
            ),
        ]
    )
    return features + protocols + report
