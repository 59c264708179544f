from deepcluster.pipelines import round_name
from deepcluster.pipelines.deepcluster.pipeline import create_pipeline, round_pipeline
from deepcluster.pipelines.evaluation.pipeline import create_pipeline as create_evaluation

ROUND_NODES = {
    "extract_features",
    "cluster_features",
    "sample_training_set",
    "train_network",
    "measure_network",
    "keep_best_network",
    "evaluate_round",
    "log_round_metrics",
}


def test_every_round_is_the_same_template_under_its_namespace():
    pipeline = create_pipeline(rounds=3)
    by_namespace = {}
    for node in pipeline.nodes:
        by_namespace.setdefault(node.namespace, set()).add(node.name.split(".", 1)[1])
    assert by_namespace == {
        "round_000": {"resolve_settings", "initialise_network", "log_resolved_settings"},
        "round_001": ROUND_NODES,
        "round_002": ROUND_NODES,
        "round_003": ROUND_NODES,
    }


def test_rounds_form_a_chain_through_checkpoints_assignments_and_the_best_network():
    pipeline = round_pipeline(4)
    assert pipeline.inputs() == {
        "round_003.checkpoint",
        "round_003.assignments",
        "round_003.best_network",
        "images",
        "image_index",
        "resolved_settings",
        "params:rounds",
        "params:final_network",
        "params:clustering",
        "params:scan",
        "params:runtime",
        "params:model",
        "params:features",
        "params:pca",
        "params:kmeans",
        "params:training",
    }
    assert {"round_004.checkpoint", "round_004.best_network", "round_004.mlflow_metrics"} <= pipeline.all_outputs()
    whole = create_pipeline(rounds=3)
    round_inputs = {name for name in pipeline.inputs() if not name.startswith("round_")} - {"resolved_settings"}
    # round 0 resolves the settings and builds the method
    assert whole.inputs() == round_inputs | {"params:method"}
    assert {"round_003.checkpoint", "round_003.mlflow_metrics"} <= whole.all_outputs()
    extract = next(n for n in whole.nodes if n.name == "round_002.extract_features")
    assert extract.inputs[0] == "round_001.checkpoint"


def test_evaluation_reads_the_best_network_as_of_the_last_round_and_the_untrained_one():
    inputs = create_evaluation(rounds=7).inputs()
    assert {"round_007.best_network", "round_000.checkpoint"} <= inputs
    assert "round_007.checkpoint" not in inputs


def test_registry_reads_the_number_of_rounds_from_conf(project_copy):
    from kedro.framework.startup import bootstrap_project

    from deepcluster.pipeline_registry import register_pipelines

    bootstrap_project(project_copy(rounds=4, scan={"self_labelling_rounds": 1}))  # the project's config loader
    pipelines = register_pipelines()
    namespaces = {node.namespace for node in pipelines["deepcluster"].nodes}
    assert namespaces == {round_name(r) for r in range(5)}
    assert "round_004.best_network" in pipelines["evaluation"].inputs()
    assert set(pipelines["__default__"].nodes) == set().union(
        *(pipelines[name].nodes for name in ("ingest", "deepcluster", "export", "evaluation"))
    )


def test_round_names_sort_in_round_order():
    names = [round_name(r) for r in range(250)]
    assert sorted(names) == names
    assert names[:3] == ["round_000", "round_001", "round_002"] and names[-1] == "round_249"


def test_the_final_features_are_extracted_once_for_the_export_and_the_evaluation():
    from deepcluster.pipelines.export.pipeline import create_pipeline as create_export

    whole = create_export(rounds=3) + create_evaluation(rounds=3)
    extracting = [n.name for n in whole.nodes if "round_003.best_network" in n.inputs and "final_features" in n.outputs]
    assert extracting == ["extract_final_features"]
    readers = {n.name for n in whole.nodes if "final_features" in n.inputs}
    assert {"export.partition_images", "evaluation.trained_points"} <= readers


def test_self_labelling_rounds_end_the_chain_with_the_same_node_names():
    pipeline = create_pipeline(rounds=3, self_labelling_rounds=1)
    last = pipeline.only_nodes_with_namespaces(["round_003"])
    assert {node.name.split(".", 1)[1] for node in last.nodes} == ROUND_NODES
    # SCAN replaces PCA and k-means; the checkpoint chain is unchanged
    assert {"params:scan", "round_002.checkpoint"} <= last.inputs()
    assert not {"params:pca", "params:kmeans"} & last.inputs()
    clustering = {n.name: n.inputs for n in pipeline.nodes if n.name.endswith(".cluster_features")}
    assert "params:scan" in clustering["round_003.cluster_features"]
    assert {"params:kmeans", "params:clustering"} <= set(clustering["round_002.cluster_features"])
