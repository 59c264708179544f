"""The field's protocols for frozen features: clustering scored against the classes, a linear
probe and a weighted kNN classifier, and the label-free signals that stand in for them.

The probes train on one split and score top-1 accuracy on another; ``held_out_split``
makes a stratified split when the data has no test split of its own.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from deepcluster.clustering.clusterers import Choice
from deepcluster.clustering.graph import communities
from deepcluster.clustering.neighbours import NeighbourIndex
from deepcluster.clustering.pca import fit_pca_whitening, usable_pca_dim
from deepcluster.evaluation.metrics import labelling_agreement
from deepcluster.progress import progress_bar

# label-free signals are measured on at most this many images, the same in every round: enough to rank rounds
# (igraph's Louvain would take more in a second; the rounds chosen on the suite were tuned at this size)
SIGNAL_SAMPLE = 2000
SIGNAL_NEIGHBOURS = 5
# the linear probe's full-batch fit holds a row of logits per training image: at most this many (CIFAR-10's
# train split whole; 1,000 classes take 0.2 GB)
PROBE_SAMPLE = 50_000


def held_out_split(labels: np.ndarray, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of a train and a test part, each class split in the same proportion."""
    if not 0 < test_fraction < 1:
        raise ValueError(f"evaluation.test_fraction must be in (0, 1), got {test_fraction}")
    rng = np.random.default_rng(seed)
    train, test = [], []
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        cut = int(round(len(members) * test_fraction))
        test.append(members[:cut])
        train.append(members[cut:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


def linear_probe_accuracy(
    train_features: torch.Tensor,
    train_labels: np.ndarray,
    test_features: torch.Tensor,
    test_labels: np.ndarray,
    weight_decay: float = 1e-4,
    iterations: int = 200,
) -> float:
    """Top-1 of a multinomial logistic regression on standardised frozen features.

    Fitted with full-batch L-BFGS (the loss is convex), so the result does not
    depend on a learning-rate schedule, on at most ``PROBE_SAMPLE`` training rows (drawn at random).
    """
    device = train_features.device
    if train_features.shape[0] > PROBE_SAMPLE:
        rows = np.sort(np.random.default_rng(0).choice(train_features.shape[0], PROBE_SAMPLE, replace=False))
        train_features, train_labels = train_features[torch.as_tensor(rows)], np.asarray(train_labels)[rows]
    mean = train_features.mean(dim=0)
    std = train_features.std(dim=0).clamp_min(1e-6)
    x_train = ((train_features - mean) / std).float()
    x_test = ((test_features.to(device) - mean) / std).float()
    y_train = torch.as_tensor(train_labels, dtype=torch.int64, device=device)
    n_classes = int(max(train_labels.max(), test_labels.max())) + 1
    classifier = torch.nn.Linear(x_train.shape[1], n_classes).to(device)
    optimizer = torch.optim.LBFGS(classifier.parameters(), max_iter=iterations, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = F.cross_entropy(classifier(x_train), y_train) + weight_decay * classifier.weight.pow(2).sum()
        loss.backward()
        advance(1)
        return loss

    # the bar's total is the most loss evaluations L-BFGS may make; it stops earlier once converged
    most_evaluations = optimizer.param_groups[0]["max_eval"]
    with torch.enable_grad(), progress_bar("linear probe", most_evaluations, unit="evaluations") as advance:
        optimizer.step(closure)
    with torch.no_grad():
        predictions = torch.cat([classifier(part).argmax(dim=1) for part in x_test.split(65536)]).cpu().numpy()
    return float((predictions == test_labels).mean())


def knn_accuracy(
    train_features: torch.Tensor,
    train_labels: np.ndarray,
    test_features: torch.Tensor,
    test_labels: np.ndarray,
    k: int = 20,
    temperature: float = 0.07,
) -> float:
    """Top-1 of a weighted kNN vote on cosine similarity (weights exp(similarity / temperature))."""
    similarity, neighbour = NeighbourIndex(train_features).search(test_features, min(k, train_features.shape[0]))
    classes = np.asarray(train_labels)[neighbour]
    weights = np.exp(similarity.astype(np.float64) / temperature)
    # each neighbour's weight summed over the neighbours of its class: a point's votes, with no n x classes array
    votes = ((classes[:, :, None] == classes[:, None, :]) * weights[:, None, :]).sum(axis=2)
    predictions = classes[np.arange(classes.shape[0]), votes.argmax(axis=1)]
    return float((predictions == np.asarray(test_labels)).mean())


def baselines_above(scores: dict[str, dict[str, float]], trained: str, metric: str = "acc") -> list[str]:
    """The subjects of ``scores`` (other than ``trained``) whose ``metric`` beats the trained network's."""
    if metric not in scores.get(trained, {}):
        return []
    return [
        subject
        for subject, values in scores.items()
        if subject != trained and values.get(metric, float("-inf")) > scores[trained][metric]
    ]


def clustering_points(features: torch.Tensor, pca_dim: int = 0, whiten: bool = False) -> torch.Tensor:
    """Features as the clusterers see them: PCA to ``pca_dim`` (whitened or not) or, with 0, L2-normalised rows."""
    points = features.float()
    if pca_dim:
        dim = usable_pca_dim(min(pca_dim, points.shape[1]), points.shape[1], points.shape[0])
        return fit_pca_whitening(points, dim).transform(points, whiten=whiten)
    return F.normalize(points, dim=1)


def score_partitions(choice: Choice, labels: np.ndarray) -> dict[str, dict[str, float]]:
    """Each candidate partition of ``choice`` against the labels: ACC, NMI, ARI, and its label-free score
    (``criterion``)."""
    scores = {}
    for name, partition in choice.partitions.items():
        agreement = labelling_agreement(labels, partition.assignments)
        scores[name] = {key: agreement[key] for key in ("acc", "nmi", "ari")} | {"criterion": choice.scores[name]}
    return scores


def signal_sample(n_images: int, seed: int) -> np.ndarray:
    """The images on which label-free signals are measured: all, or ``SIGNAL_SAMPLE`` of them drawn with ``seed``
    (the same for every round and every subject of a run)."""
    if n_images <= SIGNAL_SAMPLE:
        return np.arange(n_images)
    return np.sort(np.random.default_rng(seed).choice(n_images, SIGNAL_SAMPLE, replace=False))


def label_free_signals(features: torch.Tensor, seed: int = 0) -> dict[str, float]:
    """How clearly ``features`` (of the ``signal_sample`` images) fall into groups, without labels: the
    modularity of the Louvain communities of their 5-NN graph, and how many communities there are.

    It rises as training gathers images into groups and falls as training mixes them; it cannot
    tell groups of the classes from other groups, so it guards a run rather than scoring it.
    """
    found = communities(features, SIGNAL_NEIGHBOURS, seed)
    return {"knn_modularity": found.modularity, "communities": found.count}
