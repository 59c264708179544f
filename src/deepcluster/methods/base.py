"""The lifecycle every method answers (``Method``), and what DeepCluster-v2 and SwAV share beside it:
backbone -> projection head -> prototypes, trained on multi-crop views (``OnlineMethod``)."""

from __future__ import annotations

import torch
from torch import nn

from deepcluster.augment import Augmentation, MultiCrop
from deepcluster.heads import ProjectionHead, Prototypes
from deepcluster.models import DeepClusterNet
from deepcluster.reduce import merge_written


class Method(nn.Module):
    """A backbone, the views it trains on, and one round's lifecycle.

    ``train_round`` (``deepcluster.methods.epoch``) calls ``start_round`` with the round's
    targets, then ``training_step`` and ``before_optimizer_step`` on every batch, then
    ``end_round``. Subclasses set ``name`` and implement ``training_step``. ``views`` makes
    each batch's views (``Augmentation`` or ``MultiCrop``). ``round_optimizers`` are the
    optimisers of what lives for one round only (DeepCluster's fresh head), stepped beside
    the run's optimiser.
    """

    name = ""

    def __init__(self, backbone: DeepClusterNet, views: Augmentation | MultiCrop) -> None:
        super().__init__()
        self.backbone = backbone
        self.views = views

    def start_round(self, targets=None, generator: torch.Generator | None = None) -> dict[str, float]:
        """Take the round's targets (computed before the epoch); returns what to log."""
        return {}

    def training_step(self, views: list[torch.Tensor], indices: torch.Tensor, step: int, forward=None) -> torch.Tensor:
        """The loss on one batch: ``views`` of the images ``indices`` (positions in the collection)."""
        raise NotImplementedError

    def forward(self, views: list[torch.Tensor], indices: torch.Tensor, step: int, forward=None) -> torch.Tensor:
        # DistributedDataParallel averages the gradients of what its wrapped module's forward computes
        return self.training_step(views, indices, step, forward)

    def round_optimizers(self) -> list[torch.optim.Optimizer]:
        return []

    def before_optimizer_step(self, step: int) -> None:
        """Called between backward and the optimisers' steps."""

    def end_round(self) -> dict[str, float]:
        """Drop what lives for one round; returns what to log."""
        return {}


class OnlineMethod(Method):
    """A method that trains a projection head and prototypes beside the backbone, on several views.

    What a checkpoint must keep beyond the weights (a memory bank, a queue) is
    registered as buffers, so ``state_dict`` holds it all. ``per_image_buffers`` names
    the buffers with one entry per image along dimension 1, which each process writes
    for its own images; ``share_across_processes`` gives every process all of them.
    """

    per_image_buffers: tuple[str, ...] = ()

    def __init__(
        self,
        backbone: DeepClusterNet,
        projection_dims: tuple[int, int],
        prototype_counts: list[int],
        views: MultiCrop,
        temperature: float = 0.1,
        seed: int = 0,
    ) -> None:
        super().__init__(backbone, views)
        # the same seed always gives the same heads, without touching the caller's random state
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.projection = ProjectionHead(backbone.feature_dim, *projection_dims)
            self.prototypes = Prototypes(projection_dims[1], prototype_counts)
        self.temperature = temperature
        self._written = torch.zeros(0, dtype=torch.bool)

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

    def mark_written(self, indices: torch.Tensor, n_images: int) -> None:
        """Remember which images this process wrote per-image buffers for, since the last sharing."""
        if self._written.shape[0] != n_images or self._written.device != indices.device:
            self._written = torch.zeros(n_images, dtype=torch.bool, device=indices.device)
        self._written[indices] = True

    def share_across_processes(self) -> None:
        """Every process's entries of the per-image buffers, on every process (nothing in one process)."""
        if self._written.numel():
            for name in self.per_image_buffers:
                merge_written(getattr(self, name), self._written, dim=1)
            self._written.zero_()

    def end_round(self) -> dict[str, float]:
        self.share_across_processes()
        return {}
