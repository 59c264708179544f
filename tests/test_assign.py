"""New images through a trained run: the run's preprocessing, its partition's rules, the similarity index."""

import base64
import pickle

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from deepcluster.assign import (
    Preprocessing,
    SimilarityIndex,
    assign_new_images,
    image_points,
    similar_images,
)
from deepcluster.clustering.clusterers import CLUSTERERS
from deepcluster.models import build_model
from deepcluster.runtime import Execution
from tests.conftest import distinct_images

CONFIG = {"name": "small_convnet", "in_channels": 1, "width": 8, "feature_dim": 16}


def backbone() -> dict:
    return {"model_config": CONFIG, "model_state": build_model(**CONFIG).state_dict()}


def test_the_index_finds_what_brute_force_cosine_finds_and_survives_pickling():
    rng = np.random.default_rng(0)
    features, queries = rng.normal(size=(500, 12)), rng.normal(size=(7, 12))
    ids = [f"image_{i}" for i in range(500)]
    index = pickle.loads(pickle.dumps(SimilarityIndex(features, ids)))
    similar, similarity = index.search(queries, k=4)
    unit = features / np.linalg.norm(features, axis=1, keepdims=True)
    cosine = (queries / np.linalg.norm(queries, axis=1, keepdims=True)) @ unit.T
    expected = np.argsort(-cosine, axis=1)[:, :4]
    assert similar.tolist() == [[ids[i] for i in row] for row in expected]
    np.testing.assert_allclose(similarity, np.take_along_axis(cosine, expected, axis=1), rtol=1e-5)
    assert index.search(queries, k=900)[0].shape == (7, 500)  # k above the indexed images: all of them


@pytest.mark.parametrize("clusterer", list(CLUSTERERS))
def test_a_training_image_seen_again_gets_its_cluster_and_itself_as_the_top_match(clusterer):
    images = distinct_images(classes=4, per_class=15, size=8)
    preprocessing = Preprocessing.of(images, input_size=8)
    points = image_points(backbone(), images, preprocessing, Execution())
    partition = CLUSTERERS[clusterer]().fit(points, 4, seed=0)
    index = SimilarityIndex(points.numpy(), images.ids)
    chosen = np.array([0, 17, 33, 59])
    table = assign_new_images([images.ids[i] for i in chosen], points[chosen], partition, index, k=3)
    assert list(table.columns[:3]) == ["image_id", "cluster", partition.score_name]
    np.testing.assert_array_equal(table["cluster"], partition.assignments[chosen])
    assert table["similar_1"].tolist() == [images.ids[i] for i in chosen]
    np.testing.assert_allclose(table["similarity_1"], 1.0, atol=1e-5)
    assert (table["similarity_2"] <= table["similarity_1"] + 1e-6).all()


def save_png(pixels: np.ndarray, path, mode: str = "L", size: int | None = None) -> None:
    image = Image.fromarray(pixels).convert(mode)
    (image.resize((size, size), Image.Resampling.NEAREST) if size else image).save(path)


def test_new_files_are_read_at_the_runs_size_and_channels_with_its_statistics(tmp_path):
    images = distinct_images(classes=3, per_class=4, size=8)
    preprocessing = Preprocessing(8, 1, (0.25,), (0.5,), 8)
    save_png(images.pixels[0, 0], tmp_path / "grey.png")
    save_png(images.pixels[1, 0], tmp_path / "colour_and_larger.png", mode="RGB", size=32)
    (tmp_path / "broken.png").write_bytes(b"not an image")
    result = preprocessing.read_folder(str(tmp_path), workers=0)
    collection = result.collection
    assert (collection.image_size, collection.channels, collection.mean, collection.std) == (8, 1, (0.25,), (0.5,))
    assert sorted(path.rsplit("/", 1)[-1] for path in collection.ids) == ["colour_and_larger.png", "grey.png"]
    assert [path.rsplit("/", 1)[-1] for path, _ in result.skipped] == ["broken.png"]
    with pytest.raises(ValueError, match="assign.folder = .* is not a folder"):
        preprocessing.read_folder(str(tmp_path / "missing"))
    with pytest.raises(ValueError, match="broken.png cannot be used as an image"):
        preprocessing.read_files([tmp_path / "broken.png"])


def test_similar_images_of_files_find_the_training_images_they_copy(tmp_path):
    images = distinct_images(classes=4, per_class=10, size=8)
    preprocessing = Preprocessing.of(images, input_size=8)
    network = backbone()
    index = SimilarityIndex(image_points(network, images, preprocessing, Execution()).numpy(), images.ids)
    paths = []
    for i in (3, 25):
        paths.append(tmp_path / f"copy_of_{i}.png")
        save_png(images.pixels[i, 0], paths[-1])
    table = similar_images(paths, network, preprocessing.to_dict(), index, k=2)
    assert isinstance(table, pd.DataFrame) and table["image_id"].tolist() == [str(p) for p in paths]
    assert table["similar_1"].tolist() == [images.ids[3], images.ids[25]]
    np.testing.assert_allclose(table["similarity_1"], 1.0, atol=1e-5)


def test_a_served_request_is_answered_per_row_and_refused_whole_only_with_no_usable_row(tmp_path):
    from mlflow.exceptions import MlflowException

    from deepcluster.pipelines.assign.nodes import predict_clusters

    images = distinct_images(classes=3, per_class=10, size=8)
    preprocessing = Preprocessing.of(images, input_size=8)
    points = image_points(backbone(), images, preprocessing, Execution())
    partition = CLUSTERERS["kmeans"]().fit(points, 3, seed=0)
    save_png(images.pixels[12, 0], tmp_path / "good.png")
    good = base64.b64encode((tmp_path / "good.png").read_bytes()).decode()
    not_an_image = base64.b64encode(b"plain text").decode()
    request = pd.DataFrame({"image": [not_an_image, good, "%% not base64 %%"]})
    answer = predict_clusters(request, backbone(), preprocessing.to_dict(), partition)
    assert list(answer.columns) == ["cluster", "distance", "error"]
    assert answer["cluster"].tolist() == [-1, partition.assignments[12], -1]
    assert answer["error"][1] is None and answer["distance"][0] is None and answer["distance"][1] >= 0
    assert answer["error"][0].startswith("request row 0 cannot be used as an image: cannot decode")
    assert answer["error"][2] == "request row 2 cannot be used as an image: not an encoded image in base64"
    with pytest.raises(MlflowException, match="no request row can be used as an image: request row 0 cannot"):
        predict_clusters(request.iloc[[0]], backbone(), preprocessing.to_dict(), partition)
    with pytest.raises(MlflowException, match=r"a request needs a column 'path' or 'image'; it has \['file'\]"):
        predict_clusters(pd.DataFrame({"file": ["x.png"]}), backbone(), preprocessing.to_dict(), partition)
