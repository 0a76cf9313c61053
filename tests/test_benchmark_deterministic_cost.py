"""Smoke test of benchmarks/deterministic_cost.py: both modes train and give a ratio."""

from __future__ import annotations

import importlib.util
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "deterministic_cost.py"


def test_benchmark_times_both_modes_on_cpu() -> None:
    spec = importlib.util.spec_from_file_location("deterministic_cost", BENCH)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    summary = bench.main(["--methods", "lenet5", "--repeat", "1", "--param", "lenet5.epochs=1"])
    row = summary["lenet5"]
    assert row["plain"] > 0 and row["deterministic"] > 0
    assert row["ratio"] == row["deterministic"] / row["plain"]
