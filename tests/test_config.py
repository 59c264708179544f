"""Parameters are checked once, before any work: each problem named by its dotted key, with the fix."""

import typing
from typing import Any

import pytest

from deepcluster.config import ParameterError, check_parameters
from deepcluster.pipelines.plain_runner import load_parameters, merge
from tests.conftest import PROJECT_ROOT, settings

ENVIRONMENTS = [None] + sorted(p.name for p in (PROJECT_ROOT / "conf").iterdir() if list(p.glob("parameters*.yml")))


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_shipped_configuration_is_valid(env):
    check_parameters(load_parameters(PROJECT_ROOT / "conf", env))


def _problems(**overrides) -> str:
    with pytest.raises(ParameterError) as raised:
        settings(**overrides)
    return str(raised.value)


@pytest.mark.parametrize(
    "overrides,expected",
    [
        (
            {"kmeans": {"kk": 10}},
            "kmeans.kk: unknown key; remove it or fix its spelling (the keys of kmeans are k, iterations, backend",
        ),
        ({"kmean": {"k": 10}}, "kmean: unknown key"),
        ({"data": {"folder": {"pth": "x"}}}, "data.folder.pth: unknown key"),
        (
            {"training": {"lr": -1}},
            "training.lr = -1: Input should be greater than 0; change it in conf/local/parameters.yml",
        ),
        ({"training": {"lr": "fast"}}, "training.lr = 'fast': Input should be a valid number"),
        ({"kmeans": {"k": 1}}, "kmeans.k = 1: must be 'auto' or a whole number of at least 2"),
        ({"kmeans": {"k": "ten"}}, "kmeans.k = 'ten': must be 'auto' or a whole number of at least 2"),
        ({"data": {"image_size": 0}}, "data.image_size = 0: must be 'auto' or a whole number of at least 1"),
        ({"model": {"name": "resnet"}}, "model.name = 'resnet': Input should be 'auto', 'small_convnet'"),
        ({"clustering": {"preferred": "dbscan"}}, "clustering.preferred = 'dbscan': Input should be 'kmeans'"),
        (
            {"scan": {"neighbours_from": "pixel"}},
            "scan.neighbours_from = 'pixel': Input should be 'features' or 'pixels'",
        ),
        (
            {"clustering": {"tolerance": -0.1}},
            "clustering.tolerance = -0.1: Input should be greater than or equal",
        ),
        (
            {"model": {"representation": "trunk"}},
            "model.representation = 'trunk': Input should be 'auto', 'neck' or 'trunk_and_neck'",
        ),
        ({"runtime": {"mixed_precision": "yes"}}, "runtime.mixed_precision = 'yes': must be 'auto', true or false"),
        (
            {"training": {"augmentation": {"crop_scale": [0.9, 0.2]}}},
            "training.augmentation.crop_scale = [0.9, 0.2]: must be [low, high]",
        ),
        (
            {"method": {"views": {"large": {"scale": [0.9, 0.2]}}}},
            "1 parameter is wrong:\n  method.views.large.scale = [0.9, 0.2]: must be [low, high]",
        ),
        (
            {"method": {"views": {"flip_probability": "often"}}},
            "method.views.flip_probability = 'often': must be 'auto' or a number from 0 to 1",
        ),
        (
            {"evaluation": {"test_fraction": 1.5}},
            "evaluation.test_fraction = 1.5: Input should be less than 1; change it in conf/local/parameters.yml"
            " (documented in conf/base/parameters_evaluation.yml)",
        ),
    ],
)
def test_each_problem_names_its_key_and_the_fix(overrides, expected):
    assert expected in _problems(**overrides)


def test_all_problems_are_reported_at_once():
    message = _problems(kmeans={"kk": 10}, training={"lr": -1}, rounds=0)
    assert message.startswith("3 parameters are wrong:")
    assert "kmeans.kk" in message and "training.lr" in message and "rounds = 0" in message


def test_a_missing_key_is_named():
    parameters = load_parameters(PROJECT_ROOT / "conf")
    del parameters["pca"]["dim"]
    with pytest.raises(ParameterError, match=r"pca.dim: missing; add it"):
        check_parameters(parameters)


def test_a_kedro_session_stops_before_any_node_with_the_same_message(project_copy):
    from tests.test_run import run_session

    project = project_copy(kmeans={"kk": 10}, training={"lr": -1})
    with pytest.raises(ParameterError, match=r"(?s)kmeans.kk: unknown key.*training.lr = -1"):
        run_session(project)
    assert not (project / "data" / "02_intermediate" / "images.pkl").exists()


def test_settings_are_typed_and_read_only():
    chosen = check_parameters(merge(load_parameters(PROJECT_ROOT / "conf"), {"kmeans": {"k": 7}}))
    assert chosen.kmeans.k == 7 and chosen.training.augmentation == "auto"
    with pytest.raises(Exception):
        chosen.kmeans.k = 8


def test_scan_rounds_need_a_round_of_the_method_first():
    problems = _problems(rounds=40, scan={"rounds": 40})
    assert "scan.rounds = 40: must be below rounds (40)" in problems
    assert settings(rounds=40, scan={"rounds": 39}).scan.rounds_of(40) == 39


@pytest.mark.parametrize("rounds,expected", [(1, 0), (2, 0), (3, 0), (4, 1), (16, 4)])
def test_auto_scan_round_is_the_last_quarter_and_lets_a_short_run_run(rounds, expected):
    assert settings(rounds=rounds).scan.rounds_of(rounds) == expected


def test_the_final_partitions_scan_head_takes_its_own_starts_and_the_rounds_keep_theirs():
    chosen = settings(scan={"heads": 7, "kept_heads": 3, "entropy_weight": 2.0, "neighbours": 4})
    options = chosen.clustering.clusterers(chosen.scan, ["scan"])["scan"].options
    assert options["heads"] == 50 and options["kept_heads"] == 10  # clustering.scan's
    assert options["entropy_weight"] == 2.0 and options["neighbours"] == 4  # the rest: the scan block's
    assert chosen.scan.head_options()["heads"] == 7 and chosen.scan.head_options()["kept_heads"] == 3
    problems = _problems(clustering={"scan": {"heads": 0}})
    assert "clustering.scan.heads = 0: Input should be greater than or equal to 1" in problems


def test_the_comments_of_conf_name_only_modules_and_settings_that_exist():
    """Every ``deepcluster/....py`` that a conf file names is a module, and every dotted setting it names is a key
    of the settings model (``clustering.ward.max_images``), or a resolved value (``resolved.*``)."""
    import re

    from deepcluster.config import Parameters

    def is_key(dotted: str) -> bool:
        model: Any = Parameters
        for part in dotted.split("."):
            fields = getattr(model, "model_fields", None)
            if fields is None:
                return True  # a free-form value (a dict): any key below it
            if part not in fields:
                return False
            annotation = fields[part].annotation
            models = [t for t in (annotation, *typing.get_args(annotation)) if hasattr(t, "model_fields")]
            model = models[0] if models else None
        return True

    blocks = "|".join(Parameters.model_fields)
    for path in (PROJECT_ROOT / "conf").rglob("parameters*.yml"):
        text = path.read_text()
        for module in re.findall(r"deepcluster/[\w/]+\.py", text):
            assert (PROJECT_ROOT / "src" / module).is_file(), f"{path.name} names {module}"
        for key in re.findall(rf"(?<![\w./])(?:{blocks})\.[a-z_][\w.]*[a-z_]", text):
            assert is_key(key), f"{path.relative_to(PROJECT_ROOT)} names {key}, which is no setting"
