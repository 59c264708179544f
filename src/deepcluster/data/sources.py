"""Readers for every supported image source, each giving an ``ImageCollection``.

* ``folder``: a user's folder of images (any common format, mode and size);
  class subfolders give labels, used only for evaluation.
* ``idx``: MNIST-family idx files, plain or gzipped.
* ``cifar``: the CIFAR-10/100 "python version" pickled batches.
* ``npz``: arrays you already have: ``pixels`` (uint8, N x H x W, N x C x H x W or
  N x H x W x C) and optionally ``labels``, in one ``.npz`` file.
* ``sklearn_digits``: scikit-learn's bundled digits (no download).

A file of a folder that cannot be used (corrupt, truncated, empty, not an image,
too small) is skipped and reported, never fatal: ``found = used + skipped``.
"""

from __future__ import annotations

import gzip
import io
import logging
import os
import pickle
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from deepcluster.data.collection import (
    ImageCollection,
    ImageFiles,
    channel_statistics,
    collection_from_arrays,
    resized,
    subset,
)
from deepcluster.data.storage import ObjectStore, is_url
from deepcluster.distributed.processes import shard
from deepcluster.distributed.reduce import all_gather_items, all_gather_rows
from deepcluster.progress import progress_bar

logger = logging.getLogger(__name__)

SOURCES = ("folder", "idx", "cifar", "npz", "sklearn_digits")
# images smaller than this (pixels) are skipped: too few to say what they show
MIN_SIDE = 8
# a folder is decoded into memory when its images take at most this much, else read from disk at each pass
MAX_MEMORY_MB = 4096
IMAGE_SUFFIXES = {
    ".png", ".jpg", ".jpeg", ".bmp", ".gif", ".pgm", ".ppm", ".pbm", ".pnm", ".tif", ".tiff", ".webp"
}  # fmt: skip


@dataclass
class IngestResult:
    """The collection, and every file that was found but not used, with the reason."""

    collection: ImageCollection
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)

    @property
    def counts(self) -> dict[str, int]:
        used, skipped = len(self.collection), len(self.skipped)
        return {"images_found": used + skipped, "images_used": used, "images_skipped": skipped}


# -------------------------------------------------------------------- folder


def _keep_as_list(items: list) -> list:
    return items


def find_image_files(root: Path) -> tuple[list[str], int]:
    """Paths (sorted) of every file under ``root`` with an image suffix, and how many other files were ignored.

    Plain strings rather than ``Path`` objects: a folder may hold millions of files.
    """
    images, ignored = [], 0
    with progress_bar("finding image files", None, unit="files") as advance:
        for folder, _, names in os.walk(root):
            for name in names:
                if os.path.splitext(name)[1].lower() in IMAGE_SUFFIXES:
                    images.append(os.path.join(folder, name))
                else:
                    ignored += 1
            advance(len(names))
    images.sort()
    return images, ignored


def class_of_each_file(root: Path, files: list[str], labels: str) -> tuple[np.ndarray | None, list[str]]:
    """Labels from first-level class folders, or none.

    ``labels``: ``subfolders`` (every image must sit in a class folder), ``none``, or
    ``auto`` (class folders when no image lies directly in ``root`` and there are at
    least two of them).
    """
    if labels not in ("auto", "subfolders", "none"):
        raise ValueError(f"data.labels = {labels!r} is unknown; choose auto, subfolders or none")
    if labels == "none":
        return None, []
    start = len(os.path.join(str(root), ""))
    # the first folder under root, or "" for a file directly in root
    first = [f[start:].split(os.sep, 1)[0] if os.sep in f[start:] else "" for f in files]
    in_root = [f for f, folder in zip(files, first) if not folder]
    classes = sorted(set(first) - {""})
    if labels == "auto" and (in_root or len(classes) < 2):
        return None, []
    if in_root:
        raise ValueError(
            f"data.labels = 'subfolders' but {len(in_root)} images lie directly in {root} "
            f"(e.g. {os.path.basename(in_root[0])}); move them into class folders or set labels: none"
        )
    index = {name: i for i, name in enumerate(classes)}
    return np.array([index[folder] for folder in first], dtype=np.int64), classes


def find_stored_image_files(store: ObjectStore) -> tuple[list[str], int]:
    """The URLs (sorted) of every file of ``store`` with an image suffix, and how many other files it holds."""
    files = store.list_files()
    images = [url for url in files if os.path.splitext(url)[1].lower() in IMAGE_SUFFIXES]
    return images, len(files) - len(images)


def _opened(path: str, store: ObjectStore | None) -> Image.Image:
    return Image.open(io.BytesIO(store.read(path)) if store else path)


def median_short_side(files: list[str], sample: int = 1000, seed: int = 0, store: ObjectStore | None = None) -> int:
    """The median shorter side of up to ``sample`` of ``files`` (of ``store``, where given), from their headers."""
    chosen = _sample(files, sample, seed)
    sides = []
    for path in chosen:
        try:
            with _opened(path, store) as image:
                sides.append(min(image.size))
        except Exception:  # unreadable files are reported by the decoding pass
            continue
    if not sides:
        raise ValueError(f"none of {len(chosen)} sampled files could be opened to measure the image size")
    return int(np.median(sides))


def _sample(files: list[str], sample: int, seed: int) -> list[str]:
    return files if len(files) <= sample else list(np.random.default_rng(seed).choice(files, sample, replace=False))


def channels_of(files: list[str], sample: int = 200, seed: int = 0, store: ObjectStore | None = None) -> int:
    """1 when every one of up to ``sample`` of ``files`` is grey (a grey mode, or colour with equal
    channels), else 3. Unreadable files are left to the decoding pass."""
    for path in _sample(files, sample, seed):
        try:
            with _opened(path, store) as image:
                if image.mode in ("1", "L", "LA", "I", "I;16", "F"):
                    continue
                pixels = np.asarray(image.convert("RGB"), dtype=np.int16)
        except Exception:
            continue
        if (pixels[..., 0] != pixels[..., 1]).any() or (pixels[..., 1] != pixels[..., 2]).any():
            return 3
    return 1


def load_folder(
    path: str,
    image_size: int | None,
    channels: int | str = "auto",
    labels: str = "auto",
    workers: int = 2,
    max_auto_size: int | None = None,
    setting: str = "data.path",
    min_side: int = MIN_SIDE,
    max_memory_mb: int = MAX_MEMORY_MB,
    store_options: dict | None = None,
) -> IngestResult:
    """Every image file under ``path`` (a local folder, or an fsspec URL read with ``store_options``:
    ``deepcluster.data.storage``); unusable files are skipped and reported.

    Images are held in memory when they fit in ``max_memory_mb``, else read from disk by
    ``workers`` DataLoader processes at each pass; those of an object store are read once, here, and must fit.
    ``image_size`` None: the median shorter side of the files, at most ``max_auto_size``.
    ``channels`` ``auto``: 1 when the sampled files are all grey (``channels_of``), else 3.
    Either way each file is decoded once here, to check it and to measure the
    pixel statistics. ``setting`` is the key that named ``path``, for the messages.
    """
    store = ObjectStore(path, store_options, setting) if is_url(path) else None
    if store:
        files, ignored = find_stored_image_files(store)
        root = store.root()
    else:
        root = Path(path).expanduser()
        if not root.is_dir():
            raise ValueError(f"{setting} = {path!r} is not a folder; point it at the folder of your images")
        files, ignored = find_image_files(root)
    if not files:
        raise ValueError(
            f"{setting} = {path!r} holds no image files ({', '.join(sorted(IMAGE_SUFFIXES))}); "
            f"{ignored} other files were ignored"
        )
    label_of_file, class_names = class_of_each_file(root, files, labels)
    if channels == "auto":
        channels = channels_of(files, store=store)
        logger.info("data.channels = auto: %d (%s images)", channels, "grey" if channels == 1 else "colour")
    if image_size is None:
        image_size = min(median_short_side(files, store=store), max_auto_size or np.inf)
        logger.info("data.image_size = auto: %d px (median shorter side, at most %s)", image_size, max_auto_size)
    image_bytes = channels * image_size * image_size
    keep = len(files) * image_bytes <= max_memory_mb * 2**20
    if store and not keep:
        raise ValueError(
            f"{setting} = {path!r}: {len(files)} images at {image_size} px take "
            f"{len(files) * image_bytes / 2**30:.1f} GiB, more than the {max_memory_mb / 1024:.0f} GiB that images "
            "of an object store may take in memory: set data.image_size or data.max_images lower, or copy the "
            "images to a local folder"
        )
    # each process decodes its share of the files (all of them in one process) and every process gets the whole
    share = shard(len(files))
    mine = files[share]
    pixels = np.empty((len(mine), channels, image_size, image_size), np.uint8) if keep else None
    usable = np.zeros(len(mine), dtype=bool)
    skipped: list[tuple[str, str]] = []
    # statistics from up to 10k evenly spaced images
    stats_every = max(1, len(files) // 10_000)
    stats_sample = []
    loader = torch.utils.data.DataLoader(
        ImageFiles(mine, channels, image_size, min_side, store),
        batch_size=256,
        num_workers=workers,
        collate_fn=_keep_as_list,
    )
    with progress_bar("reading images", len(mine)) as advance:
        for batch in loader:
            for index, image, reason in batch:
                if image is None:
                    skipped.append((mine[index], reason))
                    logger.warning("skipping %s: %s", mine[index], reason)
                    continue
                usable[index] = True
                if pixels is not None:
                    pixels[index] = image
                if (share.start + index) % stats_every == 0:
                    stats_sample.append(image)
            advance(len(batch))
    stats_pixels = np.stack(stats_sample) if stats_sample else np.empty((0, channels, image_size, image_size), np.uint8)
    stats_pixels = all_gather_rows(torch.from_numpy(stats_pixels)).numpy()
    usable = all_gather_rows(torch.from_numpy(usable.view(np.uint8))).numpy().astype(bool)  # gloo sends no bool
    skipped = all_gather_items(skipped)
    if pixels is not None:
        pixels = all_gather_rows(torch.from_numpy(pixels)).numpy()
    if not usable.any():
        raise ValueError(
            f"none of the {len(files)} image files under {setting} = {path!r} could be read; "
            f"the first failed with: {skipped[0][1]}"
        )
    mean, std = channel_statistics(stats_pixels)
    kept = np.flatnonzero(usable)
    collection = ImageCollection(
        ids=[files[i] for i in kept],
        channels=channels,
        image_size=image_size,
        mean=mean,
        std=std,
        labels=None if label_of_file is None else label_of_file[kept],
        class_names=class_names,
        pixels=None if pixels is None else pixels[kept],
        source="folder",
        read_workers=workers,
    )
    return IngestResult(collection, skipped)


# ----------------------------------------------------------- array formats

_IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str | Path) -> np.ndarray:
    """An idx file (MNIST's format), plain or gzipped, as a numpy array."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise ValueError(f"idx file {str(path)!r} does not exist; check data.path")
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        raw = f.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_TYPES:
        raise ValueError(f"{path} is not an idx file (bad magic number)")
    ndim = raw[3]
    shape = struct.unpack(f">{ndim}i", raw[4 : 4 + 4 * ndim])
    dtype = np.dtype(_IDX_TYPES[raw[2]])
    expected = int(np.prod(shape)) * dtype.itemsize
    body = raw[4 + 4 * ndim :]
    if len(body) != expected:
        raise ValueError(f"{path} is truncated: {len(body)} bytes of data, header says {expected}")
    return np.frombuffer(body, dtype=dtype).reshape(shape)


def idx_labels_beside(images: Path) -> Path | None:
    """The labels file of an idx images file, by MNIST's naming (``t10k-images-idx3-ubyte`` beside
    ``t10k-labels-idx1-ubyte``, compressed or not), or None where there is none."""
    if "images-idx3" not in images.name:
        return None
    labels = images.with_name(images.name.replace("images-idx3", "labels-idx1"))
    return labels if labels.is_file() else None


def load_idx(path: str, image_size: int | None) -> IngestResult:
    """Images (N, H, W) from an MNIST-family idx file, and their labels (N,) where a labels file lies beside it."""
    images = Path(path).expanduser()
    if not images.is_file():
        raise ValueError(f"data.path = {path!r} is not a file; point it at the idx images file")
    pixels = read_idx(images)
    if pixels.ndim != 3:
        raise ValueError(f"data.path = {path!r} holds {pixels.ndim}-d data; expected (N, H, W) images")
    labels = idx_labels_beside(images)
    label_array = None if labels is None else read_idx(labels).astype(np.int64)
    if label_array is not None and len(label_array) != len(pixels):
        raise ValueError(f"{labels} has {len(label_array)} labels for the {len(pixels)} images of data.path")
    names = [] if label_array is None else [str(c) for c in range(int(label_array.max()) + 1)]
    collection = collection_from_arrays(pixels[:, None].astype(np.uint8), label_array, names, image_size, "idx")
    return IngestResult(collection)


def _unpickle(path: Path) -> dict:
    with open(path, "rb") as f:
        return pickle.load(f, encoding="bytes")


def load_cifar(path: str, image_size: int | None, split: str = "train", label_type: str = "fine") -> IngestResult:
    """CIFAR-10 (``data_batch_*``, ``test_batch``) or CIFAR-100 (``train``, ``test``) python batches.

    ``split``: train, test or all; ``label_type`` (CIFAR-100 only): fine (100 classes) or coarse (20).
    """
    root = Path(path).expanduser()
    if split not in ("train", "test", "all"):
        raise ValueError(f"data.split = {split!r} is unknown; choose train, test or all")
    if (root / "batches.meta").is_file():  # CIFAR-10
        names = {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]}
        label_key, meta, meta_key = b"labels", "batches.meta", b"label_names"
    elif (root / "meta").is_file():  # CIFAR-100
        names = {"train": ["train"], "test": ["test"]}
        label_key, meta = f"{label_type}_labels".encode(), "meta"
        meta_key = f"{label_type}_label_names".encode()
    else:
        raise ValueError(
            f"data.path = {path!r} is not an extracted CIFAR python folder "
            "(expected batches.meta for CIFAR-10 or meta for CIFAR-100)"
        )
    wanted = names["train"] + names["test"] if split == "all" else names[split]
    batches = [_unpickle(root / name) for name in wanted]
    pixels = np.concatenate([b[b"data"] for b in batches]).reshape(-1, 3, 32, 32)
    labels = np.concatenate([np.asarray(b[label_key]) for b in batches])
    class_names = [n.decode() for n in _unpickle(root / meta)[meta_key]]
    return IngestResult(collection_from_arrays(pixels, labels, class_names, image_size, "cifar"))


def load_npz(path: str, image_size: int | None) -> IngestResult:
    """uint8 ``pixels`` and optional ``labels`` arrays from one ``.npz`` file."""
    file = Path(path).expanduser()
    if not file.is_file():
        raise ValueError(f"data.path = {path!r} does not exist; point it at your .npz file")
    with np.load(file) as arrays:
        if "pixels" not in arrays:
            raise ValueError(f"data.path = {path!r} has no 'pixels' array (it has {sorted(arrays)})")
        pixels = arrays["pixels"]
        labels = arrays["labels"].astype(np.int64) if "labels" in arrays else None
    if pixels.dtype != np.uint8 or pixels.ndim not in (3, 4):
        raise ValueError(f"data.path's 'pixels' must be uint8 images, got {pixels.dtype} of shape {pixels.shape}")
    if pixels.ndim == 3:
        pixels = pixels[:, None]
    elif pixels.shape[-1] in (1, 3) and pixels.shape[1] not in (1, 3):
        pixels = pixels.transpose(0, 3, 1, 2)  # channels last -> first
    names = [] if labels is None else [str(c) for c in range(int(labels.max()) + 1)]
    return IngestResult(collection_from_arrays(np.ascontiguousarray(pixels), labels, names, image_size, "npz"))


# ---------------------------------------------------------- scikit-learn


def load_sklearn_digits(image_size: int | None = 8) -> ImageCollection:
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


# ---------------------------------------------------------------- dispatch


def load_image_collection(
    source: str,
    image_size: int | str,
    path: str | None = None,
    max_images: int | None = None,
    seed: int = 0,
    max_auto_size: int | None = None,
    channels: int | str = "auto",
    labels: str = "auto",
    split: str = "all",
    workers: int = 2,
    store_options: dict | None = None,
) -> IngestResult:
    """Read ``source`` at ``path`` (``data.*``; a folder's ``channels``, ``labels`` and ``workers``, CIFAR's
    ``split``; a folder's ``store_options`` where ``path`` is an fsspec URL).

    ``image_size`` ``auto``: the images' own size (a folder: the median shorter
    side), at most ``max_auto_size``. ``max_images`` keeps a random subset of that
    size (for quick trials), drawn with ``seed``.
    """
    auto = image_size == "auto"
    if auto:
        image_size = None
    if source not in SOURCES:
        raise ValueError(f"data.source = {source!r} is unknown; choose one of {SOURCES}")
    if source != "sklearn_digits" and path is None:
        raise ValueError(f"data.source = {source!r} reads data.path, which is not set: name your images' path")
    readers = {
        "folder": lambda: load_folder(
            path, image_size, channels, labels, workers, max_auto_size, store_options=store_options
        ),
        "idx": lambda: load_idx(path, image_size),
        "cifar": lambda: load_cifar(path, image_size, split),
        "npz": lambda: load_npz(path, image_size),
        "sklearn_digits": lambda: IngestResult(load_sklearn_digits(image_size)),
    }
    result = readers[source]()
    if auto and max_auto_size is not None and result.collection.image_size > max_auto_size:
        result.collection = resized(result.collection, max_auto_size)
    if max_images is not None and max_images < len(result.collection):
        chosen = np.random.default_rng(seed).choice(len(result.collection), size=max_images, replace=False)
        result.collection = subset(result.collection, np.sort(chosen))
    return result
