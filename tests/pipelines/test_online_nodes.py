"""The online methods' round node: the learning-rate schedule spans the method's own rounds."""

import pytest

from deepcluster.optim import warmup_cosine
from deepcluster.pipelines.deepcluster.online_nodes import cluster_bank, gather_memory_bank, train_online_round
from tests.conftest import planted_images, round_zero, settings

ROUNDS, SELF_LABELLING = 3, 1


@pytest.mark.parametrize("method", ["swav", "deepcluster_v2"])
def test_the_schedule_ends_with_the_methods_own_rounds_not_the_self_labelling_ones(method):
    images = planted_images(n_per_class=20)  # 60 images, batch 16: 4 steps a round
    chosen = settings(
        rounds=ROUNDS,
        method={"name": method, "batch_size": 16, "optimizer": {"warmup_rounds": 0, "lr": 0.1, "final_lr": 0.001}},
        model={"input_size": 8, "options": {"small_convnet": {"width": 8, "feature_dim": 16}}},
        pca={"dim": 8},
        kmeans={"k": 6},
        scan={"self_labelling_rounds": SELF_LABELLING},
    )
    checkpoint, _, resolved = round_zero(images, chosen)
    assert resolved["method.rounds"] == ROUNDS - SELF_LABELLING

    logs = []
    for round_number in range(1, ROUNDS - SELF_LABELLING + 1):
        targets = None
        if method == "deepcluster_v2":
            bank = gather_memory_bank(checkpoint, images, chosen.model, chosen.method, chosen.runtime, round_number)
            targets, _ = cluster_bank(bank, checkpoint, chosen.method, chosen.runtime, round_number)
        checkpoint, log, _ = train_online_round(
            checkpoint, images, chosen.model, chosen.method, chosen.runtime, resolved, targets,
            round_number=round_number,
        )  # fmt: skip
        logs.append(log)
    total = 4 * (ROUNDS - SELF_LABELLING)
    assert checkpoint["step"] == total
    # the last step of the method's last round is the schedule's last: the rate is down at final_lr
    assert logs[-1]["lr"] == pytest.approx(warmup_cosine(total - 1, total, 0, 0.1, 0.001))
    assert logs[-1]["lr"] < 0.01
