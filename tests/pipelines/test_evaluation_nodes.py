import numpy as np
import pandas as pd
import pytest
import torch

from deepcluster.clustering.clusterers import CLUSTERERS, TOLERANCE
from deepcluster.data.collection import collection_from_arrays
from deepcluster.evaluation.metrics import labelling_agreement
from deepcluster.pipelines.evaluation import nodes as evaluation_nodes
from deepcluster.pipelines.evaluation.nodes import (
    baseline_images,
    cluster_subject,
    cluster_trained,
    measure_signals,
    network_points,
    summarise_evaluation,
)
from deepcluster.pipelines.export.nodes import partition_images
from deepcluster.pipelines.ingest.nodes import index_images
from deepcluster.run import RunContext
from tests.conftest import settings

pytestmark = pytest.mark.learning  # CI runs these again on other floating-point paths

PARAMETERS = settings()
RESOLVED = {"clustering.groups": 4, "scan.k": 4, "scan.neighbours": 10}
RUN = RunContext.create(PARAMETERS, RESOLVED)
BEST_NETWORK = {"round": 5, "rounds": 6}


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


@pytest.mark.parametrize("headline", ["auto", "best"])
def test_every_clusterer_recovers_planted_classes(headline):
    features, index = planted_blobs()
    report, clusters = cluster_subject(network_points(features), index, RUN, headline=headline)
    assert set(report["clusterers"]) == set(CLUSTERERS)
    for name, scores in report["clusterers"].items():
        assert scores["acc"] == pytest.approx(1.0), name
        assert 0 < scores["criterion"] <= np.log(4) + 1e-9  # at most log(1/q), q = 1/4 for four equal clusters
    assert sorted(np.unique(clusters)) == [0, 1, 2, 3]  # k comes from the labels
    assert report["chosen_by"] == headline and report["partition"] in report["clusterers"]
    assert (report["acc"], report["nmi"], report["ari"]) == pytest.approx((1.0, 1.0, 1.0))


def test_the_trained_network_is_scored_with_the_function_of_the_users_partition_and_beside_it():
    """At k = classes the evaluation's partition is the one the export makes when clustering.groups is the number
    of classes (same function, points and seed); the partition the user received is scored beside it."""
    features, index = planted_blobs(classes=3)
    features[index["label"].to_numpy() == 1] = features[index["label"].to_numpy() == 0][:40] + 1.5
    points = network_points(features)
    at_classes = RunContext.create(PARAMETERS, RESOLVED | {"clustering.groups": 3})
    received, _, tags = partition_images(points, at_classes)
    report, clusters = cluster_trained(points, received, index, at_classes)
    assert report["partition"] == tags["final_partition"] == received.clusterer
    np.testing.assert_array_equal(clusters, received.assignments)
    agreement = labelling_agreement(index["label"].to_numpy(), received.assignments)
    assert report["acc"] == pytest.approx(agreement["acc"])
    assert report["received"] == {"clusterer": received.clusterer, "k": 3, "nmi": agreement["nmi"],
                                  "ari": agreement["ari"]}  # fmt: skip
    # the user's partition at its own k (4 groups) is scored by NMI and ARI alone
    four, _, _ = partition_images(points, RUN)
    report, _ = cluster_trained(points, four, index, RUN)
    assert report["received"]["k"] == 4 and "acc" not in report["received"]
    assert report["received"]["nmi"] == pytest.approx(labelling_agreement(index["label"], four.assignments)["nmi"])


def test_a_fixed_final_clusterer_is_the_headline_with_and_without_labels():
    features, index = planted_blobs()
    fixed = RunContext.create(settings(clustering={"final": "kmeans"}), RESOLVED)
    report, _ = cluster_subject(network_points(features), index, fixed, headline="auto")
    assert report["partition"] == "kmeans" and set(report["clusterers"]) == set(CLUSTERERS)
    index["label"] = np.nan
    report, _ = cluster_subject(network_points(features), index, fixed, headline="auto")
    assert report["partition"] == "kmeans"


def _label_free_choice(scores: dict[str, dict[str, float]]) -> str:
    """The clusterer with the highest label-free score, or SCAN's head within the tolerance of it."""
    highest = max(scores, key=lambda name: scores[name]["criterion"])
    return "scan" if scores[highest]["criterion"] - scores["scan"]["criterion"] <= TOLERANCE else highest


def test_the_headline_of_a_baseline_is_its_best_clusterer_and_of_the_trained_network_its_label_free_choice():
    features, index = planted_blobs(classes=3)
    # two classes close together: some clusterers will merge them, split another
    features[index["label"].to_numpy() == 1] = features[index["label"].to_numpy() == 0][:40] + 1.5
    points = network_points(features)
    best, _ = cluster_subject(points, index, RUN, headline="best")
    auto, _ = cluster_subject(points, index, RUN, headline="auto")
    scores = best["clusterers"]
    assert best["acc"] == max(s["acc"] for s in scores.values())
    assert auto["partition"] == _label_free_choice(scores)


def test_unlabelled_images_get_label_free_figures_only():
    features, index = planted_blobs()
    index["label"] = np.nan
    points = network_points(features)
    report, clusters = cluster_subject(points, index, RUN, headline="best")
    assert "acc" not in report
    assert set(report["clusterers"]) == set(CLUSTERERS)
    assert report["partition"] == _label_free_choice(report["clusterers"])
    assert len(np.unique(clusters)) == RESOLVED["clustering.groups"]
    signals = measure_signals(points, RUN)
    assert signals["communities"] == 4 and signals["knn_modularity"] > 0.7


def _subject(acc: float | None, modularity: float) -> tuple[dict, dict, dict]:
    clustering = {} if acc is None else {"acc": acc, "nmi": acc, "ari": acc, "clusterers": {"ward": {"acc": acc}}}
    return clustering, {"knn_modularity": modularity, "communities": 4}, {}


def test_the_summary_logs_each_subject_and_keys_mlflow_metrics_by_the_chosen_round(caplog):
    trained = _subject(0.9, 0.8)
    with caplog.at_level("INFO", logger="deepcluster"):
        report, mlflow_metrics, tags = summarise_evaluation(
            *trained, {"overclustering_acc": 0.97}, BEST_NETWORK, *_subject(0.5, 0.6), *_subject(0.6, 0.7),
            *_subject(0.7, 0.5),
        )  # fmt: skip
    assert "final evaluation, trained: acc 0.900, nmi 0.900, ari 0.900" in caplog.text
    assert report["network_round"] == 5 and report["rounds"] == 6
    assert report["trained"]["overclustering_acc"] == 0.97
    assert mlflow_metrics["final_pixels_acc"] == {"value": 0.6, "step": 5}
    assert mlflow_metrics["final_pixels_pca_ward_acc"] == {"value": 0.7, "step": 5}
    assert tags["below_baselines"] == "none" and tags["compared_by"] == "acc"
    assert "below its baselines" not in caplog.text


def test_training_that_ends_below_a_baseline_is_logged_and_tagged(caplog):
    with caplog.at_level("WARNING", logger="deepcluster"):
        _, _, tags = summarise_evaluation(
            *_subject(0.45, 0.9), {}, BEST_NETWORK, *_subject(0.55, 0.1), *_subject(0.4, 0.1), *_subject(0.5, 0.1)
        )
    assert tags["below_baselines"] == "random_network, pixels_pca"
    assert (
        "training ended below its baselines: acc 0.450 for the trained network (round 5), but random_network 0.550"
        in caplog.text
    )


def test_without_labels_the_baselines_are_compared_by_the_label_free_signal():
    _, _, tags = summarise_evaluation(
        *_subject(None, 0.6), {}, BEST_NETWORK, *_subject(None, 0.7), *_subject(None, 0.5), *_subject(None, 0.4)
    )
    assert tags["compared_by"] == "knn_modularity" and tags["below_baselines"] == "random_network"


def test_the_baselines_are_scored_on_a_sample_of_a_large_collection_with_their_own_rows(monkeypatch):
    pixels = np.random.default_rng(0).integers(0, 256, (50, 1, 8, 8), dtype=np.uint8)
    labels = np.arange(50) % 5
    images = collection_from_arrays(pixels, labels, [f"c{i}" for i in range(5)], None, "test")
    index = index_images(images)
    whole_images, whole_index = baseline_images(images, index, RUN)
    assert whole_images is images and whole_index is index  # at or below the sample: every image
    monkeypatch.setattr(evaluation_nodes, "BASELINE_SAMPLE", 20)
    sampled_images, sampled_index = baseline_images(images, index, RUN)
    assert len(sampled_images) == len(sampled_index) == 20
    kept = [int(image_id) for image_id in sampled_images.ids]
    assert kept == sorted(set(kept))  # drawn without repeats, in the collection's order
    assert (sampled_images.pixels == pixels[kept]).all()
    assert (sampled_index["label"].to_numpy() == labels[kept]).all()
    assert (sampled_images.labels == labels[kept]).all()
    again, _ = baseline_images(images, index, RUN)
    assert again.ids == sampled_images.ids  # the run's seed draws them: every baseline sees the same images
