"""Using a trained run: `kedro run --pipeline assign` on new images, the MLflow model every run logs,
loaded in a fresh process and served over HTTP. One small training run on a folder serves every test."""

import base64
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pandas as pd
import pytest
from mlflow import MlflowClient
from PIL import Image

from deepcluster.pipelines.assign.nodes import read_new_images
from deepcluster.pipelines.scratch import scratch_project
from tests.conftest import PROJECT_ROOT, TINY_RUN, distinct_images, settings
from tests.test_run import latest_run, run_session

COPIED = ["005.png", "030.png", "070.png"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A two-round run on 72 images of 6 planted groups; ``new`` holds copies of three of them, one
    larger colour version of a fourth and a truncated file."""
    root = tmp_path_factory.mktemp("trained")
    training, new = root / "training", root / "new"
    training.mkdir()
    new.mkdir()
    for i, pixels in enumerate(distinct_images(classes=6, per_class=12, size=12).pixels):
        Image.fromarray(pixels[0]).save(training / f"{i:03d}.png")
    for name in COPIED:
        shutil.copy(training / name, new / name)
    with Image.open(training / "040.png") as image:
        image.convert("RGB").resize((36, 36)).save(new / "040_larger.png")
    (new / "truncated.png").write_bytes((training / "041.png").read_bytes()[:40])
    parameters = {key: TINY_RUN[key] for key in ("pca",)}
    parameters |= {
        "rounds": 2,
        "data": {"source": "folder", "path": str(training), "workers": 0},
        "assign": {"folder": str(new)},
        "export": {"registered_model_name": "planted_groups"},
    }
    project = scratch_project(PROJECT_ROOT, root / "project", parameters)
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(project)
        run_session(project)
        assert not (project / "data/07_model_output/assign").exists()  # a plain `kedro run` trains only
        run_session(project, pipeline_names=["assign"])
    exported = pd.read_parquet(project / "data/07_model_output/final/assignments.parquet").set_index("image_id")
    return {"project": project, "training": training, "exported": exported}


def test_new_images_get_the_runs_clusters_and_their_originals_as_top_matches(trained):
    project, training, exported = trained["project"], trained["training"], trained["exported"]
    placed = pd.read_parquet(project / "data/07_model_output/assign/assignments.parquet")
    placed = placed.set_index(placed["image_id"].str.rsplit("/", n=1).str[-1])
    assert sorted(placed.index) == sorted([*COPIED, "040_larger.png"])
    for name in COPIED:
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


def model_uri(project) -> str:
    """The model the training run logged (the assign run came after it and logs none)."""
    latest_run(project)  # MLflow pointed at the project's database
    experiment = MlflowClient().get_experiment_by_name("deepcluster")
    first = MlflowClient().search_runs([experiment.experiment_id], order_by=["attributes.start_time ASC"])[0]
    return f"runs:/{first.info.run_id}/clusterer"


def test_the_logged_model_predicts_in_a_fresh_process_as_the_run_assigned(trained):
    project, exported = trained["project"], trained["exported"]
    script = (  # the run's model and its registered version, each predicting the same request
        "import sys, mlflow, pandas as pd\n"
        f"mlflow.set_tracking_uri('sqlite:///{project / 'mlflow.db'}')\n"
        "paths = pd.read_json(sys.stdin)\n"
        "for uri in sys.argv[1:]:\n"
        "    print(mlflow.pyfunc.load_model(uri).predict(paths).to_json(orient='records'))\n"
    )
    requests = pd.DataFrame({"path": list(exported.index)})
    finished = subprocess.run(
        [sys.executable, "-c", script, model_uri(project), "models:/planted_groups/1"],
        input=requests.to_json(),
        capture_output=True,
        text=True,
        timeout=300,
        cwd=project.parent,  # not the project: nothing but the model's own artifacts and code
        env={**os.environ, "CUDA_VISIBLE_DEVICES": ""},
    )
    assert finished.returncode == 0, finished.stderr[-3000:]
    answers = [line for line in finished.stdout.splitlines() if line.startswith("[{")]
    assert len(answers) == 2 and answers[0] == answers[1]
    predicted = pd.read_json(io.StringIO(answers[0]))
    score = "distance" if "distance" in exported else "confidence"
    assert list(predicted.columns) == ["cluster", score, "error"] and predicted["error"].isna().all()
    agreement = (predicted["cluster"].to_numpy() == exported["cluster"].to_numpy()).mean()
    assert agreement >= 0.95, agreement  # a training image placed by the partition's rule for new points


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def post(port: int, rows: list[list[str]]) -> tuple[int, dict]:
    """A request of encoded images to the served model: the HTTP status and the JSON answer."""
    body = json.dumps({"dataframe_split": {"columns": ["image"], "data": rows}}).encode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/invocations", data=body, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as refused:
        return refused.code, json.loads(refused.read())


def test_mlflow_models_serve_answers_each_row_of_a_request_with_encoded_images(trained):
    project, training, exported = trained["project"], trained["training"], trained["exported"]
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "models", "serve", "-m", model_uri(project),
         "--env-manager", "local", "-h", "127.0.0.1", "-p", str(port)],
        env={
            **os.environ,
            "MLFLOW_TRACKING_URI": f"sqlite:///{project / 'mlflow.db'}",
            # mlflow starts `uvicorn` by name: this environment's, as in an activated environment
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # the server and its workers, stopped together
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 180
        while True:
            assert server.poll() is None, server.communicate()[0][-3000:]
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=5) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(1)
        names = ["005.png", "070.png"]
        encoded = [[base64.b64encode((training / name).read_bytes()).decode()] for name in names]
        not_an_image = [base64.b64encode(b"plain text").decode()]
        status, answer = post(port, [encoded[0], not_an_image, encoded[1]])
        assert status == 200, answer
        predictions = answer["predictions"]
        assert [row["cluster"] for row in predictions] == [
            exported.loc[str(training / names[0]), "cluster"], -1, exported.loc[str(training / names[1]), "cluster"]
        ]  # fmt: skip
        assert predictions[0]["error"] is None
        assert predictions[1]["error"].startswith("request row 1 cannot be used as an image: cannot decode")
        # no usable row: refused, with the project's reason as the response's message
        status, answer = post(port, [not_an_image])
        assert status == 400 and "no request row can be used as an image: request row 0" in answer["message"]
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=60)
