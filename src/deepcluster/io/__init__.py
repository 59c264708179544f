"""Kedro datasets specific to this project."""

from deepcluster.io.checkpoint_dataset import CheckpointDataset
from deepcluster.io.mlflow_key_value_dataset import MlflowKeyValueDataset
from deepcluster.io.mlflow_metrics_dataset import MlflowMetricsBatchDataset
from deepcluster.io.numpy_dataset import NumpyDataset
from deepcluster.io.store_credentials_dataset import StoreCredentialsDataset

__all__ = [
    "CheckpointDataset",
    "MlflowMetricsBatchDataset",
    "MlflowKeyValueDataset",
    "NumpyDataset",
    "StoreCredentialsDataset",
]
