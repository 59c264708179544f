import gzip
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from deepcluster.data.collection import decode_image, iterate_pixel_batches
from deepcluster.data.sources import (
    channels_of,
    load_cifar,
    load_folder,
    load_idx,
    load_image_collection,
    load_npz,
    read_idx,
)
from tests.conftest import PROJECT_ROOT

SHARED = PROJECT_ROOT.parent / "shared" / "datasets"
needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/datasets is not beside this clone")


def _save(path: Path, image: Image.Image, **options) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, **options)
    return path


def _good_image(seed: int, size=(20, 16)) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (*size[::-1], 3), dtype=np.uint8), "RGB")


@pytest.fixture
def messy_folder(tmp_path):
    """Two class folders of good images in many formats, plus every kind of bad file."""
    root = tmp_path / "photos"
    good = []
    for i, suffix in enumerate([".png", ".jpg", ".bmp", ".tiff", ".webp", ".ppm", ".gif"]):
        good.append(_save(root / "cats" / f"cat{i}{suffix}", _good_image(i)))
    good.append(_save(root / "dogs" / "grey.pgm", _good_image(10).convert("L")))
    good.append(_save(root / "dogs" / "deep" / "nested.png", _good_image(11)))
    sixteen = np.full((12, 12), 65535, dtype=np.uint16)
    good.append(_save(root / "dogs" / "sixteen_bit.png", Image.fromarray(sixteen)))
    good.append(_save(root / "dogs" / "cmyk.jpg", Image.new("CMYK", (12, 12), (0, 255, 255, 0))))
    good.append(_save(root / "dogs" / "transparent.png", Image.new("RGBA", (12, 12), (0, 0, 0, 0))))
    good.append(_save(root / "dogs" / "palette.png", _good_image(12).convert("P")))
    bad = {}
    corrupt = _save(root / "cats" / "corrupt.png", _good_image(20, (40, 40)))
    data = bytearray(corrupt.read_bytes())
    corrupt.write_bytes(bytes(data[: len(data) // 2]))  # truncated
    bad[corrupt] = "cannot decode"
    text = root / "dogs" / "notes.jpg"
    text.write_text("this is not a picture")
    bad[text] = "cannot decode"
    empty = root / "dogs" / "empty.png"
    empty.write_bytes(b"")
    bad[empty] = "empty file"
    bad[_save(root / "cats" / "dot.png", Image.new("RGB", (1, 1)))] = "too small: 1x1"
    (root / "README.txt").write_text("not an image suffix: ignored")
    return root, good, bad


def test_bad_files_are_skipped_counted_and_reported(messy_folder):
    root, good, bad = messy_folder
    result = load_folder(str(root), image_size=8, channels=3)
    assert result.counts == {"images_found": len(good) + len(bad), "images_used": len(good), "images_skipped": len(bad)}
    assert sorted(result.collection.ids) == sorted(str(p) for p in good)
    reasons = dict(result.skipped)
    assert set(reasons) == {str(p) for p in bad}
    for path, expected in bad.items():
        assert expected in reasons[str(path)]


def test_modes_are_converted_sensibly(messy_folder):
    root, good, _ = messy_folder
    collection = load_folder(str(root), image_size=8, channels=3).collection
    pixels = dict(zip(collection.ids, collection.pixels))
    assert collection.pixels.shape[1:] == (3, 8, 8)
    assert np.all(pixels[str(root / "dogs" / "sixteen_bit.png")] == 255)  # full-scale 16-bit is white
    assert np.all(pixels[str(root / "dogs" / "transparent.png")] == 255)  # transparent on white
    cmyk = pixels[str(root / "dogs" / "cmyk.jpg")]
    assert cmyk[0].mean() > 200 and cmyk[1].mean() < 60  # cyan-free, magenta+yellow = red
    grey = load_folder(str(root), image_size=8, channels=1).collection
    assert grey.pixels.shape[1:] == (1, 8, 8)


def test_class_folders_give_labels_and_flat_folders_none(messy_folder, tmp_path):
    root, good, _ = messy_folder
    collection = load_folder(str(root), image_size=8).collection
    assert collection.class_names == ["cats", "dogs"]
    by_id = dict(zip(collection.ids, collection.labels))
    assert by_id[str(root / "dogs" / "deep" / "nested.png")] == 1
    assert by_id[str(root / "cats" / "cat0.png")] == 0
    flat = tmp_path / "flat"
    for i in range(3):
        _save(flat / f"{i}.png", _good_image(i))
    assert load_folder(str(flat), image_size=8).collection.labels is None
    assert load_folder(str(root), image_size=8, labels="none").collection.labels is None


def test_images_outside_class_folders_are_refused_when_labels_are_required(tmp_path):
    _save(tmp_path / "a" / "1.png", _good_image(0))
    _save(tmp_path / "loose.png", _good_image(1))
    with pytest.raises(ValueError, match="1 images lie directly in"):
        load_folder(str(tmp_path), image_size=8, labels="subfolders")


def test_lazy_reading_gives_the_same_pixels_as_memory(messy_folder):
    root, _, _ = messy_folder
    in_memory = load_folder(str(root), image_size=8).collection
    lazy = load_folder(str(root), image_size=8, workers=0, max_memory_mb=0).collection
    assert lazy.pixels is None and lazy.ids == in_memory.ids
    order = np.arange(len(lazy))[::-1]
    batches = iterate_pixel_batches(lazy, order, batch_size=4, device=torch.device("cpu"))
    np.testing.assert_array_equal(torch.cat(list(batches)).numpy(), in_memory.pixels[order])
    assert lazy.mean == pytest.approx(in_memory.mean)


def test_user_mistakes_get_one_clear_message(tmp_path):
    with pytest.raises(ValueError, match="data.path = .* is not a folder"):
        load_folder(str(tmp_path / "nowhere"), image_size=8)
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(ValueError, match="holds no image files"):
        load_folder(str(tmp_path), image_size=8)
    (tmp_path / "broken.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match="none of the 1 image files"):
        load_folder(str(tmp_path), image_size=8)
    with pytest.raises(ValueError, match="data.source = 'hdf5' is unknown"):
        load_image_collection("hdf5", 8)
    with pytest.raises(ValueError, match="data.source = 'folder' reads data.path, which is not set"):
        load_image_collection("folder", 8)
    with pytest.raises(ValueError, match="data.path = .* is not a file; point it at the idx images file"):
        load_image_collection("idx", 8, path=str(tmp_path))


def test_decode_resizes_the_short_side_and_crops_the_centre(tmp_path):
    image = np.zeros((10, 30), dtype=np.uint8)
    image[:, 10:20] = 255  # a white central third
    path = _save(tmp_path / "wide.png", Image.fromarray(image))
    decoded = decode_image(path, channels=1, size=10)
    assert decoded.shape == (1, 10, 10) and decoded.min() == 255


def _write_idx(path: Path, array: np.ndarray, compress: bool) -> Path:
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}i", *array.shape)
    opener = gzip.open if compress else open
    with opener(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())
    return path


@pytest.mark.parametrize("compress", [False, True])
def test_idx_files_plain_and_gzipped(tmp_path, compress):
    images = np.random.default_rng(0).integers(0, 256, (5, 6, 7), dtype=np.uint8)
    labels = np.array([3, 1, 4, 1, 5], dtype=np.uint8)
    suffix = ".gz" if compress else ""
    image_path = _write_idx(tmp_path / f"train-images-idx3-ubyte{suffix}", images, compress)
    np.testing.assert_array_equal(read_idx(image_path), images)
    assert load_idx(str(image_path), image_size=6).collection.labels is None  # no labels file beside it
    _write_idx(tmp_path / f"train-labels-idx1-ubyte{suffix}", labels, compress)
    collection = load_idx(str(image_path), image_size=6).collection  # its labels found by MNIST's naming
    assert collection.pixels.shape == (5, 1, 6, 6)
    np.testing.assert_array_equal(collection.labels, labels)


def test_broken_idx_files_are_named(tmp_path):
    path = _write_idx(tmp_path / "img", np.zeros((4, 3, 3)), compress=False)
    path.write_bytes(path.read_bytes()[:-5])
    with pytest.raises(ValueError, match="truncated"):
        read_idx(path)
    with pytest.raises(ValueError, match="does not exist"):
        read_idx(tmp_path / "missing")


@needs_shared
def test_the_real_mnist_test_split():
    folder = SHARED / "mnist_test"
    collection = load_idx(str(folder / "t10k-images-idx3-ubyte.gz"), 28).collection
    assert collection.pixels.shape == (10_000, 1, 28, 28)
    np.testing.assert_array_equal(
        np.bincount(collection.labels), [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    )


@needs_shared
def test_the_real_cifar10_test_folder():
    result = load_folder(str(SHARED / "cifar10" / "test"), image_size=32)
    assert result.counts == {"images_found": 10_000, "images_used": 10_000, "images_skipped": 0}
    assert result.collection.class_names[:2] == ["airplane", "automobile"]
    np.testing.assert_array_equal(np.bincount(result.collection.labels), [1000] * 10)


def _pickle(path: Path, payload: dict) -> None:
    with open(path, "wb") as f:
        pickle.dump(payload, f)


def test_cifar10_and_cifar100_batches(tmp_path):
    rng = np.random.default_rng(0)
    ten = tmp_path / "cifar-10-batches-py"
    ten.mkdir()
    _pickle(ten / "batches.meta", {b"label_names": [f"c{i}".encode() for i in range(10)]})
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        _pickle(ten / name, {b"data": rng.integers(0, 256, (4, 3072), dtype=np.uint8), b"labels": [0, 1, 2, 3]})
    assert len(load_cifar(str(ten), 32, split="train").collection) == 20
    test = load_cifar(str(ten), 16, split="test").collection
    assert test.pixels.shape == (4, 3, 16, 16) and test.class_names[3] == "c3"
    assert len(load_cifar(str(ten), 32, split="all").collection) == 24

    hundred = tmp_path / "cifar-100-python"
    hundred.mkdir()
    _pickle(hundred / "meta", {b"fine_label_names": [b"apple"] * 100, b"coarse_label_names": [b"fruit"] * 20})
    batch = {
        b"data": rng.integers(0, 256, (3, 3072), dtype=np.uint8),
        b"fine_labels": [7, 8, 9],
        b"coarse_labels": [1, 1, 2],
    }
    _pickle(hundred / "train", batch)
    _pickle(hundred / "test", batch)
    coarse = load_cifar(str(hundred), 32, label_type="coarse").collection
    np.testing.assert_array_equal(coarse.labels, [1, 1, 2])
    with pytest.raises(ValueError, match="not an extracted CIFAR python folder"):
        load_cifar(str(tmp_path), 32)


def test_npz_arrays_in_either_channel_order(tmp_path):
    rng = np.random.default_rng(0)
    last = rng.integers(0, 256, (5, 6, 6, 3), dtype=np.uint8)
    np.savez(tmp_path / "a.npz", pixels=last, labels=np.arange(5))
    collection = load_npz(str(tmp_path / "a.npz"), image_size=6).collection
    np.testing.assert_array_equal(collection.pixels, last.transpose(0, 3, 1, 2))
    np.testing.assert_array_equal(collection.labels, np.arange(5))
    np.savez(tmp_path / "b.npz", pixels=last[..., 0])
    assert load_npz(str(tmp_path / "b.npz"), image_size=6).collection.pixels.shape == (5, 1, 6, 6)
    np.savez(tmp_path / "c.npz", images=last)
    with pytest.raises(ValueError, match="has no 'pixels' array"):
        load_npz(str(tmp_path / "c.npz"), image_size=6)


def test_channels_follow_the_images_grey_in_any_mode_or_colour(tmp_path):
    rng = np.random.default_rng(0)
    grey = rng.integers(0, 255, (10, 10), dtype=np.uint8)
    _save(tmp_path / "grey" / "l.png", Image.fromarray(grey))
    _save(tmp_path / "grey" / "rgb_of_grey.png", Image.fromarray(grey).convert("RGB"))  # grey saved as RGB
    _save(tmp_path / "grey" / "sixteen_bit.png", Image.fromarray(grey.astype(np.uint16) * 256))
    files = sorted(str(p) for p in (tmp_path / "grey").iterdir())
    assert channels_of(files) == 1
    assert load_folder(str(tmp_path / "grey"), image_size=8).collection.channels == 1
    colour = np.stack([grey, grey, 255 - grey], axis=-1)
    _save(tmp_path / "grey" / "one_in_colour.png", Image.fromarray(colour))
    assert load_folder(str(tmp_path / "grey"), image_size=8).collection.channels == 3
    assert load_folder(str(tmp_path / "grey"), image_size=8, channels=1).collection.channels == 1  # as told
