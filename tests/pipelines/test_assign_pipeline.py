"""`kedro run --pipeline assign` after a training run: new images placed by what the export saved."""

import json
import shutil

import pandas as pd
import pytest
from PIL import Image

from deepcluster.pipelines.assign.nodes import read_new_images
from tests.conftest import TINY_RUN, distinct_images, settings
from tests.test_run import run_session


def test_new_images_get_the_runs_clusters_and_their_originals_as_top_matches(project_copy, tmp_path):
    images = distinct_images(classes=6, per_class=12, size=12)
    training, new = tmp_path / "training", tmp_path / "new"
    training.mkdir()
    new.mkdir()
    for i, pixels in enumerate(images.pixels):
        Image.fromarray(pixels[0]).save(training / f"{i:03d}.png")
    copied = ["005.png", "030.png", "070.png"]
    for name in copied:
        shutil.copy(training / name, new / name)
    with Image.open(training / "040.png") as image:  # larger and in colour: brought to the run's 12 px grey
        image.convert("RGB").resize((36, 36)).save(new / "040_larger.png")
    (new / "truncated.png").write_bytes((training / "041.png").read_bytes()[:40])
    small = {key: TINY_RUN[key] for key in ("model", "pca", "clustering")}
    data = {"source": "folder", "folder": {"path": str(training), "workers": 0}}
    project = project_copy(rounds=2, data=data, assign={"folder": str(new), "workers": 0}, **small)

    run_session(project)
    assert not (project / "data/07_model_output/assign").exists()  # a plain `kedro run` trains only
    run_session(project, pipeline_names=["assign"])

    exported = pd.read_parquet(project / "data/07_model_output/final/assignments.parquet").set_index("image_id")
    placed = pd.read_parquet(project / "data/07_model_output/assign/assignments.parquet")
    placed["name"] = placed["image_id"].str.rsplit("/", n=1).str[-1]
    placed = placed.set_index("name")
    assert sorted(placed.index) == sorted([*copied, "040_larger.png"])
    for name in copied:
        original = str(training / name)
        assert placed.loc[name, "cluster"] == exported.loc[original, "cluster"]
        assert placed.loc[name, "similar_1"] == original
        assert placed.loc[name, "similarity_1"] == pytest.approx(1.0, abs=1e-5)
    assert {f"similar_{j}" for j in range(1, 6)} <= set(placed.columns)
    assert 0 <= placed.loc["040_larger.png", "cluster"] < exported["cluster"].nunique()
    skipped = pd.read_csv(project / "data/08_reporting/assign/skipped_images.csv")
    assert skipped["path"].str.endswith("truncated.png").tolist() == [True]
    counts = json.loads((project / "data/08_reporting/assign/counts.json").read_text())
    assert counts == {"images_found": 5, "images_used": 4, "images_skipped": 1}
    assert (project / "data/08_reporting/assign/new_arrivals.png").stat().st_size > 0


def test_assign_without_a_folder_says_which_setting_to_set():
    with pytest.raises(ValueError, match=r"assign.folder is not set: .*conf/local/parameters.yml"):
        read_new_images(settings().assign, {})
