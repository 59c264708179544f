"""DeepCluster's round: a fresh head learns the planted pseudo-labels, at the round's learning rate."""

import numpy as np
import pandas as pd
import pytest
import torch

from deepcluster.augment import Augmentation
from deepcluster.methods import DeepCluster, EpochPlan, PseudoLabels, train_round
from deepcluster.models import build_model
from deepcluster.runtime import Execution
from deepcluster.training import NonFiniteLossError

pytestmark = pytest.mark.learning  # CI runs these again on other floating-point paths

CPU = Execution()
CROPS = Augmentation(output_size=8, crop_scale=(0.5, 1.0), flip_probability=0.0)
CONFIG = {"name": "small_convnet", "in_channels": 1, "seed": 0, "width": 8, "feature_dim": 16}


def body_sgd(model: torch.nn.Module, lr: float = 0.05) -> torch.optim.SGD:
    """The body optimiser ``DeepCluster.make_optimizer`` makes with conf/base's momentum and weight decay."""
    return torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=1e-5)


def deepcluster_round(model, optimizer, images, seed=0, lr=0.05, indices=None, execution=CPU):
    """One DeepCluster round on the planted classes as pseudo-labels, through the library's one round."""
    if indices is None:
        indices = np.random.default_rng(seed).permutation(len(images))
    method = DeepCluster(model, CROPS, head_weight_decay=1e-5)
    plan = EpochPlan.constant(16, lr, lr_setting="training.lr")
    generator = torch.Generator().manual_seed(seed)
    return train_round(
        method,
        PseudoLabels(pd.DataFrame({"cluster": images.labels}), 3),
        optimizer,
        images,
        indices,
        plan,
        execution,
        generator,
    )


def test_training_learns_planted_pseudo_labels(planted):
    model = build_model(**CONFIG)
    optimizer = body_sgd(model, lr=0.2)
    logs = [deepcluster_round(model, optimizer, planted, seed, lr=0.2) for seed in range(15)]
    assert logs[0]["images"] == len(planted)
    assert np.mean([log["loss"] for log in logs[-3:]]) < 0.6 * logs[0]["loss"]
    assert np.mean([log["pseudo_label_accuracy"] for log in logs[-3:]]) > 0.7


def test_non_finite_loss_stops_with_the_fix(planted):
    model = build_model(**CONFIG)
    with torch.no_grad():
        model.neck[0].weight.fill_(float("nan"))
    with pytest.raises(NonFiniteLossError, match=r"lower training.lr \(now 0.05\)"):
        deepcluster_round(model, body_sgd(model), planted)


def test_a_single_image_last_batch_is_skipped(planted):
    model = build_model(**CONFIG)
    log = deepcluster_round(model, body_sgd(model), planted, indices=np.arange(17))  # 16 + 1, batch 16
    assert log["images"] == 16 and log["steps"] == 1


def test_the_round_trains_body_and_a_fresh_head_at_the_rounds_rate(planted):
    model = build_model(**CONFIG)
    optimizer = body_sgd(model)
    method = DeepCluster(model, CROPS, head_weight_decay=0.0)
    generator = torch.Generator().manual_seed(0)
    method.start_round(PseudoLabels(pd.DataFrame({"cluster": planted.labels}), 3), generator)
    first_head = method.head.weight.detach().clone()
    assert method.round_optimizers()[0].param_groups[0]["momentum"] == 0  # ids change between rounds
    method.end_round()
    assert method.head is None and "head.weight" not in method.state_dict()
    deepcluster_round(model, optimizer, planted, lr=0.0125)
    assert optimizer.param_groups[0]["lr"] == 0.0125
    # the same seed draws the same fresh head: a round depends on nothing the last one left
    method.start_round(PseudoLabels(pd.DataFrame({"cluster": planted.labels}), 3), torch.Generator().manual_seed(0))
    torch.testing.assert_close(method.head.weight, first_head)


def test_a_constant_plan_keeps_its_rate_on_every_step(planted):
    plan = EpochPlan.constant(16, 0.03, lr_setting="training.lr")
    model = build_model(**CONFIG)
    optimizer = body_sgd(model)
    log = deepcluster_round(model, optimizer, planted, lr=plan.base_lr)
    assert log["lr"] == 0.03 and log["steps"] == int(np.ceil(len(planted) / 16))
