"""The final partition: the one function that makes the partition a user receives (k = ``clustering.groups``)
and every partition the evaluation scores (k = the number of classes), on the same points with the same seed.

With ``clustering.final: auto`` every registered clusterer is fitted and the label-free rule of
``choose_partition`` picks one; with a fixed clusterer that one is the answer (and the evaluation may still
fit every clusterer, to score each).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from deepcluster.blocks import AUTO
from deepcluster.clustering.clusterers import CLUSTERERS, Choice, choose_partition
from deepcluster.distributed.processes import from_main_process

if TYPE_CHECKING:
    from deepcluster.run import RunContext

SEED_STAGE = "final_partition"


def final_partition(points: torch.Tensor, k: int, run: RunContext, every_candidate: bool = False) -> Choice:
    """``k`` clusters of ``points`` (at most one per point) by ``clustering.final``, or by the label-free choice
    among every registered clusterer; ``every_candidate`` fits every clusterer beside a fixed ``final`` too."""
    final = run.parameters.clustering.final
    fixed = None if final == AUTO else final
    names = list(CLUSTERERS) if fixed is None or every_candidate else [fixed]
    clusterers = {name: CLUSTERERS[name].for_run(run.resolved) for name in names}
    seed = run.seed_for(0, SEED_STAGE)
    k = min(k, points.shape[0])
    # one process clusters (faiss and SCAN's head may sum in any order), every process gets its answer
    return from_main_process(lambda: choose_partition(points, k, clusterers, seed, fixed=fixed))
