"""benchmarks/mapped_reads.py: both ways of reading a block, and their ratio, printed."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_it_prints_each_way_and_the_ratio(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    spec = importlib.util.spec_from_file_location(
        "mapped_reads", ROOT / "benchmarks/mapped_reads.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    args = ["--rows", "64", "--row-bytes", "65536", "--block", "16", "--repeats", "1"]
    assert module.main([*args, "--dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out.count("  through the map") == 1 and out.count("  read_rows (preadv)") == 1
    rises = [float(m) for m in re.findall(r"resident \+\s*(-?\d+) MiB", out)]
    assert len(rises) == 2 and rises[1] <= 1  # read_rows maps nothing
    assert re.search(r"read_rows / through the map: \d+\.\d\d", out)
