"""`kedro viz build` works and shows every round as a collapsible modular pipeline."""

import json
import subprocess
import sys

from tests.conftest import TINY_RUN


def test_viz_build_shows_the_rounds(project_copy):
    project = project_copy(**{**TINY_RUN, "rounds": 3})
    subprocess.run(
        [sys.executable, "-m", "kedro", "viz", "build"], cwd=project, check=True, capture_output=True, timeout=300
    )
    main = json.loads((project / "build" / "api" / "main").read_text())
    assert {"round_0", "round_1", "round_2", "round_3"} <= set(main["modular_pipelines"])
    assert "round_4" not in main["modular_pipelines"]
