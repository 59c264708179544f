"""scripts/rechoose_partition.py: the final partition re-chosen from logged modularities, as the run would."""

import importlib.util

from tests.conftest import PROJECT_ROOT

spec = importlib.util.spec_from_file_location("rechoose_partition", PROJECT_ROOT / "scripts" / "rechoose_partition.py")
rechoose = importlib.util.module_from_spec(spec)
spec.loader.exec_module(rechoose)


def _run(collection: str, modularity: dict[str, float], acc: dict[str, float]) -> dict:
    clusterers = {name: {"acc": acc[name], "nmi": acc[name] / 2, "modularity": modularity[name]} for name in acc}
    highest = max(modularity, key=modularity.get)
    trained = {"acc": acc[highest], "nmi": acc[highest] / 2, "partition": highest, "clusterers": clusterers}
    return {"collection": collection, "seed": 0, "report": {"trained": trained}}


NEAR_TIE = _run("coil20", {"ward": 0.945, "scan": 0.942}, {"ward": 0.93, "scan": 0.99})
CLEAR = _run("palm", {"ward": 0.968, "scan": 0.955}, {"ward": 0.90, "scan": 0.60})


def test_the_preferred_clusterer_takes_a_near_tie_and_only_that():
    near = rechoose.rechosen(NEAR_TIE, "scan", 0.005)["report"]["trained"]
    assert (near["partition"], near["acc"], near["nmi"]) == ("scan", 0.99, 0.495)
    assert NEAR_TIE["report"]["trained"]["partition"] == "ward"  # the logged run itself is left as it was
    assert rechoose.rechosen(CLEAR, "scan", 0.005)["report"]["trained"]["partition"] == "ward"
    assert rechoose.rechosen(NEAR_TIE, None, 0.005)["report"]["trained"]["partition"] == "ward"


def test_the_summary_counts_what_the_rule_changes():
    text = rechoose.summary([NEAR_TIE, CLEAR, {"collection": "digits", "report": {}}], "scan", 0.005)
    assert "| coil20 | 1 | 0.930 | 0.990 | 1 | 1 | 0 |" in text
    assert "| palm | 1 | 0.900 | 0.900 | 0 | 0 | 0 |" in text
    assert "Over 2 runs: 1 changed, 1 gain and 0 lose ACC; mean change where changed +0.060" in text
