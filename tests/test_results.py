"""Records and the leaderboard: atomic, complete, ranked, regenerated."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pandas as pd
import pytest

from harness import results
from harness.cli import main
from harness.results import (
    LEADERBOARD_COLUMNS,
    RecordError,
    atomic_write_text,
    leaderboard_frame,
    load_records,
    write_leaderboard,
    write_record,
)


def make_record(run_id: str, method: str, top5: float | None, subset: str = "s", **kw) -> dict:
    return {
        "run_id": run_id,
        "status": "ok" if top5 is not None else "error",
        "error": None if top5 is not None else "ValueError: boom",
        "method": method,
        "year": 2012,
        "subset": subset,
        "manifest_hash": "abc",
        "n_classes": 10,
        "n_train": 100,
        "n_val": 50,
        "top1_err": None if top5 is None else top5 + 20,
        "top5_err": top5,
        "device": "cpu",
        "train_seconds": 1.0,
        **kw,
    }


def test_leaderboard_ranks_within_subset_and_keeps_failures(tmp_path: Path) -> None:
    write_record(tmp_path, make_record("a", "hog", 60.0))
    write_record(tmp_path, make_record("b", "fv", 40.0))
    write_record(tmp_path, make_record("c", "broken", None))
    write_record(tmp_path, make_record("d", "hog", 10.0, subset="t"))
    out = write_leaderboard(tmp_path)
    df = pd.read_csv(out)
    assert list(df.columns) == LEADERBOARD_COLUMNS
    s = df[df.subset == "s"]
    assert s.method.tolist() == ["fv", "hog", "broken"]
    assert s["rank"].tolist()[:2] == [1, 2]
    assert pd.isna(s["rank"].iloc[2])
    assert s.error.iloc[2] == "ValueError: boom"
    assert df[df.subset == "t"]["rank"].tolist() == [1]


def test_damaged_or_partial_records_are_skipped_with_their_name(tmp_path: Path, caplog) -> None:
    write_record(tmp_path, make_record("good", "fv", 40.0))
    runs = tmp_path / "runs"
    (runs / "torn.json").write_text('{"run_id": "torn", "status": "ok", "meth')
    (runs / "partial.json").write_text(json.dumps({"run_id": "partial"}))
    (runs / ".good.json.1234.tmp").write_text("{")  # a writer in progress
    recs = load_records(tmp_path)
    assert [r["run_id"] for r in recs] == ["good"]
    assert "torn.json" in caplog.text and "partial.json" in caplog.text
    with pytest.raises(RecordError, match="partial.json: incomplete record"):
        load_records(tmp_path, strict=True)


def test_nan_is_written_as_null(tmp_path: Path) -> None:
    path = write_record(tmp_path, make_record("n", "x", 50.0, train_seconds=float("nan")))
    assert json.loads(path.read_text())["train_seconds"] is None


def test_disk_full_while_writing_a_record_leaves_the_old_one(tmp_path: Path, monkeypatch) -> None:
    path = write_record(tmp_path, make_record("r", "fv", 40.0))
    before = path.read_bytes()

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(results.os, "fsync", full)
    with pytest.raises(OSError, match="No space left"):
        write_record(tmp_path, make_record("r", "fv", 30.0))
    assert path.read_bytes() == before
    assert [p.name for p in (tmp_path / "runs").iterdir()] == ["r.json"]  # no temp file left


def test_atomic_write_never_shows_a_partial_file(tmp_path: Path) -> None:
    target = tmp_path / "x.txt"
    atomic_write_text(target, "old")
    fd = os.open(target, os.O_RDONLY)  # a reader holding the old file sees it whole
    atomic_write_text(target, "new" * 1000)
    assert os.read(fd, 10) == b"old"
    os.close(fd)
    assert target.read_text() == "new" * 1000


def test_leaderboard_command(tmp_path: Path, capsys) -> None:
    write_record(tmp_path, make_record("a", "hog", 60.0))
    out = tmp_path / "lb.csv"
    assert main(["leaderboard", "--results", str(tmp_path), "--out", str(out)]) == 0
    assert pd.read_csv(out).method.tolist() == ["hog"]
    assert "hog" in capsys.readouterr().out


def test_empty_results_give_an_empty_leaderboard(tmp_path: Path) -> None:
    df = leaderboard_frame(load_records(tmp_path))
    assert df.empty and list(df.columns) == LEADERBOARD_COLUMNS


_WRITER = """
import sys
from pathlib import Path
from harness.results import write_record
sys.path.insert(0, {tests!r})
from test_results import make_record

out = Path({out!r})
i = 0
while True:  # rewrite a large record forever; the parent kills us mid-write
    rec = make_record("r", "hog", 60.0)
    rec["notes"] = {{"payload": str(i) * 4_000_000, "i": i}}
    write_record(out, rec)
    if i == 0:
        print("ready", flush=True)
    i += 1
"""


def test_sigkill_while_writing_a_record_leaves_a_complete_one(tmp_path: Path) -> None:
    import signal
    import subprocess
    import sys
    import time

    code = _WRITER.format(tests=str(Path(__file__).parent), out=str(tmp_path))
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    time.sleep(0.5)  # several multi-megabyte writes in flight
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    (rec,) = load_records(tmp_path, strict=True)  # complete and parseable, or it raises
    assert rec["notes"]["payload"] == str(rec["notes"]["i"]) * 4_000_000
    names = sorted(p.name for p in (tmp_path / "runs").iterdir())
    assert names[-1] == "r.json" and all(n.startswith(".r.json.") for n in names[:-1])
    assert leaderboard_frame([rec]).method.tolist() == ["hog"]
    write_record(tmp_path, make_record("r", "hog", 50.0))  # the rerun of that run
    assert [p.name for p in (tmp_path / "runs").iterdir()] == ["r.json"]  # temporaries swept
