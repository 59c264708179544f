"""Image transforms applied to whole batches on the model's device.

Pixels travel as uint8 at the collection's stored size; these functions turn a
batch into normalised float input, either deterministically (feature
extraction) or with per-image random geometry (training): random affine maps
(rotation, shift, zoom, shear), random resized crops and horizontal flips.
Each is one ``grid_sample`` over the whole batch, so the GPU does the work.
Colour transforms (jitter, grayscale, blur, solarisation) draw one set of
factors per image and apply them to the whole batch at once, and ``MultiCrop``
makes the several views per image that DeepCluster-v2 and SwAV train on.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from deepcluster.runtime import derive_seed

# an epoch's view maker: (a batch of float images in [0, 1], their positions in the epoch) -> their views
EpochViews = Callable[[torch.Tensor, torch.Tensor], list[torch.Tensor]]


@dataclass(frozen=True)
class Draws:
    """The random draws of a batch's images: each draw is made for ``count`` images from ``generator`` and the
    batch keeps its ``rows`` (None: all ``count``). With ``count`` the global batch and ``rows`` a process's
    share of it, an image's crops and colours depend on its place in the global batch, not on the process."""

    generator: torch.Generator
    count: int
    rows: torch.Tensor | None = None

    def _kept(self, values: torch.Tensor) -> torch.Tensor:
        return values if self.rows is None else values[self.rows]

    def uniform(self, low: float, high: float) -> torch.Tensor:
        return self._kept(torch.empty(self.count).uniform_(low, high, generator=self.generator))

    def chosen(self, probability: float) -> torch.Tensor:
        return self._kept(torch.rand(self.count, generator=self.generator) < probability)

    def permutation(self, size: int) -> list[int]:
        """One order for the whole batch."""
        return torch.randperm(size, generator=self.generator).tolist()


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
    draws: Draws,
    scale: Sequence[float] = (0.08, 1.0),
    ratio: Sequence[float] = (3 / 4, 4 / 3),
    flip_probability: float = 0.5,
) -> torch.Tensor:
    """(n, 2, 3) maps from output to input coordinates (``affine_grid``'s convention) of
    random resized crops (area fraction in ``scale``, aspect in ``ratio``), mirrored
    with ``flip_probability``; one per image of ``draws``.

    Unlike torchvision's RandomResizedCrop, a crop that would not fit is shrunk to
    the image's side rather than re-drawn, so that no loop is needed.
    """
    area = draws.uniform(scale[0], scale[1])
    aspect = torch.exp(draws.uniform(math.log(ratio[0]), math.log(ratio[1])))
    # crop sides as fractions of the image's width and height
    width = torch.sqrt(area * aspect).clamp(max=1.0)
    height = torch.sqrt(area / aspect).clamp(max=1.0)
    centre_x = (draws.uniform(0.0, 1.0) * 2 - 1) * (1 - width)
    centre_y = (draws.uniform(0.0, 1.0) * 2 - 1) * (1 - height)
    mirror = torch.where(draws.chosen(flip_probability), -1.0, 1.0)
    n = area.shape[0]
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


@dataclass(frozen=True)
class Augmentation:
    """The training transform: optional random affine map, then random resized crop and flip.

    ``crop_scale`` None means no crop (the whole image, only flipped). Both steps
    compose into one map per image, drawn for a whole epoch at once
    (``matrices``), so each batch costs one ``grid_sample`` and no host-to-device
    copy. Works on float images in [0, 1], before normalisation, so that what the
    affine map uncovers is black. ``colour``, when given, then recolours each view (photos: so that
    colour alone does not tell the clusters apart).
    """

    output_size: int
    crop_scale: Sequence[float] | None = (0.08, 1.0)
    flip_probability: float = 0.5
    rotation_degrees: float = 0.0
    translate: float = 0.0
    zoom: float = 0.0
    shear: float = 0.0
    colour: ColourAugmentation | None = None

    def matrices(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """(n, 2, 3) maps, one per image."""
        crop = {"scale": self.crop_scale} if self.crop_scale is not None else {"scale": (1, 1), "ratio": (1, 1)}
        maps = crop_matrices(Draws(generator, n), flip_probability=self.flip_probability, **crop)
        if self.rotation_degrees or self.translate or self.zoom or self.shear:
            affine = affine_matrices(n, generator, self.rotation_degrees, self.translate, self.zoom, self.shear)
            maps = then(affine, maps)
        return maps

    def __call__(self, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return warp(images, self.matrices(images.shape[0], generator), self.output_size)

    def for_epoch(self, n: int, generator: torch.Generator, device: torch.device, global_batch: int) -> EpochViews:
        """One view per image; the epoch's ``n`` maps are drawn at once, per position (whatever the batches),
        and moved to ``device`` once; colours are drawn per block of positions, as ``MultiCrop``'s views."""
        maps = self.matrices(n, generator).to(device)
        if self.colour is None:
            return lambda images, positions: [warp(images, maps[positions], self.output_size)]
        colour = self.colour
        return drawn_per_block(
            lambda images, draws, positions: [colour(warp(images, maps[positions], self.output_size), draws)],
            int(torch.randint(2**31, (1,), generator=generator)),
            global_batch,
        )


# ---------------------------------------------------------------- colour

# ITU-R 601 luma weights, as torchvision's rgb_to_grayscale
_LUMA = (0.2989, 0.587, 0.114)


def _grey(images: torch.Tensor) -> torch.Tensor:
    """(B, 1, H, W) luminance of RGB images (grey images are their own)."""
    if images.shape[1] == 1:
        return images
    weights = torch.tensor(_LUMA, device=images.device, dtype=images.dtype).view(1, 3, 1, 1)
    return (images * weights).sum(dim=1, keepdim=True)


def _per_image(values: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
    return values.to(images.device, images.dtype).view(-1, 1, 1, 1)


def _rgb_to_hsv(images: torch.Tensor) -> torch.Tensor:
    r, g, b = images.unbind(dim=1)
    high, _ = images.max(dim=1)
    low, _ = images.min(dim=1)
    spread = high - low
    safe = torch.where(spread > 0, spread, torch.ones_like(spread))
    hue = torch.where(high == r, ((g - b) / safe) % 6, torch.where(high == g, (b - r) / safe + 2, (r - g) / safe + 4))
    hue = torch.where(spread > 0, hue / 6, torch.zeros_like(hue))
    saturation = torch.where(high > 0, spread / torch.where(high > 0, high, torch.ones_like(high)), high * 0)
    return torch.stack([hue, saturation, high], dim=1)


def _hsv_to_rgb(images: torch.Tensor) -> torch.Tensor:
    hue, saturation, value = images.unbind(dim=1)
    # the standard sector formula, written for whole tensors: channel n uses offset n
    channels = []
    for offset in (5, 3, 1):
        k = (offset + hue * 6) % 6
        channels.append(value - value * saturation * torch.clamp(torch.minimum(k, 4 - k), 0, 1))
    return torch.stack(channels, dim=1)


def _adjust_hue(images: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    hsv = _rgb_to_hsv(images)
    hue = (hsv[:, :1] + shift) % 1.0
    return _hsv_to_rgb(torch.cat([hue, hsv[:, 1:]], dim=1))


def _blend(images: torch.Tensor, other: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    return (factor * images + (1 - factor) * other).clamp(0, 1)


def colour_jitter(
    images: torch.Tensor,
    draws: Draws,
    brightness: float = 0.4,
    contrast: float = 0.4,
    saturation: float = 0.4,
    hue: float = 0.1,
) -> torch.Tensor:
    """torchvision's ColorJitter for a batch of float images in [0, 1], one draw per image.

    Factors are uniform in [1 - x, 1 + x] (hue: a shift in [-hue, hue] of the colour
    wheel), applied in a random order as torchvision does; the order is drawn once per
    batch, so each image's order is still uniformly random.
    """
    steps = {
        "brightness": lambda x, f: _blend(x, torch.zeros_like(x), f),
        "contrast": lambda x, f: _blend(x, _grey(x).mean(dim=(1, 2, 3), keepdim=True), f),
        "saturation": lambda x, f: _blend(x, _grey(x), f),
        "hue": lambda x, f: _adjust_hue(x, f),
    }
    ranges = {
        "brightness": (max(0.0, 1 - brightness), 1 + brightness),
        "contrast": (max(0.0, 1 - contrast), 1 + contrast),
        "saturation": (max(0.0, 1 - saturation), 1 + saturation),
        "hue": (-hue, hue),
    }
    strengths = {"brightness": brightness, "contrast": contrast, "saturation": saturation, "hue": hue}
    factors = {name: draws.uniform(*ranges[name]) for name in steps}
    for index in draws.permutation(len(steps)):
        name = list(steps)[index]
        colour_only = name in ("saturation", "hue")  # grey images have neither
        if strengths[name] and (images.shape[1] == 3 or not colour_only):
            images = steps[name](images, _per_image(factors[name], images))
    return images


def random_grayscale(images: torch.Tensor, draws: Draws, probability: float) -> torch.Tensor:
    """Each image replaced by its luminance (on every channel) with ``probability``."""
    chosen = _per_image(draws.chosen(probability).float(), images)
    return chosen * _grey(images).expand_as(images) + (1 - chosen) * images


def random_gaussian_blur(
    images: torch.Tensor,
    draws: Draws,
    probability: float,
    sigma: tuple[float, float] = (0.1, 2.0),
    kernel_fraction: float = 0.1,
) -> torch.Tensor:
    """Blur with ``probability``, sigma uniform in ``sigma`` per image; the kernel spans about
    ``kernel_fraction`` of the side (odd, at least 3), as in SimCLR and SwAV."""
    n, channels, height, width = images.shape
    size = max(3, int(kernel_fraction * height) // 2 * 2 + 1)
    sigmas = torch.where(draws.chosen(probability), draws.uniform(*sigma), torch.zeros(n)).to(
        images.device, images.dtype
    )
    offsets = torch.arange(size, device=images.device, dtype=images.dtype) - size // 2
    # sigma 0 keeps the image: a kernel that is 1 at the centre
    safe = torch.where(sigmas > 0, sigmas, torch.ones_like(sigmas))
    kernels = torch.exp(-(offsets.view(1, -1) ** 2) / (2 * safe.view(-1, 1) ** 2))
    kernels = torch.where(sigmas.view(-1, 1) > 0, kernels, (offsets == 0).to(images.dtype).expand(n, -1))
    kernels = (kernels / kernels.sum(dim=1, keepdim=True)).repeat_interleave(channels, dim=0)
    flat = F.pad(images.reshape(1, n * channels, height, width), [size // 2] * 4, mode="reflect")
    flat = F.conv2d(flat, kernels.view(-1, 1, 1, size), groups=n * channels)
    flat = F.conv2d(flat, kernels.view(-1, 1, size, 1), groups=n * channels)
    return flat.view(n, channels, height, width)


def random_solarize(images: torch.Tensor, draws: Draws, probability: float) -> torch.Tensor:
    """Pixels at or above 0.5 inverted, with ``probability`` per image."""
    chosen = _per_image(draws.chosen(probability).float(), images).bool()
    return torch.where(chosen & (images >= 0.5), 1 - images, images)


@dataclass(frozen=True)
class ColourAugmentation:
    """Colour jitter with a probability, then grayscale, blur and solarisation, each with its own."""

    jitter_probability: float = 0.8
    brightness: float = 0.4
    contrast: float = 0.4
    saturation: float = 0.4
    hue: float = 0.1
    grayscale_probability: float = 0.2
    blur_probability: float = 0.0
    solarize_probability: float = 0.0

    def __call__(self, images: torch.Tensor, draws: Draws) -> torch.Tensor:
        if self.jitter_probability:
            jittered = colour_jitter(images, draws, self.brightness, self.contrast, self.saturation, self.hue)
            chosen = _per_image(draws.chosen(self.jitter_probability).float(), images)
            images = chosen * jittered + (1 - chosen) * images
        if self.grayscale_probability:
            images = random_grayscale(images, draws, self.grayscale_probability)
        if self.blur_probability:
            images = random_gaussian_blur(images, draws, self.blur_probability)
        if self.solarize_probability:
            images = random_solarize(images, draws, self.solarize_probability)
        return images


# ---------------------------------------------------------------- views


def drawn_per_block(
    make: Callable[[torch.Tensor, Draws, torch.Tensor], list[torch.Tensor]], epoch_seed: int, global_batch: int
) -> EpochViews:
    """An epoch's views by ``make(images, draws, positions)``, its draws made per block of ``global_batch``
    consecutive positions from a generator of the block's own: a position gets the same views whichever
    process takes it and however the batches are cut, so that N processes, each with its share of every
    global batch, train on the views one process trains on."""

    def views(images: torch.Tensor, positions: torch.Tensor) -> list[torch.Tensor]:
        positions = positions.cpu()
        blocks = positions // global_batch
        parts, places = [], []
        for block in blocks.unique().tolist():
            inside = (blocks == block).nonzero().squeeze(1)
            draws = Draws(
                torch.Generator().manual_seed(derive_seed(epoch_seed, block, "views")),
                global_batch,
                positions[inside] - block * global_batch,
            )
            parts.append(make(images[inside.to(images.device)], draws, positions[inside]))
            places.append(inside)
        if len(parts) == 1:
            return parts[0]
        back = torch.argsort(torch.cat(places)).to(images.device)
        return [torch.cat(same_view)[back] for same_view in zip(*parts)]

    return views


@dataclass(frozen=True)
class CropGroup:
    """``count`` random resized crops per image at ``size`` pixels, area fraction in ``scale``."""

    count: int
    size: int
    scale: tuple[float, float]


@dataclass(frozen=True)
class MultiCrop:
    """The views of a batch: several crop groups (e.g. 2 large + 4 small), each crop flipped
    with ``flip_probability`` and coloured by ``colour``. The first group's crops are the
    "large" ones that SwAV computes codes on and DeepCluster-v2 keeps in its memory bank."""

    groups: tuple[CropGroup, ...]
    flip_probability: float = 0.5
    colour: ColourAugmentation | None = ColourAugmentation()

    @property
    def n_views(self) -> int:
        return sum(group.count for group in self.groups)

    def for_epoch(self, n: int, generator: torch.Generator, device: torch.device, global_batch: int) -> EpochViews:
        """The views of the epoch's positions, the same whichever process takes them (``drawn_per_block``)."""
        epoch_seed = int(torch.randint(2**31, (1,), generator=generator))
        return drawn_per_block(lambda images, draws, positions: self(images, draws), epoch_seed, global_batch)

    def __call__(self, images: torch.Tensor, draws: Draws) -> list[torch.Tensor]:
        """Float images in [0, 1] -> ``n_views`` batches of views, large crops first."""
        views = []
        for group in self.groups:
            for _ in range(group.count):
                view = warp(
                    images, crop_matrices(draws, group.scale, flip_probability=self.flip_probability), group.size
                )
                views.append(view if self.colour is None else self.colour(view, draws))
        return views
