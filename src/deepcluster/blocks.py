"""What every block of settings is made of: read-only models that refuse unknown keys, the ``auto``
value, and the constrained types the blocks share; ``deepcluster.config`` assembles the whole tree."""

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
AutoOrBatchSize = AutoOrClusterCount  # batch norm needs two images
AutoOrBool = Annotated[Any, AfterValidator(_auto_or_bool)]
PositiveInt = Annotated[int, Field(ge=1)]


class Block(BaseModel):
    """A block of settings: unknown keys are errors, values are read-only."""

    model_config = ConfigDict(extra="forbid", frozen=True)


AutoOrCount = _auto_or("a whole number of at least 0", 0)


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
