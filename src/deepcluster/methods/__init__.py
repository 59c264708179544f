"""Clustering methods as small classes with one lifecycle per round.

A method holds the backbone and whatever it trains beside it (a fresh head,
projection head, prototypes, memory bank, queue) and answers three steps:
``start_round`` (the round's targets: k-means pseudo-labels, k-means on the memory
bank, or nothing), ``training_step`` (the loss on one batch of views) and
``end_round`` (what to log). ``train_round`` in ``deepcluster.methods.epoch`` is the
one round that drives every method: the Kedro nodes, the plain runner and the
benchmarks all go through it.
"""

from deepcluster.methods.base import Method, OnlineMethod
from deepcluster.methods.deepcluster import DeepCluster, PseudoLabels
from deepcluster.methods.deepcluster_v2 import BankClustering, DeepClusterV2, cluster_memory_bank
from deepcluster.methods.epoch import EpochPlan, fill_memory_bank, train_round
from deepcluster.methods.swav import SwAV

__all__ = [
    "BankClustering",
    "DeepCluster",
    "DeepClusterV2",
    "EpochPlan",
    "Method",
    "OnlineMethod",
    "PseudoLabels",
    "SwAV",
    "cluster_memory_bank",
    "fill_memory_bank",
    "train_round",
]
