import json

import pandas as pd
import pytest

from deepcluster.pipelines import round_name
from deepcluster.pipelines.plain_runner import dotted_override, load_parameters, merge, run
from tests.conftest import PROJECT_ROOT, TINY_RUN
from tests.test_run import run_session


def test_merge_and_overrides():
    assert merge({"a": {"b": 1, "c": 2}, "d": 3}, {"a": {"b": 5}}) == {"a": {"b": 5, "c": 2}, "d": 3}
    assert dotted_override("kmeans.k=100") == {"kmeans": {"k": 100}}
    assert dotted_override("data.path=[a, b]") == {"data": {"path": ["a", "b"]}}
    parameters = load_parameters(PROJECT_ROOT / "conf", None, {"kmeans": {"k": 7}})
    assert parameters["kmeans"] == {"k": 7} and parameters["pca"] == {"dim": 64}
    with pytest.raises(ValueError, match="no parameters"):
        load_parameters(PROJECT_ROOT / "conf", "no_such_env")


def flat(figures: dict) -> dict:
    """Nested figures (one block per clusterer) as one level, for pytest.approx."""
    return pd.json_normalize(figures, sep="/").iloc[0].to_dict()


def test_gives_the_same_results_as_kedro_run(project_copy):
    project = project_copy(**TINY_RUN)
    run_session(project)
    plain = run(load_parameters(project / "conf", "local"), log=lambda _: None)
    kedro_report = json.loads((project / "data/08_reporting/evaluation.json").read_text())
    for subject in ("trained", "pixels"):
        plain_figures, kedro_figures = (flat(report[subject]) for report in (plain["report"], kedro_report))
        assert plain_figures == pytest.approx(kedro_figures)
    for r, metrics in enumerate(plain["rounds"], start=1):
        kedro_round = json.loads((project / f"data/08_reporting/rounds/{round_name(r)}/metrics.json").read_text())
        for name in ("clusters_vs_labels/nmi", "training/loss", "network/knn_modularity"):
            assert metrics[name] == pytest.approx(kedro_round[name])
