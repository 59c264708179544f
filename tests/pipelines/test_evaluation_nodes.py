import numpy as np
import pandas as pd
import pytest
import torch

from deepcluster.pipelines.evaluation.nodes import cluster_into_classes, score_clustering, summarise_evaluation
from tests.conftest import settings

pytestmark = pytest.mark.learning  # CI runs these again on other floating-point paths

RUNTIME = settings().runtime
SCAN = settings().scan


def planted_blobs(per_class: int = 40, classes: int = 4, dim: int = 24) -> tuple[torch.Tensor, pd.DataFrame]:
    """Tight Gaussian blobs around random directions, one per class, in shuffled order."""
    generator = torch.Generator().manual_seed(0)
    centres = torch.randn(classes, dim, generator=generator) * 5
    labels = torch.arange(classes).repeat_interleave(per_class)
    order = torch.randperm(len(labels), generator=generator)
    labels = labels[order]
    features = centres[labels] + 0.1 * torch.randn(len(labels), dim, generator=generator)
    index = pd.DataFrame({"label": labels.numpy(), "class_name": [f"c{i}" for i in labels.tolist()]})
    return features, index


@pytest.mark.parametrize("algorithm", ["kmeans", "scan"])
@pytest.mark.parametrize(
    "clustering",
    [
        {"pca_dim": 0, "whiten": False},  # the default: L2-normalised features
        {"pca_dim": 8, "whiten": True},
        {"pca_dim": 8, "whiten": False},
    ],
)
def test_planted_classes_are_recovered_under_every_clustering_setting(clustering, algorithm):
    features, index = planted_blobs()
    evaluation = settings(
        evaluation={"clustering": {**clustering, "algorithm": algorithm, "iterations": 50, "restarts": 3}}
    ).evaluation
    clusters = cluster_into_classes(features, index, evaluation, SCAN, RUNTIME)
    assert sorted(np.unique(clusters)) == [0, 1, 2, 3]  # k comes from the labels
    scores = score_clustering(clusters, index)
    assert scores == pytest.approx({"acc": 1.0, "nmi": 1.0, "ari": 1.0})


def test_images_without_labels_are_not_clustered_or_scored():
    features, index = planted_blobs()
    index["label"] = np.nan
    evaluation = settings(evaluation={"clustering": {"iterations": 10, "restarts": 1}}).evaluation
    clusters = cluster_into_classes(features, index, evaluation, SCAN, RUNTIME)
    assert clusters.size == 0
    assert score_clustering(clusters, index) == {}


def test_the_summary_logs_each_subject_and_keys_mlflow_metrics_by_round(caplog):
    clustering = {"acc": 0.9, "nmi": 0.8, "ari": 0.7}
    with caplog.at_level("INFO", logger="deepcluster"):
        report, mlflow_metrics, tags = summarise_evaluation(
            clustering, {"linear_top1": 0.95}, {"overclustering_acc": 0.97}, {}, {}, clustering, {}, round_number=5
        )
    assert "final evaluation, deepcluster: acc 0.900, nmi 0.800, ari 0.700, linear_top1 0.950" in caplog.text
    assert "final evaluation, random_network: no labels to score against" in caplog.text
    assert report["deepcluster"]["overclustering_acc"] == 0.97
    assert mlflow_metrics["final_pixels_acc"] == {"value": 0.9, "step": 5}
    assert tags == {"below_baselines": "none"}
    assert "below its baselines" not in caplog.text


def test_training_that_ends_below_a_baseline_is_logged_and_tagged(caplog):
    trained, untrained, pixels = {"acc": 0.45}, {"acc": 0.55}, {"acc": 0.40}
    with caplog.at_level("WARNING", logger="deepcluster"):
        _, _, tags = summarise_evaluation(trained, {}, {}, untrained, {}, pixels, {}, round_number=3)
    assert tags == {"below_baselines": "random_network"}
    assert (
        "training ended below its baselines: clustering ACC 0.450 for the trained network, but random_network 0.550"
        in caplog.text
    )


def test_unlabelled_data_is_tagged_unscored():
    _, _, tags = summarise_evaluation({}, {}, {}, {}, {}, {}, {}, round_number=3)
    assert tags == {"below_baselines": "unscored (no labels)"}
