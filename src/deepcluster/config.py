"""The run's parameters as typed, validated settings, checked once before any work starts.

Each block of ``conf/base/parameters_*.yml`` has a model here; Kedro turns a node's
``params:<block>`` input into that model (typed node parameters), and
``check_parameters`` validates the whole tree first so that every unknown key,
wrong type and out-of-range value is reported at once, each with its dotted key
and the fix. conf/base holds the defaults; these models hold none, so there is
one place for each value.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_args

from pydantic import AfterValidator, BaseModel, Field, ValidationError, create_model

from deepcluster.auto import cluster_count_for
from deepcluster.blocks import (
    AUTO,
    AutoOrBool,
    AutoOrClusterCount,
    AutoOrCount,
    AutoOrCropScale,
    AutoOrFraction,
    AutoOrPositiveInt,
    Block,
    Fraction,
    PositiveInt,
    crop_scale,
)
from deepcluster.clustering.clusterers import CLUSTERERS
from deepcluster.clustering.partition import Clusterer
from deepcluster.data.sources import SOURCES
from deepcluster.methods import METHODS
from deepcluster.models import ARCHITECTURES, REPRESENTATIONS
from deepcluster.runtime import Execution, execution_from_settings


class RuntimeSettings(Block):
    seed: Annotated[int, Field(ge=0)]
    device: Annotated[str, Field(pattern=r"^(auto|cpu|cuda(:\d+)?|mps)$")]
    mixed_precision: AutoOrBool
    channels_last: AutoOrBool
    compile: bool
    sync_batchnorm: bool

    def execution(self) -> Execution:
        """Where and how networks run, every ``auto`` resolved."""
        return execution_from_settings(self.model_dump(exclude={"sync_batchnorm"}))


class SmallConvnetOptions(Block):
    width: PositiveInt
    feature_dim: PositiveInt
    grid: AutoOrPositiveInt


class ResNetOptions(Block):
    small_input: bool


class ModelOptions(Block):
    small_convnet: SmallConvnetOptions
    resnet18: ResNetOptions
    alexnet_bn: dict[str, Any] = Field(max_length=0)
    vgg16_bn: dict[str, Any] = Field(max_length=0)


class ModelSettings(Block):
    name: Literal[(AUTO, *ARCHITECTURES)]  # type: ignore[valid-type]
    representation: Literal[(AUTO, *REPRESENTATIONS)]  # type: ignore[valid-type]
    sobel: bool
    input_size: AutoOrPositiveInt
    options: ModelOptions

    def options_of(self, name: str) -> dict[str, Any]:
        """The architecture's own options (``model.options.<name>``)."""
        options = getattr(self.options, name)
        return options if isinstance(options, dict) else options.model_dump()

    def input_size_for(self, image_size: int) -> int:
        """``input_size``, where ``auto`` is the whole image."""
        return image_size if self.input_size == AUTO else self.input_size


class FeatureSettings(Block):
    batch_size: PositiveInt


class PcaSettings(Block):
    dim: PositiveInt
    fit_size: PositiveInt | None


class KMeansSettings(Block):
    k: AutoOrClusterCount
    iterations: PositiveInt
    backend: Literal["auto", "faiss", "torch"]

    def k_for(self, n_images: int, groups: int) -> int:
        """``k``, where ``auto`` follows the number of images and of groups (see ``deepcluster.auto``)."""
        return cluster_count_for(n_images, groups) if self.k == AUTO else self.k


class ScanSettings(Block):
    rounds: AutoOrCount
    k: AutoOrClusterCount
    confidence: Annotated[float, Field(ge=0, lt=1)]
    training_lr: Annotated[float, Field(gt=0)]
    neighbours: AutoOrPositiveInt
    neighbours_from: Literal["features", "pixels"]
    entropy_weight: Annotated[float, Field(ge=0)]
    heads: PositiveInt
    kept_heads: PositiveInt
    steps: PositiveInt
    batch_size: PositiveInt
    lr: Annotated[float, Field(gt=0)]

    def rounds_of(self, rounds: int) -> int:
        """``rounds``, where ``auto`` is the last quarter of the run (none in a run of 1-3 rounds)."""
        return rounds // 4 if self.rounds == AUTO else self.rounds

    def head_options(self) -> dict[str, Any]:
        """The keyword arguments of ``deepcluster.clustering.scan.scan_clustering`` besides the data, k and the seed
        (``neighbours`` as resolved: call on ``resolved(scan, ...)``)."""
        options = {"neighbours", "entropy_weight", "heads", "kept_heads", "steps", "batch_size", "lr"}
        return self.model_dump(include=options)


ClustererName = Literal[tuple(CLUSTERERS)]  # type: ignore[valid-type]


class FinalKMeansSettings(Block):
    iterations: PositiveInt
    restarts: PositiveInt


class WardSettings(Block):
    max_images: PositiveInt


class PicSettings(Block):
    neighbours: PositiveInt


class FinalScanSettings(Block):
    heads: PositiveInt
    kept_heads: PositiveInt


def _distinct(names: list[str]) -> list[str]:
    if len(set(names)) != len(names):
        raise ValueError("must not name a clusterer twice")
    return names


class ClusteringSettings(Block):
    """The final partition (what a user receives, and every evaluation subject's) and its clusterers."""

    groups: AutoOrClusterCount
    rounds: Literal["kmeans", "ward", "pic"]
    final: Literal[(AUTO, *CLUSTERERS)]  # type: ignore[valid-type]
    candidates: Annotated[list[ClustererName], Field(min_length=1), AfterValidator(_distinct)]
    preferred: ClustererName | None
    tolerance: Annotated[float, Field(ge=0)]
    kmeans: FinalKMeansSettings
    ward: WardSettings
    pic: PicSettings
    scan: FinalScanSettings

    def clusterers(
        self, scan: ScanSettings | None, names: list[str] | None = None, kmeans_backend: str = "auto"
    ) -> dict[str, Clusterer]:
        """The clusterers called ``names`` (default: the final one, or every candidate when it is ``auto``);
        SCAN's head takes the ``scan`` block's settings (as resolved), with this block's own number of heads;
        k-means runs on ``kmeans_backend`` (``kmeans.backend``)."""
        if names is None:
            names = self.candidates if self.final == AUTO else [self.final]
        options = {
            "kmeans": lambda: self.kmeans.model_dump() | {"backend": kmeans_backend},
            "ward": lambda: self.ward.model_dump(),
            "pic": lambda: self.pic.model_dump(),
            "scan": lambda: {"options": scan.head_options() | self.scan.model_dump()},
        }
        return {name: CLUSTERERS[name](**options[name]()) for name in names}

    def choice_options(self) -> dict[str, Any]:
        """The keyword arguments of ``choose_partition`` that say how ``auto`` breaks near-ties."""
        return {"preferred": self.preferred, "tolerance": self.tolerance}


class ColourSettings(Block):
    jitter_probability: Fraction
    brightness: Annotated[float, Field(ge=0)]
    contrast: Annotated[float, Field(ge=0)]
    saturation: Annotated[float, Field(ge=0)]
    hue: Annotated[float, Field(ge=0, le=0.5)]
    grayscale_probability: Fraction
    blur_probability: Fraction
    solarize_probability: Fraction


class AugmentationSettings(Block):
    rotation_degrees: Annotated[float, Field(ge=0, le=180)]
    translate: Fraction
    zoom: Annotated[float, Field(ge=0, lt=1)]
    shear: Annotated[float, Field(ge=0)]
    crop_scale: Annotated[tuple[float, float] | None, AfterValidator(crop_scale)]
    flip_probability: Fraction
    colour: ColourSettings | None = None  # none: the geometry alone


class TrainingSettings(Block):
    lr: Annotated[float, Field(gt=0)]
    lr_schedule: Literal["constant", "cosine"]
    momentum: Annotated[float, Field(ge=0, lt=1)]
    weight_decay: Annotated[float, Field(ge=0)]
    batch_size: Annotated[int, Field(ge=2)]
    min_steps: Annotated[int, Field(ge=0)]
    augmentation: Literal[AUTO] | AugmentationSettings

    def augmentation_of(self, resolved_settings: dict[str, Any]) -> AugmentationSettings:
        """``augmentation``, where ``auto`` is the block resolved before round 1 (``auto.augmentation_for``)."""
        if self.augmentation == AUTO:
            return AugmentationSettings(**resolved_settings["training.augmentation_block"])
        return self.augmentation


class ProjectionSettings(Block):
    hidden_dim: PositiveInt
    output_dim: PositiveInt


class CropGroupSettings(Block):
    count: Annotated[int, Field(ge=0)]
    size: AutoOrPositiveInt
    scale: AutoOrCropScale


class ViewSettings(Block):
    large: CropGroupSettings
    small: CropGroupSettings
    flip_probability: AutoOrFraction
    colour: ColourSettings | None


class OptimizerSettings(Block):
    name: Literal["sgd", "lars"]
    lr: Annotated[float, Field(gt=0)]
    final_lr: Annotated[float, Field(ge=0)]
    warmup_rounds: Annotated[float, Field(ge=0)]
    momentum: Annotated[float, Field(ge=0, lt=1)]
    weight_decay: Annotated[float, Field(ge=0)]
    lars_eta: Annotated[float, Field(gt=0)]


class MethodBlock(Block):
    """What every method shares; ``MethodSettings`` adds each registered method's own block."""

    batch_size: Annotated[int, Field(ge=2)]
    min_steps: Annotated[int, Field(ge=0)]
    temperature: Annotated[float, Field(gt=0)]
    projection: ProjectionSettings
    views: ViewSettings
    optimizer: OptimizerSettings


# ``method.name`` picks a method of the registry; ``method.<name>`` holds each method's own settings
MethodSettings = create_model(
    "MethodSettings",
    __base__=MethodBlock,
    name=(Literal[tuple(METHODS)], ...),
    **{name: (method.settings_model, ...) for name, method in METHODS.items() if method.settings_model},
)


class FolderSettings(Block):
    path: str
    channels: Literal["auto", 1, 3]
    labels: Literal["auto", "subfolders", "none"]
    min_side: PositiveInt
    in_memory: AutoOrBool
    max_memory_mb: PositiveInt
    workers: Annotated[int, Field(ge=0)]


class IdxSettings(Block):
    images: str
    labels: str | None


class CifarSettings(Block):
    path: str
    split: Literal["train", "test", "all"]
    label_type: Literal["fine", "coarse"]


class TorchvisionSettings(Block):
    name: Literal["MNIST", "FashionMNIST", "KMNIST", "CIFAR10", "CIFAR100", "STL10", "SVHN"]
    root: str
    split: str
    download: bool


class NpzSettings(Block):
    path: str


class DataSettings(Block):
    source: Literal[SOURCES]  # type: ignore[valid-type]
    image_size: AutoOrPositiveInt
    max_images: PositiveInt | None
    seed: Annotated[int, Field(ge=0)]
    sklearn_digits: dict[str, Any] = Field(max_length=0)
    folder: FolderSettings
    idx: IdxSettings
    cifar: CifarSettings
    torchvision: TorchvisionSettings
    npz: NpzSettings | None = None

    def source_options(self) -> dict[str, Any]:
        """The chosen source's own settings, as keyword arguments for its reader."""
        block = getattr(self, self.source)
        if block is None:
            raise ValueError(f"data.source = {self.source!r} needs a data.{self.source} block with its settings")
        return block if isinstance(block, dict) else block.model_dump()


class EvaluationSettings(Block):
    batch_size: PositiveInt
    test_fraction: Annotated[float, Field(gt=0, lt=1)]
    probe_weight_decay: Annotated[float, Field(ge=0)]
    knn_k: list[PositiveInt]
    embedding_points: PositiveInt


class MontageSettings(Block):
    clusters: PositiveInt
    per_cluster: PositiveInt
    tile: PositiveInt


class ExportSettings(Block):
    montage: MontageSettings
    registered_model_name: str | None


class AssignSettings(Block):
    folder: str | None
    similar: PositiveInt
    batch_size: PositiveInt
    workers: Annotated[int, Field(ge=0)]
    montage: MontageSettings


class Parameters(Block):
    """Every parameter of a run."""

    rounds: PositiveInt
    final_network: Literal["best", "last"]
    final_network_tolerance: Annotated[float, Field(ge=0)]
    method: MethodSettings
    data: DataSettings
    runtime: RuntimeSettings
    model: ModelSettings
    features: FeatureSettings
    pca: PcaSettings
    kmeans: KMeansSettings
    scan: ScanSettings
    clustering: ClusteringSettings
    training: TrainingSettings
    evaluation: EvaluationSettings
    export: ExportSettings
    assign: AssignSettings


# where each top-level block's defaults are documented
CONF_FILES = {
    "clustering": "parameters_clustering.yml",
    "data": "parameters_ingest.yml",
    "evaluation": "parameters_evaluation.yml",
    "export": "parameters_export.yml",
    "assign": "parameters_assign.yml",
}


class ParameterError(ValueError):
    """One or more parameters are wrong; the message lists each with its key and the fix."""


def _keys_of(location: list[str]) -> list[str]:
    """The keys allowed in the block at ``location`` (a path of field names)."""
    block: Any = Parameters
    for name in location:
        annotation = block.model_fields[name].annotation
        block = next(t for t in (annotation, *get_args(annotation)) if isinstance(t, type) and issubclass(t, Block))
    return list(block.model_fields)


def _is_union_member(part: Any) -> bool:
    """pydantic names the member of ``'auto' | Block`` that failed, e.g. ``literal['auto']``."""
    return isinstance(part, str) and (part.startswith("literal[") or part[:1].isupper())


def _describe(error: dict[str, Any]) -> str:
    location = [str(part) for part in error["loc"] if not _is_union_member(part)]
    key = ".".join(location)
    conf_file = f"conf/base/{CONF_FILES.get(location[0], 'parameters_deepcluster.yml')}"
    if error["type"] == "extra_forbidden":
        parent = ".".join(location[:-1]) or "the top level"
        allowed = ", ".join(_keys_of(location[:-1]))
        return (
            f"{key}: unknown key; remove it or fix its spelling (the keys of {parent} are {allowed}; see {conf_file})"
        )
    if error["type"] == "missing":
        return f"{key}: missing; add it (its default and meaning are in {conf_file})"
    got = error.get("input")
    message = error["msg"].removeprefix("Value error, ")
    return f"{key} = {got!r}: {message}; change it in conf/local/parameters.yml (documented in {conf_file})"


def check_parameters(raw: dict[str, Any]) -> Parameters:
    """The whole parameter tree, validated; ``ParameterError`` lists every problem at once. Blocks that Kedro
    already typed are read as their values (a notebook's ``%reload_kedro`` loads the models' classes anew)."""
    raw = {key: value.model_dump() if isinstance(value, BaseModel) else value for key, value in raw.items()}
    try:
        parameters = Parameters.model_validate(raw)
    except ValidationError as error:
        errors = error.errors(include_url=False)
        # a block given for an `'auto' | Block` setting: report what is wrong inside the block
        errors = [e for e in errors if not (isinstance(e["input"], dict) and "literal[" in str(e["loc"]))]
        problems = [_describe(e) for e in errors]
        raise ParameterError(
            f"{len(problems)} parameter{'s are' if len(problems) > 1 else ' is'} wrong:\n  " + "\n  ".join(problems)
        ) from None
    _check_scan_rounds(parameters)
    return parameters


def _check_scan_rounds(parameters: Parameters) -> None:
    """The SCAN rounds follow the method's own rounds: at least one of those must come first."""
    scan_rounds = parameters.scan.rounds
    if scan_rounds != AUTO and scan_rounds >= parameters.rounds:
        raise ParameterError(
            f"1 parameter is wrong:\n  scan.rounds = {scan_rounds}: must be below rounds "
            f"({parameters.rounds}), since the method's own rounds come first; set it lower or to auto in "
            "conf/local/parameters.yml (documented in conf/base/parameters_deepcluster.yml)"
        )
