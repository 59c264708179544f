"""End-to-end Kedro sessions on a tiny copy of the default run (digits, 240 images, 2 rounds)."""

import json

import mlflow
import numpy as np
import pandas as pd
import pytest
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project
from mlflow import MlflowClient

from tests.conftest import TINY_RUN


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


def metric_history(project, name):
    mlflow.set_tracking_uri(f"sqlite:///{project / 'mlflow.db'}")
    client = MlflowClient()
    experiment = client.get_experiment_by_name("deepcluster")
    run = client.search_runs([experiment.experiment_id], order_by=["attributes.start_time DESC"])[0]
    return {m.step: m.value for m in client.get_metric_history(run.info.run_id, name)}


def test_two_rounds_write_the_catalog_and_log_metrics_per_round(project_copy):
    project = project_copy(**TINY_RUN)
    run_session(project)
    data = project / "data"
    for r in (1, 2):
        assignments = pd.read_parquet(data / f"07_model_output/rounds/round_{r}/assignments.parquet")
        assert len(assignments) == 240 and assignments["cluster"].between(0, 11).all()
        assert (data / f"06_models/checkpoints/round_{r}.pt").is_file()
        metrics = json.loads((data / f"08_reporting/rounds/round_{r}/metrics.json").read_text())
        assert metrics["round"] == r and 0 <= metrics["nmi_labels"] <= 1
    assert "nmi_previous_round" in json.loads((data / "08_reporting/rounds/round_2/metrics.json").read_text())
    report = json.loads((data / "08_reporting/evaluation.json").read_text())
    protocol = {"acc", "nmi", "ari", "linear_top1", "knn20_top1", "knn200_top1"}
    assert set(report["deepcluster"]) == protocol | {"overclustering_acc"}
    assert set(report["random_network"]) == set(report["pixels"]) == protocol
    assert report["pixels"]["acc"] > 0.5 and report["pixels"]["knn20_top1"] > 0.8  # digits pixels are informative
    for plot in ("metric_curves", "cluster_sizes", "embedding", "confusion"):
        assert (data / f"08_reporting/{plot}.png").is_file()

    final = data / "07_model_output/final"
    table = pd.read_parquet(final / "assignments.parquet")
    assert list(table.columns) == ["image_id", "cluster", "distance", "class_name"] and len(table) == 240
    pd.testing.assert_frame_equal(
        pd.read_csv(final / "assignments.csv", dtype={"image_id": str, "class_name": str}), table, check_dtype=False
    )
    assert np.load(final / "features.npy").shape == (240, 16)
    assert np.load(final / "centroids.npy").shape == (12, 16)
    assert (data / "06_models/backbone.pt").is_file()
    assert (data / "08_reporting/cluster_montage.png").is_file()

    assert set(metric_history(project, "nmi_labels")) == {1, 2}
    assert set(metric_history(project, "train_loss")) == {1, 2}
    assert set(metric_history(project, "nmi_previous_round")) == {2}
    assert metric_history(project, "final_deepcluster_acc") == {2: pytest.approx(report["deepcluster"]["acc"])}
    assert set(metric_history(project, "final_pixels_linear_top1")) == {2}


def test_an_interrupted_run_resumes_without_redoing_completed_rounds(project_copy):
    project = project_copy(**{**TINY_RUN, "rounds": 3})
    run_session(project)
    data = project / "data"
    round_1 = data / "06_models/checkpoints/round_1.pt.pruned"  # keep_last: 2 pruned round 1
    round_2 = data / "06_models/checkpoints/round_2.pt"
    assert round_1.is_file() and round_2.is_file()
    stamps = {path: path.stat().st_mtime_ns for path in (round_1, round_2)}
    # as if the run had stopped during round 3
    (data / "06_models/checkpoints/round_3.pt").unlink()
    (data / "08_reporting/rounds/round_3/metrics.json").unlink()
    (data / "08_reporting/evaluation.json").unlink()

    run_session(project, only_missing_outputs=True)

    assert {path: path.stat().st_mtime_ns for path in stamps} == stamps
    assert (data / "06_models/checkpoints/round_3.pt").is_file()
    assert (data / "08_reporting/evaluation.json").is_file()
    # the new MLflow run still has every round's metrics
    assert set(metric_history(project, "nmi_labels")) == {1, 2, 3}


def test_rounds_from_params_are_refused_with_the_fix(project_copy):
    project = project_copy(**TINY_RUN)
    bootstrap_project(project)
    with pytest.raises(ValueError, match=r"rounds = 5 for this run, but the pipelines were built with rounds = 2"):
        with KedroSession.create(project_path=project, runtime_params={"rounds": 5}) as session:
            session.run()
