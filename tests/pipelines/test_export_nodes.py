import pandas as pd
import torch
import torchvision

from deepcluster.io import CheckpointDataset
from deepcluster.models import build_model
from deepcluster.pipelines.export.nodes import export_backbone, tabulate_assignments
from deepcluster.training import body_optimizer, make_checkpoint


def test_the_readme_snippet_loads_the_backbone_into_torchvision(tmp_path):
    config = {"name": "resnet18", "in_channels": 3, "seed": 0}
    network = build_model(**config).eval()
    checkpoint = make_checkpoint(network, body_optimizer(network), config, round_number=3)
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
    exported = export_backbone(make_checkpoint(network, body_optimizer(network), config, round_number=1))
    assert "torchvision_state_dict" not in exported
    rebuilt = build_model(**exported["model_config"])
    rebuilt.load_state_dict(exported["model_state"])
    image = torch.randn(2, 1, 8, 8)
    torch.testing.assert_close(rebuilt.eval()(image), network(image))


def test_assignment_table_lines_up_ids_and_clusters():
    index = pd.DataFrame({"image_id": ["a.png", "b.png"], "label": [1, 0], "class_name": ["dog", "cat"]})
    assignments = pd.DataFrame({"cluster": [4, 2], "distance": [0.5, 0.25]})
    table, same = tabulate_assignments(assignments, index)
    assert table.to_dict("list") == {
        "image_id": ["a.png", "b.png"],
        "cluster": [4, 2],
        "distance": [0.5, 0.25],
        "class_name": ["dog", "cat"],
    }
    assert same is table
