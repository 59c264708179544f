"""A user's mistake stops the run early with one message that names the setting and the fix."""

import pytest
import torch

from deepcluster.training import NonFiniteLossError
from tests.conftest import TINY_RUN, round_zero, settings
from tests.test_run import run_session


def _initialise(planted, **changes):
    return round_zero(planted, settings(**{"pca": {"dim": 8}, "kmeans": {"k": 5}, **changes}))


def test_valid_settings_give_round_zero(planted):
    checkpoint, assignments, run = _initialise(planted)
    resolved = run.resolved
    assert checkpoint["round"] == 0 and len(assignments) == 0
    assert resolved["model.name"] == "small_convnet" and resolved["kmeans.k"] == 5


@pytest.mark.parametrize(
    "changes,message",
    [
        ({"kmeans": {"k": 61}}, r"kmeans.k = 61 is larger than the number of images \(60\)"),
        ({"pca": {"dim": 129}}, r"pca.dim = 129 is larger than the model's feature size 128"),
    ],
)
def test_bad_settings_are_named(planted, changes, message):
    with pytest.raises(ValueError, match=message):
        _initialise(planted, **changes)


def test_pca_dim_is_checked_only_for_a_method_that_reduces_with_pca(planted):
    with pytest.raises(ValueError, match="pca.dim = 129"):
        _initialise(planted, pca={"dim": 129})
    checkpoint, _, _ = _initialise(planted, pca={"dim": 129}, method={"name": "swav"}, scan={"rounds": 0})
    assert checkpoint["method"] == "swav"


def test_bad_k_stops_before_any_round_and_keeps_earlier_results(project_copy):
    project = project_copy(**TINY_RUN)
    run_session(project)
    checkpoint = project / "data/06_models/checkpoints/round_002.pt"
    before = checkpoint.read_bytes()
    project_copy(**{**TINY_RUN, "kmeans": {"k": 5000}})
    with pytest.raises(ValueError, match="kmeans.k = 5000 is larger than the number of images"):
        run_session(project)
    assert checkpoint.read_bytes() == before


def test_non_finite_loss_stops_the_round_and_keeps_earlier_rounds(project_copy):
    project = project_copy(**TINY_RUN)
    run_session(project)
    checkpoint = project / "data/06_models/checkpoints/round_002.pt"
    before = checkpoint.read_bytes()
    # extend the run by one round with an absurd learning rate
    project_copy(**{**TINY_RUN, "rounds": 3, "training": {"lr": 1e12, "batch_size": 64}})
    with pytest.raises(NonFiniteLossError, match="lower training.lr"):
        run_session(project, only_missing_outputs=True)
    assert checkpoint.read_bytes() == before
    assert torch.load(checkpoint, weights_only=True)["round"] == 2
    assert not (project / "data/06_models/checkpoints/round_003.pt").exists()
