"""Use a trained run on new images: the run's own preprocessing, network and partition, and an index of
its images for similar-image search.

A new image goes through what the run's images went through (their size, channels, pixel
statistics and centre crop, kept as ``Preprocessing`` by the export), then the run's network.
Its L2-normalised features are placed in the run's partition by the rule of the clusterer that
made it (``assign_to_partition``) and compared with every training image's by cosine similarity
(``SimilarityIndex``, faiss). In a notebook (``%load_ext kedro.ipython``)::

    from deepcluster.assign import similar_images
    similar_images(["query.png"], catalog.load("export.backbone"),
                   catalog.load("export.preprocessing"), catalog.load("export.similarity_index"))
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from deepcluster.clustering.clusterers import Partition, assign_to_partition
from deepcluster.clustering.neighbours import NeighbourIndex
from deepcluster.data.collection import ImageCollection, UnreadableImage, decode_image
from deepcluster.data.sources import IngestResult, load_folder
from deepcluster.evaluation.protocols import clustering_points
from deepcluster.features import extract_features
from deepcluster.models import Representation
from deepcluster.runtime import Execution
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
        decoded, reasons = self._decode_each(ids, ids)
        for reason in reasons:
            if reason is not None:
                raise ValueError(reason)
        return self._collection(decoded, ids)

    def read_requests(self, requests: pd.DataFrame) -> tuple[ImageCollection | None, list[str | None]]:
        """The usable images of a prediction request, and for each request row why it cannot be used (None: it
        can). A request has a column ``path`` (files where the model runs) or ``image`` (each encoded file's
        bytes, or those bytes in base64 as JSON carries them); a request with neither is refused."""
        if "path" in requests:
            sources: list[str | bytes | None] = [str(path) for path in requests["path"]]
            names = [f"request row {i} ({path})" for i, path in enumerate(sources)]
        elif "image" in requests:
            sources = [_encoded_bytes(value) for value in requests["image"]]
            names = [f"request row {i}" for i in range(len(sources))]
        else:
            raise ValueError(f"a request needs a column 'path' or 'image'; it has {list(requests.columns)}")
        decoded, reasons = self._decode_each(sources, names)
        usable = [i for i, reason in enumerate(reasons) if reason is None]
        images = self._collection([decoded[i] for i in usable], [names[i] for i in usable]) if usable else None
        return images, reasons

    def _decode_each(
        self, sources: Sequence[str | bytes | None], names: list[str]
    ) -> tuple[list[np.ndarray | None], list[str | None]]:
        """Each source decoded, or None and the reason it cannot be used (None: not base64)."""
        decoded: list[np.ndarray | None] = []
        reasons: list[str | None] = []
        for source, name in zip(sources, names, strict=True):
            try:
                if source is None:
                    raise UnreadableImage("not an encoded image in base64")
                decoded.append(decode_image(source, self.channels, self.image_size))
                reasons.append(None)
            except UnreadableImage as reason:
                decoded.append(None)
                reasons.append(f"{name} cannot be used as an image: {reason}")
        return decoded, reasons

    def _collection(self, decoded: list[np.ndarray], ids: list[str]) -> ImageCollection:
        return ImageCollection(ids, self.channels, self.image_size, self.mean, self.std, pixels=np.stack(decoded))


def _encoded_bytes(value: object) -> bytes | None:
    """An ``image`` cell's bytes: given as bytes, or as base64 text; None for anything else."""
    if isinstance(value, bytes):
        return value
    try:
        return base64.b64decode(value, validate=True) if isinstance(value, str) else None
    except binascii.Error:
        return None


def image_points(
    backbone: dict, images: ImageCollection, preprocessing: Preprocessing, execution: Execution, batch_size: int = 256
) -> torch.Tensor:
    """The run's network's L2-normalised representation of ``images``, as its partition and index hold them."""
    network = Representation(network_from_checkpoint(backbone, execution))
    features = extract_features(network, images, batch_size, execution, preprocessing.input_size)
    return clustering_points(features)


class SimilarityIndex:
    """Cosine similarity over a run's images (``deepcluster.clustering.neighbours``: exact up to its limit,
    HNSW above), each row known by its image id."""

    def __init__(self, features: np.ndarray, ids: Sequence[str]) -> None:
        if len(features) != len(ids):
            raise ValueError(f"{len(features)} feature rows but {len(ids)} image ids")
        self.ids = np.asarray(ids, dtype=object)
        self._index = NeighbourIndex(features)

    def __len__(self) -> int:
        return len(self._index)

    def search(self, points: np.ndarray | torch.Tensor, k: int = 5) -> tuple[np.ndarray, np.ndarray]:
        """The ids of the ``k`` most similar indexed images to each point, most similar first, and the
        cosine similarities: two (m, k) arrays."""
        similarity, rows = self._index.search(points, min(k, len(self)))
        return self.ids[rows], similarity


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


def answer_requests(placed: pd.DataFrame, reasons: list[str | None]) -> pd.DataFrame:
    """One row per request row: the cluster and score of each usable image (``placed``, in order), and for the
    others cluster -1, no score and the ``error`` that says why."""
    usable = np.array([reason is None for reason in reasons], dtype=bool)
    score = placed.columns[1]
    answers = pd.DataFrame(
        {
            "cluster": np.full(len(reasons), -1, dtype=np.int64),
            score: pd.Series([None] * len(reasons), dtype=object),
            "error": pd.Series(reasons, dtype=object),
        }
    )
    answers.loc[usable, "cluster"] = placed["cluster"].to_numpy()
    answers.loc[usable, score] = placed[score].astype(float).to_numpy()
    return answers


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
