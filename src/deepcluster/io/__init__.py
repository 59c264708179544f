"""Kedro datasets specific to this project."""

from deepcluster.io.checkpoint_dataset import CheckpointDataset

__all__ = ["CheckpointDataset"]
