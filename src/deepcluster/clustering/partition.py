"""What every clusterer gives and answers: a ``Partition`` of the points it was fitted on, and the
``Clusterer`` interface (``fit``, ``assign``); ``vote`` places new points by their nearest fitted points, for
the clusterers whose clusters are chains rather than round cells (Ward, PIC).

A clusterer whose fit grows faster than the points (Ward keeps n^2 / 2 distances; PIC and SCAN restart many
times) declares a ``fit_limit``: above it, it is fitted on that many points drawn at random and places the
others with its own ``assign``, so that every clusterer runs at any n.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

import numpy as np
import torch

from deepcluster.clustering.neighbours import NeighbourIndex, nearest_neighbours

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
    """The cluster most of each point's ``VOTERS`` most cosine-similar reference points belong to (on a tie, the
    nearer voter's), and that share; with ``exclude_self`` the points are the reference, and none votes for itself."""
    if exclude_self:
        nearest = nearest_neighbours(reference, min(VOTERS, reference.shape[0] - 1))
    else:
        _, nearest = NeighbourIndex(reference).search(points, min(VOTERS, reference.shape[0]))
    votes = np.asarray(labels)[nearest]
    # how many voters share each voter's cluster: n x voters x voters comparisons, no n x k array
    counts = (votes[:, :, None] == votes[:, None, :]).sum(axis=2)
    winner = counts.argmax(axis=1)
    rows = np.arange(votes.shape[0])
    return votes[rows, winner], (counts[rows, winner] / votes.shape[1]).astype(np.float32)


class Clusterer:
    """The interface of every clusterer; subclasses set ``name`` and implement ``fit``."""

    name: ClassVar[str] = ""
    score_name: ClassVar[str] = "confidence"

    @classmethod
    def for_run(cls, resolved: dict[str, Any]) -> Clusterer:
        """The clusterer a run uses, from the values it resolved before round 1 (its own tuned constants
        otherwise)."""
        return cls()

    # the most points a fit sees (None: every point)
    fit_limit: ClassVar[int | None] = None

    def fit(self, points: torch.Tensor, k: int, seed: int) -> Partition:
        """k clusters of ``points``: fitted on them all, or on ``fit_limit`` of them drawn with ``seed`` and the
        others placed by ``assign`` (the summary's ``fitted_on`` says how many were fitted)."""
        n = points.shape[0]
        if self.fit_limit is None or n <= self.fit_limit:
            return self._fit(points, k, seed)
        fitted_rows = np.zeros(n, dtype=bool)
        fitted_rows[np.random.default_rng(seed).choice(n, self.fit_limit, replace=False)] = True
        fitted = self._fit(points[torch.as_tensor(fitted_rows)], k, seed)
        assignments = np.empty(n, dtype=np.int64)
        scores = np.empty(n, dtype=np.float32)
        assignments[fitted_rows], scores[fitted_rows] = fitted.assignments, fitted.scores
        assignments[~fitted_rows], scores[~fitted_rows] = self.assign(fitted, points[torch.as_tensor(~fitted_rows)])
        return replace(
            fitted, assignments=assignments, scores=scores, summary=fitted.summary | {"fitted_on": self.fit_limit}
        )

    def _fit(self, points: torch.Tensor, k: int, seed: int) -> Partition:
        """k clusters of every one of ``points``."""
        raise NotImplementedError

    def assign(self, partition: Partition, points: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        """Each new point's cluster and score; Ward and PIC by a vote of the nearest fitted points."""
        return vote(torch.as_tensor(partition.state["points"]), partition.state["assignments"], points)

    def _voted(self, points: torch.Tensor, k: int, assignments: np.ndarray, **summary: float) -> Partition:
        """A partition placed by votes: each fitted point's confidence is its own neighbours' vote."""
        _, shares = vote(points, assignments, points, exclude_self=True)
        state = {"points": points.float().cpu().numpy(), "assignments": assignments}
        return Partition(self.name, k, assignments, shares, "confidence", state, dict(summary))
