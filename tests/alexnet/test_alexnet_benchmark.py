"""Smoke test of benchmarks/alexnet_throughput.py on CPU (slow: two 224px AlexNet loops)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "alexnet_throughput.py"


@pytest.mark.slow
def test_benchmark_runs_on_cpu_with_tiny_settings(tmp_path) -> None:
    spec = importlib.util.spec_from_file_location("alexnet_throughput", BENCH)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    rec = bench.main(["--device", "cpu", "--steps", "1", "--warmup", "1", "--batch-size", "2",
                      "--workers", "0", "--images", str(tmp_path / "none"), "--n-images", "3",
                      "--save", str(tmp_path)])  # fmt: skip
    assert rec["a_images_per_s"] > 0 and rec["b_images_per_s"] > 0
    assert rec["ratio_b_over_a"] > 0 and rec["projected_90_epochs_hours"] > 0
    assert list(tmp_path.glob("alexnet_throughput-*.json"))
