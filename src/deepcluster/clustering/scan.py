"""SCAN's clustering step (Van Gansbeke et al. 2020): k clusters from a head on frozen features,
trained so that every image falls in the same cluster as its nearest neighbours.

k-means into as many groups as there are classes cuts the feature space into convex
cells around centroids; a class that is not one round blob (a digit written two ways)
gets split and glued to parts of others. Nearest neighbours in a trained feature space
mostly share a class, so a head whose predictions agree across neighbour pairs follows
the classes' shapes instead. An entropy term on the mean prediction keeps every cluster
in use. Several heads train at once from different starts, and the lowest loss wins,
which uses no labels. Of ten starts the best still lands in a poor optimum now and then
(two classes merged, one split); of fifty, rarely. Many starts can be pruned early: after
a third of the steps only the lowest-loss few go on, at a fraction of the cost of all.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F

from deepcluster.clustering.neighbours import nearest_neighbours
from deepcluster.clustering.partition import Clusterer, Partition
from deepcluster.models import new_head


@dataclass(frozen=True)
class ScanResult:
    """Every point's cluster, the chosen head's probability of it, that head's loss in the last pass, and the
    head itself (``weight``: k x d, ``bias``: k), which places new points (``head_clusters``)."""

    assignments: np.ndarray
    confidence: np.ndarray
    loss: float
    weight: np.ndarray
    bias: np.ndarray


def _rows_of(
    head: torch.nn.Linear, optimizer: torch.optim.Adam, rows: torch.Tensor
) -> tuple[torch.nn.Linear, torch.optim.Adam]:
    """``head``'s output rows ``rows`` alone, with their Adam moments: the kept heads go on as if none were dropped."""
    kept = torch.nn.Linear(head.in_features, rows.numel()).to(head.weight.device)
    kept_optimizer = torch.optim.Adam(kept.parameters(), **optimizer.defaults)
    with torch.no_grad():
        for old, new in ((head.weight, kept.weight), (head.bias, kept.bias)):
            new.copy_(old[rows])
            moments = optimizer.state[old]
            kept_optimizer.state[new] = {
                "step": moments["step"].clone(),
                "exp_avg": moments["exp_avg"][rows].clone(),
                "exp_avg_sq": moments["exp_avg_sq"][rows].clone(),
            }
    return kept, kept_optimizer


def head_clusters(
    points: torch.Tensor, weight: np.ndarray, bias: np.ndarray, chunk: int = 65536
) -> tuple[torch.Tensor, torch.Tensor]:
    """A fitted head's most probable cluster for each of ``points`` (L2-normalised first, as in fitting) and its
    probability, a chunk of points at a time (no n x k array)."""
    weight = torch.as_tensor(weight, device=points.device)
    bias = torch.as_tensor(bias, device=points.device)
    found = [
        (F.normalize(part.float(), dim=1) @ weight.T + bias).softmax(dim=1).max(dim=1) for part in points.split(chunk)
    ]
    return torch.cat([clusters for _, clusters in found]), torch.cat([probability for probability, _ in found])


def scan_loss(
    probabilities: torch.Tensor, neighbour_probabilities: torch.Tensor, entropy_weight: float
) -> torch.Tensor:
    """SCAN's loss for each head: ``(batch, heads, k)`` probabilities of anchors and of one neighbour each.

    -mean log <p(anchor), p(neighbour)> rewards confident agreement; minus
    ``entropy_weight`` times the entropy of the batch's mean prediction spreads the
    images over the clusters.
    """
    agreement = (probabilities * neighbour_probabilities).sum(dim=2).clamp_min(1e-8)
    consistency = -agreement.log().mean(dim=0)
    mean = probabilities.mean(dim=0)
    entropy = -(mean * mean.clamp_min(1e-8).log()).sum(dim=1)
    return consistency - entropy_weight * entropy


def scan_clustering(
    features: torch.Tensor,
    k: int,
    neighbours: int = 20,
    entropy_weight: float = 5.0,
    heads: int = 10,
    kept_heads: int = 10,
    steps: int = 300,
    batch_size: int = 512,
    lr: float = 0.01,
    seed: int = 0,
    neighbour_space: torch.Tensor | None = None,
) -> ScanResult:
    """Cluster ``features`` (n x d, any device) into ``k`` groups with SCAN's loss.

    The heads are linear layers on the L2-normalised features, trained together for
    ``steps`` Adam steps of ``batch_size`` anchors (passes over shuffled data, so that
    small collections get as many updates as large ones); each anchor is paired with
    one of its ``neighbours`` nearest neighbours (cosine, in ``neighbour_space``, one row per image, or in the
    features where it is None), drawn anew every pass. ``heads`` start;
    after ``steps // 3`` steps the ``kept_heads`` lowest losses in the pass under way go on,
    and the lowest loss in the last pass wins.
    """
    n = features.shape[0]
    if not 2 <= k <= n:
        raise ValueError(f"SCAN needs 2 <= k <= the number of images ({n}), got k = {k}")
    if not 1 <= neighbours < n:
        raise ValueError(f"scan.neighbours = {neighbours}: must be at least 1 and below the number of images ({n})")
    device = features.device
    points = F.normalize(features.float(), dim=1)
    if neighbour_space is not None and neighbour_space.shape[0] != n:
        raise ValueError(f"neighbour_space has {neighbour_space.shape[0]} rows for {n} images")
    neighbour_table = torch.as_tensor(
        nearest_neighbours(points if neighbour_space is None else neighbour_space, neighbours), device=device
    )
    generator = torch.Generator().manual_seed(seed)
    head = new_head(points.shape[1], k * heads, generator).to(device)
    optimizer = torch.optim.Adam(head.parameters(), lr=lr, weight_decay=1e-4)
    batch_size = min(batch_size, n)
    batches_per_pass = n // batch_size  # whole batches only: the entropy term needs a full batch
    prune_at = steps // 3 if kept_heads < heads else 0
    losses = []  # each step's loss per head still training

    def recent_loss(step: int) -> torch.Tensor:
        """Each head's mean loss over the pass under way, or the last whole pass at a pass's start."""
        count = step % batches_per_pass or batches_per_pass
        return sum(losses[-count:]) / count

    with torch.enable_grad():
        for step in range(steps):
            if step and step == prune_at:
                kept = recent_loss(step).argsort()[:kept_heads]
                rows = (kept[:, None] * k + torch.arange(k, device=device)).flatten()
                head, optimizer = _rows_of(head, optimizer, rows)
                losses = [loss[kept] for loss in losses]
            batch = step % batches_per_pass
            if batch == 0:
                order = torch.randperm(n, generator=generator).to(device)
                picks = torch.randint(neighbours, (n,), generator=generator).to(device)
            chosen = slice(batch * batch_size, (batch + 1) * batch_size)
            anchors = order[chosen]
            partners = neighbour_table[anchors, picks[chosen]]
            # anchors and partners in one forward pass: half the kernel launches on these small matrices
            both = head(points[torch.cat([anchors, partners])])
            both = both.view(both.shape[0], -1, k).softmax(dim=2)
            loss = scan_loss(both[: anchors.shape[0]], both[anchors.shape[0] :], entropy_weight)
            optimizer.zero_grad(set_to_none=True)
            loss.sum().backward()
            optimizer.step()
            losses.append(loss.detach())
    final_loss = recent_loss(steps)
    best = int(final_loss.argmin())
    chosen = slice(best * k, (best + 1) * k)  # the rows of the stacked heads that belong to the winner
    weight, bias = head.weight.detach()[chosen].cpu().numpy(), head.bias.detach()[chosen].cpu().numpy()
    with torch.no_grad():
        assignments, confidence = head_clusters(points, weight, bias)
    return ScanResult(
        assignments=assignments.cpu().numpy().astype(np.int64),
        confidence=confidence.cpu().numpy(),
        loss=float(final_loss[best]),
        weight=weight,
        bias=bias,
    )


@dataclass(frozen=True)
class ScanClusterer(Clusterer):
    """SCAN's head (``deepcluster.clustering.scan``); new points through the same head."""

    neighbours: int = 20
    # a partition drawn once (the final one) takes 50 starts: of ten, the lowest loss still lands in a poor
    # optimum now and then (two classes merged, one split); after a third of the steps 10 go on
    heads: int = 50
    kept_heads: int = 10
    steps: int = 300
    name: ClassVar[str] = "scan"
    # 300 steps of 512 anchors see 153,600 draws: fitted on 20,000 points each is drawn about 8 times
    fit_limit: ClassVar[int] = 20_000

    @classmethod
    def for_run(cls, resolved: dict[str, Any]) -> ScanClusterer:
        """Each image paired with as many neighbours as the run resolved (``scan.neighbours``)."""
        return cls(neighbours=resolved["scan.neighbours"])

    def _fit(self, points: torch.Tensor, k: int, seed: int) -> Partition:
        result = scan_clustering(
            points, k, self.neighbours, heads=self.heads, kept_heads=self.kept_heads, steps=self.steps, seed=seed
        )
        state = {"weight": result.weight, "bias": result.bias}
        return Partition(
            self.name, k, result.assignments, result.confidence, "confidence", state, {"loss": result.loss}
        )

    def assign(self, partition: Partition, points: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        with torch.no_grad():
            clusters, confidence = head_clusters(points, partition.state["weight"], partition.state["bias"])
        return clusters.cpu().numpy(), confidence.cpu().numpy()
