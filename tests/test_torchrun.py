"""``torchrun --nproc_per_node=2 -m kedro run`` on this machine's CPU (gloo): one MLflow run, rank 0's
files, resume after the launch is killed, and a failing process ending the launch with its message."""

import os
import subprocess
import sys
import time

import mlflow
import psutil
from mlflow import MlflowClient

from tests.conftest import TINY_RUN
from tests.test_run import latest_run, metric_history

TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]


def launch(project, *arguments: str) -> subprocess.Popen:
    environment = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "1", "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(
        [*TORCHRUN, *arguments],
        cwd=project,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def kill_launch(launched: subprocess.Popen) -> None:
    """SIGKILL to the launcher and every process under it: torchrun starts each worker in a session of
    its own, so killing the launcher's process group would leave the workers running."""
    processes = [psutil.Process(launched.pid), *psutil.Process(launched.pid).children(recursive=True)]
    for process in processes:
        process.kill()
    psutil.wait_procs(processes, timeout=30)
    launched.wait()


def test_a_killed_two_process_launch_resumes_with_one_mlflow_run_per_launch(project_copy):
    project = project_copy(**{**TINY_RUN, "rounds": 3})
    checkpoints = project / "data/06_models/checkpoints"
    first = launch(project, "-m", "kedro", "run")
    deadline = time.monotonic() + 240
    while not (checkpoints / "round_001.pt").exists() and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert first.poll() is None, first.communicate()[0][-3000:]
    kill_launch(first)
    assert not (project / "data/08_reporting/evaluation.json").exists()

    resumed = launch(project, "-m", "kedro", "run", "--only-missing-outputs")
    output, _ = resumed.communicate(timeout=400)
    assert resumed.returncode == 0, output[-3000:]
    assert (project / "data/08_reporting/evaluation.json").is_file()
    assert (checkpoints / "round_003.pt").is_file()
    # one MLflow run per launch (the killed one and the resumed one), not one per process,
    # and the resumed run has every round's metrics
    experiment = latest_run(project).info.experiment_id  # first: it points MLflow at this project's database
    runs = MlflowClient().search_runs([experiment])
    assert len(runs) == 2, [(run.info.run_name, run.info.status) for run in runs]
    assert set(metric_history(project, "clusters_vs_labels/nmi")) == {1, 2, 3}
    assert latest_run(project).data.params["resolved.runtime.processes"] == "2"
    # the clusterer as an MLflow model: logged once, by rank 0 of the launch that finished the run
    models = mlflow.search_logged_models(experiment_ids=[experiment], output_format="list")
    assert [model.source_run_id for model in models] == [latest_run(project).info.run_id]
    assert "round 3:" in output and output.count("round 3:") == 1  # rank 0 alone reports


def test_a_failing_process_ends_the_launch_with_its_message(tmp_path):
    script = tmp_path / "fail_on_rank_one.py"
    script.write_text(
        "import torch\n"
        "from deepcluster.distributed.processes import rank, start_process_group\n"
        "from deepcluster.distributed.reduce import all_reduce_sum\n"
        "start_process_group()\n"
        "if rank() == 1:\n"
        "    raise ValueError('planted failure on rank 1')\n"
        "all_reduce_sum(torch.ones(1))  # rank 0 waits for a partner that is gone\n"
    )
    started = time.monotonic()
    launched = launch(tmp_path, str(script))
    output, _ = launched.communicate(timeout=120)
    assert launched.returncode != 0
    assert "ValueError: planted failure on rank 1" in output
    assert time.monotonic() - started < 60  # ended by the launcher, not by a collective's timeout
