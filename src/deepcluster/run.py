"""What every node of a run needs besides its data, built once before round 1: the validated parameters,
the values the run resolved for the ``auto`` settings, where networks run, and the per-stage seeds."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from deepcluster.blocks import BlockT, resolved
from deepcluster.runtime import Execution, derive_seed

if TYPE_CHECKING:
    from deepcluster.config import Parameters


@dataclass(frozen=True)
class RunContext:
    """The run's settings and ``Execution``; every process builds the same one from the same conf."""

    parameters: Parameters
    resolved: dict[str, Any]
    execution: Execution

    @classmethod
    def create(cls, parameters: Parameters, resolved_settings: dict[str, Any]) -> RunContext:
        """The context of validated ``parameters`` (``deepcluster.config.check_parameters``)."""
        return cls(parameters, dict(resolved_settings), parameters.runtime.execution())

    @property
    def seed(self) -> int:
        return self.parameters.runtime.seed

    def seed_for(self, round_number: int, stage: str) -> int:
        """The seed of one stage of one round (``runtime.derive_seed``)."""
        return derive_seed(self.seed, round_number, stage)

    def block(self, name: str) -> Any:
        """The top-level settings block ``name``, with every ``auto`` replaced by the value the run resolved."""
        block: BlockT = getattr(self.parameters, name)
        return resolved(block, self.resolved, name)

    @property
    def input_size(self) -> int:
        return self.resolved["model.input_size"]
