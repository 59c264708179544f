"""What DeepCluster-v2 and SwAV share: backbone -> projection head -> prototypes, trained on multi-crop views."""

from __future__ import annotations

import torch
from torch import nn

from deepcluster.augment import MultiCrop
from deepcluster.heads import ProjectionHead, Prototypes
from deepcluster.models import DeepClusterNet


class OnlineMethod(nn.Module):
    """The parts and the lifecycle of a method that trains on several views per image.

    Subclasses set ``name`` and implement ``training_step``; ``start_round`` and
    ``end_round`` default to nothing. What a checkpoint must keep beyond the weights
    (a memory bank, a queue) is registered as buffers, so ``state_dict`` holds it all.
    """

    name = ""

    def __init__(
        self,
        backbone: DeepClusterNet,
        projection_dims: tuple[int, int],
        prototype_counts: list[int],
        views: MultiCrop,
        temperature: float = 0.1,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.backbone = backbone
        # the same seed always gives the same heads, without touching the caller's random state
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.projection = ProjectionHead(backbone.feature_dim, *projection_dims)
            self.prototypes = Prototypes(projection_dims[1], prototype_counts)
        self.views = views
        self.temperature = temperature

    @property
    def n_large_views(self) -> int:
        return self.views.groups[0].count

    def project(self, views: list[torch.Tensor], forward=None) -> list[torch.Tensor]:
        """L2-normalised projections of each view; views of one size go through the network together."""
        forward = forward or self.backbone
        projections: list[torch.Tensor] = []
        start = 0
        for group in self.views.groups:
            if start >= len(views):  # only the large views were made
                break
            batch = torch.cat(views[start : start + group.count])
            projections.extend(self.projection(forward(batch)).float().chunk(group.count))
            start += group.count
        return projections

    def start_round(self, targets=None) -> dict[str, float]:
        """Take the round's targets (computed before the epoch); returns what to log."""
        return {}

    def training_step(self, views: list[torch.Tensor], indices: torch.Tensor, step: int, forward=None) -> torch.Tensor:
        raise NotImplementedError

    def before_optimizer_step(self, step: int) -> None:
        """Called between backward and the optimiser's step."""

    def end_round(self) -> dict[str, float]:
        return {}
