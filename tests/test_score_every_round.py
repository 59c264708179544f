"""scripts/score_every_round.py: which round each rule chooses, and one process against two per method."""

import importlib.util
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import PROJECT_ROOT

spec = importlib.util.spec_from_file_location("score_every_round", PROJECT_ROOT / "scripts" / "score_every_round.py")
score = importlib.util.module_from_spec(spec)
spec.loader.exec_module(score)


def test_each_signal_chooses_its_highest_round_and_a_tie_goes_to_the_later():
    table = pd.DataFrame(
        {
            "acc": [0.90, 0.97, 0.93],
            "logged": [0.80, 0.85, 0.85],
            "louvain3": [0.86, 0.85, 0.84],
            "kmeans_groups": [0.70, 0.71, 0.72],
        },
        index=pd.Index([1, 2, 3], name="round"),
    )
    assert score.rounds_chosen(table) == {
        "logged": (3, 0.93),
        "louvain3": (1, 0.90),
        "kmeans_groups": (3, 0.93),
        "best": (2, 0.97),
    }


def test_runs_pair_within_their_method_only():
    # both methods have runs called digits_seed1: a SwAV run must not pair with DeepCluster-v2's
    runs = {
        Path("/w/deepcluster_v2/digits_seed0"): 0.98,
        Path("/w/deepcluster_v2/digits_seed0_2processes"): 0.96,
        Path("/w/deepcluster_v2/digits_seed1"): 0.94,
        Path("/w/deepcluster_v2/digits_seed1_2processes"): 0.90,
        Path("/w/deepcluster_v2/digits_seed2"): 0.97,  # no two-process run: left out
        Path("/w/swav/digits_seed1"): 0.80,
        Path("/w/swav/digits_seed1_2processes"): 0.95,
    }
    tables = score.one_against_two({path: {"logged": acc} for path, acc in runs.items()})
    assert list(tables) == [
        "deepcluster_v2: mean ACC of the round each rule chooses, over 2 seeds",
        "swav: mean ACC of the round each rule chooses, over 1 seeds",
    ]
    v2 = tables["deepcluster_v2: mean ACC of the round each rule chooses, over 2 seeds"].loc["logged"]
    assert v2.to_dict() == pytest.approx({"1 process": 0.96, "2 processes": 0.93, "difference": -0.03})
    swav = tables["swav: mean ACC of the round each rule chooses, over 1 seeds"].loc["logged"]
    assert swav["difference"] == pytest.approx(0.15)
