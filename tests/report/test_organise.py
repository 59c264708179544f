import hashlib
import os

import numpy as np
import pytest
from PIL import Image

from deepcluster.data.collection import collection_from_arrays
from deepcluster.report.organise import check_target, place_files, write_pngs


def checksums(folder):
    return {path: hashlib.sha256(path.read_bytes()).hexdigest() for path in sorted(folder.rglob("*")) if path.is_file()}


@pytest.fixture
def originals(tmp_path):
    """Six PNGs in two class folders, two of them with the same name."""
    folder = tmp_path / "images"
    for number in range(6):
        path = folder / f"class{number % 2}" / f"{number // 2}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.full((4, 4), number * 40, dtype=np.uint8)).save(path)
    return folder


@pytest.mark.parametrize("mode", ["link", "copy"])
def test_each_cluster_gets_a_folder_of_its_files_and_the_originals_stay_as_they_were(originals, tmp_path, mode):
    before = checksums(originals)
    sources = [str(path) for path in sorted(originals.rglob("*.png"))]
    relative = [os.path.relpath(path, originals) for path in sources]
    clusters = np.array([0, 1, 1, 0, 1, 0])
    target = check_target(str(tmp_path / "clusters"))
    written = place_files(sources, relative, clusters, target, mode)
    assert checksums(originals) == before
    for source, path, cluster in zip(sources, written, clusters, strict=True):
        path = tmp_path / "clusters" / f"cluster_{cluster}" / os.path.relpath(source, originals)
        assert str(path) in written
        assert path.is_symlink() == (mode == "link")
        assert path.read_bytes() == open(source, "rb").read()  # a link resolves to its original
    assert sorted(p.name for p in (tmp_path / "clusters").iterdir()) == ["cluster_0", "cluster_1"]


def test_store_files_are_written_from_their_bytes(originals, tmp_path):
    sources = ["s3://bucket/a/1.png", "s3://bucket/b/1.png"]
    place_files(
        sources, ["a/1.png", "b/1.png"], np.array([0, 0]), tmp_path / "out", "link", read=lambda url: url.encode()
    )
    assert (tmp_path / "out/cluster_0/b/1.png").read_bytes() == b"s3://bucket/b/1.png"
    assert not (tmp_path / "out/cluster_0/b/1.png").is_symlink()


def test_images_that_were_never_files_are_written_as_png_with_their_pixels(tmp_path):
    pixels = np.random.default_rng(0).integers(0, 256, (12, 3, 5, 5), dtype=np.uint8)
    images = collection_from_arrays(pixels, None, [], None, "npz")
    clusters = np.arange(12) % 11  # cluster numbers of two digits: zero-padded folders
    written = write_pngs(images, clusters, tmp_path / "out")
    assert written[0] == str(tmp_path / "out" / "cluster_00" / "00.png")
    for row, path in enumerate(written):
        with Image.open(path) as image:
            np.testing.assert_array_equal(np.asarray(image), pixels[row].transpose(1, 2, 0))


def test_an_unset_or_non_empty_target_is_refused_with_the_setting_named(tmp_path):
    with pytest.raises(ValueError, match=r"organise.folder is not set.*kedro run --pipeline organise"):
        check_target(None)
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("mine")
    with pytest.raises(ValueError, match=r"organise.folder = '.*full' already holds files: name a new or empty folder"):
        check_target(str(tmp_path / "full"))
    assert (tmp_path / "full" / "keep.txt").read_text() == "mine"
    (tmp_path / "empty").mkdir()
    assert check_target(str(tmp_path / "empty")) == tmp_path / "empty"
