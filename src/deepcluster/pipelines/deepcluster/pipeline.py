"""DeepCluster rounds: ``round_000`` builds the network, ``round_001`` ... ``round_N`` repeat one template.

Round r reads the previous round's ``checkpoint`` and ``assignments`` and writes
its own, so the rounds form one chain in the DAG. Only the round number differs
between instances: it is bound to the nodes that derive seeds from it or stamp
it on their outputs.
"""

import warnings

from kedro.pipeline import Pipeline, node, pipeline

from deepcluster.pipelines import bind_round, round_name
from deepcluster.pipelines.deepcluster.nodes import (
    cluster_round_features,
    cluster_round_features_by_neighbours,
    evaluate_round,
    extract_round_features,
    extract_round_network_features,
    initialise_network,
    keep_best_network,
    log_resolved_settings,
    measure_network,
    resolve_settings,
    round_metrics_for_mlflow,
    sample_confident_training_set,
    sample_training_set,
    train_round,
)
from deepcluster.pipelines.deepcluster.online_nodes import (
    cluster_bank,
    gather_memory_bank,
    train_online_round,
)

SHARED_INPUTS = {"images", "image_index", "resolved_settings"}


def _parameters_of(template: Pipeline) -> set[str]:
    """The parameters a template reads: shared by every namespace, never prefixed."""
    return {name for name in template.inputs() if name.startswith("params:")}


def initial_pipeline() -> Pipeline:
    """``round_000``: check the settings, resolve the ``auto`` ones and build the untrained network."""
    template = Pipeline(
        [
            node(
                resolve_settings,
                [
                    "images",
                    "params:method",
                    "params:model",
                    "params:kmeans",
                    "params:scan",
                    "params:clustering",
                    "params:training",
                    "params:runtime",
                    "params:rounds",
                ],
                "resolved_settings",
                name="resolve_settings",
            ),
            node(
                initialise_network,
                [
                    "images",
                    "params:method",
                    "params:model",
                    "params:pca",
                    "params:training",
                    "params:runtime",
                    "resolved_settings",
                ],
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
        outputs={"resolved_settings", "mlflow_resolved_settings"},
        parameters=_parameters_of(template),
    )


def clustering_pipeline(round_number: int, checkpoint: str, features: str) -> Pipeline:
    """Features of every image under ``checkpoint``'s network, PCA-reduced, then k-means (this round's seeds)."""
    return Pipeline(
        [
            node(
                bind_round(extract_round_features, round_number),
                [checkpoint, "images", "params:model", "params:features", "params:pca", "params:runtime"],
                [features, "feature_summary"],
                name="extract_features",
            ),
            node(
                bind_round(cluster_round_features, round_number),
                [features, "params:kmeans", "params:clustering", "params:runtime", "resolved_settings"],
                ["assignments", "clustering_summary"],
                name="cluster_features",
            ),
        ]
    )


def _training_node(round_number: int, self_labelling: bool) -> Pipeline:
    """DeepCluster's epoch with a fresh head on the round's clusters (of k-means or, self-labelling, of SCAN)."""
    return Pipeline(
        [
            node(
                bind_round(train_round, round_number, self_labelling=self_labelling),
                [
                    "previous_checkpoint",
                    "images",
                    "assignments",
                    "training_indices",
                    "params:model",
                    "params:scan",
                    "params:training",
                    "params:runtime",
                    "params:rounds",
                    "resolved_settings",
                ],
                ["checkpoint", "training_log"],
                name="train_network",
            )
        ]
    )


def deepcluster_round(round_number: int) -> Pipeline:
    """DeepCluster's round: extract, reduce, cluster, resample, train with a fresh head."""
    template = clustering_pipeline(round_number, checkpoint="previous_checkpoint", features="reduced_features")
    sampling = node(
        bind_round(sample_training_set, round_number),
        ["assignments", "params:training", "params:runtime"],
        "training_indices",
        name="sample_training_set",
    )
    return template + Pipeline([sampling]) + _training_node(round_number, self_labelling=False)


def self_labelling_round(round_number: int) -> Pipeline:
    """A self-labelling round of DeepCluster: SCAN's k clusters of the network's own features replace
    PCA and k-means, and the epoch trains on the images the head is confident of."""
    return Pipeline(
        [
            node(
                extract_round_network_features,
                ["previous_checkpoint", "images", "params:model", "params:features", "params:runtime"],
                ["features", "feature_summary"],
                name="extract_features",
            ),
            node(
                bind_round(cluster_round_features_by_neighbours, round_number),
                ["features", "params:scan", "params:runtime", "resolved_settings"],
                ["assignments", "clustering_summary"],
                name="cluster_features",
            ),
            node(
                bind_round(sample_confident_training_set, round_number),
                ["assignments", "params:scan", "params:training", "params:runtime"],
                "training_indices",
                name="sample_training_set",
            ),
        ]
    ) + _training_node(round_number, self_labelling=True)


ONLINE_INPUTS = ["params:model", "params:method", "params:runtime"]


def deepcluster_v2_round(round_number: int) -> Pipeline:
    """DeepCluster-v2's round: gather the memory bank, cluster it per head, train on multi-crop views."""
    return Pipeline(
        [
            node(
                bind_round(gather_memory_bank, round_number),
                ["previous_checkpoint", "images", *ONLINE_INPUTS],
                "memory_bank",
                name="gather_memory_bank",
            ),
            node(
                bind_round(cluster_bank, round_number),
                ["memory_bank", "previous_checkpoint", "params:method", "params:runtime"],
                ["targets", "clustering_summary"],
                name="cluster_memory_bank",
            ),
            node(
                bind_round(train_online_round, round_number),
                ["previous_checkpoint", "images", *ONLINE_INPUTS, "resolved_settings", "targets"],
                ["checkpoint", "training_log", "assignments"],
                name="train_network",
            ),
        ]
    )


def swav_round(round_number: int) -> Pipeline:
    """SwAV's round: one epoch of swapped prediction; its clustering happens inside (Sinkhorn)."""
    return Pipeline(
        [
            node(
                bind_round(train_online_round, round_number),
                ["previous_checkpoint", "images", *ONLINE_INPUTS, "resolved_settings"],
                ["checkpoint", "training_log", "assignments"],
                name="train_network",
            ),
        ]
    )


ROUNDS = {"deepcluster": deepcluster_round, "deepcluster_v2": deepcluster_v2_round, "swav": swav_round}
SUMMARIES = {
    "deepcluster": ["feature_summary", "clustering_summary"],
    "deepcluster_v2": ["clustering_summary"],
    "swav": [],
}


def round_pipeline(round_number: int, method: str = "deepcluster", self_labelling: bool = False) -> Pipeline:
    """Round ``round_number`` of ``method`` (or a self-labelling round): its own steps, then measure the new
    network without labels, keep the best network so far, evaluate and log."""
    steps = self_labelling_round if self_labelling else ROUNDS[method]
    template = steps(round_number) + Pipeline(
        [
            node(
                measure_network,
                ["checkpoint", "images", "params:model", "params:features", "params:runtime"],
                "network_summary",
                name="measure_network",
            ),
            node(
                keep_best_network,
                ["previous_best_network", "checkpoint", "network_summary", "params:rounds", "params:final_network"],
                "best_network",
                name="keep_best_network",
            ),
            node(
                bind_round(evaluate_round, round_number, clustering="scan" if self_labelling else "kmeans"),
                [
                    "assignments",
                    "previous_assignments",
                    "image_index",
                    "training_log",
                    "resolved_settings",
                    "network_summary",
                    *SUMMARIES["deepcluster" if self_labelling else method],
                ],
                "round_metrics",
                name="evaluate_round",
            ),
            node(round_metrics_for_mlflow, "round_metrics", "mlflow_metrics", name="log_round_metrics"),
        ]
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
                **{name: name for name in SHARED_INPUTS},
            },
            parameters=_parameters_of(template),
        )


def create_pipeline(rounds: int = 1, method: str = "deepcluster", self_labelling_rounds: int = 0, **kwargs) -> Pipeline:
    """The whole chain: ``round_000`` then ``rounds`` rounds of ``method``, of which the last
    ``self_labelling_rounds`` are self-labelling rounds."""
    if rounds < 1:
        raise ValueError(f"rounds = {rounds}: at least one round is needed (conf/base/parameters_deepcluster.yml)")
    first_self_labelling = rounds - self_labelling_rounds + 1
    # one Pipeline of all the rounds: adding them one by one re-validates the growing
    # chain each time, quadratic in the number of rounds
    return Pipeline(
        [
            initial_pipeline(),
            *(round_pipeline(r, method, self_labelling=r >= first_self_labelling) for r in range(1, rounds + 1)),
        ]
    )
