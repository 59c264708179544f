"""scripts/trace_misplaced_group.py: the largest group of one class in another class's cluster, traced over rounds."""

import importlib.util
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from tests.conftest import PROJECT_ROOT

SCRIPT = PROJECT_ROOT / "scripts" / "trace_misplaced_group.py"
spec = importlib.util.spec_from_file_location("trace_misplaced_group", SCRIPT)
trace = importlib.util.module_from_spec(spec)
spec.loader.exec_module(trace)


def _planted() -> pd.DataFrame:
    """Classes 4 and 7 (100 images each) and 1 (50): 30 sevens sit in the fours' cluster, 5 ones in the sevens'."""
    classes = np.array(["4"] * 100 + ["7"] * 100 + ["1"] * 50)
    clusters = np.array([2] * 100 + [2] * 30 + [0] * 70 + [1] * 45 + [0] * 5)
    return pd.DataFrame({"image_id": np.arange(250).astype(str), "cluster": clusters, "class_name": classes})


def test_the_largest_misplaced_group_is_found_by_the_one_to_one_match():
    rows, name, cluster, cluster_class = trace.largest_misplaced_group(_planted(), None)
    assert (name, cluster, cluster_class) == ("7", 2, "4")
    np.testing.assert_array_equal(rows, np.arange(100, 130))
    rows, name, cluster, cluster_class = trace.largest_misplaced_group(_planted(), "1")
    assert (len(rows), name, cluster, cluster_class) == (5, "1", 0, "7")
    with pytest.raises(SystemExit, match="--class 9: no such class; the classes are 1, 4, 7"):
        trace.largest_misplaced_group(_planted(), "9")


def test_each_round_names_the_cluster_that_held_the_group(tmp_path):
    output = tmp_path / "data" / "07_model_output"
    (output / "final").mkdir(parents=True)
    _planted().to_parquet(output / "final" / "assignments.parquet")
    # round 1: the 30 sevens are a cluster of their own; round 2: they are with the other sevens
    rounds = {1: [0] * 100 + [3] * 30 + [1] * 70 + [2] * 50, 2: [0] * 100 + [1] * 100 + [2] * 50}
    for number, clusters in rounds.items():
        folder = output / "rounds" / f"round_{number:03d}"
        folder.mkdir(parents=True)
        pd.DataFrame({"cluster": clusters}).to_parquet(folder / "assignments.parquet")
    printed = subprocess.run([sys.executable, SCRIPT, tmp_path], capture_output=True, text=True, check=True).stdout
    assert printed.splitlines() == [
        "30 of the 100 images of class 7 are in final cluster 2 (class 4)",
        "the first of them (image_id): " + " ".join(str(i) for i in range(100, 112)),
        "round_001: 30 of the group in cluster 3, which holds 30 of class 7",
        "round_002: 30 of the group in cluster 1, which holds 100 of class 7",
    ]


def test_neighbour_classes_count_the_nearest_images_outside_the_group():
    # directions on the circle, three images each: class a near 0 degrees (and one far, at 180), class b near
    # 90; the group, three directions of class a near 80, has b's twelve images nearest outside it
    angles = np.deg2rad(np.repeat([0, 2, 4, 180, 88, 90, 92, 94, 78, 80, 82], 3))
    points = np.stack([np.cos(angles), np.sin(angles)], axis=1)
    classes = np.repeat(["a"] * 4 + ["b"] * 4 + ["a"] * 3, 3)
    counts = trace.neighbour_classes(points, classes, np.arange(24, 33))
    assert counts.to_dict() == {"b": 9 * trace.NEIGHBOURS}
    # the group at 0-4 degrees instead: ten of the 21 images outside are a's nine nearest and one of b's
    counts = trace.neighbour_classes(points, classes, np.arange(0, 9))
    assert counts.to_dict() == {"a": 9 * 9, "b": 9}


def test_a_round_whose_checkpoint_is_pruned_is_named(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "score_every_round", type(sys)("score_every_round"))
    sys.modules["score_every_round"].run_of = lambda project: (None, [0] * 4)
    sys.modules["score_every_round"].checkpoint_features = None
    with pytest.raises(SystemExit, match=r"--neighbours 3: .*round_003.pt is not kept; raise keep_last"):
        trace.print_neighbours(tmp_path, [3], np.array(["a"] * 4), np.array([0]))
