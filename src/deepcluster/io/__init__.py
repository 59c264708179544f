"""Kedro datasets specific to this project."""

from deepcluster.io.checkpoint_dataset import CheckpointDataset
from deepcluster.io.numpy_dataset import NumpyDataset

__all__ = ["CheckpointDataset", "NumpyDataset"]
