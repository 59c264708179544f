import numpy as np
import pytest
import torch

from deepcluster.models import build_model
from deepcluster.runtime import Execution
from deepcluster.training import (
    body_optimizer,
    learning_rate_for_round,
    make_checkpoint,
    network_from_checkpoint,
    restore_training_state,
)
from tests.methods.test_deepcluster import CONFIG, deepcluster_round

CPU = Execution()


def test_checkpoint_restores_weights_momentum_and_takes_new_settings(planted):
    model = build_model(**CONFIG)
    optimizer = body_optimizer(model, lr=0.05)
    deepcluster_round(model, optimizer, planted)
    checkpoint = make_checkpoint(model, optimizer, CONFIG, round_number=1)
    restored, restored_optimizer = restore_training_state(
        checkpoint, CPU, {"lr": 0.01, "momentum": 0.9, "weight_decay": 1e-5}
    )
    for a, b in zip(model.state_dict().values(), restored.state_dict().values()):
        torch.testing.assert_close(a, b)
    first_param = next(model.parameters())
    momentum = optimizer.state[first_param]["momentum_buffer"]
    torch.testing.assert_close(restored_optimizer.state[next(restored.parameters())]["momentum_buffer"], momentum)
    assert restored_optimizer.param_groups[0]["lr"] == 0.01
    assert checkpoint["round"] == 1
    loaded = network_from_checkpoint(checkpoint, CPU).eval()
    image = torch.randn(2, 1, 8, 8)
    torch.testing.assert_close(loaded(image), model.eval()(image))


def test_learning_rate_schedules():
    assert learning_rate_for_round(0.05, "constant", 7, 10) == 0.05
    assert learning_rate_for_round(0.05, "cosine", 1, 10) == pytest.approx(0.05)
    assert learning_rate_for_round(0.05, "cosine", 6, 10) == pytest.approx(0.025)
    assert learning_rate_for_round(0.05, "cosine", 10, 10) == pytest.approx(0.05 * 0.5 * (1 + np.cos(0.9 * np.pi)))
    with pytest.raises(ValueError, match="training.lr_schedule = 'step' is unknown"):
        learning_rate_for_round(0.05, "step", 1, 10)
