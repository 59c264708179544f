"""Colour transforms and multi-crop views: the same distribution of outputs as torchvision.transforms.v2.

Each transform runs on many copies of one planted image, ours in one batch and
torchvision's image by image; a statistic of each output (its mean per channel,
or its spread) must follow the same distribution (two-sample Kolmogorov-Smirnov).
A deliberately different setting must fail the same comparison, so the check can fail.
"""

import pytest
import torch
from scipy.stats import ks_2samp
from torchvision.transforms import v2

from deepcluster.data.augment import (
    Augmentation,
    ColourAugmentation,
    CropGroup,
    Draws,
    MultiCrop,
    _adjust_hue,
    colour_jitter,
    random_gaussian_blur,
    random_grayscale,
    random_solarize,
    warp,
)

N = 1500


def planted(size: int = 12) -> torch.Tensor:
    """A colourful image: red-green ramps with a blue square, values in [0.05, 0.95]."""
    ramp = torch.linspace(0.05, 0.95, size)
    image = torch.stack(
        [ramp.view(1, -1).expand(size, size), ramp.view(-1, 1).expand(size, size), torch.full((size, size), 0.2)]
    )
    image[2, size // 4 : size // 2, size // 4 : size // 2] = 0.9
    return image


def statistics(images: torch.Tensor) -> torch.Tensor:
    """Per image: the mean of each channel and the standard deviation over all pixels, rounded so that
    float noise between two implementations of the same formula does not count as a difference."""
    values = torch.cat([images.mean(dim=(2, 3)), images.flatten(1).std(dim=1, keepdim=True)], dim=1)
    return (values * 1e3).round() / 1e3


def same_distribution(ours: torch.Tensor, theirs: torch.Tensor) -> bool:
    return all(ks_2samp(a.numpy(), b.numpy()).pvalue > 1e-3 for a, b in zip(statistics(ours).T, statistics(theirs).T))


def torchvision_outputs(transform, image: torch.Tensor) -> torch.Tensor:
    torch.manual_seed(0)
    return torch.stack([transform(image) for _ in range(N)])


def batch(image: torch.Tensor) -> torch.Tensor:
    return image.expand(N, *image.shape).clone()


@pytest.mark.parametrize("jitter", [dict(brightness=0.4), dict(contrast=0.6), dict(saturation=0.8), dict(hue=0.2)])
def test_each_colour_jitter_matches_torchvision(jitter):
    settings = dict(brightness=0.0, contrast=0.0, saturation=0.0, hue=0.0) | jitter
    ours = colour_jitter(batch(planted()), Draws(torch.Generator().manual_seed(1), N), **settings)
    assert same_distribution(ours, torchvision_outputs(v2.ColorJitter(**jitter), planted()))
    stronger = {name: min(0.5, 2 * value) if name == "hue" else 2 * value for name, value in jitter.items()}
    assert not same_distribution(ours, torchvision_outputs(v2.ColorJitter(**stronger), planted()))


def test_the_full_jitter_in_random_order_matches_torchvision():
    jitter = dict(brightness=0.8, contrast=0.8, saturation=0.8, hue=0.2)  # solo-learn's CIFAR setting
    ours = colour_jitter(batch(planted()), Draws(torch.Generator().manual_seed(2), N), **jitter)
    assert same_distribution(ours, torchvision_outputs(v2.ColorJitter(**jitter), planted()))


def test_hue_shift_equals_torchvision_for_a_fixed_factor():
    images = torch.rand(16, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    for shift in (-0.3, 0.07, 0.5):
        ours = _adjust_hue(images, torch.full((16, 1, 1, 1), shift))
        torch.testing.assert_close(ours, v2.functional.adjust_hue(images, shift), atol=1e-5, rtol=0)


def test_grayscale_blur_and_solarize_match_torchvision():
    image = planted(16)
    draws = Draws(torch.Generator().manual_seed(3), N)
    pairs = [
        (random_grayscale(batch(image), draws, 0.2), v2.RandomGrayscale(p=0.2)),
        (random_solarize(batch(image), draws, 0.3), v2.RandomSolarize(threshold=0.5, p=0.3)),
        (
            random_gaussian_blur(batch(image), draws, 1.0, kernel_fraction=0.2),
            v2.GaussianBlur(kernel_size=3, sigma=(0.1, 2.0)),
        ),
    ]
    for ours, transform in pairs:
        assert same_distribution(ours, torchvision_outputs(transform, image))
    assert not same_distribution(
        random_grayscale(batch(image), draws, 0.6), torchvision_outputs(v2.RandomGrayscale(p=0.2), image)
    )


def test_grey_images_skip_saturation_and_hue():
    grey = torch.rand(8, 1, 6, 6, generator=torch.Generator().manual_seed(0))
    out = colour_jitter(
        grey, Draws(torch.Generator().manual_seed(0), 8), brightness=0.0, contrast=0.0, saturation=0.9, hue=0.4
    )
    torch.testing.assert_close(out, grey)


def test_multi_crop_gives_large_views_first_at_their_sizes():
    views = MultiCrop((CropGroup(2, 16, (0.14, 1.0)), CropGroup(3, 8, (0.05, 0.14))), colour=ColourAugmentation())(
        torch.rand(5, 3, 24, 24), Draws(torch.Generator().manual_seed(0), 5)
    )
    assert [tuple(v.shape) for v in views] == [(5, 3, 16, 16)] * 2 + [(5, 3, 8, 8)] * 3
    assert not torch.equal(views[0], views[1])  # two independent draws
    assert all(0 <= float(v.min()) and float(v.max()) <= 1 for v in views)


@pytest.mark.parametrize(
    "views",
    [
        MultiCrop((CropGroup(2, 8, (0.3, 1.0)),), colour=ColourAugmentation(grayscale_probability=0.5)),
        Augmentation(8, crop_scale=(0.3, 1.0), colour=ColourAugmentation(grayscale_probability=0.5)),
    ],
    ids=["multi_crop", "deepcluster_augmentation_with_colour"],
)
def test_a_position_gets_the_same_views_whichever_process_takes_it(views):
    """One process takes global batches of 8 positions; two take interleaved halves of each (as
    ``shard_batches`` shares them), and the memory bank's fill takes batches that straddle two global
    batches. Every position gets the same views in each, and another epoch's generator other views."""
    images = torch.rand(20, 3, 12, 12, generator=torch.Generator().manual_seed(0))
    cpu = torch.device("cpu")

    def epoch_views(batches: list[torch.Tensor], seed: int = 4) -> list[torch.Tensor]:
        """Each view of every position, in position order."""
        make = views.for_epoch(len(images), torch.Generator().manual_seed(seed), cpu, 8)
        made = [make(images[positions], positions) for positions in batches]
        order = torch.argsort(torch.cat(batches))
        return [torch.cat(view)[order] for view in zip(*made)]

    one_process = epoch_views(list(torch.arange(20).split(8)))
    two_processes = epoch_views([step[rank::2] for rank in (0, 1) for step in torch.arange(20).split(8)])
    straddling = epoch_views(list(torch.arange(20).split(6)))
    for ours in (two_processes, straddling):
        for view, reference in zip(ours, one_process):
            torch.testing.assert_close(view, reference, rtol=0, atol=1e-6)
    assert not torch.allclose(epoch_views(list(torch.arange(20).split(8)), seed=5)[0], one_process[0])


def test_deepcluster_augmentation_recolours_the_views_of_its_own_geometry():
    """Colour comes after the crops: with every image turned grey, each view is the luminance of the view
    that the same epoch's maps give without colour; with no colour block, the views are those maps' alone."""
    images = torch.rand(12, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    positions = torch.arange(12)
    cpu = torch.device("cpu")

    def epoch_view(colour: ColourAugmentation | None) -> torch.Tensor:
        augmentation = Augmentation(8, crop_scale=(0.3, 1.0), colour=colour)
        return augmentation.for_epoch(12, torch.Generator().manual_seed(3), cpu, 4)(images, positions)[0]

    geometry = epoch_view(None)
    maps = Augmentation(8, crop_scale=(0.3, 1.0)).matrices(12, torch.Generator().manual_seed(3))
    torch.testing.assert_close(geometry, warp(images, maps, 8), rtol=0, atol=0)
    grey = epoch_view(ColourAugmentation(jitter_probability=0.0, grayscale_probability=1.0))
    luminance = (geometry * torch.tensor([0.2989, 0.587, 0.114]).view(1, 3, 1, 1)).sum(dim=1, keepdim=True)
    torch.testing.assert_close(grey, luminance.expand_as(geometry))
    jittered = epoch_view(ColourAugmentation())
    assert not torch.allclose(jittered, geometry) and not torch.allclose(jittered, grey)
