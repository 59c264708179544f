"""Image collections: one uniform form for every source, decoding files, and serving batches.

Every source (see ``sources``) ends up as an ``ImageCollection``: images at one
square size and channel count, optional labels (used only for evaluation), and
the pixel statistics used for normalisation. Pixels are uint8 and either held in
memory as an (N, C, H, W) array or left on disk as file paths that DataLoader
workers decode at each pass.
"""

from __future__ import annotations

import dataclasses
import io
import os
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps

if TYPE_CHECKING:
    from deepcluster.data.storage import ObjectStore


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
    read_workers: int = 2  # DataLoader processes decoding files when pixels are not in memory

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
    """Per-channel mean and std in [0, 1] units, from up to ``max_images`` evenly spaced images.

    Summed in chunks, so memory stays small however large the images are.
    """
    step = max(1, pixels.shape[0] // max_images)
    sample = pixels[::step]
    total = np.zeros(pixels.shape[1])
    squares = np.zeros(pixels.shape[1])
    for start in range(0, len(sample), 256):
        chunk = sample[start : start + 256].astype(np.float64) / 255.0
        total += chunk.sum(axis=(0, 2, 3))
        squares += (chunk * chunk).sum(axis=(0, 2, 3))
    count = sample.shape[0] * sample.shape[2] * sample.shape[3]
    mean = total / count
    std = np.maximum(np.sqrt(np.maximum(squares / count - mean**2, 0)), 1e-3)
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
    image_size: int | None,
    source: str,
    ids: list[str] | None = None,
) -> ImageCollection:
    """An in-memory collection from uint8 (N, C, H, W) pixels, resized to ``image_size`` (None: their shorter side)."""
    if image_size is None:
        image_size = min(pixels.shape[-2:])
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


def resized(collection: ImageCollection, size: int) -> ImageCollection:
    """The in-memory ``collection`` at ``size`` x ``size`` pixels (statistics kept: resizing barely moves them)."""
    return dataclasses.replace(collection, pixels=resize_square(collection.pixels, size), image_size=size)


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
        read_workers=collection.read_workers,
    )


class UnreadableImage(Exception):
    """A file that cannot be used as an image; the message says why."""


def _to_8_bit(image: Image.Image) -> Image.Image:
    """16- and 32-bit grey images scaled down to 8 bits (a plain convert would clip them)."""
    values = np.asarray(image, dtype=np.float64)
    top = 65535.0 if values.max(initial=0) > 255 else 255.0
    return Image.fromarray(np.round(values * (255.0 / top)).clip(0, 255).astype(np.uint8), mode="L")


def _to_channels(image: Image.Image, channels: int) -> Image.Image:
    """Any PIL mode (grey, RGB, RGBA, palette, CMYK, 16-bit) as 'L' or 'RGB'."""
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        image = _to_8_bit(image)
    if "A" in image.getbands() or (image.mode == "P" and "transparency" in image.info):
        # transparent pixels become white rather than whatever colour they hide
        rgba = image.convert("RGBA")
        image = Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba)
    return image.convert("L" if channels == 1 else "RGB")


def decode_image(source: str | Path | bytes, channels: int, size: int, min_side: int = 1) -> np.ndarray:
    """uint8 (channels, size, size) from a file or an encoded file's bytes: shorter side resized to ``size``,
    centre-cropped square.

    Raises ``UnreadableImage`` with the reason when the file cannot be used.
    """
    try:
        if (len(source) if isinstance(source, bytes) else Path(source).stat().st_size) == 0:
            raise UnreadableImage("empty file (0 bytes)")
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(source) if isinstance(source, bytes) else Path(source)) as opened:
                opened.load()  # decodes everything: truncated or corrupt data fails here
                image = ImageOps.exif_transpose(opened)
    except UnreadableImage:
        raise
    except Exception as error:  # PIL raises many types for bad files
        raise UnreadableImage(f"cannot decode: {type(error).__name__}: {error}") from None
    if min(image.size) < min_side:
        raise UnreadableImage(f"too small: {image.size[0]}x{image.size[1]} < min_side {min_side}")
    image = _to_channels(image, channels)
    image = ImageOps.fit(image, (size, size), method=Image.Resampling.BILINEAR)
    array = np.asarray(image, dtype=np.uint8)
    return array[None] if channels == 1 else array.transpose(2, 0, 1).copy()


class ImageFiles(torch.utils.data.Dataset):
    """Decoded images of a list of paths, for DataLoader workers.

    Items are ``(index, pixels, reason)``: pixels is None and reason says why when
    the file cannot be used.
    """

    def __init__(
        self, paths: Sequence[str], channels: int, size: int, min_side: int = 1, store: ObjectStore | None = None
    ) -> None:
        self.store = store  # where the paths are URLs: each worker reads through a filesystem of its own
        # one numpy array rather than a list of str objects: forked workers would
        # otherwise copy every page the reference counts touch
        self.paths = np.array([os.fsencode(p) for p in paths])
        self.channels = channels
        self.size = size
        self.min_side = min_side

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int):
        try:
            path = os.fsdecode(self.paths[index])
            try:
                source = self.store.read(path) if self.store else path
            except Exception as error:  # each store raises its own kinds; the file is reported as skipped
                raise UnreadableImage(f"cannot read from the store: {type(error).__name__}: {error}") from None
            return index, decode_image(source, self.channels, self.size, self.min_side), ""
        except UnreadableImage as reason:
            return index, None, str(reason)


def as_picture(pixels: np.ndarray) -> Image.Image:
    """One image's uint8 (C, H, W) pixels, as batches serve them, as a PIL image (grey or RGB)."""
    array = pixels.transpose(1, 2, 0)
    return Image.fromarray(array[..., 0] if array.shape[-1] == 1 else array)


def iterate_pixel_batches(
    collection: ImageCollection,
    indices: np.ndarray,
    batch_size: int,
    device: torch.device,
) -> Iterator[torch.Tensor]:
    """uint8 (B, C, H, W) batches of the images at ``indices``, in that order, on ``device``.

    In-memory pixels are copied to the device once per pass and gathered there;
    files are decoded by ``collection.read_workers`` DataLoader processes and
    copied from pinned memory without blocking.
    """
    if collection.pixels is not None:
        pixels = torch.from_numpy(collection.pixels).to(device)
        order = torch.tensor(indices, dtype=torch.int64, device=device)
        for start in range(0, order.shape[0], batch_size):
            yield pixels[order[start : start + batch_size]]
        return
    files = ImageFiles([collection.ids[i] for i in indices], collection.channels, collection.image_size)
    loader = torch.utils.data.DataLoader(
        files,
        batch_size=batch_size,
        num_workers=collection.read_workers,
        collate_fn=_stack_decoded,
        pin_memory=device.type == "cuda",
    )
    for batch in loader:
        yield batch.to(device, non_blocking=True)


def _stack_decoded(items: list) -> torch.Tensor:
    for _, pixels, reason in items:
        if pixels is None:
            raise RuntimeError(
                f"an image could no longer be read ({reason}); the folder changed since ingest: "
                "run `kedro run --pipeline ingest` again"
            )
    return torch.from_numpy(np.stack([pixels for _, pixels, _ in items]))
