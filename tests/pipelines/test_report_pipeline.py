"""What a user looks at after a run: the HTML report in a real browser, the outlier and duplicate tables, and
`kedro run --pipeline organise`. One small run on faces of the shared umist collection, with a planted copy
and a truncated file, serves every test."""

import hashlib
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml
from mlflow import MlflowClient
from PIL import Image

from deepcluster.pipelines.scratch import scratch_project, write_parameters
from tests.conftest import PROJECT_ROOT
from tests.test_run import latest_run, run_session

UMIST = PROJECT_ROOT.parent / "shared" / "datasets" / "collections" / "umist"
PEOPLE, PER_PERSON = 4, 16
CHROMIUM = "/usr/bin/chromium"


def checksums(folder: Path) -> dict[str, str]:
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def reported(tmp_path_factory):
    """Two rounds on 64 faces of 4 people; person_01's first face again, smaller and as JPEG (a near-copy),
    and a truncated PNG."""
    if not UMIST.is_dir():
        pytest.fail(f"{UMIST} is missing: the shared datasets must lie beside this clone")
    root = tmp_path_factory.mktemp("reported")
    faces = root / "faces"
    for person in sorted(UMIST.iterdir())[:PEOPLE]:
        (faces / person.name).mkdir(parents=True)
        for path in sorted(person.glob("*.png"))[:PER_PERSON]:
            shutil.copy(path, faces / person.name / path.name)
    original = sorted((faces / "person_01").glob("*.png"))[0]
    copy = original.with_name(f"{original.stem}_copy.jpg")
    with Image.open(original) as image:
        image.resize((24, 24), Image.Resampling.LANCZOS).save(copy, quality=90)
    truncated = faces / "person_02" / "truncated.png"
    truncated.write_bytes(original.read_bytes()[:60])
    parameters = {
        "rounds": 2,
        "data": {"source": "folder", "path": str(faces), "workers": 0},
        "pca": {"dim": 16},
        "scan": {"rounds": 0},
    }
    project = scratch_project(PROJECT_ROOT, root / "project", parameters)
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(project)
        run_session(project)
    return {
        "project": project,
        "faces": faces,
        "original": str(original),
        "copy": str(copy),
        "truncated": str(truncated),
    }


def test_the_report_opens_in_a_browser_with_every_cluster_the_outliers_and_the_planted_copy(reported):
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).is_file():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium), as .ci/run does")
    project = reported["project"]
    assignments = pd.read_parquet(project / "data/07_model_output/final/assignments.parquet")
    report = project / "data/08_reporting/report.html"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        page = browser.new_page()
        page.goto(report.as_uri())
        sections = page.eval_on_selector_all("section.cluster", "nodes => nodes.map(n => n.id)")
        assert sorted(sections) == sorted(f"cluster-{c}" for c in assignments["cluster"].unique())
        assert page.locator("#outliers img").count() > 0
        groups = page.eval_on_selector_all(
            "section.group", "nodes => nodes.map(n => Array.from(n.querySelectorAll('img')).map(i => i.title))"
        )
        assert any({reported["original"], reported["copy"]} <= set(group) for group in groups), groups
        broken = page.evaluate("Array.from(document.images).filter(i => !i.complete || i.naturalWidth === 0).length")
        assert page.evaluate("document.images.length") > 0 and broken == 0
        assert reported["truncated"] in page.locator("#skipped").inner_text()
        browser.close()


def test_the_tables_hold_every_image_and_the_report_is_logged_to_the_run(reported):
    project = reported["project"]
    outliers = pd.read_parquet(project / "data/08_reporting/report/outliers.parquet")
    duplicates = pd.read_parquet(project / "data/08_reporting/report/duplicates.parquet")
    assert len(outliers) == PEOPLE * PER_PERSON + 1 and outliers["rank"].tolist() == list(range(1, len(outliers) + 1))
    pairs = pd.read_parquet(project / "data/08_reporting/report/duplicate_pairs.parquet")
    assert {(reported["original"], reported["copy"])} <= set(zip(pairs["first_id"], pairs["second_id"]))
    group = duplicates.loc[duplicates["image_id"] == reported["copy"], "group"].item()
    assert reported["original"] in set(duplicates.loc[duplicates["group"] == group, "image_id"])
    run = latest_run(project)  # and MLflow's tracking URI set to the project's
    assert "report.html" in {artifact.path for artifact in MlflowClient().list_artifacts(run.info.run_id)}


def test_organise_links_each_cluster_and_leaves_the_originals_untouched(reported):
    project, faces = reported["project"], reported["faces"]
    before = checksums(faces)
    target = project.parent / "by_cluster"
    parameters = yaml.safe_load((project / "conf/local/parameters.yml").read_text())
    write_parameters(project, parameters | {"organise": {"folder": str(target), "mode": "link"}})
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(project)
        run_session(project, pipeline_names=["organise"])
        assignments = pd.read_parquet(project / "data/07_model_output/final/assignments.parquet")
        for image_id, cluster in zip(assignments["image_id"], assignments["cluster"], strict=True):
            link = target / f"cluster_{cluster}" / Path(image_id).relative_to(faces)
            assert link.is_symlink() and link.resolve() == Path(image_id).resolve()
        assert checksums(faces) == before
        with pytest.raises(ValueError, match=r"organise.folder = .* already holds files"):
            run_session(project, pipeline_names=["organise"])
