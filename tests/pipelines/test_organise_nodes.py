import numpy as np
from PIL import Image

from deepcluster.config import DataSettings, OrganiseSettings
from deepcluster.data.collection import collection_from_arrays
from deepcluster.pipelines.ingest.nodes import index_images
from deepcluster.pipelines.organise.nodes import organise_images


def test_images_of_an_array_source_are_written_as_png_per_cluster(tmp_path):
    pixels = np.random.default_rng(0).integers(0, 256, (6, 1, 8, 8), dtype=np.uint8)
    images = collection_from_arrays(pixels, None, [], None, "sklearn_digits")
    assignments = index_images(images).assign(cluster=[1, 0, 1, 0, 1, 0])
    data = DataSettings(
        source="sklearn_digits",
        path=None,
        image_size=8,
        max_images=None,
        channels=1,
        labels="auto",
        split="all",
        workers=0,
    )
    written = organise_images(
        assignments, images, OrganiseSettings(folder=str(tmp_path / "out"), mode="link"), data, {}
    )
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["cluster_0", "cluster_1"]
    for row, (cluster, path) in enumerate(zip(written["cluster"], written["written"], strict=True)):
        assert path.startswith(str(tmp_path / "out" / f"cluster_{cluster}")) and path.endswith(".png")
        np.testing.assert_array_equal(np.asarray(Image.open(path)), pixels[row, 0])
