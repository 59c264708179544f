"""Check in a real browser that MLflow's UI shows the project's runs readably.

Makes two tiny runs (seeds 0 and 1, 3 rounds, 300 digits) into one SQLite database in
a scratch copy of the project (scripts/kedro_run_with.py, then ``kedro run --params``
there), starts ``mlflow server`` on 127.0.0.1 with that database, and in Chromium checks:

1. the experiment opens on its runs, named after what they are, once "Model training" is
   picked in MLflow's GenAI / Model training switch (3.17 opens every experiment on its
   GenAI pages until then), and directly from a link with ``?workflowType=machine_learning``;
2. the two runs compare side by side (select both, Compare), and a per-round metric's link
   there draws one curve per run;
3. the runs' chart view groups the per-round metrics by their prefix and draws their curves;
4. a run's report (``report.html``) opens in its artifact view, every cluster's section and image shown.

Three screenshots (compare.png, charts.png, report.png) go to --screenshots; the exit status is 1 if
a check fails. Needs the ``test`` extra (playwright) and a Chromium binary (Debian:
``apt-get install chromium``; playwright's own browsers are not used):

    .venv/bin/pip install -c constraints.txt -e ".[test]"
    .venv/bin/python scripts/check_mlflow_ui.py --project-dir /tmp/mlflow_ui_check
"""

from __future__ import annotations

import argparse
import io
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TINY = {
    "rounds": 3,
    "data.image_size": 8,
    "data.max_images": 300,
    "model.name": "small_convnet",
    "pca.dim": 16,
    "kmeans.k": 12,
    "training.batch_size": 64,
}
SEEDS = (0, 1)
EXPECTED_NAMES = [f"local · deepcluster · sklearn_digits · seed {seed}" for seed in SEEDS]
CURVE = "clusters_vs_labels/acc_one_to_one"
# per-round metric groups and how many metrics each holds on labelled data
GROUPS = {
    "clusters_vs_labels": 4,
    "clusters_vs_previous_round": 1,
    "clusters": 6,
    "features": 3,
    "network": 2,
    "training": 5,
    "timing": 4,
}


def make_runs(project: Path) -> None:
    """Two tiny runs, one per seed, logged to ``project/mlflow.db``."""
    settings = [f"--set={key}={value}" for key, value in TINY.items()]
    subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "kedro_run_with.py"), "--project-dir", str(project), *settings]
        + [f"--set=runtime.seed={SEEDS[0]}"],
        check=True,
    )
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "1"}
    for seed in SEEDS[1:]:
        command = [sys.executable, "-m", "kedro", "run", "--params", f"runtime.seed={seed}"]
        subprocess.run(command, cwd=project, check=True, env=env)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(database: Path, port: int, log: Path) -> subprocess.Popen:
    """``mlflow server`` in its own process group, so that stopping it stops its workers too."""
    command = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", f"sqlite:///{database}"]
    command += ["--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    server = subprocess.Popen(command, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as response:
                if response.status == 200:
                    return server
        except OSError:
            time.sleep(1)
        if server.poll() is not None:
            break
    stop_server(server)
    raise RuntimeError(f"mlflow server did not come up on port {port}; see {log}")


def stop_server(server: subprocess.Popen) -> None:
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


def experiment_and_runs(database: Path) -> tuple[str, dict[str, str]]:
    """The experiment's id and its runs' ids by name, read from the database directly."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{database}")
    experiment = client.get_experiment_by_name("deepcluster")
    runs = client.search_runs([experiment.experiment_id])
    return experiment.experiment_id, {run.info.run_name: run.info.run_id for run in runs}


class Checks:
    def __init__(self) -> None:
        self.failed: list[str] = []

    def __call__(self, condition: bool, what: str) -> None:
        print(("ok    " if condition else "FAILED ") + what, flush=True)
        if not condition:
            self.failed.append(what)


def visible(page, texts: list[str]) -> bool:
    """Whether every text shows on the page within 20 s."""
    try:
        for text in texts:
            page.get_by_text(text, exact=True).first.wait_for(state="visible", timeout=20_000)
    except Exception:  # playwright's TimeoutError
        return False
    return True


def charts_drawn(page, charts: int) -> bool:
    """Whether the page draws ``charts`` plotly charts, each with a line per run, within 60 s."""
    every_chart_drawn = """([charts, runs]) => {
        const plots = [...document.querySelectorAll(".js-plotly-plot")];
        return plots.length >= charts && plots.every(p => p.querySelectorAll(".scatterlayer .trace").length >= runs);
    }"""
    try:
        page.wait_for_function(every_chart_drawn, arg=[charts, len(SEEDS)], timeout=60_000)
    except Exception:  # playwright's TimeoutError
        return False
    return True


def screenshot(page, path: Path) -> None:
    """The page as a 64-colour PNG: the UI is flat colours, and the file a third of the size."""
    from PIL import Image

    Image.open(io.BytesIO(page.screenshot())).convert("RGB").quantize(64).save(path, optimize=True)


def close_assistant(page) -> None:
    """Close MLflow's assistant panel, which takes a third of the width, if it is open."""
    close = page.get_by_role("button", name="Close", exact=True)
    if close.count():
        close.last.click()


def check_ui(base: str, experiment_id: str, run_id: str, chromium: str, screenshots: Path, check: Checks) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=["--headless", "--no-sandbox"])

        def fresh_page():
            """A page in a new browser context: no remembered GenAI / Model training choice."""
            page = browser.new_context(viewport={"width": 1440, "height": 900}).new_page()
            page.set_default_timeout(30_000)
            return page

        # a link that says which view it wants opens the runs at once
        page = fresh_page()
        page.goto(f"{base}/#/experiments/{experiment_id}?workflowType=machine_learning")
        page.wait_for_url("**/runs?*")
        check(visible(page, EXPECTED_NAMES), "?workflowType=machine_learning opens the experiment on its named runs")
        page.context.close()

        # a first-time user's plain link, then the switch
        page = fresh_page()
        page.goto(f"{base}/#/experiments/{experiment_id}")
        page.wait_for_url("**/experiments/*/**")
        print(f"      a fresh browser opens #/experiments/{experiment_id} at #{page.url.split('#')[1]}")
        try:  # the GenAI overview's first-visit tip covers the page until dismissed
            page.get_by_role("button", name="Got it").click(timeout=10_000)
        except Exception:  # playwright's TimeoutError: no tip this time
            pass
        page.get_by_text("Model training", exact=True).first.click()
        page.wait_for_url("**/runs?*")
        check(visible(page, EXPECTED_NAMES), "'Model training' opens the experiment on its named runs")
        close_assistant(page)

        # select both runs and compare them
        for name in EXPECTED_NAMES:
            page.get_by_role("row").filter(has_text=name).get_by_role("checkbox").first.check()
        page.get_by_role("button", name="Compare").first.click()
        page.wait_for_url("**/compare-runs?*")
        metric = page.get_by_role("link", name=CURVE, exact=True)
        check(visible(page, EXPECTED_NAMES) and metric.count() == 1, f"Compare shows both runs and {CURVE}")
        page.locator(".js-plotly-plot").first.wait_for(timeout=60_000)  # the parallel-coordinates plot
        page.get_by_text("Run Name:", exact=True).scroll_into_view_if_needed()
        page.wait_for_timeout(1_000)  # lets the plot finish drawing
        screenshot(page, screenshots / "compare.png")

        # the compared runs' curve of a per-round metric
        metric.click()
        page.wait_for_url("**/metric?*")
        check(charts_drawn(page, 1) and visible(page, [CURVE]), f"{CURVE} is drawn per round for both runs")

        # the chart view: one section per group of per-round metrics
        page = fresh_page()
        page.goto(f"{base}/#/experiments/{experiment_id}/runs?workflowType=machine_learning&compareRunsMode=CHART")
        headers = page.locator('[data-testid="experiment-view-compare-runs-section-header"]')
        headers.first.wait_for()
        close_assistant(page)
        sections = dict(re.match(r"\s*(.+?)\s*\((\d+)\)", text).groups() for text in headers.all_inner_texts())
        print(f"      chart sections (charts): {sections}")
        wanted = {group: str(size) for group, size in GROUPS.items()}
        check(wanted.items() <= sections.items(), f"the chart view has a section per metric group: {wanted}")
        page.get_by_placeholder("Search metric charts").fill("clusters_vs_labels/")
        only_the_group = """() => [...document.querySelectorAll("h4[title]")].every(
            title => title.title.startsWith("clusters_vs_labels/"))"""
        page.wait_for_function(only_the_group, timeout=60_000)  # the filter applies after a pause
        drawn = charts_drawn(page, GROUPS["clusters_vs_labels"]) and page.locator(f'h4[title="{CURVE}"]').is_visible()
        check(drawn, f"the chart view draws the clusters_vs_labels curves, {CURVE} among them, for both runs")
        screenshot(page, screenshots / "charts.png")

        # the run's report in its artifact view (MLflow shows an HTML artifact in a frame)
        page = fresh_page()
        page.goto(f"{base}/#/experiments/{experiment_id}/runs/{run_id}/artifacts?workflowType=machine_learning")
        close_assistant(page)
        page.get_by_text("report.html", exact=True).first.click()
        report = page.frame_locator("iframe").first
        try:
            report.locator("#clusters").wait_for(timeout=60_000)
            close_assistant(page)
            sections = report.locator("section.cluster").count()
            images = report.locator("img").evaluate_all("images => images.filter(i => i.naturalWidth > 0).length")
            total = report.locator("img").count()
        except Exception:  # playwright's TimeoutError: no frame, or no report in it
            sections, images, total = 0, 0, -1
        print(f"      the report's frame: {sections} cluster sections, {images} of {total} images drawn")
        check(sections > 0 and images == total, "the run's report.html opens in its artifact view, every image drawn")
        screenshot(page, screenshots / "report.png")
        browser.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--project-dir", type=Path, required=True, help="scratch project copy (replaced)")
    parser.add_argument("--reuse", action="store_true", help="use the runs already in --project-dir")
    parser.add_argument("--screenshots", type=Path, default=ROOT / "docs" / "benchmarks" / "mlflow_ui")
    parser.add_argument("--chromium", default="/usr/bin/chromium", help="the browser binary playwright drives")
    args = parser.parse_args()
    project = args.project_dir.resolve()
    database = project / "mlflow.db"
    if not (args.reuse and database.is_file()):
        make_runs(project)
    experiment_id, runs = experiment_and_runs(database)
    check = Checks()
    names = sorted(runs)
    check(names == EXPECTED_NAMES, f"the runs are named {EXPECTED_NAMES} (found {names})")
    args.screenshots.mkdir(parents=True, exist_ok=True)
    port = free_port()
    server = start_server(database, port, project / "mlflow_server.log")
    try:
        run_id = runs[names[0]]
        check_ui(f"http://127.0.0.1:{port}", experiment_id, run_id, args.chromium, args.screenshots, check)
    finally:
        stop_server(server)
    print(f"{len(check.failed)} check(s) failed" if check.failed else "every check passed")
    return 1 if check.failed else 0


if __name__ == "__main__":
    sys.exit(main())
