"""Image transforms applied to whole batches on the model's device.

Pixels travel as uint8 at the collection's stored size; these functions turn a
batch into normalised float input, either deterministically (feature
extraction) or with per-image random resized crops and horizontal flips
(training). Working on whole batches lets the GPU do the augmentation.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F


def to_normalised_float(
    batch: torch.Tensor, mean: Sequence[float], std: Sequence[float]
) -> torch.Tensor:
    """uint8 (B, C, H, W) -> float32 with per-channel mean/std normalisation."""
    mean_t = torch.as_tensor(mean, dtype=torch.float32, device=batch.device).view(1, -1, 1, 1)
    std_t = torch.as_tensor(std, dtype=torch.float32, device=batch.device).view(1, -1, 1, 1)
    return (batch.float() / 255.0 - mean_t) / std_t


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
