"""Kedro project settings (defaults everywhere else)."""

from deepcluster.hooks import NodeTimes, RoundsMatchPipeline

HOOKS = (RoundsMatchPipeline(), NodeTimes())

CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    # conf/local (or another env) may override one nested parameter, e.g. kmeans.k,
    # without repeating the rest of its block
    "merge_strategy": {"parameters": "soft"},
}
