"""Image transforms applied to whole batches on the model's device.

Pixels travel as uint8 at the collection's stored size; these functions turn a
batch into normalised float input, either deterministically (feature
extraction) or with per-image random geometry (training): random affine maps
(rotation, shift, zoom, shear), random resized crops and horizontal flips.
Each is one ``grid_sample`` over the whole batch, so the GPU does the work.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F


def normalise(images: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """Float images in [0, 1] -> per-channel mean/std normalised."""
    mean_t = torch.as_tensor(mean, dtype=torch.float32, device=images.device).view(1, -1, 1, 1)
    std_t = torch.as_tensor(std, dtype=torch.float32, device=images.device).view(1, -1, 1, 1)
    return (images - mean_t) / std_t


def to_normalised_float(batch: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """uint8 (B, C, H, W) -> float32 with per-channel mean/std normalisation."""
    return normalise(batch.float() / 255.0, mean, std)


def center_crop(batch: torch.Tensor, size: int) -> torch.Tensor:
    """The central size x size window (the whole image when it already has that size)."""
    height, width = batch.shape[-2:]
    if size > min(height, width):
        raise ValueError(f"crop size {size} is larger than the images ({height}x{width})")
    top, left = (height - size) // 2, (width - size) // 2
    return batch[..., top : top + size, left : left + size]


def crop_matrices(
    n: int,
    generator: torch.Generator,
    scale: Sequence[float] = (0.08, 1.0),
    ratio: Sequence[float] = (3 / 4, 4 / 3),
    flip_probability: float = 0.5,
) -> torch.Tensor:
    """(n, 2, 3) maps from output to input coordinates (``affine_grid``'s convention) of
    random resized crops (area fraction in ``scale``, aspect in ``ratio``), mirrored
    with ``flip_probability``.

    Unlike torchvision's RandomResizedCrop, a crop that would not fit is shrunk to
    the image's side rather than re-drawn, so that no loop is needed.
    """
    area = torch.empty(n).uniform_(scale[0], scale[1], generator=generator)
    log_ratio = torch.empty(n).uniform_(math.log(ratio[0]), math.log(ratio[1]), generator=generator)
    aspect = torch.exp(log_ratio)
    # crop sides as fractions of the image's width and height
    width = torch.sqrt(area * aspect).clamp(max=1.0)
    height = torch.sqrt(area / aspect).clamp(max=1.0)
    centre_x = (torch.rand(n, generator=generator) * 2 - 1) * (1 - width)
    centre_y = (torch.rand(n, generator=generator) * 2 - 1) * (1 - height)
    mirror = torch.where(torch.rand(n, generator=generator) < flip_probability, -1.0, 1.0)
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0] = width * mirror
    theta[:, 0, 2] = centre_x
    theta[:, 1, 1] = height
    theta[:, 1, 2] = centre_y
    return theta


def affine_matrices(
    n: int,
    generator: torch.Generator,
    rotation_degrees: float = 0.0,
    translate: float = 0.0,
    zoom: float = 0.0,
    shear: float = 0.0,
) -> torch.Tensor:
    """(n, 2, 3) random affine maps, each parameter uniform in [-value, value]: the
    rotation in degrees, the shift as a fraction of half the image side, the zoom as
    a relative scale change (1 + z) and the horizontal shear factor.
    """

    def symmetric(limit: float) -> torch.Tensor:
        return (torch.rand(n, generator=generator) * 2 - 1) * limit

    angle = symmetric(math.radians(rotation_degrees))
    scale = 1 + symmetric(zoom)
    skew = symmetric(shear)
    shift_x, shift_y = symmetric(translate), symmetric(translate)
    cos, sin = torch.cos(angle), torch.sin(angle)
    # output -> input coordinates: rotate, shear, then unzoom
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0] = cos / scale
    theta[:, 0, 1] = (skew - sin) / scale
    theta[:, 0, 2] = shift_x
    theta[:, 1, 0] = sin / scale
    theta[:, 1, 1] = cos / scale
    theta[:, 1, 2] = shift_y
    return theta


def then(first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
    """The map applying the transform ``first`` to the image, then ``second`` to the result.

    Both are output-to-input maps, so the composition is first o second.
    """
    bottom = torch.tensor([0.0, 0.0, 1.0]).expand(first.shape[0], 1, 3)
    return (torch.cat([first, bottom], dim=1) @ torch.cat([second, bottom], dim=1))[:, :2]


def warp(batch: torch.Tensor, matrices: torch.Tensor, output_size: int) -> torch.Tensor:
    """Each image resampled (bilinear) through its own map; pixels from outside the image are 0."""
    theta = matrices.to(batch.device, batch.dtype)
    grid = F.affine_grid(theta, [batch.shape[0], batch.shape[1], output_size, output_size], align_corners=False)
    return F.grid_sample(batch, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def random_resized_crop_and_flip(
    batch: torch.Tensor, output_size: int, generator: torch.Generator, **crop
) -> torch.Tensor:
    """A random resized crop (and flip) per image, see ``crop_matrices``."""
    return warp(batch, crop_matrices(batch.shape[0], generator, **crop), output_size)


def random_affine(batch: torch.Tensor, generator: torch.Generator, **affine) -> torch.Tensor:
    """A random affine map per image at the same size, see ``affine_matrices``."""
    return warp(batch, affine_matrices(batch.shape[0], generator, **affine), batch.shape[-1])


@dataclass(frozen=True)
class Augmentation:
    """The training transform: optional random affine map, then random resized crop and flip.

    ``crop_scale`` None means no crop (the whole image, only flipped). Both steps
    compose into one map per image, drawn for a whole epoch at once
    (``matrices``), so each batch costs one ``grid_sample`` and no host-to-device
    copy. Works on float images in [0, 1], before normalisation, so that what the
    affine map uncovers is black.
    """

    output_size: int
    crop_scale: Sequence[float] | None = (0.08, 1.0)
    flip_probability: float = 0.5
    rotation_degrees: float = 0.0
    translate: float = 0.0
    zoom: float = 0.0
    shear: float = 0.0

    def matrices(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """(n, 2, 3) maps, one per image."""
        crop = {"scale": self.crop_scale} if self.crop_scale is not None else {"scale": (1, 1), "ratio": (1, 1)}
        maps = crop_matrices(n, generator, flip_probability=self.flip_probability, **crop)
        if self.rotation_degrees or self.translate or self.zoom or self.shear:
            affine = affine_matrices(n, generator, self.rotation_degrees, self.translate, self.zoom, self.shear)
            maps = then(affine, maps)
        return maps

    def __call__(self, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return warp(images, self.matrices(images.shape[0], generator), self.output_size)
