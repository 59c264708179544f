"""Clustering methods, each one module: a small class with one lifecycle per round, and its round's steps.

A method holds the backbone and whatever it trains beside it (a fresh head, projection head, prototypes,
memory bank, queue) and answers: ``start_round`` (the round's targets: k-means pseudo-labels, k-means on
the memory bank, or nothing), ``training_step`` (the loss on one batch of views) and ``end_round`` (what
to log); see ``deepcluster.methods.base.Method`` for the rest of what a method declares. ``train_round``
in ``deepcluster.methods.epoch`` is the one epoch of every method, and ``deepcluster.methods.rounds`` the
one round: the Kedro nodes, the plain runner and the benchmarks all go through them.

Adding a method: one module with its class, and one line in ``METHODS``.
"""

from deepcluster.methods.base import EpochPlan, Method, OnlineMethod, Step
from deepcluster.methods.deepcluster import DeepCluster, PseudoLabels
from deepcluster.methods.deepcluster_v2 import BankClustering, DeepClusterV2, cluster_memory_bank
from deepcluster.methods.epoch import fill_memory_bank, train_round
from deepcluster.methods.odc import ODC
from deepcluster.methods.swav import SwAV

METHODS: dict[str, type[Method]] = {
    "deepcluster": DeepCluster,
    "deepcluster_v2": DeepClusterV2,
    "swav": SwAV,
    "odc": ODC,
}

__all__ = [
    "METHODS",
    "BankClustering",
    "DeepCluster",
    "DeepClusterV2",
    "EpochPlan",
    "Method",
    "ODC",
    "OnlineMethod",
    "PseudoLabels",
    "Step",
    "SwAV",
    "cluster_memory_bank",
    "fill_memory_bank",
    "train_round",
]
