"""What every block of settings is made of: read-only models that refuse unknown keys, the ``auto``
value, and the constrained types the blocks share. The method modules declare their own blocks with
these (``deepcluster.methods``); ``deepcluster.config`` assembles the whole tree."""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

AUTO = "auto"


def _auto_or(kind: str, minimum: int):
    def check(value: Any) -> Any:
        if value == AUTO:
            return value
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise ValueError(f"must be 'auto' or {kind}")
        return value

    return Annotated[Any, AfterValidator(check)]


def _auto_or_bool(value: Any) -> Any:
    if value != AUTO and not isinstance(value, bool):
        raise ValueError("must be 'auto', true or false")
    return value


AutoOrPositiveInt = _auto_or("a whole number of at least 1", 1)
AutoOrClusterCount = _auto_or("a whole number of at least 2", 2)
AutoOrBool = Annotated[Any, AfterValidator(_auto_or_bool)]
PositiveInt = Annotated[int, Field(ge=1)]
Fraction = Annotated[float, Field(ge=0.0, le=1.0)]


class Block(BaseModel):
    """A block of settings: unknown keys are errors, values are read-only."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def crop_scale(value: tuple[float, float] | None) -> tuple[float, float] | None:
    if value is not None and not 0 < value[0] <= value[1] <= 1:
        raise ValueError("must be [low, high] with 0 < low <= high <= 1, e.g. [0.2, 1.0]")
    return value


AutoOrCount = _auto_or("a whole number of at least 0", 0)


def _auto_or_fraction(value: Any) -> Any:
    if value == AUTO:
        return value
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise ValueError("must be 'auto' or a number from 0 to 1")
    return float(value)


def _auto_or_crop_scale(value: Any) -> Any:
    if value == AUTO:
        return value
    if not isinstance(value, list | tuple) or len(value) != 2 or not all(isinstance(v, int | float) for v in value):
        raise ValueError("must be 'auto' or [low, high] with 0 < low <= high <= 1, e.g. [0.2, 1.0]")
    return crop_scale(tuple(float(v) for v in value))


AutoOrFraction = Annotated[Any, AfterValidator(_auto_or_fraction)]
AutoOrCropScale = Annotated[Any, AfterValidator(_auto_or_crop_scale)]


BlockT = TypeVar("BlockT", bound=Block)


def resolved(block: BlockT, resolved_settings: dict[str, Any], prefix: str) -> BlockT:
    """``block`` (the settings under ``prefix``) with every ``auto`` value replaced by the one the run resolved
    before round 1 (``resolved_settings[f"{prefix}.{key}"]``, see ``resolve_settings``)."""
    updates = {
        key: resolved_settings[f"{prefix}.{key}"]
        for key, value in block
        if value == AUTO and f"{prefix}.{key}" in resolved_settings
    }
    return block.model_copy(update=updates)
