"""The results notebook runs top to bottom on a fresh tiny run."""

import shutil

import nbformat
from nbclient import NotebookClient

from tests.conftest import PROJECT_ROOT, TINY_RUN
from tests.test_run import run_session


def test_results_notebook_executes(project_copy, monkeypatch):
    project = project_copy(**TINY_RUN)
    run_session(project)
    (project / "notebooks").mkdir()
    shutil.copy(PROJECT_ROOT / "notebooks" / "deepcluster_results.ipynb", project / "notebooks")
    monkeypatch.setenv("DEEPCLUSTER_PROJECT", str(project))
    notebook = nbformat.read(project / "notebooks" / "deepcluster_results.ipynb", as_version=4)
    NotebookClient(
        notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(project / "notebooks")}}
    ).execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) >= 5  # curves, sizes, montage, embedding, confusion
    assert any("pixels_pca" in o.get("data", {}).get("text/html", "") for o in outputs)
