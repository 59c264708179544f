"""The catalog of a run launched on several processes: rank 0 writes, the others keep what they make.

Every process runs the whole pipeline. Rank 0 saves to the configured datasets
(files, MLflow) as in one process; any other rank keeps its outputs in memory for
the nodes after it and reads only what existed before the launch (the earlier
rounds of a resumed run). Before the first save of a run every process waits for
the others, so that all of them decide which nodes to run (``--only-missing-outputs``)
from the same files. In one process it is Kedro's ``DataCatalog``.
"""

from __future__ import annotations

from typing import Any

from kedro.io import DataCatalog

from deepcluster.distributed.processes import barrier, is_main_process, world_size


class MainProcessWritesCatalog(DataCatalog):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._kept: dict[str, Any] = {}
        self._waited_for_the_others = False

    def save(self, ds_name: str, data: Any) -> None:
        if world_size() > 1 and not self._waited_for_the_others:
            barrier()
            self._waited_for_the_others = True
        if is_main_process():
            super().save(ds_name, data)
        else:
            self._kept[ds_name] = data

    def load(self, ds_name: str, version: str | None = None) -> Any:
        if ds_name in self._kept:
            return self._kept[ds_name]
        return super().load(ds_name, version)

    def release(self, ds_name: str) -> None:
        self._kept.pop(ds_name, None)
        super().release(ds_name)
