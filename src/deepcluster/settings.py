"""Kedro project settings (defaults everywhere else)."""

from deepcluster.distributed.processes import is_main_process
from deepcluster.hooks import BatchedMlflowHook, CheckParameters, CheckpointWrites, DistributedRun, NodeTimes
from deepcluster.io.main_process_catalog import MainProcessWritesCatalog

# pluggy calls the hooks registered last first: the process group is joined, then the
# parameters are checked, before anything reads them; at the end the last checkpoint is
# written before MLflow closes the run. Under torchrun only rank 0 logs to MLflow and
# writes the timing report; the others run the same nodes.
HOOKS = (
    *((BatchedMlflowHook(), NodeTimes()) if is_main_process() else ()),
    CheckParameters(),
    DistributedRun(),
    CheckpointWrites(),
)
# replaced by BatchedMlflowHook, which logs parameters once per run instead of per node
DISABLE_HOOKS_FOR_PLUGINS = ("kedro_mlflow", "kedro-mlflow")  # its distribution name, as installed
# rank 0 writes the catalog; the other processes keep their outputs in memory
DATA_CATALOG_CLASS = MainProcessWritesCatalog

CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    # conf/local (or another env) may override one nested parameter, e.g. kmeans.k,
    # without repeating the rest of its block
    "merge_strategy": {"parameters": "soft"},
}
