import torch

import math

import pytest

from deepcluster.augment import Augmentation, center_crop, random_affine, random_resized_crop_and_flip, to_normalised_float


def test_full_crop_without_flip_is_the_identity():
    images = torch.rand(4, 3, 16, 16)
    out = random_resized_crop_and_flip(
        images, 16, torch.Generator().manual_seed(0), scale=(1, 1), ratio=(1, 1), flip_probability=0
    )
    torch.testing.assert_close(out, images, atol=1e-5, rtol=0)


def test_full_crop_with_certain_flip_mirrors():
    images = torch.rand(2, 1, 8, 8)
    out = random_resized_crop_and_flip(
        images, 8, torch.Generator().manual_seed(0), scale=(1, 1), ratio=(1, 1), flip_probability=1
    )
    torch.testing.assert_close(out, images.flip(-1), atol=1e-5, rtol=0)


def test_each_image_gets_its_own_crop_at_the_output_size():
    image = torch.rand(1, 3, 32, 32).repeat(8, 1, 1, 1)
    out = random_resized_crop_and_flip(image, 24, torch.Generator().manual_seed(1), scale=(0.2, 0.5))
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
    out = random_affine(images, torch.Generator().manual_seed(0))
    torch.testing.assert_close(out, images, atol=1e-5, rtol=0)


def test_affine_rotation_moves_a_dot_around_the_centre():
    image = torch.zeros(1, 1, 21, 21)
    image[0, 0, 10, 16] = 1.0  # right of the centre
    generator = torch.Generator().manual_seed(0)
    angle = (torch.rand(1, generator=torch.Generator().manual_seed(0)) * 2 - 1) * 90
    out = random_affine(image, generator, rotation_degrees=90)
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
