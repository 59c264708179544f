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
            "kmeans.kk: unknown key; remove it or fix its spelling (the keys of kmeans are k; see",
        ),
        ({"kmean": {"k": 10}}, "kmean: unknown key"),
        ({"data": {"folder": {"path": "x"}}}, "data.folder: unknown key"),
        (
            {"training": {"lr": -1}},
            "training.lr = -1: Input should be greater than 0; change it in conf/local/parameters.yml",
        ),
        ({"training": {"lr": "fast"}}, "training.lr = 'fast': Input should be a valid number"),
        ({"training": {"batch_size": 1}}, "training.batch_size = 1: must be 'auto' or a whole number of at least 2"),
        ({"kmeans": {"k": 1}}, "kmeans.k = 1: must be 'auto' or a whole number of at least 2"),
        ({"kmeans": {"k": "ten"}}, "kmeans.k = 'ten': must be 'auto' or a whole number of at least 2"),
        ({"data": {"image_size": 0}}, "data.image_size = 0: must be 'auto' or a whole number of at least 1"),
        ({"data": {"split": "val"}}, "data.split = 'val': Input should be 'train', 'test' or 'all'"),
        ({"model": {"name": "resnet"}}, "model.name = 'resnet': Input should be 'auto', 'small_convnet'"),
        ({"clustering": {"final": "dbscan"}}, "clustering.final = 'dbscan': Input should be 'auto', 'kmeans'"),
        (
            {"scan": {"neighbours_from": "pixel"}},
            "scan.neighbours_from = 'pixel': Input should be 'features' or 'pixels'",
        ),
        (
            {"model": {"representation": "trunk"}},
            "model.representation = 'trunk': Input should be 'auto', 'neck' or 'trunk_and_neck'",
        ),
        ({"runtime": {"mixed_precision": "yes"}}, "runtime.mixed_precision = 'yes': must be 'auto', true or false"),
    ],
)
def test_each_problem_names_its_key_and_the_fix(overrides, expected):
    assert expected in _problems(**overrides)


def test_a_user_sets_at_most_40_keys_and_every_one_is_documented():
    """conf/base's leaf keys, counted as the before-stop hook counts them, and docs/settings.md's table."""
    import glob

    import yaml

    def leaves(block: Any, prefix: str = "") -> list[str]:
        if isinstance(block, dict) and block:
            return [key for name, value in block.items() for key in leaves(value, f"{prefix}{name}.")]
        return [prefix[:-1]]

    keys = [key for path in glob.glob(str(PROJECT_ROOT / "conf/base/parameters*.yml"))
            for key in leaves(yaml.safe_load(open(path)) or {})]  # fmt: skip
    assert len(keys) <= 40, keys
    table = (PROJECT_ROOT / "docs" / "settings.md").read_text()
    assert [key for key in keys if f"`{key}`" not in table] == []


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
    assert chosen.kmeans.k == 7 and chosen.training.batch_size == "auto"
    with pytest.raises(Exception):
        chosen.kmeans.k = 8


def test_scan_rounds_need_a_round_of_the_method_first():
    problems = _problems(rounds=40, scan={"rounds": 40})
    assert "scan.rounds = 40: must be below rounds (40)" in problems
    assert settings(rounds=40, scan={"rounds": 39}).scan.rounds_of(40) == 39


@pytest.mark.parametrize("rounds,expected", [(1, 0), (2, 0), (3, 0), (4, 1), (16, 4)])
def test_auto_scan_round_is_the_last_quarter_and_lets_a_short_run_run(rounds, expected):
    assert settings(rounds=rounds).scan.rounds_of(rounds) == expected


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
