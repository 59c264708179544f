"""Shared fixtures: small planted image collections and a throwaway copy of the Kedro project."""

import os
from pathlib import Path

os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from deepcluster.config import Parameters, check_parameters  # noqa: E402
from deepcluster.data.collection import ImageCollection, collection_from_arrays  # noqa: E402
from deepcluster.pipelines.plain_runner import load_parameters, merge  # noqa: E402
from deepcluster.pipelines.scratch import scratch_project, write_parameters  # noqa: E402

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def planted_images(n_per_class: int = 20, size: int = 8, channels: int = 1, seed: int = 0) -> ImageCollection:
    """Three easy classes: a bright left half, a bright top half, a bright centre, plus noise."""
    rng = np.random.default_rng(seed)
    patterns = np.zeros((3, size, size))
    patterns[0, :, : size // 2] = 1
    patterns[1, : size // 2, :] = 1
    patterns[2, size // 4 : 3 * size // 4, size // 4 : 3 * size // 4] = 1
    labels = np.repeat(np.arange(3), n_per_class)
    images = patterns[labels] * 200 + rng.uniform(0, 55, size=(labels.size, size, size))
    pixels = np.repeat(images[:, None], channels, axis=1).astype(np.uint8)
    return collection_from_arrays(pixels, labels, ["left", "top", "centre"], size, source="planted")


def distinct_images(classes: int, per_class: int, size: int = 8, seed: int = 0) -> ImageCollection:
    """``classes`` random binary patterns, each repeated ``per_class`` times with mild noise: groups that are
    clear in the pixels, as in a collection of objects or faces."""
    rng = np.random.default_rng(seed)
    patterns = rng.integers(0, 2, size=(classes, size, size)) * 200
    labels = np.repeat(np.arange(classes), per_class)
    pixels = (patterns[labels] + rng.uniform(0, 40, size=(labels.size, size, size)))[:, None].astype(np.uint8)
    return collection_from_arrays(pixels, labels, [f"pattern_{c}" for c in range(classes)], size, source="planted")


def four_blobs(seed: int) -> tuple[torch.Tensor, dict[str, torch.Tensor], np.ndarray]:
    """Four tight blobs at the corners of a square, and two spaces of the same images in which a blob's
    neighbours are its own and one other blob's: those beside it along x, or those along y."""
    rng = np.random.default_rng(seed)
    corners = np.array([[1, 1], [1, -1], [-1, 1], [-1, -1]]).repeat(150, axis=0)
    features = np.concatenate([2.0 * corners + rng.normal(0, 0.1, corners.shape), np.full((600, 1), 4.0)], axis=1)
    spaces = {
        axis: torch.tensor(
            np.concatenate([corners[:, [column]], rng.normal(0, 0.3, (600, 3))], axis=1), dtype=torch.float32
        )
        for column, axis in enumerate("xy")
    }
    return torch.tensor(features, dtype=torch.float32), spaces, corners


def settings(**overrides) -> Parameters:
    """conf/base's parameters with ``overrides`` merged in key by key, validated."""
    return check_parameters(merge(load_parameters(PROJECT_ROOT / "conf"), overrides))


def round_zero(images: ImageCollection, chosen: Parameters):
    """Round 0's nodes on ``images``: the untrained method's checkpoint, the empty assignments and the run
    context (its ``resolved``: the resolved settings)."""
    from deepcluster.pipelines.deepcluster.nodes import build_run_context, initialise_network, resolve_settings

    raw = chosen.model_dump()
    run = build_run_context(raw, resolve_settings(images, raw))
    checkpoint, assignments, _ = initialise_network(images, run)
    return checkpoint, assignments, run


@pytest.fixture(scope="session")
def two_processes(tmp_path_factory):
    """Two gloo processes for the session's tests of several processes (``tests/two_processes.py``)."""
    from tests.two_processes import TwoProcesses

    pair = TwoProcesses(tmp_path_factory.mktemp("two_processes"))
    yield pair
    pair.close()


@pytest.fixture
def planted() -> ImageCollection:
    return planted_images()


@pytest.fixture
def project_copy(tmp_path, monkeypatch):
    """A copy of this Kedro project's conf in a temporary folder, run from there.

    Returns a function that writes ``conf/local/parameters.yml`` with the given overrides.
    """
    scratch_project(PROJECT_ROOT, tmp_path)
    monkeypatch.chdir(tmp_path)

    def configure(**overrides) -> Path:
        write_parameters(tmp_path, overrides)
        return tmp_path

    return configure


TINY_RUN = {
    "rounds": 2,
    "data": {"source": "sklearn_digits", "image_size": 8, "max_images": 240},
    "pca": {"dim": 16},
    "kmeans": {"k": 12},
    "training": {"batch_size": 64},
    "scan": {"rounds": 0},
}
