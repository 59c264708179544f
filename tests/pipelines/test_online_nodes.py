"""The online methods' rounds through the one round API: the learning-rate schedule spans the method's own
rounds, and ODC's memory is initialised once."""

import numpy as np
import pytest
import torch

from deepcluster.methods import METHODS, base
from deepcluster.methods.base import passes_without_repeats
from deepcluster.methods.optim import warmup_cosine
from deepcluster.methods.rounds import train_method_round
from deepcluster.pipelines.ingest.nodes import index_images
from tests.conftest import planted_images, round_zero, settings

ROUNDS, SCAN_ROUNDS = 3, 1


def method_round(checkpoint, images, run, round_number):
    """A round as the pipeline wires it: the method's steps, then its epoch."""
    method = METHODS[run.parameters.method.name]
    outputs = {"previous_checkpoint": checkpoint, "images": images, "run_context": run}
    for step in method.round_steps:
        made = step.function(*(outputs[name] for name in step.inputs), round_number=round_number)
        outputs |= dict(zip(step.outputs, made if len(step.outputs) > 1 else [made], strict=True))
    return train_method_round(
        checkpoint, images, run, outputs.get("targets"), round_number=round_number, method_name=method.name
    )


def online_settings(monkeypatch, min_steps: int = 0, **chosen):
    """The settings of a small online run: batches of 16, no warm-up, rounds of ``min_steps`` steps at least."""
    monkeypatch.setattr(base, "MIN_STEPS", min_steps)
    monkeypatch.setattr(base, "WARMUP_ROUNDS", 0)
    return settings(training={"batch_size": 16, "lr": 0.1}, pca={"dim": 8}, **chosen)


@pytest.mark.parametrize("method", ["swav", "deepcluster_v2", "odc"])
def test_the_schedule_ends_with_the_methods_own_rounds_not_the_scan_round_ones(method, monkeypatch):
    images = planted_images(n_per_class=20)  # 60 images, batch 16: 4 steps a round
    chosen = online_settings(
        monkeypatch,
        rounds=ROUNDS,
        method={"name": method},
        kmeans={"k": 6},
        scan={"rounds": SCAN_ROUNDS},
    )
    checkpoint, _, run = round_zero(images, chosen)
    assert run.resolved["method.rounds"] == ROUNDS - SCAN_ROUNDS

    logs = []
    for round_number in range(1, ROUNDS - SCAN_ROUNDS + 1):
        checkpoint, log, assignments = method_round(checkpoint, images, run, round_number)
        logs.append(log)
        assert len(assignments) == len(images)
    total = 4 * (ROUNDS - SCAN_ROUNDS)
    assert checkpoint["step"] == total
    # the last step of the method's last round is the schedule's last: the rate is down at FINAL_LR
    assert logs[-1]["lr"] == pytest.approx(warmup_cosine(total - 1, total, 0, 0.1, base.FINAL_LR))
    assert logs[-1]["lr"] < 0.01


@pytest.mark.parametrize("min_steps,passes", [(0, 1), (4, 1), (10, 3)])
def test_a_small_collection_is_passed_over_until_a_round_has_min_steps(min_steps, passes, monkeypatch):
    images = planted_images(n_per_class=20)  # 60 images, batch 16: 4 steps a pass
    chosen = online_settings(monkeypatch, min_steps, rounds=2, method={"name": "swav"}, kmeans={"k": 6},
                             scan={"rounds": 0})  # fmt: skip
    checkpoint, _, run = round_zero(images, chosen)
    steps = -(-passes * len(images) // 16)
    for round_number in (1, 2):
        checkpoint, log, _ = method_round(checkpoint, images, run, round_number)
        assert (log["images"], log["steps"], checkpoint["step"]) == (passes * 60, steps, round_number * steps)
    assert log["lr"] == pytest.approx(warmup_cosine(2 * steps - 1, 2 * steps, 0, 0.1, base.FINAL_LR))


@pytest.mark.parametrize("n_images,batch_size,passes", [(240, 64, 2), (60, 16, 3), (1797, 128, 4), (65, 64, 5)])
def test_passes_over_the_images_never_put_one_image_twice_in_a_batch(n_images, batch_size, passes):
    order = passes_without_repeats(n_images, batch_size, passes, torch.Generator().manual_seed(0))
    assert np.array_equal(np.bincount(order, minlength=n_images), np.full(n_images, passes))
    batches = [order[start : start + batch_size] for start in range(0, len(order), batch_size)]
    assert all(len(np.unique(batch)) == len(batch) for batch in batches)
    for each_pass in order.reshape(passes, n_images):  # every pass holds every image once
        assert np.array_equal(np.sort(each_pass), np.arange(n_images))


def test_deepcluster_v2_evaluates_a_round_that_never_saw_one_image(monkeypatch):
    """n % batch_size == 1: the last batch of one image is dropped, so that image has no cluster (-1) in round 1;
    the round's metrics count it apart and size the clusters by the prototypes of every head (kmeans.k)."""
    from deepcluster.pipelines.deepcluster.nodes import evaluate_round

    images = planted_images(n_per_class=11)  # 33 images, batch 16: two steps and one image left over
    chosen = online_settings(monkeypatch, rounds=2, method={"name": "deepcluster_v2"}, kmeans={"k": 4},
                             scan={"rounds": 0})  # fmt: skip
    checkpoint, no_assignments, run = round_zero(images, chosen)
    assert run.resolved["method.prototypes"] == [4, 4, 4]
    _, log, assignments = method_round(checkpoint, images, run, 1)
    assert (assignments["cluster"] == -1).sum() == 1
    metrics = evaluate_round(assignments, no_assignments, index_images(images), log, run, round_number=1)
    assert metrics["clusters/unassigned"] == 1
    sizes = np.bincount(assignments["cluster"].to_numpy()[assignments["cluster"].to_numpy() >= 0], minlength=4)
    assert metrics["clusters/non_empty"] == (sizes > 0).sum()
    assert metrics["clusters/empty"] == 4 - (sizes > 0).sum() >= 0
    assert 0 <= metrics["clusters_vs_labels/acc_one_to_one"] <= 1
