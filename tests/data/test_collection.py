import numpy as np
import pytest
import torch

from deepcluster.data.collection import (
    channel_statistics,
    iterate_pixel_batches,
    resize_square,
    subset,
)
from deepcluster.data.sources import load_image_collection, load_sklearn_digits


def test_digits_are_all_there_with_labels():
    digits = load_sklearn_digits(image_size=16)
    assert len(digits) == 1797
    assert digits.pixels.shape == (1797, 1, 16, 16) and digits.pixels.dtype == np.uint8
    assert digits.n_classes == 10
    assert np.bincount(digits.labels).min() >= 174


def test_channel_statistics_are_in_unit_range():
    pixels = np.zeros((4, 2, 3, 3), dtype=np.uint8)
    pixels[:, 1] = 255
    mean, std = channel_statistics(pixels)
    assert mean == pytest.approx((0.0, 1.0))
    assert std == pytest.approx((1e-3, 1e-3))  # floored, never zero


def test_resize_keeps_constant_images_constant():
    pixels = np.full((2, 1, 8, 8), 77, dtype=np.uint8)
    resized = resize_square(pixels, 20)
    assert resized.shape == (2, 1, 20, 20) and np.all(resized == 77)


def test_max_images_keeps_a_reproducible_subset():
    first = load_image_collection("sklearn_digits", 8, max_images=100, seed=1).collection
    second = load_image_collection("sklearn_digits", 8, max_images=100, seed=1).collection
    assert len(first) == 100 and first.ids == second.ids
    full = load_sklearn_digits(8)
    position = int(first.ids[0])
    np.testing.assert_array_equal(first.pixels[0], full.pixels[position])
    assert first.labels[0] == full.labels[position]


def test_subset_follows_the_given_order(planted):
    picked = subset(planted, np.array([5, 0, 41]))
    assert picked.ids == ["5", "0", "41"]
    np.testing.assert_array_equal(picked.labels, planted.labels[[5, 0, 41]])


def test_batches_come_in_the_requested_order(planted):
    order = np.array([3, 1, 2, 0, 59])
    batches = list(iterate_pixel_batches(planted, order, batch_size=2, device=torch.device("cpu")))
    assert [len(b) for b in batches] == [2, 2, 1]
    np.testing.assert_array_equal(torch.cat(batches).numpy(), planted.pixels[order])


def test_unknown_source_names_the_setting():
    with pytest.raises(ValueError, match=r"data.source = 'imagenet' is unknown"):
        load_image_collection("imagenet", 32)


def test_channel_statistics_match_numpy_on_random_images():
    pixels = np.random.default_rng(0).integers(0, 256, (600, 3, 5, 5), dtype=np.uint8)
    mean, std = channel_statistics(pixels)
    scaled = pixels / 255.0
    np.testing.assert_allclose(mean, scaled.mean(axis=(0, 2, 3)))
    np.testing.assert_allclose(std, scaled.std(axis=(0, 2, 3)))
