"""Read the configured image source into an ``ImageCollection``."""

from deepcluster.pipelines.ingest.pipeline import create_pipeline

__all__ = ["create_pipeline"]
