"""Networks for DeepCluster: a convolutional trunk, a neck giving the features, a fresh head per round.

The features used for clustering are the neck's output before its last ReLU
(fc7 before the ReLU for AlexNet, as in the paper); training applies the ReLU
and then the round's linear head. What a run evaluates, exports and searches is the network's
*representation* (``model.representation``): those features, or them beside the trunk's output.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

REPRESENTATIONS = ("neck", "trunk_and_neck")


class Sobel(nn.Module):
    """Fixed grey-scale conversion followed by horizontal and vertical Sobel filters."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        grey = torch.full((1, in_channels, 1, 1), 1.0 / in_channels)
        edges = torch.tensor([[1.0, 0.0, -1.0], [2.0, 0.0, -2.0], [1.0, 0.0, -1.0]])
        self.register_buffer("grey", grey)
        self.register_buffer("edges", torch.stack([edges, edges.T]).unsqueeze(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = nn.functional.conv2d(x, self.grey)
        return nn.functional.conv2d(x, self.edges, padding=1)


class DeepClusterNet(nn.Module):
    """Optional Sobel filter -> trunk -> neck; ``forward`` returns the clustering features."""

    def __init__(
        self, trunk: nn.Module, neck: nn.Module, feature_dim: int, sobel: Sobel | None, representation: str = "neck"
    ):
        super().__init__()
        self.sobel = sobel
        self.trunk = trunk
        self.neck = neck
        self.feature_dim = feature_dim
        self.representation = representation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.neck(self._trunk_output(x))

    def _trunk_output(self, x: torch.Tensor) -> torch.Tensor:
        return self.trunk(x if self.sobel is None else self.sobel(x))

    def represent(self, x: torch.Tensor) -> torch.Tensor:
        """The representation of ``x``: the features (``neck``), or the trunk's output and the features side
        by side, each L2-normalised and the whole of unit norm (``trunk_and_neck``): the trunk keeps what the
        pixels hold (where a palm's lines are), the features what training gathered into groups."""
        if self.representation == "neck":
            return self(x)
        trunk = self._trunk_output(x)
        both = torch.cat([F.normalize(trunk, dim=1), F.normalize(self.neck(trunk), dim=1)], dim=1)
        return both / 2**0.5


class Representation(nn.Module):
    """A network's ``represent`` as a module, for the feature extraction that runs modules."""

    def __init__(self, network: DeepClusterNet):
        super().__init__()
        self.network = network

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.network.represent(x)


def _conv_bn_relu(in_channels: int, out_channels: int, **conv: Any) -> list[nn.Module]:
    conv.setdefault("kernel_size", 3)
    conv.setdefault("padding", conv["kernel_size"] // 2)
    return [
        nn.Conv2d(in_channels, out_channels, bias=False, **conv),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    ]


def _init_like_paper(module: nn.Module) -> None:
    """Conv weights N(0, sqrt(2 / (k*k*out))), linear N(0, 0.01), zero biases."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            fan_out = m.kernel_size[0] * m.kernel_size[1] * m.out_channels
            nn.init.normal_(m.weight, 0.0, (2.0 / fan_out) ** 0.5)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0.0, 0.01)
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            nn.init.ones_(m.weight)
        if getattr(m, "bias", None) is not None:
            nn.init.zeros_(m.bias)


def small_convnet(in_channels: int, width: int = 32, feature_dim: int = 128, grid: int = 1) -> tuple:
    """Five 3x3 conv layers and two pools, for images of 8 to 32 pixels; the last feature maps are averaged
    over a ``grid`` x ``grid`` of regions (1: over the whole image), so that ``grid`` > 1 keeps where things are."""
    trunk = nn.Sequential(
        *_conv_bn_relu(in_channels, width),
        *_conv_bn_relu(width, width),
        nn.MaxPool2d(2),
        *_conv_bn_relu(width, 2 * width),
        *_conv_bn_relu(2 * width, 2 * width),
        nn.MaxPool2d(2),
        *_conv_bn_relu(2 * width, 4 * width),
        nn.AdaptiveAvgPool2d(grid),
        nn.Flatten(),
    )
    neck = nn.Sequential(
        nn.Linear(4 * width * grid * grid, feature_dim),
        nn.BatchNorm1d(feature_dim),
        nn.ReLU(inplace=True),
        nn.Linear(feature_dim, feature_dim),
    )
    _init_like_paper(trunk)
    # the neck keeps PyTorch's default init: N(0, 0.01) suits the paper's 4096-wide
    # layers but leaves a narrow neck's features too small to learn from at first
    return trunk, neck, feature_dim


def alexnet_bn(in_channels: int) -> tuple:
    """The paper's AlexNet with batch norm: 96-11-4, M, 256-5, M, 384, 384, 256, M; fc 4096-4096."""
    trunk = nn.Sequential(
        *_conv_bn_relu(in_channels, 96, kernel_size=11, stride=4, padding=2),
        nn.MaxPool2d(3, 2),
        *_conv_bn_relu(96, 256, kernel_size=5, padding=2),
        nn.MaxPool2d(3, 2),
        *_conv_bn_relu(256, 384),
        *_conv_bn_relu(384, 384),
        *_conv_bn_relu(384, 256),
        nn.MaxPool2d(3, 2),
        nn.AdaptiveAvgPool2d(6),  # 224 px inputs give 6x6 already; other sizes are pooled to it
        nn.Flatten(),
    )
    neck = nn.Sequential(
        nn.Dropout(0.5),
        nn.Linear(256 * 6 * 6, 4096),
        nn.ReLU(inplace=True),
        nn.Dropout(0.5),
        nn.Linear(4096, 4096),
    )
    _init_like_paper(trunk)
    _init_like_paper(neck)
    return trunk, neck, 4096


def vgg16_bn(in_channels: int) -> tuple:
    """torchvision's VGG-16 with batch norm; features are fc7 before its ReLU."""
    from torchvision import models as tv_models  # imported here: 2 s at start-up that the small convnet does not need

    net = tv_models.vgg16_bn(weights=None)
    if in_channels != 3:
        net.features[0] = nn.Conv2d(in_channels, 64, kernel_size=3, padding=1)
    trunk = nn.Sequential(net.features, net.avgpool, nn.Flatten())
    neck = nn.Sequential(*list(net.classifier.children())[:4])  # fc6, ReLU, Dropout, fc7
    _init_like_paper(trunk)
    _init_like_paper(neck)
    return trunk, neck, 4096


def resnet18(in_channels: int, small_input: bool = False) -> tuple:
    """torchvision's ResNet-18 without its classifier; features are the 512-d pooled output.

    ``small_input`` swaps the 7x7/2 stem and max-pool for one 3x3/1 conv (the usual
    CIFAR variant); the trunk's weights still load into ``torchvision.models.resnet18``
    whenever the stem is the standard one.
    """
    from torchvision import models as tv_models  # see vgg16_bn

    net = tv_models.resnet18(weights=None)
    if small_input:
        net.conv1 = nn.Conv2d(in_channels, 64, kernel_size=3, stride=1, padding=1, bias=False)
        net.maxpool = nn.Identity()
    elif in_channels != 3:
        net.conv1 = nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
    net.fc = nn.Identity()
    return net, nn.Identity(), 512


ARCHITECTURES: dict[str, Callable[..., tuple]] = {
    "small_convnet": small_convnet,
    "alexnet_bn": alexnet_bn,
    "vgg16_bn": vgg16_bn,
    "resnet18": resnet18,
}


def build_model(
    name: str, in_channels: int, sobel: bool = False, seed: int = 0, representation: str = "neck", **options: Any
) -> DeepClusterNet:
    """A freshly initialised network; the same arguments always give the same weights."""
    if name not in ARCHITECTURES:
        raise ValueError(f"model.name = {name!r} is unknown; choose one of {sorted(ARCHITECTURES)}")
    if representation not in REPRESENTATIONS:
        raise ValueError(f"model.representation = {representation!r} is unknown; choose one of {REPRESENTATIONS}")
    # seed the construction without touching the caller's random state
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        trunk_channels = 2 if sobel else in_channels
        try:
            trunk, neck, feature_dim = ARCHITECTURES[name](trunk_channels, **options)
        except TypeError as error:
            raise ValueError(f"model options {options} do not fit model.name = {name!r}: {error}")
    return DeepClusterNet(trunk, neck, feature_dim, Sobel(in_channels) if sobel else None, representation)


def new_head(feature_dim: int, k: int, generator: torch.Generator) -> nn.Linear:
    """A fresh linear classifier over the k clusters: weights N(0, 0.01), bias 0."""
    head = nn.Linear(feature_dim, k)
    with torch.no_grad():
        nn.init.normal_(head.weight, 0.0, 0.01, generator=generator)
        head.bias.zero_()
    return head


def torchvision_state_dict(model: DeepClusterNet, name: str) -> dict[str, torch.Tensor] | None:
    """The trained weights under torchvision's names for ``name``, classifier excluded.

    Loads into ``torchvision.models.<name>()`` with ``strict=False`` (only the final
    classifier is missing). None for architectures torchvision does not have, or when
    the input layer differs from torchvision's (Sobel input, small-input ResNet stem).
    """
    if model.sobel is not None:
        return None
    if name == "resnet18" and model.trunk.conv1.kernel_size == (7, 7):
        return {k: v.detach().cpu() for k, v in model.trunk.state_dict().items()}
    if name == "vgg16_bn":
        renamed = {}
        for key, value in model.trunk.state_dict().items():  # trunk.0 is vgg.features
            renamed["features." + key.split(".", 1)[1]] = value.detach().cpu()
        for key, value in model.neck.state_dict().items():  # neck is classifier[:4]
            renamed["classifier." + key] = value.detach().cpu()
        return renamed
    return None
