import numpy as np
import pytest
import torch

from deepcluster.augment import Augmentation
from deepcluster.models import build_model
from deepcluster.runtime import Execution
from deepcluster.training import (
    EpochSettings,
    NonFiniteLossError,
    body_optimizer,
    learning_rate_for_round,
    make_checkpoint,
    network_from_checkpoint,
    restore_training_state,
    train_one_epoch,
)

CPU = Execution()
CROPS = Augmentation(output_size=8, crop_scale=(0.5, 1.0), flip_probability=0.0)
SETTINGS = EpochSettings(CROPS, lr=0.05, batch_size=16)
CONFIG = {"name": "small_convnet", "in_channels": 1, "seed": 0, "width": 8, "feature_dim": 16}


def _epoch(model, optimizer, planted, seed=0, settings=SETTINGS):
    indices = np.random.default_rng(seed).permutation(len(planted))
    return train_one_epoch(
        model, optimizer, planted, indices, planted.labels, 3, settings, CPU, torch.Generator().manual_seed(seed)
    )


def test_training_learns_planted_pseudo_labels(planted):
    model = build_model(**CONFIG)
    optimizer = body_optimizer(model, lr=0.2)
    settings = EpochSettings(CROPS, lr=0.2, batch_size=16)
    logs = [_epoch(model, optimizer, planted, seed, settings) for seed in range(15)]
    assert logs[0]["images"] == len(planted)
    assert np.mean([log["loss"] for log in logs[-3:]]) < 0.6 * logs[0]["loss"]
    assert np.mean([log["pseudo_label_accuracy"] for log in logs[-3:]]) > 0.7


def test_non_finite_loss_stops_with_the_fix(planted):
    model = build_model(**CONFIG)
    with torch.no_grad():
        model.neck[0].weight.fill_(float("nan"))
    with pytest.raises(NonFiniteLossError, match=r"lower training.lr \(now 0.05\)"):
        _epoch(model, body_optimizer(model), planted)


def test_checkpoint_restores_weights_momentum_and_takes_new_settings(planted):
    model = build_model(**CONFIG)
    optimizer = body_optimizer(model, lr=0.05)
    _epoch(model, optimizer, planted)
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


def test_a_single_image_last_batch_is_skipped(planted):
    model = build_model(**CONFIG)
    indices = np.arange(17)  # 16 + 1 with batch size 16
    log = train_one_epoch(
        model, body_optimizer(model), planted, indices, planted.labels, 3, SETTINGS, CPU, torch.Generator()
    )
    assert log["images"] == 16


def test_the_epoch_sets_the_scheduled_learning_rate(planted):
    model = build_model(**CONFIG)
    optimizer = body_optimizer(model, lr=0.05)
    _epoch(model, optimizer, planted, settings=EpochSettings(CROPS, lr=0.0125, batch_size=16))
    assert optimizer.param_groups[0]["lr"] == 0.0125


def test_learning_rate_schedules():
    assert learning_rate_for_round(0.05, "constant", 7, 10) == 0.05
    assert learning_rate_for_round(0.05, "cosine", 1, 10) == pytest.approx(0.05)
    assert learning_rate_for_round(0.05, "cosine", 6, 10) == pytest.approx(0.025)
    assert learning_rate_for_round(0.05, "cosine", 10, 10) == pytest.approx(0.05 * 0.5 * (1 + np.cos(0.9 * np.pi)))
    with pytest.raises(ValueError, match="training.lr_schedule = 'step' is unknown"):
        learning_rate_for_round(0.05, "step", 1, 10)
