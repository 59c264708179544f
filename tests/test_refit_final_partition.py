"""scripts/refit_final_partition.py: what it says of an argument that is not a run."""

import importlib.util

import pytest

from tests.conftest import PROJECT_ROOT

spec = importlib.util.spec_from_file_location("refit", PROJECT_ROOT / "scripts" / "refit_final_partition.py")
refit = importlib.util.module_from_spec(spec)
spec.loader.exec_module(refit)


def test_refitting_names_what_is_not_a_run(tmp_path, capsys, monkeypatch):
    log = tmp_path / "digits_seed0.log"
    log.write_text("a benchmark's log beside its runs")
    monkeypatch.setattr("sys.argv", ["refit_final_partition.py", str(log)])
    with pytest.raises(SystemExit, match="none of the arguments is a finished run's project"):
        refit.main()
    assert f"skipped {log}: not a finished run's project" in capsys.readouterr().out
