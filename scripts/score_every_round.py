"""Every round's network of kept runs, scored as the final evaluation would score it, beside label-free signals
that could choose the round: which signal picks the round whose partition is best?

    python scripts/score_every_round.py /tmp/wkeep/deepcluster_v2/digits_seed{0,1,2}{,_2processes}

Each argument is a finished run's scratch project whose checkpoints were all kept (``keep_last`` raised in
conf/base/catalog.yml of the checkout it ran from). For every round from 1 it extracts the network's
representation (what the export and the evaluation use), and prints:
- ``acc``: the evaluation's k = classes partition by SCAN's head (``clustering.scan`` settings, the run's
  resolved neighbours, fit seed 0), against the labels;
- ``logged``: the signal the run logged and chose by (``network/knn_modularity``, Louvain with the run's seed);
- ``louvain3``: the same modularity averaged over Louvain seeds 0, 1 and 2 (Louvain's own noise averaged out);
- ``kmeans_groups``: the modularity, on the 10-NN graph that ``clustering.final: auto`` uses, of k-means
  into the run's estimated groups (``clustering.groups``): how cleanly the features split into that many.
Each run ends with the round each signal would choose (the highest; ties to the later round) and that round's
ACC, against the best ACC of any round (``best``, which reads the labels). Runs named ``<name>_2processes``
are paired with ``<name>`` in the same folder (the method's); a last table per method gives each rule's mean
ACC with one process and with two over the pairs, and the difference.
"""

from __future__ import annotations

import argparse
import json
import pickle
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from deepcluster.clustering.clusterers import CRITERION_NEIGHBOURS, KMeansClusterer  # noqa: E402
from deepcluster.clustering.graph import communities, knn_graph, modularity  # noqa: E402
from deepcluster.config import check_parameters  # noqa: E402
from deepcluster.data import ImageCollection  # noqa: E402
from deepcluster.evaluation import SIGNAL_NEIGHBOURS, clustering_points, signal_sample  # noqa: E402
from deepcluster.metrics import hungarian_accuracy  # noqa: E402
from deepcluster.pipelines.plain_runner import load_parameters, merge  # noqa: E402
from deepcluster.run import RunContext  # noqa: E402
from deepcluster.training import features_under  # noqa: E402

SIGNALS = ("logged", "louvain3", "kmeans_groups")
TWO_PROCESSES = "_2processes"


def run_of(project: Path) -> tuple[RunContext, ImageCollection]:
    """The finished run's context (its settings as resolved) and its ingested images."""
    data = project / "data"
    own = load_parameters(Path(__file__).resolve().parents[1] / "conf")
    parameters = check_parameters(merge(own, load_parameters(project / "conf", "local")))
    resolved = json.loads((data / "08_reporting" / "resolved_settings.json").read_text())
    return RunContext.create(parameters, resolved), pickle.loads((data / "02_intermediate" / "images.pkl").read_bytes())


def checkpoint_features(path: Path, run: RunContext, images: ImageCollection) -> torch.Tensor:
    """Every image's representation (what the export and the evaluation use) under the checkpoint at ``path``."""
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    return features_under(checkpoint, images, run, 256, representation=True)


def score_rounds(project: Path) -> pd.DataFrame:
    """One row per kept round of ``project``: its ACC and every signal."""
    data = project / "data"
    run, images = run_of(project)
    parameters, resolved = run.parameters, run.resolved
    labels = pd.factorize(pd.read_parquet(data / "02_intermediate" / "image_index.parquet")["class_name"])[0]
    k = int(labels.max()) + 1
    head = parameters.clustering.clusterers(run.block("scan"), ["scan"])["scan"]
    sample = signal_sample(len(images), run.seed)
    rows = []
    for path in sorted((data / "06_models" / "checkpoints").glob("round_*.pt")):
        number = int(path.stem.removeprefix("round_"))
        if number == 0:
            continue
        features = checkpoint_features(path, run, images)
        points = clustering_points(features)
        sampled = features[torch.as_tensor(sample)]
        graph = knn_graph(points, CRITERION_NEIGHBOURS)
        groups = KMeansClusterer().fit(points, resolved["clustering.groups"], run.seed)
        metrics = json.loads((data / "08_reporting" / "rounds" / path.stem / "metrics.json").read_text())
        rows.append({
            "round": number,
            "acc": hungarian_accuracy(labels, head.fit(points, k, 0).assignments),
            "logged": metrics["network/knn_modularity"],
            "louvain3": float(np.mean([communities(sampled, SIGNAL_NEIGHBOURS, seed).modularity for seed in range(3)])),
            "kmeans_groups": modularity(graph, groups.assignments),
        })  # fmt: skip
    if not rows:
        raise SystemExit(f"{project}: no round's checkpoint is kept; raise keep_last and run again")
    return pd.DataFrame(rows).set_index("round")


def rounds_chosen(table: pd.DataFrame) -> dict[str, tuple[int, float]]:
    """The round each signal chooses (the highest; a tie goes to the later round) with its ACC, and the best
    round by ACC itself (``best``)."""
    chosen = {signal: int(table[signal][::-1].idxmax()) for signal in SIGNALS} | {"best": int(table["acc"].idxmax())}
    return {rule: (number, float(table.loc[number, "acc"])) for rule, number in chosen.items()}


def one_against_two(chosen_acc: dict[Path, dict[str, float]]) -> dict[str, pd.DataFrame]:
    """Per method (the runs' folder), each rule's mean ACC over the runs ``<name>`` that have a
    ``<name>_2processes`` beside them, with one process and with two, and the difference."""
    pairs = [(one, two) for two in chosen_acc for one in chosen_acc if two == one.with_name(one.name + TWO_PROCESSES)]
    tables = {}
    for method in sorted({one.parent.name for one, _ in pairs}):
        paired = [(one, two) for one, two in pairs if one.parent.name == method]
        means = pd.DataFrame({
            "1 process": pd.DataFrame([chosen_acc[one] for one, _ in paired]).mean(),
            "2 processes": pd.DataFrame([chosen_acc[two] for _, two in paired]).mean(),
        })  # fmt: skip
        means["difference"] = means["2 processes"] - means["1 process"]
        tables[f"{method}: mean ACC of the round each rule chooses, over {len(paired)} seeds"] = means
    return tables


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("projects", nargs="+", type=Path)
    args = parser.parse_args()
    chosen_acc = {}
    for project in args.projects:
        table = score_rounds(project)
        print(f"## {project}")
        print(table.round(4).to_string())
        chosen = rounds_chosen(table)
        for signal in SIGNALS:
            print(f"{signal} chooses round {chosen[signal][0]}: ACC {chosen[signal][1]:.3f}")
        print(f"best round by ACC: {chosen['best'][0]} ({chosen['best'][1]:.3f})\n", flush=True)
        chosen_acc[project] = {rule: acc for rule, (_, acc) in chosen.items()}
    for title, means in one_against_two(chosen_acc).items():
        print(title)
        print(means.round(4).to_string())


if __name__ == "__main__":
    main()
