"""The store: atomic, complete record files, read back through a per-process cache."""

from __future__ import annotations

import ast
import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from harness import frame, leaderboard, store
from harness.leaderboard import leaderboard_frame, write_leaderboard
from harness.record import RecordError, ValHits
from harness.store import (
    ResultsWriteError,
    atomic_write_text,
    existing_ok_record,
    keep_failed_attempt,
    load_records,
    record_path,
    write_curve,
    write_record,
)

HARNESS = Path(__file__).resolve().parents[1] / "harness"


def make_record(run_id: str, method: str, top5: float | None, subset: str = "s", **kw) -> dict:
    return {
        "run_id": run_id,
        "status": "ok" if top5 is not None else "error",
        "error": None if top5 is not None else "ValueError: boom",
        "method": method,
        "family": "hand-crafted",
        "year": 2012,
        "subset": subset,
        "manifest_hash": f"manifest-of-{subset}",
        "n_classes": 10,
        "n_train": 100,
        "n_val": 50,
        "top1_err": None if top5 is None else top5 + 20,
        "top5_err": top5,
        "device": "cpu",
        "train_seconds": 1.0,
        "date": "2026-11-01T00:00:00+00:00",
        **kw,
    }


def hit_record(run_id: str, err5: float, seed: int = 0, n: int = 400, **kw) -> dict:
    """A record whose errors come from per-image hits, of the same images for every seed."""
    import numpy as np

    top5 = np.random.default_rng(seed).permutation(np.arange(n) >= round(n * err5 / 100))
    top1 = top5 & (np.arange(n) % 2 == 0)
    hits = ValHits.from_arrays(top1, top5, labels=np.arange(n) % 10)
    return make_record(
        run_id,
        "fv",
        round(hits.error(5), 4),
        top1_err=round(hits.error(1), 4),
        n_val=n,
        seed=seed,
        val_hits=hits.model_dump(),
        **kw,
    )


_WRITER = """
import sys
from pathlib import Path
from harness.store import write_record
sys.path.insert(0, {tests!r})
from test_store import make_record

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


def test_nan_is_written_as_null(tmp_path: Path) -> None:
    path = write_record(tmp_path, make_record("n", "x", 50.0, train_seconds=float("nan")))
    assert json.loads(path.read_text())["train_seconds"] is None


def test_disk_full_while_writing_a_record_leaves_the_old_one(tmp_path: Path, monkeypatch) -> None:
    path = write_record(tmp_path, make_record("r", "fv", 40.0))
    before = path.read_bytes()

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(store.os, "fsync", full)
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


def test_damaged_or_partial_records_are_skipped_with_their_name(tmp_path: Path, caplog) -> None:
    write_record(tmp_path, make_record("good", "fv", 40.0))
    runs = tmp_path / "runs"
    (runs / "torn.json").write_text('{"run_id": "torn", "status": "ok", "meth')
    (runs / "partial.json").write_text(json.dumps({"run_id": "partial"}))
    (runs / ".good.json.1234.tmp").write_text("{")  # a writer in progress
    recs = load_records(tmp_path)
    assert [r["run_id"] for r in recs] == ["good"]
    assert "torn.json" in caplog.text and "partial.json" in caplog.text
    with pytest.raises(RecordError, match="partial.json: field status: missing"):
        load_records(tmp_path, strict=True)


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


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_written_files_follow_the_umask(tmp_path: Path, umask: int, mode: int) -> None:
    old = os.umask(umask)
    try:
        atomic_write_text(tmp_path / "x.txt", "x")
        path = write_record(tmp_path, make_record("r", "fv", 40.0))
        board = write_leaderboard(tmp_path)
    finally:
        os.umask(old)
    for p in (tmp_path / "x.txt", path, board):
        assert p.stat().st_mode & 0o777 == mode, p


def test_results_that_are_a_file_raise_one_clear_error(tmp_path: Path) -> None:
    file = tmp_path / "results.txt"
    file.write_text("not a folder")
    with pytest.raises(ResultsWriteError, match="results.txt is a file, not a folder") as info:
        write_record(file, make_record("r", "fv", 40.0))
    assert "--results" in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(ResultsWriteError, match="results.txt is a file"):
        write_leaderboard(file)
    from harness.report import write_report

    with pytest.raises(ResultsWriteError, match="results.txt is a file"):
        write_report(file)
    runs_file = tmp_path / "res"
    runs_file.mkdir()
    (runs_file / "runs").write_text("")
    with pytest.raises(ResultsWriteError, match="runs is a file, not a folder"):
        write_record(runs_file, make_record("r", "fv", 40.0))
    assert isinstance(info.value, OSError)


def test_a_read_only_folder_raises_one_clear_error(tmp_path: Path, monkeypatch) -> None:
    def refused(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(store.tempfile, "mkstemp", refused)
    with pytest.raises(ResultsWriteError, match="is not writable .Permission denied.") as info:
        write_leaderboard(tmp_path)
    assert str(tmp_path) in str(info.value) and "writable folder" in str(info.value)


def test_a_read_only_folder_for_real(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        probe = folder / "probe"
        try:
            probe.write_text("")
        except PermissionError:
            pass
        else:
            probe.unlink()
            pytest.skip("this user (root?) writes into a read-only folder")
        with pytest.raises(ResultsWriteError, match="not writable"):
            write_leaderboard(folder)
    finally:
        folder.chmod(0o755)


# Failed attempts and learning curves.


def test_a_failed_attempt_is_kept_aside_and_never_read_as_a_record(tmp_path: Path) -> None:
    write_record(tmp_path, make_record("r", "fv", 40.0))
    failed = make_record("r", "fv", None, date="2026-11-02T10:20:30+00:00")
    kept = keep_failed_attempt(tmp_path, failed)
    assert kept == tmp_path / "runs" / "failed" / "r.20261102T102030+0000.json"
    assert json.loads(kept.read_text())["error"] == "ValueError: boom"
    assert [(r.run_id, r.ok) for r in load_records(tmp_path)] == [("r", True)]
    assert existing_ok_record(tmp_path, "r").top5_err == 40.0


def test_existing_ok_record_is_a_valid_successful_record_or_none(tmp_path: Path) -> None:
    assert existing_ok_record(tmp_path, "r") is None
    write_record(tmp_path, make_record("bad", "fv", None))
    assert existing_ok_record(tmp_path, "bad") is None
    record_path(tmp_path, "torn").write_text("{")
    assert existing_ok_record(tmp_path, "torn") is None


def test_a_learning_curve_is_written_beside_its_record(tmp_path: Path) -> None:
    write_curve(tmp_path, "r", [])
    assert not (tmp_path / "runs").exists()  # nothing without rows
    write_curve(tmp_path, "r", [{"epoch": 1, "top5_err": 50.0}, {"epoch": 2, "top5_err": 40.0}])
    curve = pd.read_csv(tmp_path / "runs" / "r.curve.csv")
    assert curve.to_dict("list") == {"epoch": [1, 2], "top5_err": [50.0, 40.0]}
    assert load_records(tmp_path) == []  # a curve is not a record


# The per-process caches: parse a file once, bootstrap a record once.


@pytest.fixture
def parses(monkeypatch) -> list[str]:
    """The record sources the store parses (the caches start empty)."""
    store.clear_cache()
    frame.clear_interval_cache()
    seen: list[str] = []
    real = store.parse_record

    def counting(data, source="record"):
        seen.append(Path(str(source)).name)
        return real(data, source)

    monkeypatch.setattr(store, "parse_record", counting)
    return seen


def test_two_leaderboard_writes_parse_each_record_file_once(tmp_path: Path, parses) -> None:
    runs = tmp_path / "runs"
    runs.mkdir()
    for rec in (make_record("a", "hog", 60.0), make_record("b", "fv", 40.0)):
        (runs / f"{rec['run_id']}.json").write_text(json.dumps(rec))
    first = write_leaderboard(tmp_path).read_bytes()
    second = write_leaderboard(tmp_path).read_bytes()
    assert first == second
    assert sorted(parses) == ["a.json", "b.json"]  # each file once over both calls
    # a changed file is parsed again, and only it
    atomic_write_text(runs / "a.json", json.dumps(make_record("a", "hog", 30.0)))
    assert pd.read_csv(write_leaderboard(tmp_path)).method.tolist() == ["hog", "fv"]
    assert sorted(parses) == ["a.json", "a.json", "b.json"]
    # a record written by this process is never parsed back from its file
    write_record(tmp_path, make_record("c", "lbp", 20.0))
    assert pd.read_csv(write_leaderboard(tmp_path)).method.tolist() == ["lbp", "hog", "fv"]
    assert parses.count("c.json") == 0


def test_intervals_are_bootstrapped_once_per_record_and_repeat_group(
    tmp_path: Path, parses, monkeypatch
) -> None:
    boots: list[int] = []
    real_ci, real_combine = frame.bootstrap_error_ci, leaderboard.combine_repeats
    monkeypatch.setattr(frame, "bootstrap_error_ci", lambda h: boots.append(1) or real_ci(h))
    monkeypatch.setattr(
        leaderboard, "combine_repeats", lambda hs: boots.append(2) or real_combine(hs)
    )
    write_record(tmp_path, hit_record("s0", 40.0, seed=0))
    write_record(tmp_path, hit_record("s1", 44.0, seed=1))
    first = write_leaderboard(tmp_path).read_bytes()
    assert sorted(boots) == [1, 1, 1, 1, 2, 2]  # 2 records x (top-1, top-5); 1 group x 2
    assert write_leaderboard(tmp_path).read_bytes() == first
    assert len(boots) == 6  # nothing bootstrapped again
    # new hits under the same run id: a new interval
    write_record(tmp_path, hit_record("s1", 48.0, seed=1))
    write_leaderboard(tmp_path)
    assert len(boots) == 6 + 2 + 2


# No import cycle: schema <- store <- frame/leaderboard, nothing imported late to hide one.

_LAYERS = {
    "record": set(),
    "commands": {"record"},
    "store": {"record"},
    "frame": {"record", "commands"},
    "leaderboard": {"record", "store", "frame"},
}


def _harness_imports(module: str) -> tuple[set[str], set[str]]:
    """The harness modules a module imports at its top, and those it imports in a body."""
    tree = ast.parse((HARNESS / f"{module}.py").read_text())
    top, nested = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("harness"):
            names = (
                {node.module.split(".")[1]} if "." in node.module else {a.name for a in node.names}
            )
        elif isinstance(node, ast.Import):
            names = {a.name.split(".")[1] for a in node.names if a.name.startswith("harness.")}
        else:
            continue
        (top if node in tree.body else nested).update(names)
    return top, nested


@pytest.mark.parametrize("module", sorted(_LAYERS))
def test_the_results_modules_import_one_way(module: str) -> None:
    top, nested = _harness_imports(module)
    assert not nested, f"harness/{module}.py imports {nested} inside a function"
    assert top & set(_LAYERS) <= _LAYERS[module]


@pytest.mark.parametrize(
    ("module", "absent"),
    [
        (
            "harness.record",
            [
                "harness.store",
                "harness.frame",
                "harness.leaderboard",
                "harness.commands",
            ],
        ),
        ("harness.store", ["harness.frame", "harness.leaderboard"]),
        ("harness.commands", ["harness.store", "harness.frame", "harness.leaderboard"]),
    ],
)
def test_importing_a_lower_module_loads_none_above_it(module: str, absent: list[str]) -> None:
    code = f"import sys, {module}; print([m for m in {absent!r} if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
