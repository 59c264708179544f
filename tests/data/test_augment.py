import math

import pytest
import torch

from deepcluster.data.augment import (
    Augmentation,
    Draws,
    affine_matrices,
    center_crop,
    crop_matrices,
    then,
    to_normalised_float,
    warp,
)


def test_full_crop_without_flip_is_the_identity():
    images = torch.rand(4, 3, 16, 16)
    out = warp(images, crop_matrices(Draws(torch.Generator(), 4), scale=(1, 1), ratio=(1, 1), flip_probability=0), 16)
    torch.testing.assert_close(out, images, atol=1e-5, rtol=0)


def test_full_crop_with_certain_flip_mirrors():
    images = torch.rand(2, 1, 8, 8)
    out = warp(images, crop_matrices(Draws(torch.Generator(), 2), scale=(1, 1), ratio=(1, 1), flip_probability=1), 8)
    torch.testing.assert_close(out, images.flip(-1), atol=1e-5, rtol=0)


def test_each_image_gets_its_own_crop_at_the_output_size():
    image = torch.rand(1, 3, 32, 32).repeat(8, 1, 1, 1)
    out = warp(image, crop_matrices(Draws(torch.Generator().manual_seed(1), 8), scale=(0.2, 0.5)), 24)
    assert out.shape == (8, 3, 24, 24)
    assert len({tuple(o.flatten()[:5].tolist()) for o in out}) == 8
    # a crop of at most half the area is a zoom: it differs from the resized whole image
    whole = torch.nn.functional.interpolate(image[:1], size=24, mode="bilinear", align_corners=False)
    assert (out - whole).abs().mean() > 0.05


def test_normalisation_and_centre_crop():
    pixels = torch.full((1, 2, 6, 6), 255, dtype=torch.uint8)
    out = to_normalised_float(pixels, mean=(0.5, 0.0), std=(0.5, 2.0))
    torch.testing.assert_close(out[0, :, 0, 0], torch.tensor([1.0, 0.5]))
    grid = torch.arange(36).view(1, 1, 6, 6)
    torch.testing.assert_close(center_crop(grid, 2), torch.tensor([[[[14, 15], [20, 21]]]]))


def test_identity_affine_changes_nothing():
    images = torch.rand(3, 1, 10, 10)
    out = warp(images, affine_matrices(3, torch.Generator()), 10)  # every range 0
    torch.testing.assert_close(out, images, atol=1e-5, rtol=0)


def test_affine_rotation_moves_a_dot_around_the_centre():
    image = torch.zeros(1, 1, 21, 21)
    image[0, 0, 10, 16] = 1.0  # right of the centre
    generator = torch.Generator().manual_seed(0)
    angle = (torch.rand(1, generator=torch.Generator().manual_seed(0)) * 2 - 1) * 90
    out = warp(image, affine_matrices(1, generator, rotation_degrees=90), 21)
    # the rotation is the first number drawn
    row, column = divmod(int(out.flatten().argmax()), 21)
    # a dot at radius 6 stays at radius about 6, at the drawn angle
    assert math.hypot(row - 10, column - 10) == pytest.approx(6, abs=1.0)
    assert math.degrees(math.atan2(row - 10, column - 10)) == pytest.approx(-float(angle), abs=10)


def test_augmentation_without_crop_keeps_the_whole_image():
    images = torch.rand(4, 3, 8, 8)
    augment = Augmentation(output_size=8, crop_scale=None, flip_probability=0.0)
    torch.testing.assert_close(augment(images, torch.Generator()), images, atol=1e-5, rtol=0)
    shifted = Augmentation(output_size=8, crop_scale=None, flip_probability=0.0, translate=0.5)
    assert (shifted(images, torch.Generator().manual_seed(1)) == 0).any()  # uncovered pixels are black


def test_composed_maps_equal_applying_one_after_the_other():
    # a smooth picture, so that resampling twice or once differs only a little
    y, x = torch.meshgrid(torch.linspace(-3, 3, 32), torch.linspace(-3, 3, 32), indexing="ij")
    image = (torch.sin(x) * torch.cos(0.7 * y + x / 3)).expand(6, 1, 32, 32)
    generator = torch.Generator().manual_seed(3)
    affine = affine_matrices(6, generator, rotation_degrees=30, zoom=0.1, translate=0.1)
    crop = crop_matrices(Draws(generator, 6), scale=(0.5, 1.0), flip_probability=0.5)
    two_steps = warp(warp(image, affine, 32), crop, 32)
    one_step = warp(image, then(affine, crop), 32)
    wrong_order = warp(image, then(crop, affine), 32)
    inner = (..., slice(8, -8), slice(8, -8))  # away from the black borders
    assert (one_step - two_steps)[inner].abs().mean() < 0.02
    assert (wrong_order - two_steps)[inner].abs().mean() > 0.1
    assert torch.equal(then(affine, torch.eye(2, 3).expand(6, 2, 3)), affine)
