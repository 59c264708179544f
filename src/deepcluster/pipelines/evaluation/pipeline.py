"""Evaluation: one protocol for the trained network and every baseline.

The subjects: the network the run chose (``trained``: the best round's by the label-free
signal), the same network untrained (``random_network``), the raw pixels (``pixels``) and
the pixels' PCA (``pixels_pca``, the peer's method with Ward's clustering). Each gets the
same template under ``evaluation.<subject>``: k = number of classes partitions by every
clusterer, scored by ACC / NMI / ARI; the label-free signals; a linear probe and weighted
kNN on a held-out part. The baselines are scored on at most ``BASELINE_SAMPLE`` images. Plots and a report
follow.
"""

from kedro.pipeline import Pipeline, node, pipeline

from deepcluster.pipelines import bind, round_name
from deepcluster.pipelines.evaluation.nodes import (
    BASELINES,
    SUBJECTS,
    TRAINED,
    baseline_images,
    cluster_subject,
    cluster_trained,
    extract_network_features,
    measure_signals,
    network_points,
    overclustering_accuracy,
    pixel_features,
    pixel_pca_features,
    plot_confusion,
    plot_embedding,
    plot_metric_curves,
    probe_features,
    summarise_evaluation,
)


def final_features(rounds: int) -> Pipeline:
    """The chosen network's features of every image, extracted once for the export and the evaluation, and
    the points that the final partition clusters (L2-normalised).

    Both pipelines include these nodes; joined, Kedro keeps one copy of each.
    """
    return Pipeline(
        [
            node(
                extract_network_features,
                [f"{round_name(rounds)}.best_network", "images", "run_context"],
                "final_features",
                name="extract_final_features",
            ),
            node(network_points, "final_features", "final_points", name="normalise_final_features"),
        ]
    )


def protocol_pipeline(subject: str, points: str) -> Pipeline:
    """The protocol for one subject's points, under ``evaluation.<subject>``; the trained network's partitions
    are scored beside the one the user received (``export.partition``)."""
    if subject == TRAINED:
        clustering = node(
            cluster_trained,
            ["points", "received_partition", "image_index", "run_context"],
            ["clustering_scores", "clusters"],
            name="cluster_into_classes",
        )
    else:
        clustering = node(
            bind(cluster_subject, headline="best"),
            ["points", "image_index", "run_context"],
            ["clustering_scores", "clusters"],
            name="cluster_into_classes",
        )
    template = Pipeline(
        [
            clustering,
            node(measure_signals, ["points", "run_context"], "signals", name="measure_signals"),
            node(
                probe_features,
                ["points", "image_index", "run_context"],
                "probe_scores",
                name="probe_features",
            ),
        ]
    )
    inputs = {"image_index": "image_index", "points": points, "run_context": "run_context"}
    if subject == TRAINED:
        inputs["received_partition"] = "export.partition"
    else:
        inputs["image_index"] = "evaluation.baseline_index"
    return pipeline(template, namespace=f"evaluation.{subject}", inputs=inputs)


def create_pipeline(rounds: int = 1, **kwargs) -> Pipeline:
    """Evaluate the chosen network against round 0's, the pixels and the pixels' PCA."""
    network_inputs = ["evaluation.baseline_images", "run_context"]
    features = final_features(rounds) + Pipeline(
        [
            node(
                baseline_images,
                ["images", "image_index", "run_context"],
                ["evaluation.baseline_images", "evaluation.baseline_index"],
                name="evaluation.draw_baseline_images",
            ),
            node(
                extract_network_features,
                [f"{round_name(0)}.checkpoint", *network_inputs],
                "evaluation.random_network.features",
                name="evaluation.extract_random_network_features",
            ),
            node(
                network_points,
                "evaluation.random_network.features",
                "evaluation.random_network.points",
                name="evaluation.random_network_points",
            ),
            node(
                pixel_features,
                "evaluation.baseline_images",
                "evaluation.pixels.points",
                name="evaluation.flatten_pixels",
            ),
            node(
                pixel_pca_features,
                ["evaluation.baseline_images", "run_context"],
                "evaluation.pixels_pca.points",
                name="evaluation.pixel_pca",
            ),
        ]
    )  # fmt: skip
    points = {subject: f"evaluation.{subject}.points" for subject in BASELINES} | {TRAINED: "final_points"}
    protocols = sum((protocol_pipeline(subject, points[subject]) for subject in SUBJECTS), Pipeline([]))
    final_network = f"{round_name(rounds)}.best_network"
    report = Pipeline(
        [
            node(
                overclustering_accuracy,
                [f"{round_name(rounds)}.assignments", "image_index"],
                "evaluation.overclustering",
                name="evaluation.overclustering_accuracy",
            ),
            node(
                summarise_evaluation,
                [
                    f"evaluation.{TRAINED}.clustering_scores",
                    f"evaluation.{TRAINED}.signals",
                    f"evaluation.{TRAINED}.probe_scores",
                    "evaluation.overclustering",
                    final_network,
                    *(
                        f"evaluation.{subject}.{part}"
                        for subject in BASELINES
                        for part in ("clustering_scores", "signals", "probe_scores")
                    ),
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
                plot_embedding,
                ["final_features", f"evaluation.{TRAINED}.clusters", "image_index"],
                "evaluation.embedding_plot",
                name="evaluation.plot_embedding",
            ),
            node(
                plot_confusion,
                [f"evaluation.{TRAINED}.clusters", "image_index"],
                "evaluation.confusion_plot",
                name="evaluation.plot_confusion",
            ),
        ]
    )
    return features + protocols + report
