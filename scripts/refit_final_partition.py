"""The trained network's k = classes partition by SCAN's head, fitted again with several fit seeds, for runs
that a benchmark kept on disk: how much of a run's ACC is its network, and how much the head's one fit.

    python scripts/refit_final_partition.py /tmp/wproc/*/digits_seed* /tmp/wproc12/*/digits_seed* --fit-seeds 0 1 2 3 4

Each argument is one run's scratch project (``benchmark_processes.py`` and ``benchmark_collections.py`` keep
them under ``--work``). From it: the exported features (``07_model_output/final/features.npy``), the labels
of the image index, the run's own parameters (its conf, over this checkout's for keys it predates) and the
resolved ``scan.neighbours``. The head is the evaluation's (``clustering.scan`` with the scan block's
settings), on the same points. It also prints the round the run chose and every round's label-free signal.
Runs named ``*_2processes`` are paired with their one-process run, and the table ends with each method's
mean difference over the seeds.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from deepcluster.config import check_parameters  # noqa: E402
from deepcluster.evaluation import clustering_points  # noqa: E402
from deepcluster.metrics import hungarian_accuracy  # noqa: E402
from deepcluster.pipelines.plain_runner import load_parameters, merge  # noqa: E402

RUN_NAME = re.compile(r"(?P<collection>.+)_seed(?P<seed>\d+)(_(?P<processes>\d+)processes)?$")


def refit(project: Path, fit_seeds: list[int]) -> dict:
    """One run's SCAN-head ACC for each fit seed, with the round it chose and its rounds' signals."""
    data = project / "data"
    # over this checkout's conf, so that a run made before a key existed still validates
    own = load_parameters(Path(__file__).resolve().parents[1] / "conf")
    parameters = check_parameters(merge(own, load_parameters(project / "conf", "local")))
    resolved = json.loads((data / "08_reporting" / "resolved_settings.json").read_text())
    scan = parameters.scan.model_copy(update={"neighbours": resolved["scan.neighbours"]})
    head = parameters.clustering.clusterers(scan, ["scan"])["scan"]
    labels = pd.factorize(pd.read_parquet(data / "02_intermediate" / "image_index.parquet")["class_name"])[0]
    evaluation = parameters.evaluation.clustering
    features = torch.as_tensor(np.load(data / "07_model_output" / "final" / "features.npy"))
    points = clustering_points(features, evaluation.pca_dim, evaluation.whiten)
    k = int(labels.max()) + 1
    accuracies = [hungarian_accuracy(labels, head.fit(points, k, seed).assignments) for seed in fit_seeds]
    report = json.loads((data / "08_reporting" / "evaluation.json").read_text())
    signals = {
        int(path.parent.name.removeprefix("round_")): json.loads(path.read_text())["network/knn_modularity"]
        for path in sorted((data / "08_reporting" / "rounds").glob("round_*/metrics.json"))
    }
    return {"accuracies": accuracies, "chosen_round": report.get("network_round"), "signals": signals}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("projects", nargs="+", type=Path)
    parser.add_argument("--fit-seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    args = parser.parse_args()
    rows = []
    for project in args.projects:
        if not (project / "data" / "07_model_output" / "final" / "features.npy").is_file():
            print(f"skipped {project}: not a finished run's project (no data/07_model_output/final/features.npy)")
            continue
        match = RUN_NAME.match(project.name)
        result = refit(project, args.fit_seeds)
        accuracies = result["accuracies"]
        signals = " ".join(f"{r}:{value:.3f}" for r, value in result["signals"].items() if r >= 1)
        method = project.parent.name
        # <collection>_seed<N>_<P>processes pairs with <collection>_seed<N>; any other name stands alone
        run = f"{match['collection']}_seed{match['seed']}" if match else project.name
        processes = int(match["processes"] or 1) if match else 1
        print(
            f"{method} {project.name}: SCAN head ACC mean {np.mean(accuracies):.3f} "
            f"(min {min(accuracies):.3f}, max {max(accuracies):.3f}); chosen round {result['chosen_round']}; "
            f"signal by round {signals}",
            flush=True,
        )
        rows.append({"method": method, "run": run, "processes": processes, "acc": np.mean(accuracies)})
    if not rows:
        raise SystemExit("none of the arguments is a finished run's project")
    table = pd.DataFrame(rows).pivot_table(index=["method", "run"], columns="processes", values="acc")
    if table.shape[1] == 2:
        table["difference"] = table.iloc[:, 1] - table.iloc[:, 0]
        print(table.round(3).to_string())
        print("mean over seeds:")
        print(table.groupby(level="method").mean().round(3).to_string())
    else:
        print(table.round(3).to_string())


if __name__ == "__main__":
    main()
