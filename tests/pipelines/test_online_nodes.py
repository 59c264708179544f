"""The online methods' rounds through the one round API: the learning-rate schedule spans the method's own
rounds, and ODC's memory is initialised once."""

import pytest

from deepcluster.methods import METHODS
from deepcluster.methods.rounds import train_method_round
from deepcluster.optim import warmup_cosine
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


@pytest.mark.parametrize("method", ["swav", "deepcluster_v2", "odc"])
def test_the_schedule_ends_with_the_methods_own_rounds_not_the_scan_round_ones(method):
    images = planted_images(n_per_class=20)  # 60 images, batch 16: 4 steps a round
    chosen = settings(
        rounds=ROUNDS,
        method={"name": method, "batch_size": 16, "optimizer": {"warmup_rounds": 0, "lr": 0.1, "final_lr": 0.001}},
        model={"input_size": 8, "options": {"small_convnet": {"width": 8, "feature_dim": 16}}},
        pca={"dim": 8},
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
    # the last step of the method's last round is the schedule's last: the rate is down at final_lr
    assert logs[-1]["lr"] == pytest.approx(warmup_cosine(total - 1, total, 0, 0.1, 0.001))
    assert logs[-1]["lr"] < 0.01
