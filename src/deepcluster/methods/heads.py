"""What DeepCluster-v2 and SwAV put on top of the backbone: a projection head and prototype layers."""

from __future__ import annotations

import torch
from torch import nn


class ProjectionHead(nn.Module):
    """Linear -> batch norm -> ReLU -> linear, with an L2-normalised output (SwAV's projector)."""

    def __init__(self, in_dim: int, hidden_dim: int, out_dim: int) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            nn.Linear(in_dim, hidden_dim),
            nn.BatchNorm1d(hidden_dim),
            nn.ReLU(inplace=True),
            nn.Linear(hidden_dim, out_dim),
        )

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return nn.functional.normalize(self.layers(features), dim=1)


class Prototypes(nn.Module):
    """One bias-free linear layer per head (``counts``: prototypes per head) over the projections.

    ``normalise_`` puts every prototype back on the unit sphere, so that the scores are
    cosine similarities; SwAV calls it before each step, DeepCluster-v2 copies unit-norm
    centroids in with ``load_centroids_``.
    """

    def __init__(self, dim: int, counts: list[int]) -> None:
        super().__init__()
        self.counts = list(counts)
        self.heads = nn.ModuleList(nn.Linear(dim, k, bias=False) for k in counts)
        self.normalise_()

    def forward(self, projections: torch.Tensor) -> list[torch.Tensor]:
        return [head(projections) for head in self.heads]

    @torch.no_grad()
    def normalise_(self) -> None:
        for head in self.heads:
            head.weight.copy_(nn.functional.normalize(head.weight, dim=1))

    @torch.no_grad()
    def load_centroids_(self, centroids: list[torch.Tensor]) -> None:
        for head, head_centroids in zip(self.heads, centroids, strict=True):
            head.weight.copy_(head_centroids)
