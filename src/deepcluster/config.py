"""The run's parameters as typed, validated settings, checked once before any work starts.

Each block of ``conf/base/parameters_*.yml`` has a model here; Kedro turns a node's
``params:<block>`` input into that model (typed node parameters), and
``check_parameters`` validates the whole tree first so that every unknown key,
wrong type and out-of-range value is reported at once, each with its dotted key
and the fix. conf/base holds the defaults; these models hold none, so there is
one place for each value. These are what a user sets (docs/settings.md); what only
tunes the method is a named constant beside the code it tunes.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, Field, ValidationError

from deepcluster.auto import cluster_count_for
from deepcluster.blocks import (
    AUTO,
    AutoOrBatchSize,
    AutoOrBool,
    AutoOrClusterCount,
    AutoOrCount,
    AutoOrPositiveInt,
    Block,
    PositiveInt,
)
from deepcluster.clustering.clusterers import CLUSTERERS
from deepcluster.data.sources import SOURCES
from deepcluster.methods import METHODS
from deepcluster.models import ARCHITECTURES, REPRESENTATIONS
from deepcluster.runtime import Execution, execution_from_settings


class RuntimeSettings(Block):
    seed: Annotated[int, Field(ge=0)]
    device: Annotated[str, Field(pattern=r"^(auto|cpu|cuda(:\d+)?|mps)$")]
    mixed_precision: AutoOrBool
    compile: bool

    def execution(self) -> Execution:
        """Where and how networks run, every ``auto`` resolved."""
        return execution_from_settings(self.model_dump())


class ModelSettings(Block):
    name: Literal[(AUTO, *ARCHITECTURES)]  # type: ignore[valid-type]
    representation: Literal[(AUTO, *REPRESENTATIONS)]  # type: ignore[valid-type]


class MethodSettings(Block):
    name: Literal[tuple(METHODS)]  # type: ignore[valid-type]


class TrainingSettings(Block):
    lr: Annotated[float, Field(gt=0)]
    batch_size: AutoOrBatchSize


class PcaSettings(Block):
    dim: PositiveInt


class KMeansSettings(Block):
    k: AutoOrClusterCount

    def k_for(self, n_images: int, groups: int) -> int:
        """``k``, where ``auto`` follows the number of images and of groups (see ``deepcluster.auto``)."""
        return cluster_count_for(n_images, groups) if self.k == AUTO else self.k


class ScanSettings(Block):
    rounds: AutoOrCount
    neighbours_from: Literal["features", "pixels"]
    heads: PositiveInt

    def rounds_of(self, rounds: int) -> int:
        """``rounds``, where ``auto`` is the last quarter of the run (none in a run of 1-3 rounds)."""
        return rounds // 4 if self.rounds == AUTO else self.rounds


class ClusteringSettings(Block):
    """The final partition (what a user receives, and every evaluation subject's) and the rounds' clusterer."""

    groups: AutoOrClusterCount
    rounds: Literal["kmeans", "ward", "pic"]
    final: Literal[(AUTO, *CLUSTERERS)]  # type: ignore[valid-type]


class DataSettings(Block):
    source: Literal[SOURCES]  # type: ignore[valid-type]
    path: str | None
    image_size: AutoOrPositiveInt
    max_images: PositiveInt | None
    channels: Literal["auto", 1, 3]
    labels: Literal["auto", "subfolders", "none"]
    split: Literal["train", "test", "all"]
    workers: Annotated[int, Field(ge=0)]


class ExportSettings(Block):
    registered_model_name: str | None


class AssignSettings(Block):
    folder: str | None
    similar: PositiveInt


class OrganiseSettings(Block):
    folder: str | None
    mode: Literal["link", "copy"]


class Parameters(Block):
    """Every parameter of a run."""

    rounds: PositiveInt
    final_network: Literal["best", "last"]
    method: MethodSettings
    data: DataSettings
    runtime: RuntimeSettings
    model: ModelSettings
    pca: PcaSettings
    kmeans: KMeansSettings
    scan: ScanSettings
    clustering: ClusteringSettings
    training: TrainingSettings
    export: ExportSettings
    assign: AssignSettings
    organise: OrganiseSettings


# where each top-level block's defaults are documented
CONF_FILES = {
    "clustering": "parameters_clustering.yml",
    "data": "parameters_ingest.yml",
    "export": "parameters_export.yml",
    "assign": "parameters_export.yml",
    "organise": "parameters_export.yml",
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
