"""The DeepCluster rounds: one modular pipeline, instantiated once per round."""

from deepcluster.pipelines.deepcluster.pipeline import create_pipeline, round_pipeline

__all__ = ["create_pipeline", "round_pipeline"]
