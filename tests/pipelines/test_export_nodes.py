import numpy as np
import pandas as pd
import pytest
import torch
import torchvision

from deepcluster.clustering.clusterers import CLUSTERERS
from deepcluster.clustering.partition import Partition
from deepcluster.io import CheckpointDataset
from deepcluster.methods import DeepCluster
from deepcluster.methods.base import make_checkpoint
from deepcluster.models import build_model
from deepcluster.pipelines.export.nodes import export_backbone, partition_images, tabulate_assignments
from deepcluster.run import RunContext
from tests.conftest import settings
from tests.methods.test_deepcluster import CROPS


def _checkpoint(network: torch.nn.Module, config: dict, round_number: int) -> dict:
    method = DeepCluster(network, CROPS, head_weight_decay=0.0)
    return make_checkpoint(method, torch.optim.SGD(network.parameters(), lr=0.1), config, round_number, step=0)


def test_the_readme_snippet_loads_the_backbone_into_torchvision(tmp_path):
    config = {"name": "resnet18", "in_channels": 3, "seed": 0}
    network = build_model(**config).eval()
    checkpoint = _checkpoint(network, config, round_number=3)
    CheckpointDataset(str(tmp_path / "backbone.pt"), background_write=False).save(export_backbone(checkpoint))

    # README, "Results": load the trained backbone into torchvision's architecture
    saved = torch.load(tmp_path / "backbone.pt", weights_only=True)
    net = getattr(torchvision.models, saved["torchvision_architecture"])()
    net.load_state_dict(saved["torchvision_state_dict"], strict=False)  # every layer but the classifier

    net.fc = torch.nn.Identity()
    image = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(net.eval()(image), network(image))


def test_small_convnet_backbones_rebuild_with_the_library(tmp_path):
    config = {"name": "small_convnet", "in_channels": 1, "seed": 0, "width": 4, "feature_dim": 8}
    network = build_model(**config).eval()
    exported = export_backbone(_checkpoint(network, config, round_number=1))
    assert "torchvision_state_dict" not in exported
    rebuilt = build_model(**exported["model_config"])
    rebuilt.load_state_dict(exported["model_state"])
    image = torch.randn(2, 1, 8, 8)
    torch.testing.assert_close(rebuilt.eval()(image), network(image))


@pytest.mark.parametrize("score_name", ["distance", "confidence"])
def test_assignment_table_lines_up_ids_clusters_and_the_clusterers_score(score_name):
    index = pd.DataFrame({"image_id": ["a.png", "b.png"], "label": [1, 0], "class_name": ["dog", "cat"]})
    partition = Partition("any", 5, np.array([4, 2]), np.array([0.5, 0.25]), score_name, {})
    table, same = tabulate_assignments(partition, index)
    assert table.to_dict("list") == {
        "image_id": ["a.png", "b.png"],
        "cluster": [4, 2],
        score_name: [0.5, 0.25],
        "class_name": ["dog", "cat"],
    }
    assert same is table


def test_the_final_partition_has_as_many_groups_as_resolved_and_names_its_clusterer():
    generator = torch.Generator().manual_seed(0)
    centres = torch.randn(3, 16, generator=generator) * 4
    features = centres.repeat_interleave(30, dim=0) + 0.1 * torch.randn(90, 16, generator=generator)
    parameters = settings()
    resolved = {"clustering.groups": 3, "scan.k": 3, "scan.neighbours": 10}
    partition, metrics, tags = partition_images(features, RunContext.create(parameters, resolved))
    assert partition.k == 3 and sorted(np.unique(partition.assignments)) == [0, 1, 2]
    assert set(metrics) == {f"final_partition_criterion_{name}" for name in CLUSTERERS}
    assert tags == {"final_partition": partition.clusterer}
    only_ward = settings(clustering={"final": "ward"})
    partition, metrics, _ = partition_images(features, RunContext.create(only_ward, resolved))
    assert partition.clusterer == "ward" and set(metrics) == {"final_partition_criterion_ward"}
