"""`kedro viz build` works, shows every round as a collapsible modular pipeline, and the assign pipeline."""

import json
import subprocess
import sys

from tests.conftest import TINY_RUN


def test_viz_build_shows_the_rounds(project_copy):
    project = project_copy(**{**TINY_RUN, "rounds": 11})
    subprocess.run(
        [sys.executable, "-m", "kedro", "viz", "build"], cwd=project, check=True, capture_output=True, timeout=300
    )
    main = json.loads((project / "build" / "api" / "main").read_text())
    rounds = sorted(name for name in main["modular_pipelines"] if name.startswith("round_"))
    # listed by name, round 10 comes after round 9 (not after round 1)
    assert rounds == [f"round_{r:03d}" for r in range(12)]
    assert "assign" in [pipeline["id"] for pipeline in main["pipelines"]]
    assign = json.loads((project / "build" / "api" / "pipelines" / "assign").read_text())
    assert [n["name"] for n in assign["nodes"] if n["type"] == "task"] == [
        "read_new_images", "assign_images", "draw_new_arrivals",
    ]  # fmt: skip
