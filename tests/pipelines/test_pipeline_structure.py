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
        "round_000": {"resolve_settings", "build_run_context", "initialise_network", "log_resolved_settings"},
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
        "run_context",  # every setting reaches the round through the run context, built once in round 0
    }
    assert {"round_004.checkpoint", "round_004.best_network", "round_004.mlflow_metrics"} <= pipeline.all_outputs()
    whole = create_pipeline(rounds=3)
    # round 0 resolves the settings and builds the run context and the method from the parameters
    assert whole.inputs() == {"images", "image_index", "parameters"}
    assert {"round_003.checkpoint", "round_003.mlflow_metrics"} <= whole.all_outputs()
    extract = next(n for n in whole.nodes if n.name == "round_002.extract_features")
    assert extract.inputs[0] == "round_001.checkpoint"


def test_a_round_is_the_methods_steps_then_the_one_training_node_of_at_most_five_inputs():
    for method, steps in {
        "deepcluster": ["extract_features", "cluster_features", "sample_training_set"],
        "deepcluster_v2": ["gather_memory_bank", "cluster_memory_bank"],
        "swav": [],
        "odc": ["initialise_memory"],
    }.items():
        names = [node.name.split(".", 1)[1] for node in round_pipeline(1, method).nodes]
        assert set(names) == set(steps) | set(ROUND_NODES) - {"extract_features", "cluster_features",
                                                              "sample_training_set"}  # fmt: skip
        training = next(n for n in round_pipeline(1, method).nodes if n.name == "round_001.train_network")
        assert len(training.inputs) <= 5


def test_evaluation_reads_the_best_network_as_of_the_last_round_and_the_untrained_one():
    inputs = create_evaluation(rounds=7).inputs()
    assert {"round_007.best_network", "round_000.checkpoint"} <= inputs
    assert "round_007.checkpoint" not in inputs


def test_registry_reads_the_number_of_rounds_from_conf(project_copy):
    from kedro.framework.startup import bootstrap_project

    from deepcluster.pipeline_registry import register_pipelines

    bootstrap_project(project_copy(rounds=4, scan={"rounds": 1}))  # the project's config loader
    pipelines = register_pipelines()
    namespaces = {node.namespace for node in pipelines["deepcluster"].nodes}
    assert namespaces == {round_name(r) for r in range(5)}
    assert "round_004.best_network" in pipelines["evaluation"].inputs()
    assert "round_004.round_metrics" in pipelines["report"].inputs()
    assert set(pipelines["__default__"].nodes) == set().union(
        *(pipelines[name].nodes for name in ("ingest", "deepcluster", "export", "evaluation", "report"))
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
    # the user's partition and the evaluation's of the trained network cluster the same points
    normalising = [n.name for n in whole.nodes if "final_points" in n.outputs]
    assert normalising == ["normalise_final_features"]
    readers = {n.name for n in whole.nodes if "final_points" in n.inputs}
    assert {"export.partition_images", "evaluation.trained.cluster_into_classes"} <= readers
    scoring = next(n for n in whole.nodes if n.name == "evaluation.trained.cluster_into_classes")
    assert "export.partition" in scoring.inputs


def test_scan_rounds_end_the_chain_with_the_same_node_names():
    pipeline = create_pipeline(rounds=3, scan_rounds=1)
    last = pipeline.only_nodes_with_namespaces(["round_003"])
    assert {node.name.split(".", 1)[1] for node in last.nodes} == ROUND_NODES
    # SCAN replaces PCA and k-means; the checkpoint chain is unchanged
    assert "round_002.checkpoint" in last.inputs()
    clustering = {n.name: n.func.__name__ for n in pipeline.nodes if n.name.endswith(".cluster_features")}
    assert clustering == {
        "round_001.cluster_features": "cluster_round_features",  # PCA and k-means
        "round_002.cluster_features": "cluster_round_features",
        "round_003.cluster_features": "cluster_by_neighbours",  # SCAN
    }
