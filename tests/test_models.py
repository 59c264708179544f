import pytest
import torch
import torch.nn.functional as F
from torchvision import models as tv_models

from deepcluster.auto import representation_for
from deepcluster.models import ARCHITECTURES, Representation, Sobel, build_model, new_head, torchvision_state_dict


@pytest.mark.parametrize(
    "name,size,options,feature_dim",
    [
        ("small_convnet", 8, {"width": 8, "feature_dim": 24}, 24),
        ("small_convnet", 32, {}, 128),
        ("alexnet_bn", 64, {}, 4096),
        ("vgg16_bn", 32, {}, 4096),
        ("resnet18", 32, {"small_input": True}, 512),
    ],
)
def test_architectures_give_features_of_their_size(name, size, options, feature_dim):
    model = build_model(name, in_channels=3, seed=0, **options).eval()
    with torch.no_grad():
        features = model(torch.randn(2, 3, size, size))
    assert features.shape == (2, feature_dim)
    assert model.feature_dim == feature_dim


def test_same_seed_same_weights_and_caller_rng_untouched():
    torch.manual_seed(123)
    expected_next = torch.rand(1)
    torch.manual_seed(123)
    first = build_model("small_convnet", 1, seed=5, width=4, feature_dim=8)
    assert torch.rand(1) == expected_next  # building did not consume the caller's random state
    second = build_model("small_convnet", 1, seed=5, width=4, feature_dim=8)
    third = build_model("small_convnet", 1, seed=6, width=4, feature_dim=8)
    for a, b in zip(first.state_dict().values(), second.state_dict().values()):
        torch.testing.assert_close(a, b)
    assert not torch.equal(first.trunk[0].weight, third.trunk[0].weight)


def test_conv_and_linear_init_follow_the_paper():
    model = build_model("small_convnet", 1, seed=0, width=64, feature_dim=256)
    conv = model.trunk[3]  # 64 -> 64, 3x3
    assert conv.weight.std().item() == pytest.approx((2 / (9 * 64)) ** 0.5, rel=0.05)
    alexnet = build_model("alexnet_bn", 3, seed=0)
    assert alexnet.neck[1].weight.std().item() == pytest.approx(0.01, rel=0.05)


def test_sobel_sees_edges_not_colour():
    sobel = Sobel(in_channels=3)
    flat = torch.full((1, 3, 8, 8), 0.7)
    assert sobel(flat)[..., 1:-1, 1:-1].abs().max() < 1e-6  # no edge inside a flat image
    edge = torch.zeros(1, 3, 8, 8)
    edge[..., 4:] = 1.0  # vertical edge
    response = sobel(edge)
    assert response.shape == (1, 2, 8, 8)
    assert response[0, 0, 4, 4].abs() > 0 and response[0, 1, 2:6, 2:6].abs().max() < 1e-6
    model = build_model("small_convnet", 3, sobel=True, width=4, feature_dim=8)
    assert model.trunk[0].in_channels == 2


def test_new_head_is_freshly_initialised_each_time():
    generator = torch.Generator().manual_seed(0)
    first, second = new_head(256, 1000, generator), new_head(256, 1000, generator)
    assert first.weight.std().item() == pytest.approx(0.01, rel=0.02)
    assert torch.count_nonzero(first.bias) == 0
    assert not torch.equal(first.weight, second.weight)


@pytest.mark.parametrize(
    "name,missing",
    [("resnet18", {"fc.weight", "fc.bias"}), ("vgg16_bn", {"classifier.6.weight", "classifier.6.bias"})],
)
def test_exported_weights_load_into_torchvision(name, missing):
    model = build_model(name, 3, seed=0).eval()
    reference = getattr(tv_models, name)(weights=None).eval()
    result = reference.load_state_dict(torchvision_state_dict(model, name), strict=False)
    assert set(result.missing_keys) == missing and not result.unexpected_keys
    # the loaded network computes the same features as ours
    if name == "resnet18":
        reference.fc = torch.nn.Identity()
    else:
        reference.classifier = reference.classifier[:4]
    image = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(reference(image), model(image))


def test_no_torchvision_export_where_the_input_layer_differs():
    assert torchvision_state_dict(build_model("resnet18", 3, small_input=True), "resnet18") is None
    assert torchvision_state_dict(build_model("resnet18", 3, sobel=True), "resnet18") is None
    assert torchvision_state_dict(build_model("small_convnet", 1, width=4, feature_dim=8), "small_convnet") is None


@pytest.mark.parametrize("sobel", [False, True])
def test_the_representation_is_the_features_or_the_trunk_beside_them_each_of_equal_weight(sobel):
    images = torch.randn(5, 3, 16, 16)
    options = {"width": 4, "feature_dim": 8, "grid": 2, "sobel": sobel}
    neck = build_model("small_convnet", 3, representation="neck", **options).eval()
    both = build_model("small_convnet", 3, representation="trunk_and_neck", **options).eval()
    with torch.no_grad():
        torch.testing.assert_close(Representation(neck)(images), neck(images), rtol=0, atol=0)
        trunk = both.trunk(both.sobel(images) if sobel else images)  # 4 x width maps on a 2 x 2 grid
        expected = torch.cat([F.normalize(trunk, dim=1), F.normalize(both.neck(trunk), dim=1)], dim=1) / 2**0.5
        represented = Representation(both)(images)
        torch.testing.assert_close(both(images), neck(images))  # training sees the same features either way
    assert represented.shape == (5, 16 * 4 + 8)
    torch.testing.assert_close(represented, expected)
    # each half weighs the same in a cosine similarity: half of every row's squared norm
    torch.testing.assert_close(represented[:, :64].norm(dim=1) ** 2, torch.full((5,), 0.5))


def test_auto_takes_the_trunk_for_the_small_convnet_alone_and_a_wrong_value_is_named():
    assert representation_for("small_convnet") == "trunk_and_neck"
    for name in ("alexnet_bn", "vgg16_bn", "resnet18"):
        assert representation_for(name) == "neck"
    with pytest.raises(ValueError, match=r"model.representation = 'trunk' is unknown; choose one of"):
        build_model("small_convnet", 1, representation="trunk")


def test_unknown_model_names_the_setting_and_choices():
    with pytest.raises(ValueError, match=r"model.name = 'lenet' is unknown; choose one of") as error:
        build_model("lenet", 3)
    for name in ARCHITECTURES:
        assert name in str(error.value)


def test_wrong_option_names_the_model():
    with pytest.raises(ValueError, match="do not fit model.name = 'alexnet_bn'"):
        build_model("alexnet_bn", 3, width=3)
