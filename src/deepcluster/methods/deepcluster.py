"""DeepCluster (Caron et al. 2018): a fresh linear head per round learns the round's k-means clusters.

The round's steps before the epoch: features of every image under last round's network ->
PCA-whitening -> k-means (or ``clustering.rounds``) -> resampling uniformly over the clusters.
The head is new every round, with its own momentum-free SGD, because cluster ids are an
arbitrary permutation from one clustering to the next; the backbone keeps the run's optimiser.

The SCAN rounds that end a run (of any method) are DeepCluster's epoch on other
targets: SCAN's clusters of the network's own features, trained on the images its head is
confident of (``SCAN_STEPS``).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from deepcluster.auto import pixel_rows
from deepcluster.clustering.clusterers import CLUSTERERS
from deepcluster.clustering.kmeans import kmeans
from deepcluster.clustering.sampling import sample_uniformly_over_clusters
from deepcluster.clustering.scan import ScanResult, scan_clustering
from deepcluster.data.augment import Augmentation, ColourAugmentation
from deepcluster.data.collection import ImageCollection
from deepcluster.distributed.processes import from_main_process
from deepcluster.distributed.reduce import all_reduce_sum
from deepcluster.evaluation.metrics import feature_collapse_std
from deepcluster.features import INFERENCE_BATCH_SIZE, PCA_FIT_SIZE, extract_reduced_features
from deepcluster.methods.base import EpochPlan, Method, Step
from deepcluster.models import DeepClusterNet, new_head
from deepcluster.run import RunContext
from deepcluster.training import features_under, learning_rate_for_round, network_from_checkpoint

logger = logging.getLogger(__name__)

# the body's SGD and the round's head (the paper's momentum; weight decay tuned on the collections)
MOMENTUM = 0.9
WEIGHT_DECAY = 1e-5
# a round's epoch takes at least this many steps: a small collection's images are drawn again (uniformly
# over clusters), so that the round's fresh head has time to learn the clusters (0 would be the paper's pass)
MIN_STEPS = 50
DEEPCLUSTER_BATCH_SIZE = 32  # training.batch_size auto
# a SCAN round trains on the images whose cluster probability is above this, at this constant rate (the
# method's schedule has all but ended by then)
SCAN_CONFIDENCE = 0.9
SCAN_ROUND_LR = 0.01
ROUND_KMEANS_ITERATIONS = 20  # a round's k-means (faiss's default)


@dataclass(frozen=True)
class PseudoLabels:
    """A round's clustering as training targets: every image's cluster out of ``k`` (``table``: with its
    distance or confidence), the epoch's images (``indices``) and what made them (``kmeans`` or ``scan``)."""

    table: pd.DataFrame
    k: int
    indices: np.ndarray | None = None
    by: str = "kmeans"

    @property
    def clusters(self) -> np.ndarray:
        return self.table["cluster"].to_numpy()


class DeepCluster(Method):
    """One view per image (``Augmentation``); cross-entropy of the fresh head on the pseudo-labels."""

    name = "deepcluster"
    uses_pca = True
    default_batch_size = DEEPCLUSTER_BATCH_SIZE

    def __init__(self, backbone: DeepClusterNet, views: Augmentation, head_weight_decay: float) -> None:
        super().__init__(backbone, views)
        self.head_weight_decay = head_weight_decay
        self.head: torch.nn.Linear | None = None
        self._head_optimizer: torch.optim.SGD | None = None

    @classmethod
    def create(
        cls, backbone: DeepClusterNet, run: RunContext, n_images: int, config: dict[str, Any] | None = None
    ) -> DeepCluster:
        augmentation = run.resolved["training.augmentation_block"]
        views = Augmentation(
            output_size=run.input_size,
            **{key: value for key, value in augmentation.items() if key != "colour"},
            colour=None if augmentation.get("colour") is None else ColourAugmentation(**augmentation["colour"]),
        )
        return cls(backbone, views, head_weight_decay=WEIGHT_DECAY)

    def make_optimizer(self, run: RunContext) -> torch.optim.SGD:
        """The body's SGD, for the whole run (the round's head has its own)."""
        lr = run.parameters.training.lr
        return torch.optim.SGD(self.backbone.parameters(), lr=lr, momentum=MOMENTUM, weight_decay=WEIGHT_DECAY)

    def epoch(
        self, run: RunContext, targets: PseudoLabels, n_images: int, round_number: int, first_step: int, generator
    ) -> tuple[np.ndarray, EpochPlan]:
        """The resampled images at one rate: ``training.lr`` on its per-round cosine, or in a SCAN round
        ``SCAN_ROUND_LR``."""
        batch_size = run.resolved["training.batch_size"]
        if targets.by == "scan":
            plan = EpochPlan.constant(batch_size, SCAN_ROUND_LR, "SCAN_ROUND_LR", first_step)
        else:
            lr = learning_rate_for_round(run.parameters.training.lr, round_number, run.parameters.rounds)
            plan = EpochPlan.constant(batch_size, lr, "training.lr", first_step)
        return targets.indices, plan

    def cluster_table(self, targets: PseudoLabels) -> pd.DataFrame:
        return targets.table

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


def extract_round_features(
    previous_checkpoint: dict[str, Any], images: ImageCollection, run: RunContext, *, round_number: int
) -> tuple[torch.Tensor, dict[str, float]]:
    """Whitened, L2-normalised PCA features of every image under the previous round's network."""
    started = time.perf_counter()
    reduced = extract_reduced_features(
        network_from_checkpoint(previous_checkpoint, run.execution),
        images,
        pca_dim=run.parameters.pca.dim,
        batch_size=INFERENCE_BATCH_SIZE,
        execution=run.execution,
        crop_size=run.input_size,
        pca_fit_size=PCA_FIT_SIZE,
        seed=run.seed_for(round_number, "pca_sample"),
    )
    summary = {
        "features/collapse_std": reduced.collapse_std,
        "features/pca_dim": reduced.pca.output_dim,
        "features/pca_fit_images": reduced.pca_fit_size,
        "timing/extract_features_seconds": time.perf_counter() - started,
    }
    return reduced.features, summary


def cluster_round_features(
    reduced_features: torch.Tensor | np.ndarray, run: RunContext, *, round_number: int
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The round's ``kmeans.k`` clusters by ``clustering.rounds`` with this round's seed: every image's
    cluster and its squared distance to the centroid (k-means) or confidence (Ward, PIC)."""
    started = time.perf_counter()
    points = torch.as_tensor(reduced_features)  # a tensor in memory, an array when read back from disk
    k, clustering = run.resolved["kmeans.k"], run.parameters.clustering
    seed = run.seed_for(round_number, "kmeans")
    summary: dict[str, Any] = {}
    # faiss's threads may sum in any order: one process clusters, every process gets its answer
    if clustering.rounds == "kmeans":
        result = from_main_process(lambda: kmeans(points, k, n_iter=ROUND_KMEANS_ITERATIONS, seed=seed))
        clusters = pd.DataFrame({"cluster": result.assignments, "distance": result.distances})
        summary |= {
            "kmeans/objective": result.objective,
            "kmeans/empty_cluster_splits": result.n_splits,
            "kmeans/backend": result.backend,
        }
    else:
        clusterer = CLUSTERERS[clustering.rounds]()
        partition = from_main_process(lambda: clusterer.fit(points, k, seed))
        clusters = pd.DataFrame({"cluster": partition.assignments, partition.score_name: partition.scores})
    return clusters, summary | {"timing/kmeans_seconds": time.perf_counter() - started}


def epoch_size(n_images: int, run: RunContext) -> int:
    """Images in a round's epoch: all of them once, or more (drawn again) so that the epoch takes at least
    ``MIN_STEPS`` steps. The round's new head starts from random weights; on a small collection one pass
    is too few steps for it to learn the clusters before its gradients steer the network."""
    return max(n_images, MIN_STEPS * run.resolved["training.batch_size"])


def sample_targets(clusters: pd.DataFrame, run: RunContext, *, round_number: int) -> PseudoLabels:
    """The round's targets: its clusters, and the epoch's images (``epoch_size``) drawn uniformly over the
    non-empty clusters."""
    rng = np.random.default_rng(run.seed_for(round_number, "sampling"))
    labels = clusters["cluster"].to_numpy()
    indices = sample_uniformly_over_clusters(labels, epoch_size(len(labels), run), rng)
    return PseudoLabels(clusters, run.resolved["kmeans.k"], indices)


def extract_round_network_features(
    previous_checkpoint: dict[str, Any], images: ImageCollection, run: RunContext, *, round_number: int
) -> tuple[torch.Tensor, dict[str, float]]:
    """Features of every image under the previous round's network, not reduced (SCAN's neighbours need
    the network's own geometry: whitening weighs noise directions like the signal)."""
    started = time.perf_counter()
    extracted = features_under(previous_checkpoint, images, run, representation=False)
    summary = {
        "features/collapse_std": feature_collapse_std(extracted),
        "timing/extract_features_seconds": time.perf_counter() - started,
    }
    return extracted, summary


def cluster_by_neighbours(
    features: torch.Tensor, images: ImageCollection, run: RunContext, *, round_number: int
) -> tuple[pd.DataFrame, dict[str, float]]:
    """A SCAN round's clusters: SCAN's ``scan.k`` of the features, each image paired with its neighbours in
    the features or in the pixels (``scan.neighbours_from``), and the head's confidence in each."""
    started = time.perf_counter()
    seed = run.seed_for(round_number, "scan")
    scan, k, neighbours = run.parameters.scan, run.resolved["scan.k"], run.resolved["scan.neighbours"]

    def cluster() -> ScanResult:
        pixels = pixel_rows(images, np.arange(len(images))) if scan.neighbours_from == "pixels" else None
        return scan_clustering(features, k, neighbours, heads=scan.heads, seed=seed, neighbour_space=pixels)

    # like k-means: one process clusters, every process gets its answer
    result = from_main_process(cluster)
    clusters = pd.DataFrame({"cluster": result.assignments, "confidence": result.confidence})
    summary = {
        "scan/loss": result.loss,
        "scan/confident_fraction": float((result.confidence > SCAN_CONFIDENCE).mean()),
        "timing/scan_seconds": time.perf_counter() - started,
    }
    return clusters, summary


def sample_confident_targets(clusters: pd.DataFrame, run: RunContext, *, round_number: int) -> PseudoLabels:
    """SCAN's clusters as targets, the epoch's images drawn uniformly over the clusters from those the head is
    confident of (all images when it is confident of none)."""
    rng = np.random.default_rng(run.seed_for(round_number, "sampling"))
    labels = clusters["cluster"].to_numpy()
    confident = np.flatnonzero(clusters["confidence"].to_numpy() > SCAN_CONFIDENCE)
    if confident.size == 0:
        logger.warning(
            "round %d: SCAN's head is confident (> %s) of no image; training on all of them",
            round_number,
            SCAN_CONFIDENCE,
        )
        confident = np.arange(len(labels))
    drawn = sample_uniformly_over_clusters(labels[confident], epoch_size(len(labels), run), rng)
    return PseudoLabels(clusters, run.resolved["scan.k"], confident[drawn], by="scan")


DeepCluster.round_steps = (
    Step(extract_round_features, ("previous_checkpoint", "images", "run_context"), ("reduced_features", "feature_summary"), "extract_features"),  # noqa: E501
    Step(cluster_round_features, ("reduced_features", "run_context"), ("clusters", "clustering_summary"), "cluster_features"),  # noqa: E501
    Step(sample_targets, ("clusters", "run_context"), ("targets",), "sample_training_set"),
)  # fmt: skip

SCAN_STEPS = (
    Step(extract_round_network_features, ("previous_checkpoint", "images", "run_context"), ("features", "feature_summary"), "extract_features"),  # noqa: E501
    Step(cluster_by_neighbours, ("features", "images", "run_context"), ("clusters", "clustering_summary"), "cluster_features"),  # noqa: E501
    Step(sample_confident_targets, ("clusters", "run_context"), ("targets",), "sample_training_set"),
)  # fmt: skip
