"""Project hooks."""

from __future__ import annotations

from kedro.framework.context import KedroContext
from kedro.framework.hooks import hook_impl


class RoundsMatchPipeline:
    """Stop a run whose ``rounds`` parameter differs from the rounds the pipelines were built with.

    The pipelines are built from conf/base, conf/local and ``$KEDRO_ENV``; a value
    from ``--params`` or from ``--env`` alone cannot change their shape afterwards.
    """

    @hook_impl
    def after_context_created(self, context: KedroContext) -> None:
        from deepcluster.pipeline_registry import configured_rounds  # keeps settings.py light

        built = configured_rounds()
        wanted = int(context.params["rounds"])
        if wanted != built:
            raise ValueError(
                f"rounds = {wanted} for this run, but the pipelines were built with rounds = {built}: "
                "the number of rounds shapes the pipeline, so set it in conf (base or local) and choose "
                f"an environment with `KEDRO_ENV={context.env} kedro run`, not `--env` or `--params`"
            )
