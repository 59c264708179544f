"""ODC, Online Deep Clustering (Zhan et al., CVPR 2020): no re-clustering per round. A sample memory keeps
every image's feature and label, a centroid memory keeps the clusters; both move a little at every step.

As mmselfsup's ODC: one k-means of the memory before the first epoch; then at every step each image of the
batch has its memory feature moved towards its new projection (momentum ``memory_momentum``, then
re-normalised) and is relabelled to its nearest centroid; every ``centroid_update_steps`` steps the
centroids are recomputed from the memory, clusters under ``min_cluster_size`` are dissolved into their
nearest neighbours and each emptied cluster takes half of the largest one; the loss weighs each cluster by
(1 / its size) ** ``reweight_power``. Two choices differ from mmselfsup: the classifier is a cosine one
(unit-norm prototypes at ``TEMPERATURE``, as the other online methods'), started from the first
centroids; and the largest cluster is split along its principal axis, not by a 2-means.

Under several processes every process keeps the whole memory: each step's features and indices are
gathered from every process, so the memory updates are the same everywhere.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import pandas as pd
import torch
import torch.nn.functional as F

from deepcluster.data.augment import MultiCrop
from deepcluster.data.collection import ImageCollection
from deepcluster.distributed.batch_norm import GLOBAL_BATCH_NORM
from deepcluster.distributed.reduce import all_gather_rows
from deepcluster.methods.base import OnlineMethod, Step, online_settings
from deepcluster.methods.deepcluster_v2 import BankClustering, cluster_memory_bank
from deepcluster.methods.epoch import fill_memory_bank
from deepcluster.methods.losses import global_cross_entropy
from deepcluster.models import DeepClusterNet
from deepcluster.run import RunContext

# mmselfsup's ODC, scaled to small collections (docs/methods.md)
MEMORY_MOMENTUM = 0.5  # memory feature = momentum x old + (1 - momentum) x new, re-normalised
CENTROID_UPDATE_STEPS = 10  # centroids recomputed from the memory (and small clusters dissolved) this often
REWEIGHT_POWER = 0.5  # each cluster's loss weight: (1 / its size) ** power
KMEANS_ITERATIONS = 10  # the first k-means of the memory, before round 1's epoch


@dataclass(frozen=True)
class MemoryStart:
    """Round 1's targets: the first memory (``features``, (1, n, d)) and its k-means; later rounds: neither."""

    features: torch.Tensor | None = None
    clustering: BankClustering | None = None


def min_cluster_size_for(n_images: int, k: int) -> int:
    """Clusters below this are dissolved, the emptied ones refilled from the largest: a sixth of an average
    cluster, at least 2 (mmselfsup's 20 of 128 on ImageNet with k = 10,000)."""
    return max(2, round(n_images / k / 6))


class ODC(OnlineMethod):
    """Backbone -> projection head -> one cosine classifier over the memory's k clusters, on every view."""

    name = "odc"
    per_image_buffers = ("memory_features",)

    def __init__(
        self,
        backbone: DeepClusterNet,
        projection_dims: tuple[int, int],
        prototype_count: int,
        views: MultiCrop,
        n_images: int,
        temperature: float = 0.1,
        memory_momentum: float = 0.5,
        centroid_update_steps: int = 10,
        min_cluster_size: int = 2,
        reweight_power: float = 0.5,
        seed: int = 0,
    ) -> None:
        super().__init__(backbone, projection_dims, [prototype_count], views, temperature, seed)
        self.memory_momentum = memory_momentum
        self.centroid_update_steps = centroid_update_steps
        self.min_cluster_size = min_cluster_size
        self.reweight_power = reweight_power
        dim = projection_dims[1]
        # (1, n, d): one "view" of features, the shape DeepCluster-v2's bank clustering reads
        self.register_buffer("memory_features", torch.zeros(1, n_images, dim))
        self.register_buffer("memory_labels", torch.full((n_images,), -1, dtype=torch.int64))
        self.register_buffer("centroids", torch.zeros(prototype_count, dim))
        self.register_buffer("class_weights", torch.ones(prototype_count))
        self._round_counts = torch.zeros(3, dtype=torch.int64)  # labels changed, labels updated, dissolved

    @classmethod
    def create(
        cls, backbone: DeepClusterNet, run: RunContext, n_images: int, config: dict[str, Any] | None = None
    ) -> ODC:
        shared = online_settings(run)
        k = cls.prototype_counts(run, config)[0]
        min_size = run.resolved["method.odc.min_cluster_size"]
        return cls(
            backbone, shared["projection_dims"], k, shared["views"], n_images, shared["temperature"],
            MEMORY_MOMENTUM, CENTROID_UPDATE_STEPS, min_size, REWEIGHT_POWER, shared["seed"],
        )  # fmt: skip

    @classmethod
    def resolve_settings(cls, run_parameters: Any, resolved: dict[str, Any]) -> dict[str, Any]:
        settings = super().resolve_settings(run_parameters, resolved)
        min_size = min_cluster_size_for(resolved["data.images"], settings["method.prototypes"][0])
        return settings | {"method.odc.min_cluster_size": min_size}

    @property
    def k(self) -> int:
        return self.centroids.shape[0]

    @property
    def initialised(self) -> bool:
        return bool((self.memory_labels >= 0).all())

    def cluster_table(self, targets: MemoryStart) -> pd.DataFrame:
        return pd.DataFrame({"cluster": self.memory_labels.cpu().numpy()})

    @torch.no_grad()
    def remember(self, projections: list[torch.Tensor], indices: torch.Tensor) -> None:
        """The first memory (``fill_memory_bank``): each image's large views' mean projection."""
        features = F.normalize(torch.stack(projections[: self.n_large_views]).float().mean(dim=0), dim=1)
        self.memory_features[0, indices] = features
        self.mark_written(indices, self.memory_labels.shape[0])

    def start_round(self, targets: MemoryStart, generator: torch.Generator | None = None) -> dict[str, float]:
        """Take the first memory and its k-means (round 1); later rounds carry on with the memory as it is."""
        if targets.clustering is not None:
            self.memory_features.copy_(targets.features)
            self.memory_labels.copy_(targets.clustering.assignments[0])
            self.centroids.copy_(targets.clustering.centroids[0])
            self.prototypes.load_centroids_([self.centroids])
            self.update_centroids()
        self._round_counts = torch.zeros(3, dtype=torch.int64, device=self.memory_labels.device)
        return {}

    def training_step(self, views: list[torch.Tensor], indices: torch.Tensor, step: int, forward=None) -> torch.Tensor:
        self.prototypes.normalise_()
        projections = self.project(views, forward)
        labels = self.memory_labels[indices]
        weights = self.class_weights.clone()  # the memory moves below, before backward
        losses = [
            global_cross_entropy(self.prototypes(p)[0].float() / self.temperature, labels, weight=weights)
            for p in projections
        ]
        self.update_memory(projections[: self.n_large_views], indices)
        if (step + 1) % self.centroid_update_steps == 0:
            self.update_centroids()
        return torch.stack(losses).mean()

    @torch.no_grad()
    def update_memory(self, projections: list[torch.Tensor], indices: torch.Tensor) -> None:
        """Every process's batch moved into the memory, then relabelled to the nearest centroid."""
        features = F.normalize(torch.stack(projections).detach().float().mean(dim=0), dim=1)
        indices, features = all_gather_rows(indices), all_gather_rows(features)
        old = self.memory_features[0, indices]
        moved = F.normalize(self.memory_momentum * old + (1 - self.memory_momentum) * features, dim=1)
        self.memory_features[0, indices] = moved
        labels = (moved @ self.centroids.T).argmax(dim=1)
        self._round_counts[0] += (labels != self.memory_labels[indices]).sum()
        self._round_counts[1] += indices.shape[0]
        self.memory_labels[indices] = labels

    @torch.no_grad()
    def update_centroids(self) -> None:
        """Dissolve the small clusters, refill the emptied ones from the largest, recompute the centroids from
        the memory and the loss's class weights."""
        features, labels = self.memory_features[0], self.memory_labels
        sizes = torch.bincount(labels, minlength=self.k)
        small = torch.nonzero(sizes < self.min_cluster_size).flatten()
        kept = torch.nonzero(sizes >= self.min_cluster_size).flatten()
        if small.numel() and kept.numel():
            members = torch.isin(labels, small)
            labels[members] = kept[(features[members] @ self.centroids[kept].T).argmax(dim=1)]
            self._round_counts[2] += int((sizes[small] > 0).sum())
            for cluster in small.tolist():
                self._split_largest_into(cluster)
        sums = torch.zeros_like(self.centroids).index_add_(0, labels, features)
        sizes = torch.bincount(labels, minlength=self.k)
        self.centroids.copy_(torch.where((sizes > 0)[:, None], F.normalize(sums, dim=1), self.centroids))
        self.class_weights.copy_(sizes.clamp(min=1).float() ** -self.reweight_power)

    def _split_largest_into(self, cluster: int) -> None:
        """Half of the largest cluster (the side of its principal axis with fewer members) becomes ``cluster``."""
        labels = self.memory_labels
        largest = int(torch.bincount(labels, minlength=self.k).argmax())
        members = torch.nonzero(labels == largest).flatten()
        if members.numel() < 2 * self.min_cluster_size:
            return
        points = self.memory_features[0, members]
        centred = points - points.mean(dim=0)
        axis = torch.linalg.svd(centred, full_matrices=False).Vh[0]
        side = centred @ axis > 0
        if side.sum() * 2 > side.numel():
            side = ~side
        labels[members[side]] = cluster

    def end_round(self) -> dict[str, float]:
        super().end_round()
        sizes = torch.bincount(self.memory_labels, minlength=self.k)
        changed, updated, dissolved = self._round_counts.tolist()
        return {
            "memory_label_changes": changed / max(updated, 1),
            "dissolved_clusters": float(dissolved),
            "empty_clusters": float((sizes == 0).sum()),
            "smallest_cluster": float(sizes.min()),
        }


def initialise_memory(
    previous_checkpoint: dict[str, Any], images: ImageCollection, run: RunContext, *, round_number: int
) -> tuple[MemoryStart, dict[str, float]]:
    """Round 1: the memory filled by one pass of the untrained method, and its k-means (mmselfsup's
    initialisation). Later rounds: nothing, since ODC's memory carries on by itself."""
    started = time.perf_counter()
    ODC.check_made_by(previous_checkpoint)
    if bool((previous_checkpoint["method_state"]["memory_labels"] >= 0).all()):
        return MemoryStart(), {}
    method, _ = ODC.restore(previous_checkpoint, run, len(images))
    generator = torch.Generator().manual_seed(run.seed_for(round_number, "memory_bank"))
    fill_memory_bank(method, images, run.resolved["training.batch_size"], run.execution, generator, GLOBAL_BATCH_NORM)
    seed = run.seed_for(round_number, "kmeans_head_0")
    clustering = cluster_memory_bank(method.memory_features, [method.k], KMEANS_ITERATIONS, [seed])
    summary = {
        "kmeans/head0_empty_clusters": float(clustering.n_empty[0]),
        "timing/kmeans_seconds": time.perf_counter() - started,
    }
    return MemoryStart(method.memory_features, clustering), summary


ODC.round_steps = (
    Step(
        initialise_memory,
        ("previous_checkpoint", "images", "run_context"),
        ("targets", "clustering_summary"),
        "initialise_memory",
    ),  # noqa: E501
)
