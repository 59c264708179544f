"""ODC's memories against direct computations: the momentum update and relabelling, the centroids, the
dissolved small clusters, the loss weights; and two processes updating the memory as one."""

import pytest
import torch
import torch.nn.functional as F

from deepcluster.data.augment import CropGroup, MultiCrop
from deepcluster.methods import ODC
from deepcluster.methods.odc import min_cluster_size_for
from deepcluster.models import build_model

VIEWS = MultiCrop((CropGroup(2, 8, (0.5, 1.0)),), flip_probability=0.0, colour=None)


def odc_with_memory(features: torch.Tensor, labels: torch.Tensor, k: int, min_cluster_size: int = 2) -> ODC:
    backbone = build_model("small_convnet", 1, seed=0, width=4, feature_dim=8)
    method = ODC(backbone, (16, features.shape[1]), k, VIEWS, features.shape[0], min_cluster_size=min_cluster_size)
    method.memory_features[0] = F.normalize(features, dim=1)
    method.memory_labels.copy_(labels)
    sums = torch.zeros(k, features.shape[1]).index_add_(0, labels, method.memory_features[0])
    method.centroids.copy_(F.normalize(sums, dim=1))  # as the first k-means leaves them
    method.update_centroids()
    return method


def three_groups(per_group: int = 20, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    directions = torch.eye(3)
    labels = torch.arange(3).repeat_interleave(per_group)
    return directions[labels] + 0.1 * torch.randn(3 * per_group, 3, generator=generator), labels


def test_the_memory_moves_with_momentum_and_each_image_takes_its_nearest_centroid():
    features, labels = three_groups()
    method = odc_with_memory(features, labels, k=3)
    before = method.memory_features[0].clone()
    indices = torch.tensor([0, 25, 59])
    new = F.normalize(torch.tensor([[0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]), dim=1)
    method.update_memory([new, new], indices)  # two large views of the same projection
    expected = F.normalize(0.5 * before[indices] + 0.5 * new, dim=1)
    torch.testing.assert_close(method.memory_features[0, indices], expected)
    assert method.memory_labels[indices].tolist() == (expected @ method.centroids.T).argmax(dim=1).tolist()
    assert method.memory_labels[0] == 0  # half-way from group 0 to group 2: still nearer 0
    untouched = torch.ones(60, dtype=torch.bool)
    untouched[indices] = False
    torch.testing.assert_close(method.memory_features[0, untouched], before[untouched])


def test_centroids_are_the_normalised_means_and_weights_the_inverse_square_root_of_sizes():
    features, labels = three_groups()
    labels[:5] = 1  # sizes 15, 25, 20
    method = odc_with_memory(features, labels, k=3)
    memory = F.normalize(features, dim=1)
    for cluster in range(3):
        torch.testing.assert_close(method.centroids[cluster], F.normalize(memory[labels == cluster].mean(0), dim=0))
    torch.testing.assert_close(method.class_weights, torch.tensor([15.0, 25.0, 20.0]) ** -0.5)


def test_a_small_cluster_is_dissolved_into_its_neighbours_and_refilled_from_the_largest():
    features, labels = three_groups()
    labels = torch.cat([labels, torch.tensor([3])])  # cluster 3: one image, in group 2's direction
    features = torch.cat([features, torch.tensor([[0.0, 0.1, 1.0]])])
    labels[40:45] = 0  # group 0 is now the largest: 25 images
    method = odc_with_memory(features, labels.clone(), k=4, min_cluster_size=4)
    after = method.memory_labels
    assert after[60] == 2  # the small cluster's image joined its nearest cluster
    refilled = torch.nonzero(after == 3).flatten()
    assert 4 <= refilled.numel() <= 12 and (labels[refilled] == 0).all()  # half of the largest cluster
    assert torch.bincount(after, minlength=4).min() >= 4
    assert int(method._round_counts[2]) == 1


def test_the_automatic_minimum_cluster_size_follows_the_reference_ratio():
    assert min_cluster_size_for(1_281_167, 10_000) == 21  # mmselfsup: 20 on ImageNet with k = 10,000
    assert min_cluster_size_for(1797, 50) == 6
    assert min_cluster_size_for(60, 30) == 2


def _memory_after_one_update(rank: int, processes: int) -> dict:
    features, labels = three_groups(per_group=8)
    method = odc_with_memory(features, labels, k=3)
    batch = F.normalize(torch.randn(8, 3, generator=torch.Generator().manual_seed(1)), dim=1)
    indices = torch.tensor([0, 3, 9, 12, 17, 20, 22, 23])
    share = slice(4 * rank, 4 * rank + 4) if processes == 2 else slice(None)
    method.update_memory([batch[share]], indices[share])
    return {"features": method.memory_features.clone(), "labels": method.memory_labels.clone()}


@pytest.mark.learning  # CI runs it again on other floating-point paths
def test_two_processes_update_the_memory_as_one_with_the_whole_batch(two_processes, tmp_path):
    ranks = two_processes.run(_memory_after_one_update, tmp_path, 2)
    alone = _memory_after_one_update(0, 1)
    for result in ranks:
        torch.testing.assert_close(result["features"], alone["features"])
        assert torch.equal(result["labels"], alone["labels"])
