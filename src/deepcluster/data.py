"""Image collections: reading a source into one uniform form, and serving batches of it.

Every source ends up as an ``ImageCollection``: images at one square size and
channel count, optional labels (used only for evaluation), and the pixel
statistics used for normalisation. Pixels are uint8 and either held in memory
as an (N, C, H, W) array or left on disk as file paths read by DataLoader workers.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F


@dataclass
class ImageCollection:
    """A set of same-sized images with optional labels."""

    ids: list[str]  # a file path, or a position in the source
    channels: int
    image_size: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    labels: np.ndarray | None = None  # int64 class per image; None when unlabelled
    class_names: list[str] = field(default_factory=list)
    pixels: np.ndarray | None = None  # uint8 (N, C, H, W) when held in memory
    source: str = ""

    def __post_init__(self) -> None:
        if self.pixels is not None and self.pixels.shape[0] != len(self.ids):
            raise ValueError(f"{self.pixels.shape[0]} images but {len(self.ids)} ids")
        if self.labels is not None and len(self.labels) != len(self.ids):
            raise ValueError(f"{len(self.labels)} labels but {len(self.ids)} images")

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def n_classes(self) -> int:
        return 0 if self.labels is None else int(np.unique(self.labels).size)


def channel_statistics(pixels: np.ndarray, max_images: int = 10_000) -> tuple[tuple, tuple]:
    """Per-channel mean and std in [0, 1] units, from up to ``max_images`` evenly spaced images."""
    step = max(1, pixels.shape[0] // max_images)
    sample = pixels[::step].astype(np.float64) / 255.0
    mean = sample.mean(axis=(0, 2, 3))
    std = np.maximum(sample.std(axis=(0, 2, 3)), 1e-3)
    return tuple(float(v) for v in mean), tuple(float(v) for v in std)


def resize_square(pixels: np.ndarray, size: int) -> np.ndarray:
    """Resize uint8 (N, C, H, W) images to size x size (antialiased bilinear)."""
    if pixels.shape[-2:] == (size, size):
        return pixels
    images = torch.from_numpy(pixels).float()
    resized = F.interpolate(images, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return resized.round().clamp(0, 255).to(torch.uint8).numpy()


def collection_from_arrays(
    pixels: np.ndarray,
    labels: np.ndarray | None,
    class_names: list[str],
    image_size: int,
    source: str,
    ids: list[str] | None = None,
) -> ImageCollection:
    """An in-memory collection from uint8 (N, C, H, W) pixels, resized to ``image_size``."""
    pixels = np.ascontiguousarray(resize_square(pixels, image_size))
    mean, std = channel_statistics(pixels)
    return ImageCollection(
        ids=ids if ids is not None else [str(i) for i in range(pixels.shape[0])],
        channels=pixels.shape[1],
        image_size=image_size,
        mean=mean,
        std=std,
        labels=None if labels is None else np.asarray(labels, dtype=np.int64),
        class_names=class_names,
        pixels=pixels,
        source=source,
    )


def load_sklearn_digits(image_size: int = 8) -> ImageCollection:
    """scikit-learn's bundled 8x8 handwritten digits (1,797 images, 10 classes; no download)."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    # values are 0..16 ink levels
    pixels = np.round(digits.images * (255.0 / 16.0)).astype(np.uint8)[:, None]
    return collection_from_arrays(
        pixels,
        digits.target,
        [str(c) for c in digits.target_names],
        image_size,
        source="sklearn_digits",
    )


SOURCES = ("sklearn_digits",)


def subset(collection: ImageCollection, indices: np.ndarray) -> ImageCollection:
    """The images at ``indices``, in that order, with their labels and statistics."""
    indices = np.asarray(indices, dtype=np.int64)
    return ImageCollection(
        ids=[collection.ids[i] for i in indices],
        channels=collection.channels,
        image_size=collection.image_size,
        mean=collection.mean,
        std=collection.std,
        labels=None if collection.labels is None else collection.labels[indices],
        class_names=collection.class_names,
        pixels=None if collection.pixels is None else collection.pixels[indices],
        source=collection.source,
    )


def load_image_collection(
    source: str, image_size: int, max_images: int | None = None, seed: int = 0, **options
) -> ImageCollection:
    """Read the configured source; ``options`` are that source's own settings.

    ``max_images`` keeps a random subset of that size (for quick trials).
    """
    if source not in SOURCES:
        raise ValueError(f"data.source = {source!r} is unknown; choose one of {SOURCES}")
    collection = load_sklearn_digits(image_size, **options)
    if max_images is not None and max_images < len(collection):
        chosen = np.random.default_rng(seed).choice(len(collection), size=max_images, replace=False)
        collection = subset(collection, np.sort(chosen))
    return collection


def iterate_pixel_batches(
    collection: ImageCollection,
    indices: np.ndarray,
    batch_size: int,
    device: torch.device,
) -> Iterator[torch.Tensor]:
    """uint8 (B, C, H, W) batches of the images at ``indices``, in that order, on ``device``."""
    if collection.pixels is None:
        raise NotImplementedError("this collection has no pixels in memory")
    # one copy of the whole array per pass; batches are then gathered on the device
    pixels = torch.from_numpy(collection.pixels).to(device)
    order = torch.tensor(indices, dtype=torch.int64, device=device)
    for start in range(0, order.shape[0], batch_size):
        yield pixels[order[start : start + batch_size]]
