import numpy as np
import pytest
import torch

from deepcluster.methods import METHODS, DeepCluster
from deepcluster.methods.base import make_checkpoint
from deepcluster.methods.rounds import initialise_method
from deepcluster.runtime import Execution
from deepcluster.training import learning_rate_for_round, network_from_checkpoint
from tests.conftest import planted_images, round_zero, settings
from tests.methods.test_deepcluster import deepcluster_round

CPU = Execution()


def test_a_deepcluster_checkpoint_restores_weights_momentum_and_takes_new_settings(planted):
    _, _, run = round_zero(planted, settings(pca={"dim": 8}, kmeans={"k": 5}))
    initial = initialise_method(planted, run)
    method, optimizer = DeepCluster.restore(initial, run, len(planted))
    deepcluster_round(method.backbone, optimizer, planted)
    checkpoint = make_checkpoint(method, optimizer, initial["model_config"], round_number=1, step=4)
    assert checkpoint["method"] == "deepcluster" and checkpoint["method_state"] == {}  # the head lives one round
    lowered = type(run)(run.parameters.model_copy(update={"training": run.parameters.training.model_copy(
        update={"lr": 1e-3})}), run.resolved, run.execution)  # fmt: skip
    restored, restored_optimizer = DeepCluster.restore(checkpoint, lowered, len(planted))
    for a, b in zip(method.backbone.state_dict().values(), restored.backbone.state_dict().values()):
        torch.testing.assert_close(a, b)
    first = next(method.backbone.parameters())
    torch.testing.assert_close(
        restored_optimizer.state[next(restored.backbone.parameters())]["momentum_buffer"],
        optimizer.state[first]["momentum_buffer"],
    )
    assert restored_optimizer.param_groups[0]["lr"] == 1e-3  # the settings of now, the state of then
    loaded = network_from_checkpoint(checkpoint, CPU).eval()
    image = torch.randn(2, 1, 8, 8)
    torch.testing.assert_close(loaded(image), method.backbone.eval()(image))


@pytest.mark.parametrize("name", list(METHODS))
def test_every_method_refuses_a_checkpoint_of_another_with_the_way_out(name):
    images = planted_images()
    other = "swav" if name != "swav" else "deepcluster"
    _, _, run = round_zero(images, settings(pca={"dim": 8}, kmeans={"k": 5}, method={"name": other}))
    with pytest.raises(ValueError, match=rf"made by {other}, not by method.name = '{name}': set method.name back"):
        METHODS[name].restore(initialise_method(images, run), run, len(images))


def test_the_learning_rate_follows_a_cosine_over_the_rounds():
    assert learning_rate_for_round(0.05, 1, 10) == pytest.approx(0.05)
    assert learning_rate_for_round(0.05, 6, 10) == pytest.approx(0.025)
    assert learning_rate_for_round(0.05, 10, 10) == pytest.approx(0.05 * 0.5 * (1 + np.cos(0.9 * np.pi)))
