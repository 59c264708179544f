"""Settings that follow the images and the device when conf says ``auto``.

A user who points the project at a folder of photos should not have to know that
the defaults were tuned for 8-pixel digits: the image size follows the images
(capped by what the device trains in reasonable time), the network follows the
size and the device, and the number of clusters follows the number of images.
"""

from __future__ import annotations

import torch

# largest automatic image side: a 2-core CPU trains the small convnet at 32 px in
# minutes per round; a GPU affords ResNet-18 at 128 px
IMAGE_SIZE_CAP = {"cpu": 32, "cuda": 128}
# DeepCluster over-clusters: several clusters per class. 36 images per cluster is
# the tuned digits default (1,797 images, k = 50) and keeps clusters large enough to
# learn from on small collections; 100 is what the MNIST and CIFAR-10 settings use
IMAGES_PER_CLUSTER = 36
MAX_AUTO_K = 100


def image_size_cap(device: torch.device) -> int:
    """The largest image side ``image_size: auto`` picks on ``device``."""
    return IMAGE_SIZE_CAP.get(device.type, IMAGE_SIZE_CAP["cpu"])


def architecture_for(image_size: int, device: torch.device) -> tuple[str, dict]:
    """``model.name: auto``: the small convnet on the CPU and for images under 32 px, else
    ResNet-18 (with the CIFAR stem up to 64 px)."""
    if device.type == "cpu" or image_size < 32:
        return "small_convnet", {}
    return "resnet18", {"small_input": image_size <= 64}


def cluster_count_for(n_images: int) -> int:
    """``kmeans.k: auto``: about ``IMAGES_PER_CLUSTER`` images per cluster, between 2 and ``MAX_AUTO_K``."""
    return int(min(MAX_AUTO_K, max(2, round(n_images / IMAGES_PER_CLUSTER))))


# training.augmentation: auto. Grey images get the random affine map tuned on digits
# (crops cut digits apart, flips mirror them); colour images get random resized crops
# and flips, which beat the affine map on CIFAR-10 photos (docs/benchmarks/photo_defaults.md)
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
}


def augmentation_for(channels: int) -> tuple[str, dict]:
    """``training.augmentation: auto``: the preset's name and settings for images with ``channels``."""
    return ("grey", GREY_AUGMENTATION) if channels == 1 else ("colour", COLOUR_AUGMENTATION)
