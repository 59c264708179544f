import pytest
import torch

from deepcluster.runtime import derive_seed, execution_from_settings, resolve_device, use_mixed_precision


def test_seeds_differ_by_round_and_stage_and_repeat():
    seeds = {derive_seed(0, r, s) for r in range(5) for s in ("kmeans", "sampling", "training")}
    assert len(seeds) == 15
    assert derive_seed(3, 2, "kmeans") == derive_seed(3, 2, "kmeans")
    assert derive_seed(3, 2, "kmeans") != derive_seed(4, 2, "kmeans")


def test_device_choice():
    assert resolve_device("cpu") == torch.device("cpu")
    if not torch.cuda.is_available():
        assert resolve_device("auto") == torch.device("cpu")
        with pytest.raises(ValueError, match="runtime.device = 'cuda'"):
            resolve_device("cuda")
        assert use_mixed_precision("auto", torch.device("cpu")) is False
    assert use_mixed_precision(True, torch.device("cpu")) is True


def test_execution_from_settings_resolves_auto_on_the_cpu():
    execution = execution_from_settings({"device": "cpu", "mixed_precision": "auto", "channels_last": "auto"})
    assert execution.device == torch.device("cpu")
    assert not execution.mixed_precision and not execution.channels_last and not execution.compile
    assert execution_from_settings({"device": "cpu", "channels_last": True, "compile": True}).compile
