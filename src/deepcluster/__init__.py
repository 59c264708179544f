"""DeepCluster: clustering-based self-supervised learning of visual features, as a Kedro project."""

__version__ = "0.1.0"
