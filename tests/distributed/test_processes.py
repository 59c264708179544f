"""Two processes over gloo give what one process gives, and every process holds the same result.

Each test starts two CPU processes with ``torch.multiprocessing`` and a file
rendezvous, runs library code in both, and compares what they saved with the
one-process result computed here.
"""

import os

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from sklearn.metrics import adjusted_rand_score
from torch import nn

from deepcluster import features as features_module
from deepcluster.clustering.kmeans import kmeans
from deepcluster.data.augment import Augmentation, CropGroup, MultiCrop
from deepcluster.data.collection import ImageFiles
from deepcluster.data.sources import load_folder
from deepcluster.distributed.processes import from_main_process, shard, shard_batches
from deepcluster.distributed.reduce import all_gather_rows, merge_written
from deepcluster.features import extract_features, extract_reduced_features
from deepcluster.methods import (
    ODC,
    DeepCluster,
    DeepClusterV2,
    EpochPlan,
    PseudoLabels,
    SwAV,
    cluster_memory_bank,
    fill_memory_bank,
    train_round,
)
from deepcluster.methods.odc import MemoryStart
from deepcluster.models import DeepClusterNet, build_model
from deepcluster.runtime import Execution
from tests.conftest import planted_images

pytestmark = pytest.mark.learning  # CI runs these again on other floating-point paths

CPU = Execution()


def _features_and_clusters(rank: int) -> dict:
    images = planted_images(n_per_class=21)  # 63 images: shares of 31 and 32
    model = build_model("small_convnet", 1, seed=0, width=8, feature_dim=16)
    reduced = extract_reduced_features(model, images, pca_dim=3, batch_size=16, execution=CPU, crop_size=8)
    clusters = from_main_process(lambda: kmeans(reduced.features, 3, n_iter=10, seed=1))
    return {"features": reduced.features, "eigenvalues": reduced.pca.eigenvalues, "assignments": clusters.assignments}


def test_two_processes_extract_reduce_and_cluster_as_one(two_processes, tmp_path):
    ranks = two_processes.run(_features_and_clusters, tmp_path)
    alone = _features_and_clusters(0)
    for result in ranks:  # the same on both processes, to the bit
        torch.testing.assert_close(result["features"], ranks[0]["features"], atol=0, rtol=0)
        np.testing.assert_array_equal(result["assignments"], ranks[0]["assignments"])
    # as in one process: the PCA from summed moments (a direction's sign is arbitrary), the same clusters
    torch.testing.assert_close(ranks[0]["eigenvalues"], alone["eigenvalues"], rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(ranks[0]["features"].abs(), alone["features"].abs(), atol=1e-4, rtol=1e-3)
    assert adjusted_rand_score(alone["assignments"], ranks[0]["assignments"]) == 1.0


def _reads_of_each_process(rank: int, folder: str) -> dict:
    """A folder ingested and its features extracted, recording which files this process decodes and which
    images it extracts."""
    decoded, extracted = [], []
    decode, batches = ImageFiles.__getitem__, features_module.iterate_pixel_batches

    def recorded_decode(self, index):
        decoded.append(os.fsdecode(self.paths[index]))
        return decode(self, index)

    def recorded_batches(collection, indices, *args, **kwargs):
        extracted.extend(np.asarray(indices).tolist())
        return batches(collection, indices, *args, **kwargs)

    ImageFiles.__getitem__, features_module.iterate_pixel_batches = recorded_decode, recorded_batches
    try:
        ingested = load_folder(folder, image_size=8, channels=1, workers=0)
        model = build_model("small_convnet", 1, seed=0, width=4, feature_dim=8)
        features = extract_features(model, ingested.collection, batch_size=16, execution=CPU, crop_size=8)
    finally:
        ImageFiles.__getitem__, features_module.iterate_pixel_batches = decode, batches
    return {"decoded": decoded, "extracted": extracted, "ingested": ingested, "features": features}


def test_each_process_decodes_and_extracts_only_its_share_and_all_get_the_whole(two_processes, tmp_path):
    images = planted_images(n_per_class=15)
    folder = tmp_path / "images"
    for index, pixels in enumerate(images.pixels):
        (folder / f"class{images.labels[index]}").mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels[0]).save(folder / f"class{images.labels[index]}" / f"{index:03d}.png")
    (folder / "class0" / "broken.png").write_bytes(b"not a png")
    files = sorted(str(path) for path in folder.rglob("*.png"))
    ranks = two_processes.run(_reads_of_each_process, tmp_path, str(folder))
    alone = _reads_of_each_process(0, str(folder))
    assert not set(ranks[0]["decoded"]) & set(ranks[1]["decoded"])
    assert sorted(ranks[0]["decoded"] + ranks[1]["decoded"]) == files == sorted(alone["decoded"])
    assert not set(ranks[0]["extracted"]) & set(ranks[1]["extracted"])
    assert sorted(ranks[0]["extracted"] + ranks[1]["extracted"]) == list(range(45))
    for result in ranks:  # every process holds the whole collection, as one process reads it
        ingested, expected = result["ingested"], alone["ingested"]
        assert ingested.collection.ids == expected.collection.ids and ingested.skipped == expected.skipped
        assert (ingested.collection.pixels == expected.collection.pixels).all()
        assert (ingested.collection.mean, ingested.collection.std) == (
            expected.collection.mean,
            expected.collection.std,
        )
        assert (ingested.collection.labels == expected.collection.labels).all()
        torch.testing.assert_close(result["features"], alone["features"], atol=1e-5, rtol=1e-4)


def _shares(rank: int) -> dict:
    rows = torch.arange(5 + rank, dtype=torch.float32)[:, None].repeat(1, 2) + 10 * rank
    bank = torch.zeros(1, 6, 2)
    written = torch.tensor([rank == 0, rank == 1, rank == 0, False, rank == 1, rank == 0], dtype=torch.int64)
    bank[0, written > 0] = float(rank + 1)
    return {
        "gathered": all_gather_rows(rows),
        "merged": merge_written(bank, written, dim=1),
        "shard": shard(11),
        "batches": shard_batches(37, 8),
    }


def test_shares_gather_merge_and_cover_every_item_once(two_processes, tmp_path):
    ranks = two_processes.run(_shares, tmp_path)
    expected = torch.cat([torch.arange(5.0)[:, None].repeat(1, 2), torch.arange(6.0)[:, None].repeat(1, 2) + 10])
    for result in ranks:
        torch.testing.assert_close(result["gathered"], expected)
        torch.testing.assert_close(result["merged"][0, :, 0], torch.tensor([1.0, 2, 1, 0, 2, 1]))
    assert [*range(11)[ranks[0]["shard"]], *range(11)[ranks[1]["shard"]]] == list(range(11))
    # 37 = 4 global batches of 8 (4 per process) + 5 left; 5 >= 2 per process, so all 37, in equal steps
    both = np.concatenate([ranks[0]["batches"][0], ranks[1]["batches"][0]])
    assert sorted(both) == list(range(37))
    assert len(ranks[0]["batches"][0]) == 19 and len(ranks[1]["batches"][0]) == 18
    assert ranks[0]["batches"][1] == ranks[1]["batches"][1] == 4


def _overlapping_writes(rank: int) -> torch.Tensor:
    """Six images written by both processes at different steps (two passes of an epoch): stamps of rank 0
    and rank 1 interleave; image 5 is written by rank 1 alone, image 4 by neither."""
    stamps = {0: [1, 4, 2, 3, 0, 0], 1: [2, 3, 1, 4, 0, 5]}[rank]
    bank = torch.full((1, 6, 2), float(10 * (rank + 1)))
    return merge_written(bank, torch.tensor(stamps), dim=1)[0, :, 0]


def test_an_image_written_by_both_processes_takes_the_later_write_not_their_sum(two_processes, tmp_path):
    ranks = two_processes.run(_overlapping_writes, tmp_path)
    # the later stamp wins: rank 1 for images 0 and 3, rank 0 for 1 and 2; image 4 keeps each process's own
    torch.testing.assert_close(ranks[0], torch.tensor([20.0, 10, 10, 20, 10, 20]))
    torch.testing.assert_close(ranks[1], torch.tensor([20.0, 10, 10, 20, 20, 20]))


def _no_batch_norm_backbone() -> DeepClusterNet:
    torch.manual_seed(0)
    trunk = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(2), nn.Flatten())
    return DeepClusterNet(trunk, nn.Sequential(nn.Linear(16, 8), nn.ReLU()), 8, None)


def _deepcluster_epoch(rank: int, batch_size: int, batch_norm: bool = False) -> dict:
    images = planted_images(n_per_class=20)  # 60: 3 global batches of 16 and 12 left
    if batch_norm:  # the project's network, its batch norms over the global batch
        backbone = build_model("small_convnet", 1, seed=0, width=4, feature_dim=8)
    else:
        backbone = _no_batch_norm_backbone()
    method = DeepCluster(backbone, Augmentation(8, crop_scale=(0.5, 1.0)), head_weight_decay=1e-5)
    optimizer = torch.optim.SGD(backbone.parameters(), lr=0.1, momentum=0.9)
    order = np.random.default_rng(0).permutation(len(images))
    plan = EpochPlan.constant(batch_size, 0.1, lr_setting="training.lr")
    targets = PseudoLabels(pd.DataFrame({"cluster": images.labels}), 3)
    generator = torch.Generator().manual_seed(0)
    log = train_round(method, targets, optimizer, images, order, plan, CPU, generator, sync_batchnorm=batch_norm)
    return {"weights": {k: v.clone() for k, v in backbone.state_dict().items()}, "log": log}


@pytest.mark.parametrize("batch_norm", [False, True])
def test_a_distributed_deepcluster_round_matches_one_process_with_the_same_batch(two_processes, tmp_path, batch_norm):
    # the global batch: 8 images per process
    ranks = two_processes.run(_deepcluster_epoch, tmp_path, 16, batch_norm)
    alone = _deepcluster_epoch(0, 16, batch_norm)
    for result in ranks:
        assert result["log"]["images"] == 60 and result["log"]["steps"] == 4
        assert result["log"]["loss"] == pytest.approx(alone["log"]["loss"], rel=1e-5)
        assert result["log"]["pseudo_label_accuracy"] == alone["log"]["pseudo_label_accuracy"]
        for name, weight in alone["weights"].items():
            torch.testing.assert_close(result["weights"][name], weight, atol=1e-5, rtol=1e-4)


VIEWS = MultiCrop((CropGroup(2, 8, (0.5, 1.0)), CropGroup(1, 6, (0.3, 0.6))), flip_probability=0.5, colour=None)


def _swav_codes_with_a_queue(rank: int, processes: int) -> torch.Tensor:
    """Sinkhorn codes of a global batch of 8 after two batches went through a queue of 8 rows."""
    batches = nn.functional.normalize(torch.randn(3, 8, 4, generator=torch.Generator().manual_seed(0)), dim=2)
    method = SwAV(_no_batch_norm_backbone(), (8, 4), 5, VIEWS, n_images=24, queue_length=8, seed=0)
    share = slice(4 * rank, 4 * rank + 4) if processes == 2 else slice(None)
    for batch in batches[:2]:
        method.enqueue([batch[share], batch[share]])  # both large views
    return method.codes(method.prototypes(batches[2][share])[0], view=0)


def test_swav_queue_is_global_two_processes_give_the_codes_of_one(two_processes, tmp_path):
    ranks = two_processes.run(_swav_codes_with_a_queue, tmp_path, 2)
    alone = _swav_codes_with_a_queue(0, 1)  # the queue holds the second batch, the codes balance it with the third
    torch.testing.assert_close(torch.cat(ranks), alone, atol=1e-6, rtol=1e-5)


def _online_round(rank: int, name: str, lr: float = 0.05, steps: int | None = None) -> dict:
    """A round of ``name`` on 60 planted images (or on the first ``steps`` global batches of 8 of them)."""
    images = planted_images(n_per_class=20)
    backbone = build_model("small_convnet", 1, seed=0, width=8, feature_dim=16)
    if name == "deepcluster_v2":
        method = DeepClusterV2(backbone, (32, 8), [3, 5], VIEWS, len(images), seed=0)
        fill_memory_bank(method, images, 16, CPU, torch.Generator().manual_seed(2), sync_batchnorm=True)
        filled = method.memory_bank.clone()
        targets = cluster_memory_bank(method.memory_bank, [3, 5], 5, [1, 2])
    elif name == "odc":
        method = ODC(backbone, (32, 8), 3, VIEWS, len(images), centroid_update_steps=2, min_cluster_size=3, seed=0)
        fill_memory_bank(method, images, 16, CPU, torch.Generator().manual_seed(2), sync_batchnorm=True)
        filled = method.memory_features.clone()
        targets = MemoryStart(filled, cluster_memory_bank(method.memory_features, [3], 5, [1]))
    else:
        method = SwAV(backbone, (32, 8), 3, VIEWS, len(images), freeze_prototypes_steps=1, seed=0)
        filled, targets = None, None
    optimizer = torch.optim.SGD(method.parameters(), lr=lr, momentum=0.9)
    plan = EpochPlan(8, lr, lr / 10, 1, 10, 0)
    order = np.random.default_rng(1).permutation(len(images))[: steps and 8 * steps]
    generator = torch.Generator().manual_seed(3)
    log = train_round(method, targets, optimizer, images, order, plan, CPU, generator, sync_batchnorm=True)
    return {"state": {k: v.clone() for k, v in method.state_dict().items()}, "log": log, "filled": filled}


@pytest.mark.parametrize("name", ["deepcluster_v2", "swav", "odc"])
def test_online_methods_end_a_distributed_round_with_the_same_state_everywhere(two_processes, tmp_path, name):
    ranks = two_processes.run(_online_round, tmp_path, name)
    for key, value in ranks[0]["state"].items():  # weights, batch norm statistics, bank, assignments
        torch.testing.assert_close(ranks[1]["state"][key], value, msg=key)
    assert ranks[0]["log"]["images"] == 60
    # the global batch of 8: the steps of one process, so the schedule ends at the same rate
    alone = _online_round(0, name)["log"]
    assert ranks[0]["log"]["steps"] == ranks[1]["log"]["steps"] == alone["steps"] == 8
    assert ranks[0]["log"]["lr"] == ranks[1]["log"]["lr"] == pytest.approx(alone["lr"])
    if name == "deepcluster_v2":
        assert bool(ranks[0]["state"]["bank_filled"].all())
        assert (ranks[0]["filled"].norm(dim=2) > 0.99).all()  # every image's projections, from one of the two
    elif name == "odc":
        assert (ranks[0]["state"]["memory_labels"] >= 0).all()
        assert (ranks[0]["filled"].norm(dim=2) > 0.99).all()
    else:
        assert (ranks[0]["state"]["assignments"] >= 0).all()


def _swav_several_passes(rank: int) -> dict:
    """A SwAV epoch of three passes over 60 images (batches of 8): most images are seen by both processes."""
    images = planted_images(n_per_class=20)
    backbone = build_model("small_convnet", 1, seed=0, width=8, feature_dim=16)
    method = SwAV(backbone, (32, 8), 3, VIEWS, len(images), seed=0)
    optimizer = torch.optim.SGD(method.parameters(), lr=0.0)
    generator = torch.Generator().manual_seed(3)
    order = np.concatenate([torch.randperm(60, generator=generator).numpy() for _ in range(3)])
    plan = EpochPlan(8, 0.0, 0.0, 0, 30, 0)
    log = train_round(method, None, optimizer, images, order, plan, CPU, generator, sync_batchnorm=True)
    return {"assignments": method.assignments[0].clone(), "log": log}


def test_swav_over_several_passes_keeps_every_cluster_id_below_k_under_two_processes(two_processes, tmp_path):
    ranks = two_processes.run(_swav_several_passes, tmp_path)
    assert ranks[0]["log"]["images"] == 180
    alone = _swav_several_passes(0)["assignments"]  # each image's prototype at its last view, as one process
    assert len(alone.unique()) > 1
    for result in ranks:
        torch.testing.assert_close(result["assignments"], alone)


@pytest.mark.parametrize("name", ["deepcluster_v2", "swav", "odc"])
def test_two_processes_train_an_online_round_as_one_process(two_processes, tmp_path, name):
    """The same views for each image, batch norm and Sinkhorn over the global batch, the memory filled and
    updated from all of it, ODC's class weights normalised over all of it: two processes take the steps one
    takes, to 1e-3 of what the steps change (ODC's per-process weighted mean was 0.04 off). Two steps at a
    small learning rate: on these tiny planted images a longer round is chaotic (a change of 1e-7 in the
    weights moves SwAV's fourth loss by 1 %, as much as the order of the processes' sums does)."""
    ranks = two_processes.run(_online_round, tmp_path, name, 0.002, 2)
    alone, start = _online_round(0, name, 0.002, 2), _online_round(0, name, 0.0, 2)
    assert ranks[0]["log"]["loss"] == pytest.approx(alone["log"]["loss"], rel=1e-4)
    keys = [key for key, value in alone["state"].items() if value.is_floating_point() and value.numel()]

    def flat(state: dict) -> torch.Tensor:  # weights, batch norm statistics, memory
        return torch.cat([state[key].flatten() for key in keys])

    change = (flat(alone["state"]) - flat(start["state"])).norm()
    assert change > 0
    assert (flat(ranks[0]["state"]) - flat(alone["state"])).norm() < 1e-3 * change
