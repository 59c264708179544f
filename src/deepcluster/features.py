"""Feature extraction (DeepCluster step 1) and its reduction to whitened PCA features.

The network runs in eval mode on deterministically preprocessed images, in
dataset order. When the collection is larger than ``pca_fit_size`` the PCA is
fitted on a random sample first and every later batch is reduced as soon as it
is extracted, so memory holds n x pca_dim numbers, never n x feature_dim.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch

from deepcluster.clustering.pca import PcaWhitening, fit_pca_whitening, usable_pca_dim
from deepcluster.data.augment import center_crop, to_normalised_float
from deepcluster.data.collection import ImageCollection, iterate_pixel_batches
from deepcluster.distributed.processes import shard
from deepcluster.distributed.reduce import all_gather_rows
from deepcluster.evaluation.metrics import feature_collapse_std
from deepcluster.progress import progress_bar
from deepcluster.runtime import Execution

# images per forward pass without gradients (feature extraction, evaluation, assignment): one batch of
# 512 small images is some MB of activations, and larger batches no longer speed up a CPU
INFERENCE_BATCH_SIZE = 512
# above this many images the PCA is fitted on a random sample of them: its moments are settled long before
PCA_FIT_SIZE = 100_000


def feature_batches(
    model: torch.nn.Module,
    collection: ImageCollection,
    indices: np.ndarray,
    batch_size: int,
    execution: Execution,
    crop_size: int,
) -> Iterator[torch.Tensor]:
    """Float32 features of the images at ``indices``, batch by batch, in that order."""
    model.eval()
    forward = execution.forward_of(model)
    with torch.inference_mode(), progress_bar("extracting features", len(indices)) as advance:
        for pixels in iterate_pixel_batches(collection, indices, batch_size, execution.device):
            images = to_normalised_float(center_crop(pixels, crop_size), collection.mean, collection.std)
            with execution.autocast():
                features = forward(execution.place_input(images))
            yield features.float()
            advance(pixels.shape[0])


def extract_features(
    model: torch.nn.Module,
    collection: ImageCollection,
    batch_size: int,
    execution: Execution,
    crop_size: int,
    indices: np.ndarray | None = None,
) -> torch.Tensor:
    """(n, feature_dim) features of the whole collection (or of ``indices``), on the device. Under
    several processes each extracts its share and every process gets them all."""
    if indices is None:
        indices = np.arange(len(collection))
    mine = indices[shard(len(indices))]
    return all_gather_rows(torch.cat(list(feature_batches(model, collection, mine, batch_size, execution, crop_size))))


@dataclass
class ReducedFeatures:
    """Whitened, L2-normalised PCA features of a whole collection, and how they were made."""

    features: torch.Tensor  # (n, d) on the extraction device
    pca: PcaWhitening
    collapse_std: float  # std of the L2-normalised network features (see metrics)
    pca_fit_size: int  # how many images the PCA was fitted on


def extract_reduced_features(
    model: torch.nn.Module,
    collection: ImageCollection,
    pca_dim: int,
    batch_size: int,
    execution: Execution,
    crop_size: int,
    pca_fit_size: int | None = None,
    seed: int = 0,
) -> ReducedFeatures:
    """Extract features and reduce them with a whitening PCA fitted on all or a sample of them.

    Under several processes each extracts its share of the images, the PCA's moments
    are summed over the processes, and every process gets all the reduced features.
    """
    n = len(collection)
    extract = dict(batch_size=batch_size, execution=execution, crop_size=crop_size)
    mine = np.arange(n)[shard(n)]
    if pca_fit_size is None or n <= pca_fit_size:
        features = torch.cat(list(feature_batches(model, collection, mine, **extract)))
        pca = fit_pca_whitening(features, usable_pca_dim(pca_dim, features.shape[1], n))
        return ReducedFeatures(all_gather_rows(pca.transform(features)), pca, feature_collapse_std(features), n)
    sample = np.sort(np.random.default_rng(seed).choice(n, size=pca_fit_size, replace=False))
    sample_features = torch.cat(list(feature_batches(model, collection, sample[shard(pca_fit_size)], **extract)))
    pca = fit_pca_whitening(sample_features, usable_pca_dim(pca_dim, sample_features.shape[1], pca_fit_size))
    collapse = feature_collapse_std(sample_features)
    del sample_features
    reduced = torch.cat([pca.transform(batch) for batch in feature_batches(model, collection, mine, **extract)])
    return ReducedFeatures(all_gather_rows(reduced), pca, collapse, pca_fit_size)


def reduce_features(
    features: torch.Tensor, pca_dim: int, pca_fit_size: int | None = None, seed: int = 0
) -> ReducedFeatures:
    """Features already extracted (all of them, on every process), reduced like ``extract_reduced_features``
    reduces them: a whitening PCA fitted on all of them or on a random sample of ``pca_fit_size`` (each
    process adds its share of the moments), then L2 normalisation."""
    n = features.shape[0]
    sample = np.arange(n)
    if pca_fit_size is not None and n > pca_fit_size:
        sample = np.sort(np.random.default_rng(seed).choice(n, size=pca_fit_size, replace=False))
    mine = features[torch.as_tensor(sample[shard(len(sample))], device=features.device)]
    pca = fit_pca_whitening(mine, usable_pca_dim(pca_dim, features.shape[1], len(sample)))
    return ReducedFeatures(pca.transform(features), pca, feature_collapse_std(mine), len(sample))
