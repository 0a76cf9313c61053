"""Smoke test of benchmarks/decade_throughput.py: both loops run and give a ratio per network."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "decade_throughput.py"


def test_benchmark_times_the_bare_and_the_harness_loop(capsys: pytest.CaptureFixture) -> None:
    spec = importlib.util.spec_from_file_location("decade_throughput", BENCH)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    args = ["--methods", "resnet18,zfnet", "--batch", "2", "--steps", "1", "--warmup", "1"]
    assert bench.main([*args, "--rounds", "1"]) == 0
    out = capsys.readouterr().out
    rows = re.findall(r"^\| (\w+) \| 2 \| ([\d,.]+) \| ([\d,.]+) \| ([\d.]+)x \|$", out, re.M)
    assert [r[0] for r in rows] == ["resnet18", "zfnet"]
    for _, bare, ours, ratio in rows:
        b, h = float(bare.replace(",", "")), float(ours.replace(",", ""))
        # the rates are printed to 0.1 img/s and the ratio to 0.01: the check allows that
        # rounding, which matters when a loaded machine trains at a few images/s
        assert b > 0 and h > 0 and abs(float(ratio) - h / b) <= 0.006 + 0.05 * (1 + h / b) / b
    assert "load average" in out
