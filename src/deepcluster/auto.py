"""Settings that follow the images and the device when conf says ``auto``.

A user who points the project at a folder of photos should not have to know that
the defaults were tuned for 8-pixel digits: the image size follows the images
(capped by what the device trains in reasonable time), the network follows the
size and the device, and the number of clusters follows the number of images.
"""

from __future__ import annotations

from dataclasses import asdict

import numpy as np
import torch
from sklearn.decomposition import PCA

from deepcluster.clustering.graph import Communities, communities
from deepcluster.data.augment import ColourAugmentation
from deepcluster.data.collection import ImageCollection, iterate_pixel_batches

# largest automatic image side: a 2-core CPU trains the small convnet at 32 px in
# minutes per round; a GPU affords ResNet-18 at 128 px
IMAGE_SIZE_CAP = {"cpu": 32, "cuda": 128}
# DeepCluster over-clusters: several clusters per class. 36 images per cluster is
# the tuned digits default (1,797 images, k = 50) and keeps clusters large enough to
# learn from on small collections; 100 clusters is what the MNIST and CIFAR-10 settings use
# (10,000 and 50,000 images); the paper's ImageNet run has 130 images per cluster
# (1.3 million images, k = 10,000, its best)
IMAGES_PER_CLUSTER = 36
MIDDLE_K = 100
LARGE_IMAGES_PER_CLUSTER = 130


def image_size_cap(device: torch.device) -> int:
    """The largest image side ``image_size: auto`` picks on ``device``."""
    return IMAGE_SIZE_CAP.get(device.type, IMAGE_SIZE_CAP["cpu"])


def architecture_for(image_size: int, device: torch.device) -> str:
    """``model.name: auto``: the small convnet on the CPU and for images under 32 px, else ResNet-18."""
    if device.type == "cpu" or image_size < 32:
        return "small_convnet"
    return "resnet18"


# ResNet-18 keeps the CIFAR stem (3x3, no max-pool) up to this size: the ImageNet stem would shrink a 32-px
# image to 8 px before the first block
SMALL_INPUT_MAX_SIZE = 64


def representation_for(model_name: str) -> str:
    """``model.representation: auto``: the small convnet's trunk output beside its features (on digits, objects,
    faces and palms the trained network's partition gains 0.01-0.03 ACC, seed 0: docs/benchmarks/collections.md);
    the features alone for the others, whose trunk is a flattened map of 9,216 (AlexNet) or 25,088 (VGG)
    values, or the features themselves (ResNet-18)."""
    return "trunk_and_neck" if model_name == "small_convnet" else "neck"


def cluster_count_for(n_images: int, groups: int = 1) -> int:
    """``kmeans.k: auto``: ``IMAGES_PER_CLUSTER`` images per cluster (at least 2 clusters) up to ``MIDDLE_K``
    clusters, which it keeps until there are ``LARGE_IMAGES_PER_CLUSTER`` images per cluster, and that many
    above (13,000 images: 100; 60,000: 462; 1.3 million: 10,000, the paper's k). At least one cluster per
    estimated group: fewer clusters than groups would train the network to merge groups (100 palms in 56
    clusters: ACC 0.83, in 113: 0.86; docs/benchmarks/collections.md)."""
    small = max(2, round(n_images / IMAGES_PER_CLUSTER))
    large = round(n_images / LARGE_IMAGES_PER_CLUSTER)
    return int(max(groups, min(small, max(MIDDLE_K, large))))


# a group of few images (one palm, one face) differs from the next by where its lines and features are,
# which the small convnet's average over the whole of its last maps throws away; below this many images
# per group it averages over a 4 x 4 grid of regions instead (palm: ACC 0.72 -> 0.83; CIFAR-10 photos,
# 100 per class, lose kNN accuracy with it: docs/benchmarks/collections.md)
FINE_DETAIL_IMAGES_PER_GROUP = 50
FINE_DETAIL_GRID = 4


def pooling_grid_for(images_per_group: float) -> int:
    """The small convnet's pooling grid: ``FINE_DETAIL_GRID`` for groups of fewer than
    ``FINE_DETAIL_IMAGES_PER_GROUP`` images, else 1 (the whole image)."""
    return FINE_DETAIL_GRID if images_per_group < FINE_DETAIL_IMAGES_PER_GROUP else 1


def model_options_for(name: str, image_size: int, images_per_group: float) -> dict[str, int | bool]:
    """The architecture's options as the run resolves them (``model.options.<name>.<option>``): the small
    convnet's pooling grid, ResNet-18's stem."""
    if name == "small_convnet":
        return {"model.options.small_convnet.grid": pooling_grid_for(images_per_group)}
    if name == "resnet18":
        return {"model.options.resnet18.small_input": image_size <= SMALL_INPUT_MAX_SIZE}
    return {}


# the groups are estimated on at most this many images (an exact graph, ~1 s; Louvain in igraph, a fraction of
# that): 20 images of each of 1,000 groups
GROUPS_SAMPLE = 20_000
# principal components that keep this share of the pixels' variance (what clustimage uses)
PIXEL_VARIANCE_KEPT = 0.95
GROUPS_NEIGHBOURS = 5


def pixel_rows(images: ImageCollection, indices: np.ndarray, batch_size: int = 1024) -> torch.Tensor:
    """The images at ``indices`` as flat rows of pixels in [0, 1]."""
    batches = iterate_pixel_batches(images, indices, batch_size, torch.device("cpu"))
    return torch.cat([batch.flatten(1).float() / 255.0 for batch in batches])


def pixel_pca(pixels: torch.Tensor, seed: int) -> torch.Tensor:
    """The pixels projected on the principal components that keep ``PIXEL_VARIANCE_KEPT`` of their variance."""
    return torch.as_tensor(
        PCA(PIXEL_VARIANCE_KEPT, random_state=seed).fit_transform(pixels.numpy()), dtype=torch.float32
    )


def estimate_groups(images: ImageCollection, seed: int) -> Communities:
    """How many groups the collection holds, without labels: Louvain communities of the
    ``GROUPS_NEIGHBOURS``-NN graph of the pixels' PCA (on a sample of up to ``GROUPS_SAMPLE`` images).

    Modularity splits a large, even group into a few communities, so the estimate runs
    above the number of classes where classes are large (what each collection gave:
    docs/benchmarks/collections.md).
    """
    n = len(images)
    sample = np.arange(n)
    if n > GROUPS_SAMPLE:
        sample = np.sort(np.random.default_rng(seed).choice(n, GROUPS_SAMPLE, replace=False))
    return communities(pixel_pca(pixel_rows(images, sample), seed), GROUPS_NEIGHBOURS, seed)


# training.augmentation: auto. Grey images get a random affine map, at full strength the one tuned
# on digits (crops cut digits apart, flips mirror them); colour images get random resized crops
# and flips, which beat the affine map on CIFAR-10 photos (docs/benchmarks/photo_defaults.md), then
# the online methods' colour jitter and grayscale, without which a network groups photos by their
# colours alone (docs/benchmarks/collections.md)
GREY_AUGMENTATION = {
    "rotation_degrees": 20.0,
    "translate": 0.15,
    "zoom": 0.2,
    "shear": 0.2,
    "crop_scale": None,
    "flip_probability": 0.0,
}
COLOUR_AUGMENTATION = {
    "rotation_degrees": 0.0,
    "translate": 0.0,
    "zoom": 0.0,
    "shear": 0.0,
    "crop_scale": (0.2, 1.0),
    "flip_probability": 0.5,
    "colour": asdict(ColourAugmentation()),
}
# a group of many images spans much variation, and invariance to a strong map joins its members;
# a small group (one face, one palm, one object's views) differs from the next by detail that a
# strong map would teach the network to ignore. The map's strength follows the images per group:
# full from this many, down to a quarter
IMAGES_PER_GROUP_FOR_FULL_STRENGTH = 100
LEAST_STRENGTH = 0.25


def augmentation_for(channels: int, images_per_group: float) -> tuple[str, dict]:
    """DeepCluster's augmentation: the preset's name and settings for images with ``channels``; grey
    images' affine map scaled by ``images_per_group / IMAGES_PER_GROUP_FOR_FULL_STRENGTH``, between
    ``LEAST_STRENGTH`` and 1."""
    if channels != 1:
        return "colour", COLOUR_AUGMENTATION
    strength = float(np.clip(images_per_group / IMAGES_PER_GROUP_FOR_FULL_STRENGTH, LEAST_STRENGTH, 1.0))
    scaled = {key: value * strength for key, value in GREY_AUGMENTATION.items() if key != "crop_scale"}
    return f"grey at strength {strength:.2f}", {**scaled, "crop_scale": None}


# the online methods' multi-crop views by the images' channels. Photos keep SwAV's crops and flips; grey
# images (digits, faces, palms) are told apart by strokes and where things are, so they are neither
# mirrored nor cut down to a few pixels: on digits these views took DeepCluster-v2 from ACC 0.59 to
# 0.87 (docs/benchmarks/quality.md)
COLOUR_VIEWS = {"flip_probability": 0.5, "large.scale": (0.14, 1.0), "small.scale": (0.05, 0.14)}
GREY_VIEWS = {"flip_probability": 0.0, "large.scale": (0.5, 1.0), "small.scale": (0.3, 0.5)}


def views_for(channels: int) -> dict[str, float | tuple[float, float]]:
    """The online methods' views (``flip_probability``, ``large.scale``, ``small.scale``) for images
    with ``channels``."""
    return GREY_VIEWS if channels == 1 else COLOUR_VIEWS


# SCAN pairs each image with one of its nearest neighbours; more neighbours than a group holds pair
# images across groups. Half the images of an average group, between these bounds
MIN_SCAN_NEIGHBOURS, MAX_SCAN_NEIGHBOURS = 3, 20


def scan_neighbours_for(n_images: int, groups: int) -> int:
    """SCAN's neighbours: half the images of an average group, between 3 and 20 (SCAN's own)."""
    return int(min(MAX_SCAN_NEIGHBOURS, max(MIN_SCAN_NEIGHBOURS, n_images // (2 * groups))))
