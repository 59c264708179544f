"""scripts/benchmark_processes.py: the per-seed differences of N processes against one, pooled over machines."""

import importlib.util

import numpy as np
from scipy import stats

from tests.conftest import PROJECT_ROOT

SCRIPT = PROJECT_ROOT / "scripts" / "benchmark_processes.py"
spec = importlib.util.spec_from_file_location("benchmark_processes", SCRIPT)
benchmark = importlib.util.module_from_spec(spec)
spec.loader.exec_module(benchmark)


def _runs(method: str, one: list[float], two: list[float]) -> list[dict]:
    return [
        {"method": method, "seed": seed, "processes": processes, "report": {"trained": {"acc": acc}}}
        for seed, pair in enumerate(zip(one, two))
        for processes, acc in zip((1, 2), pair)
    ]


def _row(text: str, method: str) -> list[str]:
    return next(line for line in text.splitlines() if line.startswith(f"| {method} |")).strip("| ").split(" | ")


def test_pooled_differences_give_the_t_interval_and_the_equivalence_verdict():
    steady_one, steady_two = [0.95, 0.96, 0.97, 0.94], [0.951, 0.955, 0.972, 0.942]
    noisy_one, noisy_two = [0.95, 0.80, 0.96, 0.97], [0.93, 0.92, 0.92, 0.97]
    # two machines: seed 1 of each pairs only within its own group
    machines = [_runs("steady", steady_one[:2], steady_two[:2]) + _runs("noisy", noisy_one, noisy_two)]
    machines.append(_runs("steady", steady_one[2:], steady_two[2:]))
    text = benchmark.pooled_differences(machines, processes=2)

    steady = np.subtract(steady_two, steady_one)
    reference = stats.ttest_1samp(steady, 0.0).confidence_interval(0.90)
    row = _row(text, "steady")
    assert row[1:4] == ["4", f"{steady.mean():+.4f}", f"{steady.std(ddof=1) / 2:.4f}"]
    assert row[4] == f"[{reference.low:+.4f}, {reference.high:+.4f}]"
    assert row[5:7] == ["yes", f"{np.std(steady_one, ddof=1):.4f}"]
    # a mean difference near zero is not agreement when the seeds cannot pin it down
    noisy = _row(text, "noisy")
    assert abs(float(noisy[2])) < 0.02 and noisy[5] == "no"


def _interval_of(size: int, spread: float) -> tuple[float, float]:
    """The 90 % interval of ``size`` differences of mean zero and standard deviation ``spread``."""
    sample = np.resize([-1.0, 1.0], size)
    sample -= sample.mean()
    sample *= spread / sample.std(ddof=1)
    interval = stats.ttest_1samp(sample, 0.0).confidence_interval(0.90)
    return interval.low, interval.high


def test_how_often_three_seeds_pass_and_how_many_seeds_the_margin_needs():
    one = [0.9, 0.9, 0.9, 0.9]
    two = [0.9, 0.9, 0.9, 1.0]  # one seed off by 0.1: every three-seed subset holding it misses 0.02
    row = _row(benchmark.pooled_differences([_runs("m", one, two)], processes=2), "m")
    assert row[7] == "1 of 4"
    needed = int(row[8])
    spread = np.std(np.subtract(two, one), ddof=1)
    low, high = _interval_of(needed, spread)
    assert -0.02 < low and high < 0.02
    low, high = _interval_of(needed - 1, spread)
    assert low < -0.02 or high > 0.02
