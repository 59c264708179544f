"""DeepCluster's round: a fresh head learns the planted pseudo-labels, at the round's learning rate."""

import numpy as np
import pandas as pd
import pytest
import torch

from deepcluster.data.augment import Augmentation
from deepcluster.data.collection import collection_from_arrays
from deepcluster.evaluation.metrics import hungarian_accuracy
from deepcluster.methods import DeepCluster, EpochPlan, PseudoLabels, train_round
from deepcluster.methods.deepcluster import cluster_by_neighbours
from deepcluster.models import build_model
from deepcluster.run import RunContext
from deepcluster.runtime import Execution
from deepcluster.training import NonFiniteLossError
from tests.conftest import four_blobs, settings

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


def test_a_scan_round_pairs_each_image_with_its_neighbours_in_the_pixels_when_told():
    # four blobs of features, and pixels whose two patterns join the blobs in pairs: along x in one
    # collection, along y in the other. With neighbours_from: pixels the SCAN round's clusters pair the blobs
    # as the pixels do, which the features alone cannot say
    features, _, corners = four_blobs(0)
    rng = np.random.default_rng(1)
    patterns = np.zeros((2, 8, 8))
    patterns[0, :, :4] = patterns[1, :4, :] = 200  # a bright left half, a bright top half
    run = RunContext.create(settings(scan={"neighbours_from": "pixels"}), {"scan.k": 2, "scan.neighbours": 10})
    for column in (0, 1):
        side = (corners[:, column] > 0).astype(int)
        pixels = (patterns[side] + rng.uniform(0, 55, (600, 8, 8)))[:, None].astype(np.uint8)
        collection = collection_from_arrays(pixels, side, ["left", "top"], 8, source="planted")
        clusters, summary = cluster_by_neighbours(features, collection, run, round_number=1)
        assert hungarian_accuracy(side, clusters["cluster"].to_numpy()) > 0.98
        assert summary["scan/confident_fraction"] > 0.9
