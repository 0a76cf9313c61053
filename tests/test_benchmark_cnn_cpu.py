"""Smoke tests of benchmarks/cnn_cpu_throughput.py: the figures it prints, the peak it assumes."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest
import torch

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "cnn_cpu_throughput.py"
TINY = ["--warmup", "1", "--windows", "1", "--window-seconds", "0.01"]


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("cnn_cpu_throughput", BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def test_prints_images_per_s_flops_and_fraction_of_peak(bench, capsys, tmp_path) -> None:
    rec = bench.main(["--models", "lenet5", *TINY, "--no-compile", "--no-passive",
                      "--save", str(tmp_path)])  # fmt: skip
    out = capsys.readouterr().out
    for text in ("peak fp32 =", "FLOPs/cycle/core", "clock:", "FLOPs per training step",
                 "images/s", "% peak", "eager fp32", "bf16 autocast"):  # fmt: skip
        assert text in out
    lenet = rec["models"]["lenet5"]
    assert lenet["flops_per_step"] > 0
    base = lenet["variants"][0]
    assert base["variant"]["kind"] == "baseline" and base["images_per_s"] > 0
    assert base["ratio_to_baseline"] == 1.0 and 0 < base["fraction_of_peak"] < 1
    assert rec["peak_flops"] == pytest.approx(
        rec["cpu"]["cores"] * rec["cpu"]["clock_mhz"] * 1e6 * rec["cpu"]["flops_per_cycle"]
    )
    assert list(tmp_path.glob("cnn_cpu_throughput-*.json"))


@pytest.mark.parametrize(
    ("vendor", "family", "flags", "expected"),
    [
        ("AuthenticAMD", "25", "avx2 fma avx512f avx512_bf16", 32),  # Zen 4: double-pumped
        ("GenuineIntel", "6", "avx2 fma avx512f amx_bf16", 64),
        ("AuthenticAMD", "23", "avx avx2 fma", 32),
        ("GenuineIntel", "6", "sse4_2", 8),
    ],
)
def test_peak_from_vector_width_cores_and_clock(
    bench, monkeypatch, vendor, family, flags, expected
) -> None:
    info = {"vendor_id": vendor, "cpu family": family, "flags": flags, "model name": "x",
            "cpu MHz": "2000.0"}  # fmt: skip
    monkeypatch.setattr(bench, "_cpuinfo", lambda: info)
    monkeypatch.setattr(bench, "_lscpu", lambda: {"Thread(s) per core": "1", "CPU max MHz": "3000"})
    peak = bench.cpu_peak()
    assert peak.flops_per_cycle == expected
    assert peak.clock_mhz == 3000 and "max MHz" in peak.clock_source
    assert peak.peak_flops == peak.cores * 3000e6 * expected
    assert peak.bf16_native == ("bf16" in flags)
    assert bench.cpu_peak(clock_mhz=1000, flops_per_cycle=4).peak_flops == peak.cores * 4e9


def test_a_failing_compile_falls_back_to_eager(bench, monkeypatch) -> None:
    def broken(model):
        def run(x):
            raise RuntimeError("no inductor here")

        return run

    monkeypatch.setattr(torch, "compile", broken)
    w = bench.workload("lenet5", batch_size=4)
    m = bench.measure(w, bench.Variant("torch.compile", 1, compile=True), warmup=1, windows=1,
                      window_seconds=0.01)  # fmt: skip
    assert m.images_per_s > 0 and "eager fallback" in m.note and "no inductor here" in m.note


def test_wait_policy_runs_in_a_child_process(bench) -> None:
    w = bench.workload("lenet5", batch_size=4)
    v = bench.Variant("passive", 1, wait_policy="PASSIVE", kind="threads")
    (m,) = bench.measure_in_child(w, [v], warmup=1, windows=1, window_seconds=0.01)
    assert m.images_per_s > 0, m.note
