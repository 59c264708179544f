"""SwAV (Caron et al. 2020): trainable prototypes, balanced codes from Sinkhorn-Knopp on the large
views, each view's code predicted from the other views."""

from __future__ import annotations

from typing import Any

import pandas as pd
import torch

from deepcluster.data.augment import MultiCrop
from deepcluster.distributed.processes import world_size
from deepcluster.methods.base import OnlineMethod, online_settings
from deepcluster.methods.losses import sinkhorn, swapped_prediction_loss
from deepcluster.models import DeepClusterNet
from deepcluster.run import RunContext

EPSILON = 0.05  # Sinkhorn's entropic regularisation (SwAV's)
SINKHORN_ITERATIONS = 3
FREEZE_PROTOTYPES_STEPS = 100  # the prototypes stay fixed for the run's first steps


class SwAV(OnlineMethod):
    """One head of trainable, unit-norm prototypes.

    The prototypes stay frozen for the first ``freeze_prototypes_steps`` steps (their
    gradient is dropped), which keeps them from collapsing while the network is still
    random. ``assignments`` keeps each image's prototype from the epoch, for the
    round's metrics. With ``queue_length`` > 0, the projections of the last ``queue_length``
    large views join Sinkhorn's problem, so that small batches still spread evenly. The
    queue is global, as the batch is: each of N processes keeps ``queue_length // N`` rows
    of its own share, and Sinkhorn's sums run over every process's rows.
    """

    name = "swav"
    per_image_buffers = ("assignments",)

    def __init__(
        self,
        backbone: DeepClusterNet,
        projection_dims: tuple[int, int],
        prototype_count: int,
        views: MultiCrop,
        n_images: int,
        temperature: float = 0.1,
        epsilon: float = 0.05,
        sinkhorn_iterations: int = 3,
        freeze_prototypes_steps: int = 0,
        queue_length: int = 0,
        seed: int = 0,
    ) -> None:
        super().__init__(backbone, projection_dims, [prototype_count], views, temperature, seed)
        self.epsilon = epsilon
        self.sinkhorn_iterations = sinkhorn_iterations
        self.freeze_prototypes_steps = freeze_prototypes_steps
        rows = queue_length // world_size()
        self.register_buffer("queue", torch.zeros(self.n_large_views, rows, projection_dims[1]))
        self.register_buffer("queue_filled", torch.zeros((), dtype=torch.int64))
        # each image's prototype (highest score of its first large view) when it was last seen
        self.register_buffer("assignments", torch.full((1, n_images), -1, dtype=torch.int64))

    @classmethod
    def create(
        cls, backbone: DeepClusterNet, run: RunContext, n_images: int, config: dict[str, Any] | None = None
    ) -> SwAV:
        shared = online_settings(run)
        return cls(
            backbone, shared["projection_dims"], cls.prototype_counts(run, config)[0], shared["views"], n_images,
            shared["temperature"], EPSILON, SINKHORN_ITERATIONS, FREEZE_PROTOTYPES_STEPS, seed=shared["seed"],
        )  # fmt: skip

    def cluster_table(self, targets: None) -> pd.DataFrame:
        """Each image's highest prototype when it was last seen (SwAV makes its targets inside the epoch)."""
        return pd.DataFrame({"cluster": self.assignments[0].cpu().numpy()})

    def codes(self, scores: torch.Tensor, view: int) -> torch.Tensor:
        """Sinkhorn codes of one large view's scores, with the queue's scores in the problem when it is full."""
        queue = self.queue[view]
        if queue.shape[0] and int(self.queue_filled) >= queue.shape[0]:
            with torch.no_grad():
                queued = self.prototypes(queue)[0]
            return sinkhorn(torch.cat([queued, scores]), self.epsilon, self.sinkhorn_iterations)[-scores.shape[0] :]
        return sinkhorn(scores, self.epsilon, self.sinkhorn_iterations)

    @torch.no_grad()
    def enqueue(self, projections: list[torch.Tensor]) -> None:
        length = self.queue.shape[1]
        if not length:
            return
        batch = projections[0].shape[0]
        for view in range(self.n_large_views):
            self.queue[view] = torch.cat([projections[view].detach(), self.queue[view]])[:length]
        self.queue_filled += batch

    def training_step(self, views: list[torch.Tensor], indices: torch.Tensor, step: int, forward=None) -> torch.Tensor:
        self.prototypes.normalise_()
        projections = self.project(views, forward)
        scores = [self.prototypes(p)[0] for p in projections]
        self.assignments[0, indices] = scores[0].detach().argmax(dim=1)
        self.mark_written(indices, self.assignments.shape[1])
        codes = [self.codes(scores[view].detach(), view) for view in range(self.n_large_views)]
        self.enqueue(projections)
        return swapped_prediction_loss(scores, codes, self.temperature)

    def before_optimizer_step(self, step: int) -> None:
        if step < self.freeze_prototypes_steps:
            for parameter in self.prototypes.parameters():
                parameter.grad = None
