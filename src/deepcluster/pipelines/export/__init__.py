"""Results to take away: the final clusters, features, centroids, backbone weights and a montage."""

from deepcluster.pipelines.export.pipeline import create_pipeline

__all__ = ["create_pipeline"]
