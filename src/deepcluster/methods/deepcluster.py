"""DeepCluster (Caron et al. 2018): a fresh linear head per round learns the round's k-means clusters.

The clusters come from the nodes before training (features -> PCA -> k-means ->
resampling). The head is new every round, with its own momentum-free SGD,
because cluster ids are an arbitrary permutation from one clustering to the next;
the backbone keeps the run's optimiser.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from deepcluster.augment import Augmentation
from deepcluster.methods.base import Method
from deepcluster.models import DeepClusterNet, new_head
from deepcluster.reduce import all_reduce_sum


@dataclass(frozen=True)
class PseudoLabels:
    """The round's k-means result as training targets: every image's cluster, out of ``k``."""

    clusters: np.ndarray
    k: int


class DeepCluster(Method):
    """One view per image (``Augmentation``); cross-entropy of the fresh head on the pseudo-labels."""

    name = "deepcluster"

    def __init__(self, backbone: DeepClusterNet, views: Augmentation, head_weight_decay: float) -> None:
        super().__init__(backbone, views)
        self.head_weight_decay = head_weight_decay
        self.head: torch.nn.Linear | None = None
        self._head_optimizer: torch.optim.SGD | None = None

    def start_round(self, targets: PseudoLabels, generator: torch.Generator | None = None) -> dict[str, float]:
        """A new head over the round's k clusters, initialised from ``generator``."""
        device = next(self.backbone.parameters()).device
        self.head = new_head(self.backbone.feature_dim, targets.k, generator).to(device)
        # the epoch loop sets the learning rate of every optimiser before each step
        self._head_optimizer = torch.optim.SGD(self.head.parameters(), lr=0.0, weight_decay=self.head_weight_decay)
        self._pseudo_labels = torch.tensor(targets.clusters, dtype=torch.int64, device=device)
        self._correct = torch.zeros((), dtype=torch.int64, device=device)
        self._seen = 0
        return {}

    def training_step(self, views: list[torch.Tensor], indices: torch.Tensor, step: int, forward=None) -> torch.Tensor:
        forward = forward or self.backbone
        logits = self.head(F.relu(forward(views[0])))
        targets = self._pseudo_labels[indices]
        self._correct += (logits.argmax(dim=1) == targets).sum()
        self._seen += targets.shape[0]
        return F.cross_entropy(logits.float(), targets)

    def round_optimizers(self) -> list[torch.optim.Optimizer]:
        return [self._head_optimizer]

    def end_round(self) -> dict[str, float]:
        """The epoch's accuracy on the pseudo-labels; the head is dropped with the round."""
        counts = all_reduce_sum(torch.stack([self._correct, torch.tensor(self._seen, device=self._correct.device)]))
        accuracy = float(counts[0]) / max(int(counts[1]), 1)
        self.head, self._head_optimizer = None, None
        return {"pseudo_label_accuracy": accuracy}
