"""What every clusterer gives and answers: a ``Partition`` of the points it was fitted on, and the
``Clusterer`` interface (``fit``, ``assign``, ``fits``); ``vote`` places new points by their nearest fitted
points, for the clusterers whose clusters are chains rather than round cells (Ward, PIC)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F

# how many fitted points vote for a new point's cluster (Ward, PIC)
VOTERS = 5


@dataclass
class Partition:
    """A clusterer's answer on the points it was fitted on, and what it keeps to place new points.

    ``scores`` is each point's ``score_name``: ``distance`` (squared, to its centroid) or
    ``confidence`` (the head's probability, or the share of the nearest fitted points that
    vote for the cluster). ``state`` holds arrays only, so a partition saves anywhere.
    """

    clusterer: str
    k: int
    assignments: np.ndarray
    scores: np.ndarray
    score_name: str
    state: dict[str, np.ndarray]
    summary: dict[str, Any] = field(default_factory=dict)


def vote(reference: torch.Tensor, labels: np.ndarray, points: torch.Tensor, exclude_self: bool = False):
    """The cluster most of each point's ``VOTERS`` most cosine-similar reference points belong to, and that share."""
    bank = F.normalize(reference.float(), dim=1)
    queries = F.normalize(points.float().to(bank.device), dim=1)
    voters = min(VOTERS, bank.shape[0] - int(exclude_self))
    k = int(labels.max()) + 1
    bank_labels = torch.as_tensor(labels, device=bank.device)
    clusters, shares = [], []
    for start in range(0, queries.shape[0], 4096):
        similarity = queries[start : start + 4096] @ bank.T
        if exclude_self:
            rows = torch.arange(similarity.shape[0], device=bank.device)
            similarity[rows, rows + start] = -float("inf")
        nearest = similarity.topk(voters, dim=1).indices
        counts = torch.zeros(nearest.shape[0], k, device=bank.device).scatter_add_(
            1, bank_labels[nearest], torch.ones(nearest.shape, device=bank.device)
        )
        share, cluster = counts.max(dim=1)
        clusters.append(cluster)
        shares.append(share / voters)
    return torch.cat(clusters).cpu().numpy(), torch.cat(shares).cpu().numpy().astype(np.float32)


class Clusterer:
    """The interface of every clusterer; subclasses set ``name`` and implement ``fit``."""

    name: ClassVar[str] = ""
    score_name: ClassVar[str] = "confidence"

    @classmethod
    def for_run(cls, resolved: dict[str, Any]) -> Clusterer:
        """The clusterer a run uses, from the values it resolved before round 1 (its own tuned constants
        otherwise)."""
        return cls()

    def fits(self, n_points: int) -> bool:
        return True

    def fit(self, points: torch.Tensor, k: int, seed: int) -> Partition:
        raise NotImplementedError

    def assign(self, partition: Partition, points: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        """Each new point's cluster and score; Ward and PIC by a vote of the nearest fitted points."""
        return vote(torch.as_tensor(partition.state["points"]), partition.state["assignments"], points)

    def _voted(self, points: torch.Tensor, k: int, assignments: np.ndarray, **summary: float) -> Partition:
        """A partition placed by votes: each fitted point's confidence is its own neighbours' vote."""
        _, shares = vote(points, assignments, points, exclude_self=True)
        state = {"points": points.float().cpu().numpy(), "assignments": assignments}
        return Partition(self.name, k, assignments, shares, "confidence", state, dict(summary))
