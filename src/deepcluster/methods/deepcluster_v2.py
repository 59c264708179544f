"""DeepCluster-v2 (the SwAV repository's main_deepclusterv2.py): k-means on a memory bank of last
epoch's projections, centroids copied into fixed prototypes, cross-entropy on the assignments."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import pandas as pd
import torch

from deepcluster.clustering.kmeans import check_k, spherical_kmeans
from deepcluster.data.augment import MultiCrop
from deepcluster.data.collection import ImageCollection
from deepcluster.distributed.batch_norm import GLOBAL_BATCH_NORM
from deepcluster.distributed.processes import shard
from deepcluster.distributed.reduce import all_gather_rows, all_reduce_max
from deepcluster.methods.base import OnlineMethod, Step, online_settings
from deepcluster.methods.epoch import fill_memory_bank
from deepcluster.methods.losses import assignment_loss
from deepcluster.models import DeepClusterNet
from deepcluster.run import RunContext

KMEANS_ITERATIONS = 10  # the memory bank's k-means per round (the reference's)


@dataclass
class BankClustering:
    """Spherical k-means of the memory bank, one result per head."""

    assignments: torch.Tensor  # (heads, n) int64
    centroids: list[torch.Tensor]  # (k_h, d) per head, unit norm
    n_empty: list[int]


def cluster_memory_bank(
    memory_bank: torch.Tensor, counts: list[int], n_iter: int, seeds: list[int], fresh: torch.Tensor | None = None
) -> BankClustering:
    """Head h clusters the bank of large view h mod the number of large views into counts[h] groups.

    Only the ``fresh`` rows (a bool per image: written since the last clustering; default
    all) take part; the others, whose projections are stale, get cluster -1, which the
    loss ignores, as in the SwAV repository. Every process holds the whole bank: each
    clusters its share of the fresh rows (the sums go through ``all_reduce_sum``) from the
    same starting rows, and every process gets every assignment.
    """
    n = memory_bank.shape[1]
    fresh = torch.ones(n, dtype=torch.bool, device=memory_bank.device) if fresh is None else fresh
    rows = torch.nonzero(fresh).flatten()
    mine = rows[shard(rows.numel())]
    assignments, centroids, n_empty = [], [], []
    for head, (k, seed) in enumerate(zip(counts, seeds, strict=True)):
        check_k(k, rows.numel())
        bank = memory_bank[head % memory_bank.shape[0]]
        start = rows[torch.randperm(rows.numel(), generator=torch.Generator().manual_seed(seed))[:k].to(rows.device)]
        result = spherical_kmeans(bank[mine], k, n_iter=n_iter, init_centroids=bank[start])
        every = torch.full((n,), -1, dtype=torch.int64, device=memory_bank.device)
        every[rows] = all_gather_rows(result.assignments)
        assignments.append(every)
        centroids.append(result.centroids)
        n_empty.append(result.n_empty)
    return BankClustering(torch.stack(assignments), centroids, n_empty)


class DeepClusterV2(OnlineMethod):
    """Several heads, each with its own k; the memory bank holds each large view's last projection.

    Round r's targets come from ``cluster_memory_bank`` on the projections written
    during round r - 1 (``bank_filled``: the images written since the last clustering;
    the rest are left out of it). In the first round the bank is still empty:
    ``fill_memory_bank`` runs one pass over the images first, as the reference's
    ``init_memory`` does.
    """

    name = "deepcluster_v2"
    heads = 3  # three heads of kmeans.k prototypes each, as the reference's three k's
    per_image_buffers = ("memory_bank",)

    def __init__(
        self,
        backbone: DeepClusterNet,
        projection_dims: tuple[int, int],
        prototype_counts: list[int],
        views: MultiCrop,
        n_images: int,
        temperature: float = 0.1,
        seed: int = 0,
    ) -> None:
        super().__init__(backbone, projection_dims, prototype_counts, views, temperature, seed)
        self.prototypes.requires_grad_(False)  # copied from the centroids, never trained
        self.register_buffer("memory_bank", torch.zeros(self.n_large_views, n_images, projection_dims[1]))
        self.register_buffer("bank_filled", torch.zeros(n_images, dtype=torch.bool))
        self.register_buffer("assignments", torch.full((len(prototype_counts), n_images), -1, dtype=torch.int64))

    @classmethod
    def create(
        cls, backbone: DeepClusterNet, run: RunContext, n_images: int, config: dict[str, Any] | None = None
    ) -> DeepClusterV2:
        settings = online_settings(run)
        counts = cls.prototype_counts(run, config)
        return cls(backbone, settings["projection_dims"], counts, settings["views"], n_images,
                   settings["temperature"], settings["seed"])  # fmt: skip

    def cluster_table(self, targets: BankClustering) -> pd.DataFrame:
        return pd.DataFrame({"cluster": self.assignments[0].cpu().numpy()})

    def start_round(
        self, targets: BankClustering | None = None, generator: torch.Generator | None = None
    ) -> dict[str, float]:
        """Take the round's k-means result: every image's cluster per head, centroids as prototypes."""
        if targets is None:
            raise ValueError("DeepCluster-v2 starts a round from cluster_memory_bank's result")
        self.assignments.copy_(targets.assignments)
        self.prototypes.load_centroids_(targets.centroids)
        self.bank_filled.zero_()  # the round writes the rows the next clustering will use
        return {f"head{h}_empty_clusters": float(n) for h, n in enumerate(targets.n_empty)}

    @torch.no_grad()
    def remember(self, projections: list[torch.Tensor], indices: torch.Tensor) -> None:
        for view in range(self.n_large_views):
            self.memory_bank[view, indices] = projections[view].detach().to(self.memory_bank.dtype)
        self.bank_filled[indices] = True
        self.mark_written(indices, self.bank_filled.shape[0])

    def share_across_processes(self) -> None:
        all_reduce_max(self.bank_filled)
        super().share_across_processes()

    def training_step(self, views: list[torch.Tensor], indices: torch.Tensor, step: int, forward=None) -> torch.Tensor:
        projections = self.project(views, forward)
        self.remember(projections, indices)
        scores = [self.prototypes(p) for p in projections]
        return assignment_loss(scores, [a[indices] for a in self.assignments], self.temperature)


def gather_memory_bank(
    previous_checkpoint: dict[str, Any], images: ImageCollection, run: RunContext, *, round_number: int
) -> dict[str, torch.Tensor]:
    """The memory bank as the last round left it, on the device, with the images written since the last
    clustering (``bank_filled``); in the first round, when it is still empty, filled by one pass of the
    untrained method over the images."""
    DeepClusterV2.check_made_by(previous_checkpoint)
    state, device = previous_checkpoint["method_state"], run.execution.device
    if bool(state["bank_filled"].any()):  # no method to build: the bank is in the checkpoint
        return {"bank": state["memory_bank"].to(device), "fresh": state["bank_filled"].to(device)}
    method, _ = DeepClusterV2.restore(previous_checkpoint, run, len(images))
    generator = torch.Generator().manual_seed(run.seed_for(round_number, "memory_bank"))
    fill_memory_bank(method, images, run.resolved["training.batch_size"], run.execution, generator, GLOBAL_BATCH_NORM)
    return {"bank": method.memory_bank, "fresh": method.bank_filled}


def cluster_bank(
    memory_bank: dict[str, torch.Tensor], run: RunContext, *, round_number: int
) -> tuple[BankClustering, dict[str, float]]:
    """Spherical k-means of the bank's fresh rows for every head (as many clusters as it has prototypes),
    with this round's seeds."""
    started = time.perf_counter()
    counts = run.resolved["method.prototypes"]
    seeds = [run.seed_for(round_number, f"kmeans_head_{head}") for head in range(len(counts))]
    clustering = cluster_memory_bank(memory_bank["bank"], counts, KMEANS_ITERATIONS, seeds, memory_bank["fresh"])
    summary = {f"kmeans/head{h}_empty_clusters": float(n) for h, n in enumerate(clustering.n_empty)}
    summary["timing/kmeans_seconds"] = time.perf_counter() - started
    return clustering, summary


DeepClusterV2.round_steps = (
    Step(gather_memory_bank, ("previous_checkpoint", "images", "run_context"), ("memory_bank",), "gather_memory_bank"),
    Step(cluster_bank, ("memory_bank", "run_context"), ("targets", "clustering_summary"), "cluster_memory_bank"),
)
