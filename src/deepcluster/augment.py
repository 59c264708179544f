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


def to_normalised_float(
    batch: torch.Tensor, mean: Sequence[float], std: Sequence[float]
) -> torch.Tensor:
    """uint8 (B, C, H, W) -> float32 with per-channel mean/std normalisation."""
    return normalise(batch.float() / 255.0, mean, std)


def center_crop(batch: torch.Tensor, size: int) -> torch.Tensor:
    """The central size x size window (the whole image when it already has that size)."""
    height, width = batch.shape[-2:]
    if size > min(height, width):
        raise ValueError(f"crop size {size} is larger than the images ({height}x{width})")
    top, left = (height - size) // 2, (width - size) // 2
    return batch[..., top : top + size, left : left + size]


def random_resized_crop_and_flip(
    batch: torch.Tensor,
    output_size: int,
    generator: torch.Generator,
    scale: Sequence[float] = (0.08, 1.0),
    ratio: Sequence[float] = (3 / 4, 4 / 3),
    flip_probability: float = 0.5,
) -> torch.Tensor:
    """A different random crop (area fraction in ``scale``, aspect in ``ratio``) per image,
    resized to ``output_size`` with bilinear sampling, mirrored with ``flip_probability``.

    Unlike torchvision's RandomResizedCrop, a crop that would not fit is shrunk to
    the image's side rather than re-drawn, so the whole batch is one grid_sample.
    """
    n = batch.shape[0]
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
    theta = theta.to(batch.device, batch.dtype)
    grid = F.affine_grid(theta, [n, batch.shape[1], output_size, output_size], align_corners=False)
    return F.grid_sample(batch, grid, mode="bilinear", padding_mode="reflection", align_corners=False)


def random_affine(
    batch: torch.Tensor,
    generator: torch.Generator,
    rotation_degrees: float = 0.0,
    translate: float = 0.0,
    zoom: float = 0.0,
    shear: float = 0.0,
) -> torch.Tensor:
    """A different random affine map per image; uncovered pixels are 0.

    Each parameter draws uniformly in [-value, value]: the rotation in degrees, the
    shift as a fraction of half the image side, the zoom as a relative scale change
    (1 + z) and the horizontal shear factor.
    """
    n = batch.shape[0]

    def symmetric(limit: float) -> torch.Tensor:
        return (torch.rand(n, generator=generator) * 2 - 1) * limit

    angle = symmetric(math.radians(rotation_degrees))
    scale = 1 + symmetric(zoom)
    skew = symmetric(shear)
    shift_x, shift_y = symmetric(translate), symmetric(translate)
    cos, sin = torch.cos(angle), torch.sin(angle)
    # affine_grid maps output coordinates to input coordinates: rotate, shear, then unzoom
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0] = cos / scale
    theta[:, 0, 1] = (skew - sin) / scale
    theta[:, 0, 2] = shift_x
    theta[:, 1, 0] = sin / scale
    theta[:, 1, 1] = cos / scale
    theta[:, 1, 2] = shift_y
    theta = theta.to(batch.device, batch.dtype)
    grid = F.affine_grid(theta, list(batch.shape), align_corners=False)
    return F.grid_sample(batch, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


@dataclass(frozen=True)
class Augmentation:
    """The training transform: optional random affine, then random resized crop and flip.

    ``crop_scale`` None means no crop (the whole image, only flipped). Works on
    float images in [0, 1], before normalisation, so that the affine map's padding
    is black.
    """

    output_size: int
    crop_scale: Sequence[float] | None = (0.08, 1.0)
    flip_probability: float = 0.5
    rotation_degrees: float = 0.0
    translate: float = 0.0
    zoom: float = 0.0
    shear: float = 0.0

    def __call__(self, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        if self.rotation_degrees or self.translate or self.zoom or self.shear:
            images = random_affine(
                images, generator, self.rotation_degrees, self.translate, self.zoom, self.shear
            )
        crop = {"scale": self.crop_scale} if self.crop_scale is not None else {"scale": (1, 1), "ratio": (1, 1)}
        return random_resized_crop_and_flip(
            images, self.output_size, generator, flip_probability=self.flip_probability, **crop
        )
