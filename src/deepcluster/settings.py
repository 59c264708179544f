"""Kedro project settings (defaults everywhere else)."""

from deepcluster.hooks import BatchedMlflowHook, CheckParameters, NodeTimes

# pluggy calls the hooks registered last first: the parameters are checked before
# anything reads them
HOOKS = (BatchedMlflowHook(), NodeTimes(), CheckParameters())
# replaced by BatchedMlflowHook, which logs parameters once per run instead of per node
DISABLE_HOOKS_FOR_PLUGINS = ("kedro_mlflow", "kedro-mlflow")  # its distribution name, as installed

CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    # conf/local (or another env) may override one nested parameter, e.g. kmeans.k,
    # without repeating the rest of its block
    "merge_strategy": {"parameters": "soft"},
}
