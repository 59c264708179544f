"""End-to-end Kedro sessions on a tiny copy of the default run (digits, 240 images, 2 rounds)."""

import json

import mlflow
import numpy as np
import pandas as pd
import pytest
import torch
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project
from mlflow import MlflowClient
from PIL import Image

from deepcluster.clustering.clusterers import CLUSTERERS
from deepcluster.methods import base
from deepcluster.pipelines import round_name
from tests.conftest import TINY_RUN, distinct_images


def run_session(project, **run_options):
    bootstrap_project(project)
    try:
        with KedroSession.create(project_path=project) as session:
            return session.run(**run_options)
    finally:
        # kedro-mlflow finishes its run in the tracking store but, ending it from another
        # thread, leaves it on this thread's active-run stack; the next session would reuse it
        while mlflow.active_run():
            mlflow.end_run()


def latest_run(project):
    """The project's newest MLflow run; None before its first."""
    mlflow.set_tracking_uri(f"sqlite:///{project / 'mlflow.db'}")
    experiment = MlflowClient().get_experiment_by_name("deepcluster")
    if experiment is None:
        return None
    runs = MlflowClient().search_runs([experiment.experiment_id], order_by=["attributes.start_time DESC"])
    return runs[0] if runs else None


def metric_history(project, name):
    run = latest_run(project)
    return {m.step: m.value for m in MlflowClient().get_metric_history(run.info.run_id, name)}


def test_two_rounds_write_the_catalog_and_log_metrics_per_round(project_copy):
    project = project_copy(**TINY_RUN)
    run_session(project)
    data = project / "data"
    for r in (1, 2):
        assignments = pd.read_parquet(data / f"07_model_output/rounds/{round_name(r)}/assignments.parquet")
        assert len(assignments) == 240 and assignments["cluster"].between(0, 11).all()
        assert (data / f"06_models/checkpoints/{round_name(r)}.pt").is_file()
        metrics = json.loads((data / f"08_reporting/rounds/{round_name(r)}/metrics.json").read_text())
        assert metrics["round"] == r and 0 <= metrics["clusters_vs_labels/nmi"] <= 1
    round_2 = json.loads((data / "08_reporting/rounds/round_002/metrics.json").read_text())
    assert "clusters_vs_previous_round/nmi" in round_2
    report = json.loads((data / "08_reporting/evaluation.json").read_text())
    protocol = {"acc", "nmi", "ari", "partition", "chosen_by", "clusterers", "linear_top1", "knn20_top1", "knn200_top1"}
    protocol |= {"knn_modularity", "communities", "images"}
    assert set(report["trained"]) == protocol | {"overclustering_acc", "received"}
    subjects = ("trained", "random_network", "pixels", "pixels_pca")
    assert {report[subject]["images"] for subject in subjects} == {240}  # every image: far below the sample
    assert set(report["random_network"]) == set(report["pixels"]) == set(report["pixels_pca"]) == protocol
    for subject in ("trained", "random_network", "pixels", "pixels_pca"):
        assert set(report[subject]["clusterers"]) == set(CLUSTERERS)
    # a baseline's headline is its best clusterer's; the trained network's is the one chosen without labels
    assert report["pixels"]["acc"] == max(scores["acc"] for scores in report["pixels"]["clusterers"].values())
    assert report["trained"]["chosen_by"] == "auto" and report["pixels"]["chosen_by"] == "best"
    assert report["pixels"]["acc"] > 0.5 and report["pixels"]["knn20_top1"] > 0.8  # digits pixels are informative
    chosen = report["network_round"]
    assert chosen in (1, 2) and report["rounds"] == 2
    for plot in ("metric_curves", "cluster_sizes", "embedding", "confusion"):
        assert (data / f"08_reporting/{plot}.png").is_file()

    final = data / "07_model_output/final"
    table = pd.read_parquet(final / "assignments.parquet")
    partition = pd.read_pickle(data / "06_models/partition.pkl")
    assert list(table.columns) == ["image_id", "cluster", partition.score_name, "class_name"] and len(table) == 240
    assert (
        table["cluster"].nunique()
        == partition.k
        == json.loads((data / "08_reporting/resolved_settings.json").read_text())["clustering.groups"]
    )
    pd.testing.assert_frame_equal(
        pd.read_csv(final / "assignments.csv", dtype={"image_id": str, "class_name": str}), table, check_dtype=False
    )
    # the representation: the trunk's 4 x 32 maps on a grid x grid of regions beside the 128 features
    grid = json.loads((data / "08_reporting/resolved_settings.json").read_text())["model.options.small_convnet.grid"]
    assert np.load(final / "features.npy").shape == (240, 4 * 32 * grid**2 + 128)
    # the evaluation scores the partition the user received beside the one at k = classes
    received = report["trained"]["received"]
    assert received["clusterer"] == partition.clusterer and received["k"] == partition.k
    assert latest_run(project).data.tags["final_partition"] == partition.clusterer
    assert torch.load(data / "06_models/backbone.pt", weights_only=True)["round"] == chosen
    assert (data / "08_reporting/cluster_montage.png").is_file()

    assert set(metric_history(project, "clusters_vs_labels/nmi")) == {1, 2}
    assert set(metric_history(project, "training/loss")) == {1, 2}
    assert set(metric_history(project, "network/knn_modularity")) == {1, 2}
    assert set(metric_history(project, "clusters_vs_previous_round/nmi")) == {2}
    assert metric_history(project, "final_trained_acc") == {chosen: pytest.approx(report["trained"]["acc"])}
    assert set(metric_history(project, "final_pixels_pca_ward_acc")) == {chosen}
    assert set(metric_history(project, "final_pixels_linear_top1")) == {chosen}

    run = latest_run(project)
    assert run.info.run_name == "local · deepcluster · sklearn_digits · seed 0"
    assert run.data.params["runtime.seed"] == "0"  # every validated setting, key by key
    assert run.data.params["method.name"] == "deepcluster" and run.data.params["training.lr"] == "0.05"
    assert run.data.params["scan.heads"] == "10" and run.data.params["resolved.kmeans.k"] == "12"
    experiment = MlflowClient().get_experiment(run.info.experiment_id)
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"
    # every per-round metric is in a group, which MLflow's UI shows as a section of charts
    per_round = {name for name in run.data.metrics if not name.startswith("final_")}
    groups = {"clusters_vs_labels", "clusters_vs_previous_round", "clusters", "features"}
    groups |= {"training", "timing", "network"}  # PIC's rounds: no k-means group
    assert {name.split("/")[0] for name in per_round} == groups
    assert {"clusters_vs_labels/acc_one_to_one", "clusters_vs_labels/acc_majority_vote"} <= per_round


def test_an_interrupted_run_resumes_without_redoing_completed_rounds(project_copy):
    project = project_copy(**{**TINY_RUN, "rounds": 3})
    run_session(project)
    data = project / "data"
    round_1 = data / "06_models/checkpoints/round_001.pt.pruned"  # keep_last: 2 pruned round 1
    round_2 = data / "06_models/checkpoints/round_002.pt"
    assert round_1.is_file() and round_2.is_file()
    stamps = {path: path.stat().st_mtime_ns for path in (round_1, round_2)}
    # as if the run had stopped during round 3
    (data / "06_models/checkpoints/round_003.pt").unlink()
    (data / "08_reporting/rounds/round_003/metrics.json").unlink()
    (data / "08_reporting/evaluation.json").unlink()

    run_session(project, only_missing_outputs=True)

    assert {path: path.stat().st_mtime_ns for path in stamps} == stamps
    assert (data / "06_models/checkpoints/round_003.pt").is_file()
    assert (data / "08_reporting/evaluation.json").is_file()
    # the new MLflow run still has every round's metrics
    assert set(metric_history(project, "clusters_vs_labels/nmi")) == {1, 2, 3}

    # stopped after the export: only the evaluation runs again, and the run still logs the model
    # from the files the export wrote before
    (data / "08_reporting/evaluation.json").unlink()
    stamp = (data / "06_models/backbone.pt").stat().st_mtime_ns
    run_session(project, only_missing_outputs=True)
    assert (data / "06_models/backbone.pt").stat().st_mtime_ns == stamp
    run = latest_run(project)
    models = mlflow.search_logged_models(experiment_ids=[run.info.experiment_id], output_format="list")
    assert run.info.run_id in {model.source_run_id for model in models}


def test_rounds_from_params_are_refused_with_the_fix(project_copy):
    project = project_copy(**TINY_RUN)
    bootstrap_project(project)
    with pytest.raises(ValueError, match=r"rounds = 5 for this run, but the pipelines were built with rounds = 2"):
        with KedroSession.create(project_path=project, runtime_params={"rounds": 5}) as session:
            session.run()


@pytest.mark.parametrize("method", ["deepcluster_v2", "swav", "odc"])
def test_each_online_method_runs_logs_and_resumes_in_the_middle_exactly(project_copy, method, monkeypatch):
    # 240 images at 64 a step: 4 steps a pass, two passes a round
    monkeypatch.setattr(base, "MIN_STEPS", 8)
    online = {**TINY_RUN, "rounds": 3, "method": {"name": method}}
    project = project_copy(**online)
    run_session(project)
    data = project / "data"
    checkpoint = data / "06_models/checkpoints/round_003.pt"
    uninterrupted = torch.load(checkpoint, weights_only=False)
    assert uninterrupted["method"] == method and uninterrupted["format"] == 3
    assert uninterrupted["step"] == 3 * 8
    assert set(metric_history(project, "training/loss")) == {1, 2, 3}
    assert (data / "08_reporting/evaluation.json").is_file()
    # as if the run had stopped during round 3
    checkpoint.unlink()
    (data / "08_reporting/rounds/round_003/metrics.json").unlink()
    run_session(project, only_missing_outputs=True)
    resumed = torch.load(checkpoint, weights_only=False)
    for name, value in uninterrupted["method_state"].items():
        torch.testing.assert_close(resumed["method_state"][name], value, msg=name)
    for name, value in uninterrupted["model_state"].items():
        torch.testing.assert_close(resumed["model_state"][name], value, msg=name)
    assert set(metric_history(project, "training/loss")) == {1, 2, 3}


def test_a_checkpoint_of_another_method_is_refused_with_the_way_out(project_copy):
    project = project_copy(**{**TINY_RUN, "rounds": 2})
    run_session(project)
    (project / "data/06_models/checkpoints/round_002.pt").unlink()
    project_copy(**{**TINY_RUN, "rounds": 2, "method": {"name": "swav"}})
    with pytest.raises(ValueError, match=r"made by deepcluster, not by method.name = 'swav'.*start a new run"):
        run_session(project, only_missing_outputs=True)


@pytest.mark.parametrize("method", ["deepcluster", "swav"])
def test_scan_rounds_follow_any_method_log_and_resume_exactly(project_copy, method, monkeypatch):
    monkeypatch.setattr(base, "MIN_STEPS", 0)
    settings_ = {**TINY_RUN, "rounds": 3, "scan": {"rounds": 1}, "clustering": {"groups": 10}}
    project = project_copy(**settings_, method={"name": method})
    run_session(project)
    data = project / "data"
    checkpoint = data / "06_models/checkpoints/round_003.pt"
    uninterrupted = torch.load(checkpoint, weights_only=False)
    assert uninterrupted["method"] == "deepcluster"  # a DeepCluster epoch, after any method
    assignments = pd.read_parquet(data / "07_model_output/rounds/round_003/assignments.parquet")
    assert list(assignments.columns) == ["cluster", "confidence"]
    assert assignments["cluster"].between(0, 9).all() and assignments["confidence"].between(0.1, 1.0).all()
    round_3 = json.loads((data / "08_reporting/rounds/round_003/metrics.json").read_text())
    assert {"scan/loss", "scan/confident_fraction", "timing/scan_seconds"} <= set(round_3)
    assert set(metric_history(project, "scan/loss")) == {3}
    assert set(metric_history(project, "training/loss")) == {1, 2, 3}
    # as if the run had stopped during round 3
    checkpoint.unlink()
    (data / "08_reporting/rounds/round_003/metrics.json").unlink()
    run_session(project, only_missing_outputs=True)
    resumed = torch.load(checkpoint, weights_only=False)
    for name, value in uninterrupted["model_state"].items():
        torch.testing.assert_close(resumed["model_state"][name], value, msg=name)


def test_an_unlabelled_folder_gets_label_free_figures_for_every_subject_and_two_rounds_run(project_copy, tmp_path):
    images = distinct_images(classes=8, per_class=15, size=12)
    folder = tmp_path / "photos"
    folder.mkdir()
    for i, pixels in enumerate(images.pixels):
        Image.fromarray(pixels[0]).convert("RGB").save(folder / f"{i:03d}.png")  # grey, saved as RGB
    data = {"source": "folder", "path": str(folder), "workers": 0}
    # the defaults of a new user, but smaller: two rounds, whose SCAN rounds share is then none
    small = {key: TINY_RUN[key] for key in ("pca",)}
    project = project_copy(rounds=2, data=data, **small)
    run_session(project)
    resolved = json.loads((project / "data/08_reporting/resolved_settings.json").read_text())
    assert resolved["data.channels"] == 1 and resolved["scan.rounds"] == 0
    assert resolved["clustering.groups"] == 8  # estimated from the pixels alone
    report = json.loads((project / "data/08_reporting/evaluation.json").read_text())
    for subject in ("trained", "random_network", "pixels", "pixels_pca"):
        figures = report[subject]
        assert "acc" not in figures and figures["communities"] >= 1 and 0 < figures["knn_modularity"] <= 1
    for subject in ("random_network", "pixels", "pixels_pca"):
        assert set(report[subject]["clusterers"]) == set(CLUSTERERS)
        assert all(scores["criterion"] > 0 for scores in report[subject]["clusterers"].values())
    run = latest_run(project)
    # the trained network's partition is the user's, not made again
    assert report["trained"]["received"] == {"clusterer": run.data.tags["final_partition"], "k": 8}
    assert run.data.tags["compared_by"] == "knn_modularity"
    assert run.data.tags["below_baselines"] != "unscored (no labels)"
    table = pd.read_parquet(project / "data/07_model_output/final/assignments.parquet")
    assert table["cluster"].nunique() == 8 and table["class_name"].isna().all()
    page = (project / "data/08_reporting/report.html").read_text()  # the report, without its labelled parts
    assert "id='outliers'" in page and "clusters against classes" not in page and "<th>acc</th>" not in page
