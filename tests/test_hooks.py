"""The MLflow hook's run names, without starting a run (a tiny run checks them in tests/test_run.py)."""

import pytest
from kedro.io import DataCatalog, MemoryDataset
from kedro.pipeline import Pipeline
from kedro_mlflow.config.kedro_mlflow_config import KedroMlflowConfig
from pydantic import BaseModel

from deepcluster.hooks import BatchedMlflowHook, plain, run_name, run_parameters

DIGITS = {"data": {"source": "sklearn_digits", "path": None}, "runtime": {"seed": 0}}


def test_the_run_name_says_environment_method_data_and_seed():
    assert run_name("local", DIGITS) == "local · deepcluster · sklearn_digits · seed 0"
    swav = {**DIGITS, "method": {"name": "swav"}, "runtime": {"seed": 3}}
    assert run_name("mnist", swav) == "mnist · swav · sklearn_digits · seed 3"


def test_a_folder_source_adds_the_folder_name(tmp_path):
    folder = {"source": "folder", "path": str(tmp_path / "my_photos") + "/"}
    assert run_name("cifar10", {**DIGITS, "data": folder}) == "cifar10 · deepcluster · folder:my_photos · seed 0"


class Runtime(BaseModel):
    seed: int


def test_typed_parameters_become_dicts():
    assert plain({"runtime": Runtime(seed=4), "rounds": 2}) == {"runtime": {"seed": 4}, "rounds": 2}
    assert run_name("local", plain({**DIGITS, "runtime": Runtime(seed=4)})).endswith("seed 4")


@pytest.mark.parametrize(
    ("configured", "expected"), [(None, "local · deepcluster · sklearn_digits · seed 0"), ("mine", "mine")]
)
def test_a_name_set_in_mlflow_yml_is_kept(configured, expected):
    hook = BatchedMlflowHook()
    # tracking off for the pipeline: the hook names the run but starts none
    hook.mlflow_config = KedroMlflowConfig.model_validate(
        {"tracking": {"disable_tracking": {"pipelines": ["__default__"]}, "run": {"name": configured}}}
    )
    hook._env = "local"
    catalog = DataCatalog({"parameters": MemoryDataset(DIGITS)})
    hook.before_pipeline_run(run_params={"pipeline_names": ["__default__"]}, pipeline=Pipeline([]), catalog=catalog)
    assert hook.mlflow_config.tracking.run.name == expected


def test_every_validated_setting_is_a_run_parameter_once_flattened():
    from tests.conftest import settings

    values = run_parameters(settings(method={"name": "swav"}, training={"lr": 0.02}).model_dump())
    assert values["method.name"] == "swav" and values["training.lr"] == 0.02
    assert values["scan.heads"] == 10 and values["kmeans.k"] == "auto" and values["rounds"] == 16
    assert not any(isinstance(value, dict) for value in values.values())
