"""Clustering methods as small classes with one lifecycle per round.

A method holds the backbone and whatever it trains beside it (projection head,
prototypes, memory bank, queue) and answers three steps: ``start_round`` (the
round's targets: k-means on the memory bank, or nothing), ``training_step`` (the
loss on one batch of views) and ``end_round`` (what to log). ``train_epoch`` in
``deepcluster.methods.epoch`` is the one loop that drives every method.
"""

from deepcluster.methods.base import OnlineMethod
from deepcluster.methods.deepcluster_v2 import BankClustering, DeepClusterV2, cluster_memory_bank
from deepcluster.methods.epoch import EpochPlan, fill_memory_bank, train_epoch
from deepcluster.methods.swav import SwAV

__all__ = [
    "BankClustering",
    "DeepClusterV2",
    "EpochPlan",
    "OnlineMethod",
    "SwAV",
    "cluster_memory_bank",
    "fill_memory_bank",
    "train_epoch",
]
