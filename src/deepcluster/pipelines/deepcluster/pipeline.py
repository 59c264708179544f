"""DeepCluster rounds: ``round_000`` builds the network, ``round_001`` ... ``round_N`` repeat one template.

Round r reads the previous round's ``checkpoint`` and ``assignments`` and writes
its own, so the rounds form one chain in the DAG. Only the round number differs
between instances: it is bound to the nodes that derive seeds from it or stamp
it on their outputs.
"""

import warnings

from kedro.pipeline import Pipeline, node, pipeline

from deepcluster.methods import METHODS, Step
from deepcluster.methods.deepcluster import SCAN_STEPS
from deepcluster.methods.rounds import train_method_round
from deepcluster.pipelines import bind_round, round_name
from deepcluster.pipelines.deepcluster.nodes import (
    build_run_context,
    evaluate_round,
    initialise_network,
    keep_best_network,
    log_resolved_settings,
    measure_network,
    resolve_settings,
    round_metrics_for_mlflow,
)

SHARED_INPUTS = {"images", "image_index", "resolved_settings", "run_context"}


def initial_pipeline() -> Pipeline:
    """``round_000``: check the settings, resolve the ``auto`` ones, build the run context (once) and the
    untrained method."""
    template = Pipeline(
        [
            node(resolve_settings, ["images", "parameters"], "resolved_settings", name="resolve_settings"),
            node(build_run_context, ["parameters", "resolved_settings"], "run_context", name="build_run_context"),
            node(
                initialise_network,
                ["images", "run_context"],
                ["checkpoint", "assignments", "best_network"],
                name="initialise_network",
            ),
            node(log_resolved_settings, "resolved_settings", "mlflow_resolved_settings", name="log_resolved_settings"),
        ]
    )
    return pipeline(
        template,
        namespace=round_name(0),
        inputs={"images"},
        outputs={"resolved_settings", "mlflow_resolved_settings", "run_context"},
        parameters={"parameters"},
    )


def steps_pipeline(steps: tuple[Step, ...], round_number: int) -> Pipeline:
    """A method's steps before its epoch, each as a node bound to the round."""
    return Pipeline(
        [
            node(
                bind_round(step.function, round_number),
                list(step.inputs),
                step.outputs[0] if len(step.outputs) == 1 else list(step.outputs),
                name=step.name,
            )
            for step in steps
        ]
    )


def training_pipeline(round_number: int, method_name: str, with_targets: bool, scan_round: bool) -> Pipeline:
    """The round's epoch of any method (``methods.rounds.train_method_round``)."""
    train = bind_round(train_method_round, round_number, method_name=method_name, scan_round=scan_round)
    inputs = ["previous_checkpoint", "images", "run_context", *(["targets"] if with_targets else [])]
    return Pipeline([node(train, inputs, ["checkpoint", "training_log", "assignments"], name="train_network")])


def round_pipeline(round_number: int, method: str = "deepcluster", scan_round: bool = False) -> Pipeline:
    """Round ``round_number`` of ``method`` (or a SCAN round): its own steps, then measure the new
    network without labels, keep the best network so far, evaluate and log."""
    steps = SCAN_STEPS if scan_round else METHODS[method].round_steps
    summaries = [name for step in steps for name in step.outputs if name.endswith("_summary")]
    template = (
        steps_pipeline(steps, round_number)
        + training_pipeline(round_number, "deepcluster" if scan_round else method, bool(steps), scan_round)
        + Pipeline(
            [
                node(
                    measure_network, ["checkpoint", "images", "run_context"], "network_summary", name="measure_network"
                ),
                node(
                    keep_best_network,
                    ["previous_best_network", "checkpoint", "network_summary", "run_context"],
                    "best_network",
                    name="keep_best_network",
                ),
                node(
                    bind_round(
                        evaluate_round,
                        round_number,
                        cluster_count_setting="scan.k" if scan_round else "kmeans.k",
                    ),
                    [
                        "assignments",
                        "previous_assignments",
                        "image_index",
                        "training_log",
                        "run_context",
                        "network_summary",
                        *summaries,
                    ],
                    "round_metrics",
                    name="evaluate_round",
                ),
                node(round_metrics_for_mlflow, "round_metrics", "mlflow_metrics", name="log_round_metrics"),
            ]
        )
    )
    previous = round_name(round_number - 1)
    with warnings.catch_warnings():
        # Kedro warns about a node reading another namespace's dataset; a chain of
        # rounds does exactly that, by design
        warnings.filterwarnings("ignore", message="One or more dataset names contain '.'")
        return pipeline(
            template,
            namespace=round_name(round_number),
            inputs={
                "previous_checkpoint": f"{previous}.checkpoint",
                "previous_assignments": f"{previous}.assignments",
                "previous_best_network": f"{previous}.best_network",
                **{name: name for name in SHARED_INPUTS & template.inputs()},
            },
        )


def create_pipeline(rounds: int = 1, method: str = "deepcluster", scan_rounds: int = 0, **kwargs) -> Pipeline:
    """The whole chain: ``round_000`` then ``rounds`` rounds of ``method``, of which the last
    ``scan_rounds`` are SCAN rounds."""
    if rounds < 1:
        raise ValueError(f"rounds = {rounds}: at least one round is needed (conf/base/parameters_deepcluster.yml)")
    first_scan_round = rounds - scan_rounds + 1
    # one Pipeline of all the rounds: adding them one by one re-validates the growing
    # chain each time, quadratic in the number of rounds
    return Pipeline(
        [
            initial_pipeline(),
            *(round_pipeline(r, method, scan_round=r >= first_scan_round) for r in range(1, rounds + 1)),
        ]
    )
