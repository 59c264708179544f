"""DeepCluster-v2 (the SwAV repository's main_deepclusterv2.py): k-means on a memory bank of last
epoch's projections, centroids copied into fixed prototypes, cross-entropy on the assignments."""

from __future__ import annotations

from typing import Any

import torch

from deepcluster.augment import MultiCrop
from deepcluster.kmeans import spherical_kmeans
from deepcluster.losses import assignment_loss
from deepcluster.methods.base import OnlineMethod
from deepcluster.models import DeepClusterNet


class DeepClusterV2(OnlineMethod):
    """Several heads, each with its own k; the memory bank holds each large view's last projection.

    Round r's targets come from spherical k-means on the projections written during
    round r - 1 (head h clusters the bank of large view h mod the number of large
    views). In the first round the bank is still empty: ``fill_memory_bank`` runs
    one pass over the images first, as the reference's ``init_memory`` does.
    """

    name = "deepcluster_v2"

    def __init__(
        self,
        backbone: DeepClusterNet,
        projection_dims: tuple[int, int],
        prototype_counts: list[int],
        views: MultiCrop,
        n_images: int,
        temperature: float = 0.1,
        kmeans_iterations: int = 10,
        seed: int = 0,
    ) -> None:
        super().__init__(backbone, projection_dims, prototype_counts, views, temperature, seed)
        self.prototypes.requires_grad_(False)  # copied from the centroids, never trained
        self.kmeans_iterations = kmeans_iterations
        self.seed = seed
        self.register_buffer("memory_bank", torch.zeros(self.n_large_views, n_images, projection_dims[1]))
        self.register_buffer("bank_filled", torch.zeros(n_images, dtype=torch.bool))
        self.register_buffer("assignments", torch.full((len(prototype_counts), n_images), -1, dtype=torch.int64))

    def start_round(self, round_number: int) -> dict[str, float]:
        """Spherical k-means per head on the memory bank; centroids become the prototypes."""
        if not bool(self.bank_filled.all()):
            raise RuntimeError("the memory bank is not filled: call fill_memory_bank before the first round")
        centroids, summary = [], {}
        for head, k in enumerate(self.prototypes.counts):
            bank = self.memory_bank[head % self.n_large_views]
            result = spherical_kmeans(
                bank, k, n_iter=self.kmeans_iterations, seed=self.seed * 1000 + round_number * 10 + head
            )
            self.assignments[head] = result.assignments
            centroids.append(result.centroids)
            summary[f"head{head}_empty_clusters"] = float(result.n_empty)
        self.prototypes.load_centroids_(centroids)
        return summary

    @torch.no_grad()
    def remember(self, projections: list[torch.Tensor], indices: torch.Tensor) -> None:
        for view in range(self.n_large_views):
            self.memory_bank[view, indices] = projections[view].detach().to(self.memory_bank.dtype)
        self.bank_filled[indices] = True

    def training_step(self, views: list[torch.Tensor], indices: torch.Tensor, step: int, forward=None) -> torch.Tensor:
        projections = self.project(views, forward)
        self.remember(projections, indices)
        scores = [self.prototypes(p) for p in projections]
        return assignment_loss(scores, [a[indices] for a in self.assignments], self.temperature)

    def method_state(self) -> dict[str, Any]:
        return {"memory_bank": self.memory_bank.cpu(), "bank_filled": self.bank_filled.cpu()}

    def load_method_state(self, state: dict[str, Any]) -> None:
        self.memory_bank.copy_(state["memory_bank"])
        self.bank_filled.copy_(state["bank_filled"])
