"""Evaluate the final network: clustering into the true number of classes, against baselines."""

from deepcluster.pipelines.evaluation.pipeline import create_pipeline

__all__ = ["create_pipeline"]
