"""``benchmarks/gpu_evidence.py --smoke`` writes its report with every stage (CI runs it).

About 70 s on the 2-core development CPU, so it is marked slow and `.ci/run`
runs it as its own step (``pytest -m slow tests/test_benchmark_gpu_evidence.py``).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu_evidence.py"


def _bench():
    spec = importlib.util.spec_from_file_location("gpu_evidence", BENCH)
    bench = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = bench  # its dataclasses look their module up
    spec.loader.exec_module(bench)
    return bench


@pytest.mark.slow
def test_smoke_mode_writes_a_report_with_every_stage(tmp_path) -> None:
    out = _bench().main(["--smoke", "--out", str(tmp_path / "report.md"),
                         "--results", str(tmp_path / "results")])  # fmt: skip
    text = Path(out).read_text()
    for stage in ("tests", "step", "input", "handcrafted", "runs"):
        assert f"## {stage} (" in text
    assert "torch " in text and "device: cpu" in text and "20,000 img/s" in text
    assert "| eager fp32 channels-last |" in text and "harness / bare" in text
    assert "smoke: 2 steps" in text and "exit 0" in text


def test_an_unknown_stage_is_refused(tmp_path) -> None:
    with pytest.raises(SystemExit, match="unknown stage"):
        _bench().main(["--stages", "nosuch", "--out", str(tmp_path / "r.md")])
