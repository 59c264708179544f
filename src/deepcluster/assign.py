"""Use a trained run on new images: the run's own preprocessing, network and partition, and an index of
its images for similar-image search.

A new image goes through what the run's images went through (their size, channels, pixel
statistics and centre crop, kept as ``Preprocessing`` by the export), then the run's network.
Its L2-normalised features are placed in the run's partition by the rule of the clusterer that
made it (``assign_to_partition``) and compared with every training image's by cosine similarity
(``SimilarityIndex``, exact, faiss). In a notebook (``%load_ext kedro.ipython``)::

    from deepcluster.assign import similar_images
    similar_images(["query.png"], catalog.load("export.backbone"),
                   catalog.load("export.preprocessing"), catalog.load("export.similarity_index"))
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import faiss
import numpy as np
import pandas as pd
import torch

from deepcluster.clustering.clusterers import Partition, assign_to_partition
from deepcluster.data import ImageCollection, UnreadableImage, decode_image
from deepcluster.evaluation import clustering_points
from deepcluster.features import extract_features
from deepcluster.models import Representation
from deepcluster.runtime import Execution
from deepcluster.sources import IngestResult, load_folder
from deepcluster.training import network_from_checkpoint


@dataclass(frozen=True)
class Preprocessing:
    """What every image of a run went through before its network: the size and channels it was read at,
    the pixel statistics it was normalised with and the centre crop the network saw."""

    image_size: int
    channels: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    input_size: int

    @classmethod
    def of(cls, images: ImageCollection, input_size: int) -> Preprocessing:
        return cls(images.image_size, images.channels, tuple(images.mean), tuple(images.std), input_size)

    @classmethod
    def from_dict(cls, values: dict) -> Preprocessing:
        return cls(**{**values, "mean": tuple(values["mean"]), "std": tuple(values["std"])})

    def to_dict(self) -> dict:
        return asdict(self)

    def applied_to(self, collection: ImageCollection) -> ImageCollection:
        """New images normalised with the run's statistics, not their own."""
        if (collection.image_size, collection.channels) != (self.image_size, self.channels):
            raise ValueError(
                f"images of {collection.image_size} px and {collection.channels} channels, but the run read "
                f"{self.image_size} px and {self.channels}: read them with Preprocessing.read_folder"
            )
        return replace(collection, mean=self.mean, std=self.std)

    def read_folder(self, path: str, workers: int = 2, setting: str = "assign.folder") -> IngestResult:
        """Every readable image under ``path`` brought to the run's size and channels; unreadable ones reported."""
        result = load_folder(
            path, self.image_size, channels=self.channels, labels="none", workers=workers, setting=setting
        )
        return IngestResult(self.applied_to(result.collection), result.skipped)

    def read_files(self, paths: Sequence[str | Path]) -> ImageCollection:
        """A few image files, as the run's images were read (an unreadable one raises, naming it)."""
        ids = [str(path) for path in paths]
        return self._decoded(ids, ids)

    def read_requests(self, requests: pd.DataFrame) -> ImageCollection:
        """The images of a prediction request: a column ``path`` (files where the model runs) or ``image``
        (each encoded file's bytes, or those bytes in base64 as JSON carries them)."""
        if "path" in requests:
            return self.read_files(requests["path"].tolist())
        if "image" not in requests:
            raise ValueError(f"a request needs a column 'path' or 'image'; it has {list(requests.columns)}")
        encoded = [value if isinstance(value, bytes) else base64.b64decode(value) for value in requests["image"]]
        return self._decoded(encoded, [f"request row {i}" for i in range(len(encoded))])

    def _decoded(self, sources: Sequence[str | bytes], ids: list[str]) -> ImageCollection:
        decoded = []
        for source, name in zip(sources, ids, strict=True):
            try:
                decoded.append(decode_image(source, self.channels, self.image_size))
            except UnreadableImage as reason:
                raise ValueError(f"{name} cannot be used as an image: {reason}") from None
        pixels = np.stack(decoded)
        return ImageCollection(ids, self.channels, self.image_size, self.mean, self.std, pixels=pixels)


def image_points(
    backbone: dict, images: ImageCollection, preprocessing: Preprocessing, execution: Execution, batch_size: int = 256
) -> torch.Tensor:
    """The run's network's L2-normalised representation of ``images``, as its partition and index hold them."""
    network = Representation(network_from_checkpoint(backbone, execution))
    features = extract_features(network, images, batch_size, execution, preprocessing.input_size)
    return clustering_points(features)


class SimilarityIndex:
    """Exact cosine similarity over a run's images: faiss's inner product on L2-normalised features."""

    def __init__(self, features: np.ndarray, ids: Sequence[str]) -> None:
        if len(features) != len(ids):
            raise ValueError(f"{len(features)} feature rows but {len(ids)} image ids")
        self.ids = np.asarray(ids, dtype=object)
        self._index = faiss.IndexFlatIP(features.shape[1])
        self._index.add(_unit_rows(features))

    def __len__(self) -> int:
        return self._index.ntotal

    def search(self, points: np.ndarray | torch.Tensor, k: int = 5) -> tuple[np.ndarray, np.ndarray]:
        """The ids of the ``k`` most similar indexed images to each point, most similar first, and the
        cosine similarities: two (m, k) arrays."""
        points = points.detach().cpu().numpy() if isinstance(points, torch.Tensor) else points
        similarity, rows = self._index.search(_unit_rows(points), min(k, len(self)))
        return self.ids[rows], similarity

    def __getstate__(self) -> dict:
        return {"ids": self.ids, "index": faiss.serialize_index(self._index)}

    def __setstate__(self, state: dict) -> None:
        self.ids = state["ids"]
        self._index = faiss.deserialize_index(state["index"])


def _unit_rows(points: np.ndarray) -> np.ndarray:
    points = np.ascontiguousarray(points, dtype=np.float32)
    return points / np.maximum(np.linalg.norm(points, axis=1, keepdims=True), 1e-12)


def similar_table(ids: Sequence[str], points: torch.Tensor, index: SimilarityIndex, k: int) -> pd.DataFrame:
    """One row per query image: its id, then ``similar_j`` (a training image's id) and ``similarity_j``."""
    similar, similarity = index.search(points, k)
    table = pd.DataFrame({"image_id": list(ids)})
    for j in range(similar.shape[1]):
        table[f"similar_{j + 1}"] = similar[:, j]
        table[f"similarity_{j + 1}"] = similarity[:, j]
    return table


def placed_table(points: torch.Tensor, partition: Partition) -> pd.DataFrame:
    """Each point's ``cluster`` in the run's partition and its ``distance`` or ``confidence``."""
    clusters, scores = assign_to_partition(partition, points)
    return pd.DataFrame({"cluster": clusters, partition.score_name: scores})


def assign_new_images(
    ids: Sequence[str], points: torch.Tensor, partition: Partition, index: SimilarityIndex, k: int = 5
) -> pd.DataFrame:
    """Each new image's cluster in the run's partition with its ``distance`` or ``confidence``, and its
    ``k`` most similar training images."""
    similar = similar_table(ids, points, index, k)
    return pd.concat([similar[["image_id"]], placed_table(points, partition), similar.drop(columns="image_id")], axis=1)


def place_images(
    images: ImageCollection, backbone: dict, preprocessing: Preprocessing, partition: Partition, execution: Execution
) -> pd.DataFrame:
    """Each image's cluster in the run's partition and its ``distance`` or ``confidence``."""
    return placed_table(image_points(backbone, images, preprocessing, execution), partition)


def similar_images(
    paths: Sequence[str | Path],
    backbone: dict,
    preprocessing: dict | Preprocessing,
    index: SimilarityIndex,
    k: int = 5,
    execution: Execution | None = None,
) -> pd.DataFrame:
    """The ``k`` training images most like each of ``paths``, with their cosine similarities."""
    if isinstance(preprocessing, dict):
        preprocessing = Preprocessing.from_dict(preprocessing)
    images = preprocessing.read_files(paths)
    points = image_points(backbone, images, preprocessing, execution or Execution())
    return similar_table(images.ids, points, index, k)
