"""Settings left `auto` follow the images and the device."""

import numpy as np
import pytest
import torch
from PIL import Image

from deepcluster.auto import (
    architecture_for,
    augmentation_for,
    cluster_count_for,
    image_size_cap,
    model_options_for,
    pooling_grid_for,
)
from deepcluster.data.sources import load_image_collection, median_short_side
from tests.conftest import distinct_images, planted_images, round_zero, settings

CPU, CUDA = torch.device("cpu"), torch.device("cuda")


def test_the_digits_default_keeps_its_tuned_values():
    assert cluster_count_for(1797) == 50
    assert architecture_for(8, CPU) == "small_convnet"
    assert architecture_for(8, CUDA) == "small_convnet"  # tiny images stay on the small network


@pytest.mark.parametrize(
    "n,k", [(10, 2), (300, 8), (3000, 83), (10_000, 100), (13_000, 100), (60_000, 462), (1_300_000, 10_000)]
)
def test_k_follows_the_number_of_images_to_the_papers_k_at_imagenets_size(n, k):
    assert cluster_count_for(n) == k


@pytest.mark.parametrize(
    "n,groups,k,grid",
    [(1797, 15, 50, 1), (10_000, 16, 100, 1), (575, 22, 22, 4), (2000, 113, 113, 4), (1000, 10, 28, 1)],
)
def test_k_and_the_pooling_grid_follow_the_groups(n, groups, k, grid):
    """The suite's collections as estimated: digits, MNIST, faces, palms, photos. k is at least one cluster
    per group, and groups of fewer than 50 images keep a grid of regions."""
    assert cluster_count_for(n, groups) == k
    assert pooling_grid_for(n / groups) == grid


def test_the_network_follows_size_and_device():
    assert architecture_for(32, CPU) == "small_convnet"
    assert architecture_for(32, CUDA) == architecture_for(128, CUDA) == "resnet18"
    assert model_options_for("resnet18", 32, 100) == {"model.options.resnet18.small_input": True}  # the CIFAR stem
    assert model_options_for("resnet18", 128, 100) == {"model.options.resnet18.small_input": False}
    assert (image_size_cap(CPU), image_size_cap(CUDA)) == (32, 128)


def _photo_folder(root, sides):
    rng = np.random.default_rng(0)
    for i, (width, height) in enumerate(sides):
        folder = root / f"class_{i % 2}"
        folder.mkdir(parents=True, exist_ok=True)
        pixels = rng.integers(0, 255, size=(height, width, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"{i}.png")


def test_a_folder_gets_its_median_shorter_side_capped_for_the_device(tmp_path):
    _photo_folder(tmp_path, [(40, 30), (50, 24), (60, 20), (22, 90), (100, 26)])  # shorter sides 30 24 20 22 26
    files = sorted(str(p) for p in tmp_path.rglob("*.png"))
    assert median_short_side(files) == 24
    result = load_image_collection("folder", "auto", max_auto_size=64, path=str(tmp_path), workers=0)
    assert result.collection.image_size == 24
    capped = load_image_collection("folder", "auto", max_auto_size=16, path=str(tmp_path), workers=0)
    assert capped.collection.image_size == 16 and capped.collection.pixels.shape[-1] == 16


def test_arrays_keep_their_own_size_up_to_the_cap():
    assert load_image_collection("sklearn_digits", "auto", max_auto_size=32).collection.image_size == 8
    small = load_image_collection("sklearn_digits", "auto", max_auto_size=6).collection
    assert small.image_size == 6 and small.pixels.shape[-2:] == (6, 6)


def test_round_zero_resolves_and_reports_every_auto_setting():
    images = distinct_images(classes=6, per_class=10, size=12)
    chosen = settings(model={"name": "auto"}, kmeans={"k": "auto"}, pca={"dim": 16}, runtime={"device": "cpu"})
    checkpoint, _, run = round_zero(images, chosen)
    resolved = dict(run.resolved)
    estimate = resolved.pop("clustering.groups_estimate_modularity")
    assert resolved.pop("training.augmentation_block")["rotation_degrees"] == 5
    assert resolved == {
        "data.images": 60,
        "data.image_size": 12,
        "data.channels": 1,
        "model.name": "small_convnet",
        "model.representation": "trunk_and_neck",  # the small convnet's trunk beside its features
        "model.input_size": 12,
        "runtime.processes": 1,
        "clustering.groups": 6,  # the planted classes, counted without their labels
        "kmeans.k": 6,  # one per 36 images would be 2: at least one per group
        "model.options.small_convnet.grid": 4,  # groups of 10 images: where things are matters
        "scan.k": 6,
        "scan.neighbours": 5,
        "scan.rounds": 4,
        "method.rounds": 12,
        "training.batch_size": 32,  # DeepCluster's
        "training.augmentation": "grey at strength 0.25",  # groups of 10 images: fine detail matters
    }
    assert 0.8 < estimate <= 5 / 6  # 1 - 1/6: six groups that no edge joins
    assert checkpoint["model_config"]["name"] == "small_convnet" and checkpoint["model_config"]["grid"] == 4
    assert checkpoint["model_config"]["representation"] == "trunk_and_neck"


@pytest.mark.parametrize(
    "channels,images_per_group,expected",
    [
        (1, 120, (20, 0.15, None, 0.0, None)),
        (1, 50, (10, 0.075, None, 0.0, None)),
        (1, 10, (5, 0.0375, None, 0.0, None)),
        (3, 25, (0, 0, (0.2, 1.0), 0.5, (0.8, 0.4, 0.2))),
    ],
)
def test_augmentation_follows_the_channels_and_the_size_of_the_groups(channels, images_per_group, expected):
    _, chosen = augmentation_for(channels, images_per_group)
    rotation, translate, crop_scale, flip, colour = expected
    assert (chosen["rotation_degrees"], chosen["translate"]) == pytest.approx((rotation, translate))
    assert (chosen["crop_scale"], chosen["flip_probability"]) == (crop_scale, flip)
    if colour is None:  # grey images: the geometry alone, as measured on digits, faces, palms and objects
        assert chosen.get("colour") is None
    else:  # photos: jitter (as the online methods' views) and grayscale, so colour alone groups nothing
        jitter, strength, grayscale = colour
        assert (chosen["colour"]["jitter_probability"], chosen["colour"]["saturation"]) == (jitter, strength)
        assert chosen["colour"]["grayscale_probability"] == grayscale


def test_a_collection_of_ten_images_per_group_resolves_to_its_groups_and_fewer_neighbours():
    images = distinct_images(classes=30, per_class=10)
    resolved = round_zero(images, settings(pca={"dim": 16}))[2].resolved
    assert resolved["clustering.groups"] == 30 and resolved["scan.k"] == 30
    assert resolved["scan.neighbours"] == 5  # fewer than a group holds: neighbours stay inside it


@pytest.mark.parametrize("channels", [1, 3])
def test_the_online_methods_views_follow_the_channels(channels):
    from deepcluster.methods.base import multi_crop_views

    images = planted_images(n_per_class=10, channels=channels)
    run = round_zero(images, settings(method={"name": "swav"}, pca={"dim": 8}))[2]
    views = multi_crop_views(run)
    large, small = views.groups
    expected = {1: (0.0, (0.5, 1.0), (0.3, 0.5)), 3: (0.5, (0.14, 1.0), (0.05, 0.14))}[channels]
    assert (views.flip_probability, large.scale, small.scale) == expected  # grey: no mirrors, no few-pixel crops
    assert (large.size, small.size) == (8, 4) and run.resolved["training.batch_size"] == 128
