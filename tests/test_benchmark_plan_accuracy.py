"""Smoke test of benchmarks/plan_accuracy.py: a plan, then each method's run, side by side."""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Callable
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "plan_accuracy.py"


def test_benchmark_puts_each_projection_beside_its_measured_run(
    synthetic_root: Callable[..., Path], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    spec = importlib.util.spec_from_file_location("plan_accuracy", BENCH)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    root = synthetic_root("ilsvrc-devkit", n_classes=4, train_per_class=8, val_per_class=3)
    out = tmp_path / "plan.md"
    flags = ["--data", str(root), "--cache", str(tmp_path / "cache"), "--jobs", "1"]
    keep = tmp_path / "kept"
    args = ["--out", str(out), "--keep", str(keep), "--", *flags, "--methods", "random,hog-svm"]
    assert bench.main(args) == 0
    assert len(list((keep / "hog-svm" / "runs").glob("*hog-svm*.json"))) >= 1
    text = out.read_text()
    rows = re.findall(r"^\| ([\w-]+) \| ([\d,]+) \| ([\d,]+) \| ([\d.]+) \|", text, re.M)
    assert [r[0] for r in rows] == ["random", "hog-svm"]
    assert "Intel" in text or "AMD" in text or "cpu" in text.lower()
    assert not (tmp_path / "cache" / "methods").exists()  # the runs' features: fresh caches
    assert re.search(
        r"^- hog-svm: projected .*; measured encoder .*refit .*val scoring", text, re.M
    )

    # a run on record (same run id, this CPU) is compared with, not run again
    again = tmp_path / "again.md"
    args = ["--out", str(again), "--records", str(keep / "hog-svm"), "--", *flags]
    assert bench.main([*args, "--methods", "hog-svm"]) == 0
    assert "| on record (" in again.read_text()


def test_each_run_gets_only_its_own_methods_parameters() -> None:
    """``harness run --methods lenet5 --param alexnet.x=...`` is refused: the benchmark
    ran every method alone with every method's --param and stopped at the first."""
    spec = importlib.util.spec_from_file_location("plan_accuracy", BENCH)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    flags = ["--suite", "s", "--param", 'alexnet.profile="paper"', "--param", "lenet5.epochs=2"]
    assert bench._params_of(flags, "lenet5") == ["--suite", "s", "--param", "lenet5.epochs=2"]
    assert bench._params_of(flags, "hog-svm") == ["--suite", "s"]
