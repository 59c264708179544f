import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier

from deepcluster.evaluation.protocols import held_out_split, knn_accuracy, label_free_signals, linear_probe_accuracy
from deepcluster.pipelines.deepcluster.nodes import keep_best_network
from deepcluster.run import RunContext
from tests.conftest import settings


@pytest.fixture
def separable():
    """Four classes, linearly separable in 20-d (class means far apart along 4 axes), plus noise."""
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 4, 800)
    features = rng.normal(size=(800, 20))
    features[np.arange(800), labels] += 6.0
    return torch.from_numpy(features).float(), labels


def test_split_is_stratified_and_disjoint():
    labels = np.repeat(np.arange(3), [100, 50, 10])
    train, test = held_out_split(labels, 0.2, seed=0)
    assert not set(train) & set(test) and len(train) + len(test) == 160
    assert np.bincount(labels[test]).tolist() == [20, 10, 2]
    with pytest.raises(ValueError, match="test_fraction"):
        held_out_split(labels, 1.5, seed=0)


def test_linear_probe_separates_a_planted_linear_case(separable):
    features, labels = separable
    train, test = held_out_split(labels, 0.25, seed=0)
    ours = linear_probe_accuracy(features[train], labels[train], features[test], labels[test])
    assert ours > 0.97
    reference = LogisticRegression(max_iter=1000).fit(features[train].numpy(), labels[train])
    assert ours == pytest.approx(reference.score(features[test].numpy(), labels[test]), abs=0.02)


def test_linear_probe_on_noise_is_at_chance():
    rng = np.random.default_rng(1)
    features = torch.from_numpy(rng.normal(size=(2000, 10))).float()
    labels = rng.integers(0, 4, 2000)
    accuracy = linear_probe_accuracy(features[:1500], labels[:1500], features[1500:], labels[1500:])
    assert accuracy == pytest.approx(0.25, abs=0.06)


def test_knn_matches_a_plain_nearest_neighbour_vote(separable):
    features, labels = separable
    train, test = held_out_split(labels, 0.25, seed=1)
    ours = knn_accuracy(features[train], labels[train], features[test], labels[test], k=20)
    normalised = torch.nn.functional.normalize(features, dim=1).numpy()
    reference = KNeighborsClassifier(20, metric="cosine").fit(normalised[train], labels[train])
    assert ours == pytest.approx(reference.score(normalised[test], labels[test]), abs=0.02)
    assert ours > 0.95


def test_one_nearest_neighbour_is_exact():
    bank = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    queries = torch.tensor([[0.9, 0.1], [0.2, 0.8], [0.1, 0.9]])
    accuracy = knn_accuracy(bank, np.array([0, 1]), queries, np.array([0, 1, 0]), k=1)
    assert accuracy == pytest.approx(2 / 3)


@pytest.mark.learning
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_label_free_signal_prefers_features_that_keep_the_planted_groups(seed):
    """Two feature sets of the same 400 images: one keeps 8 planted groups, the other has mixed half of
    them (as training that ignores identity detail does); the signal, blind to the groups, ranks them."""
    rng = np.random.default_rng(seed)
    groups = np.repeat(np.arange(8), 50)
    centres = rng.normal(size=(8, 32)) * 3
    kept = centres[groups] + rng.normal(size=(400, 32))
    mixed = kept.copy()
    merged = groups >= 4
    mixed[merged] = centres[4] + rng.normal(size=(int(merged.sum()), 32)) * 2  # groups 4-7 blurred into one
    good = label_free_signals(torch.as_tensor(kept, dtype=torch.float32), seed)
    bad = label_free_signals(torch.as_tensor(mixed, dtype=torch.float32), seed)
    assert good["knn_modularity"] > bad["knn_modularity"] + 0.05
    assert good["communities"] == 8


def round_checkpoint(r: int) -> dict:
    """A round's checkpoint as keep_best_network reads it."""
    return {"round": r, "model_config": {"name": "n"}, "model_state": {"w": torch.full((1,), float(r))}}


def test_the_best_network_is_the_one_with_the_highest_signal_and_never_round_zero():
    def run(final_network: str) -> RunContext:
        return RunContext.create(settings(rounds=3, final_network=final_network), {})

    best = {}
    for round_number, signal in [(1, 0.80), (2, 0.90), (3, 0.85)]:
        best = keep_best_network(best, round_checkpoint(round_number), {"network/knn_modularity": signal}, run("best"))
    assert best["round"] == 2 and best["signal"] == 0.90 and best["rounds"] == 3
    last = keep_best_network(best, round_checkpoint(3), {"network/knn_modularity": 0.1}, run("last"))
    assert last["round"] == 3  # final_network: last, as the paper
