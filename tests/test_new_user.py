"""Issue #21: what a new user meets, one test per numbered item (each fails on e673e2c)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from harness.cli import main
from harness.frame import LEADERBOARD_COLUMNS
from harness.leaderboard import leaderboard_frame, read_leaderboard, write_leaderboard
from harness.record import parse_record
from harness.store import load_records, write_record

REPO = Path(__file__).resolve().parents[1]
PLUGINS = Path(__file__).parent / "harness_plugins"
M = "ab" * 32  # a manifest hash


@pytest.fixture(autouse=True)
def plugin_path(monkeypatch) -> None:
    monkeypatch.syspath_prepend(str(PLUGINS))


@pytest.fixture(scope="module")
def root5(tmp_path_factory) -> Path:
    from harness.data import make_synthetic_imagenet

    base = tmp_path_factory.mktemp("newuser")
    return Path(
        make_synthetic_imagenet(
            base / "ilsvrc",
            layout="ilsvrc-devkit",
            n_classes=5,
            train_per_class=6,
            val_per_class=4,
            size=40,
            seed=0,
        )
    )


def rec(run_id: str, method: str, top5: float | None, **kw: Any) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "status": "ok" if top5 is not None else "error",
        "error": None if top5 is not None else "ValueError: boom",
        "method": method,
        "family": "hand-crafted",
        "subset": "s",
        "manifest_hash": M,
        "n_classes": 10,
        "n_train": 100,
        "n_val": 50,
        "top1_err": None if top5 is None else top5 + 20,
        "top5_err": top5,
        "device": "cpu",
        "train_seconds": 1.0,
        "date": "2026-01-01T00:00:00+00:00",
        **kw,
    }


def run_args(root: Path, out: Path, *extra: str) -> list[str]:
    return [
        "run",
        "--data",
        str(root),
        "--suite",
        "demo",
        "--subset",
        "demo",
        "--results",
        str(out / "results"),
        "--cache",
        str(out / "cache"),
        "--jobs",
        "1",
        "--no-report",
        *extra,
    ]


# 1. the README's first command keeps to itself


def _copy_of_the_repository(dest: Path) -> Path:
    """The working tree's files (tracked and new, git's ignores applied), committed afresh."""
    files = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"],
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for name in filter(None, files):
        src = REPO / name.decode()
        if src.is_file():
            (dest / name.decode()).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name.decode())
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t"}
    env |= {"GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
    for cmd in (["git", "init", "-q"], ["git", "add", "-A"], ["git", "commit", "-qm", "copy"]):
        subprocess.run(cmd, cwd=dest, check=True, env=env, capture_output=True)
    return dest


def test_the_readme_first_command_leaves_a_fresh_copy_clean(tmp_path: Path) -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    first = readme.split("```bash", 1)[1].split("```", 1)[0].strip().splitlines()[0]
    assert first.endswith("&& harness run")  # the command this test runs, flags aside
    copy = _copy_of_the_repository(tmp_path / "clone")
    # the demo on fewer images (the same code path: no --results, no --suite, no --data)
    small = ["--methods", "random,hog-svm", "--classes", "4", "--train-per-class", "10"]
    env = {k: v for k, v in os.environ.items() if k != "HARNESS_DATA"}
    env |= {"PYTHONPATH": str(copy), "XDG_CONFIG_HOME": str(tmp_path / "no-config")}
    done = subprocess.run(
        [sys.executable, "-m", "harness", "run", *small, "--val-per-class", "5"],
        cwd=copy,
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    status = subprocess.run(
        ["git", "status", "--porcelain"], cwd=copy, capture_output=True, text=True, check=True
    )
    assert status.stdout == ""  # nothing committed changed, nothing new to commit
    assert (copy / "results" / "demo" / "leaderboard.csv").is_file()
    assert "leaderboard: results/demo/leaderboard.csv" in done.stdout
    assert "%|" not in done.stderr and "it/s]" not in done.stderr  # no progress bar in a log


# 2. short names are unique within their own table


def test_short_names_are_unique_within_each_dataset_not_across_datasets() -> None:
    from harness.report.frames import short_names

    a = "cpu profile: small stem, 56px crops, width 0.5, kaiming init, 8 epochs, batch 64"
    b = "cpu profile: small stem, width 0.25, 6 epochs, batch 16"
    frame = pd.DataFrame(
        {
            "manifest_hash": ["tiny", "tiny", "demo"],
            "method": ["alexnet", "alexnet", "alexnet"],
            "tag": [a, a, b],
            "variant": [None, "centre-crop", None],
            "display": [f"alexnet ({a})", f"alexnet ({a})[centre-crop]", f"alexnet ({b})"],
        }
    )
    short = short_names(frame)
    assert list(short["display"]) == [
        "alexnet (cpu profile)",
        "alexnet (cpu profile)[centre-crop]",
        "alexnet (cpu profile)",
    ]


# 3. configurations of one method, and a --monitor val row, are rows of their own


def test_two_configurations_and_a_val_tuned_run_are_rows_of_their_own() -> None:
    from harness.frame import method_overrides

    config = {
        "methods": [
            {"name": "lenet5", "key": "lenet5-short", "params": {"epochs": 3}},
            {"name": "lenet5", "key": "lenet5-long", "params": {"epochs": 8}},
        ]
    }
    recs = [
        rec("s", "lenet5", 40.0, config_name="lenet5-short", params={"epochs": 3}, config=config),
        rec("l", "lenet5", 30.0, config_name="lenet5-long", params={"epochs": 8}, config=config),
        rec("h", "hog-svm", 50.0, monitor={"split": "train-holdout"}),
        rec("v", "hog-svm", 45.0, monitor={"split": "val"}, date="2026-02-01T00:00:00+00:00"),
    ]
    df = leaderboard_frame(recs)
    assert sorted(df["display"]) == [
        "hog-svm",
        "hog-svm (tuned on val)",
        "lenet5-long",
        "lenet5-short",
    ]
    assert set(df["config_name"].dropna()) == {"lenet5-short", "lenet5-long"}
    assert method_overrides(parse_record(recs[0])) == {"epochs": 3}  # its own settings
    assert method_overrides(parse_record(recs[1])) == {"epochs": 8}


def test_a_suite_row_key_reaches_the_record(root5: Path, tmp_path: Path) -> None:
    suite = tmp_path / "two.toml"
    suite.write_text(
        "[suite]\nsubset = 'demo'\n[methods.random-a]\nmethod = 'random'\n"
        "[methods.random-b]\nmethod = 'random'\n"
    )
    args = run_args(root5, tmp_path)
    args[args.index("demo")] = str(suite)  # --suite
    assert main(args) == 0
    names = {r.config_name for r in load_records(tmp_path / "results")}
    assert names == {"random-a"}  # one configuration (same parameters): one run id


# 4. console tables


def test_console_tables_fit_100_columns_left_aligned_with_means(capsys) -> None:
    from harness.cli import _print_summary

    tag = "cpu profile: small stem, 56px crops, width 0.5, kaiming init, 8 epochs, batch 64"
    recs = [
        rec("h0", "hog-svm", 50.0, seed=0),
        rec("h1", "hog-svm", 60.0, seed=1, date="2026-01-02T00:00:00+00:00"),
        rec("a", "alexnet", 40.0, family="cnn", tag=tag),
        rec("a-c", "alexnet", 42.0, family="cnn", tag=tag, variant="centre-crop"),
        rec("x", "broken", None, error="ValueError: " + "a long message " * 12),
    ]
    _print_summary([parse_record(r) for r in recs])
    out = capsys.readouterr().out.splitlines()
    assert all(len(line) <= 100 for line in out), max(out, key=len)
    table = "\n".join(out)
    assert "alexnet[centre-crop]" in table and "hog-svm" in table
    hog = next(line for line in out if " hog-svm " in f" {line} ")
    assert "55.00" in hog  # the mean over the two seeds, not the last seed
    header = out[0]
    assert header.index("name") == next(line for line in out if "alexnet" in line).index("alex")
    assert main(["list"]) == 0
    assert all(len(line) <= 100 for line in capsys.readouterr().out.splitlines())


def test_a_rerun_summary_keeps_the_variant_rows(root5: Path, tmp_path: Path, capsys) -> None:
    args = run_args(root5, tmp_path, "--methods", "clocked", "--plugin", "newuser_plugins:Clocked")
    assert main(args) == 0
    assert main(args) == 0  # skipped: its record exists
    out = capsys.readouterr().out.split("subset demo")[-1]
    assert "clocked[again]" in out


# 5. logs and warnings


def test_a_normal_run_logs_lines_not_bars_and_warns_nothing_from_our_code(
    root5: Path, tmp_path: Path, capsys
) -> None:
    with warnings.catch_warnings():
        warnings.filterwarnings("error", module=r"(harness|baselines|alexnet)(\..*)?$")
        # lenet5 reads its batches from row views of the memory map (torch once warned there)
        args = ["--methods", "random,hog-svm,lenet5", "--param", "lenet5.max_steps=2"]
        rc = main(run_args(root5, tmp_path, *args))
    assert rc == 0
    captured = capsys.readouterr()
    assert "%|" not in captured.err and "it/s" not in captured.err  # stderr is no terminal
    lenet = next(line for line in captured.out.splitlines() if " lenet5 " in f" {line} ")
    assert lenet.rstrip().endswith("smoke: 2 steps")  # why it has no rank, in the status


def test_plain_progress_writes_a_line_per_period_only() -> None:
    import io

    from harness.progress import PlainProgress

    out = io.StringIO()
    with PlainProgress(total=10, desc="stage", file=out, interval=0.0) as bar:
        bar.update(5)
    assert out.getvalue().splitlines()[0].startswith("stage: 5/10 it (50%)")
    quiet = io.StringIO()
    for _ in PlainProgress(range(100), desc="short", file=quiet):  # under 30 s: silent
        pass
    assert quiet.getvalue() == ""


# 6. the CSV


def test_the_csv_keeps_integers_declared_dtypes_and_no_empty_columns(tmp_path: Path) -> None:
    recs = [
        rec("h0", "hog-svm", 50.0, seed=0),
        rec("h1", "hog-svm", 60.0, seed=1, date="2026-01-02T00:00:00+00:00"),
        rec("h2", "hog-svm", 55.0, seed=2, date="2026-01-03T00:00:00+00:00"),
        rec("a", "alexnet", 40.0, family="cnn", tag="small stem", crop=56, param_count=62550),
    ]
    out = write_leaderboard(tmp_path, records=[parse_record(r) for r in recs])
    header = out.read_text().splitlines()[0].split(",")
    assert "error" not in header and "variant" not in header  # no row fills them
    df = read_leaderboard(out)
    assert list(df.columns) == LEADERBOARD_COLUMNS
    for col in ("rank", "crop", "param_count", "seed", "n_seeds", "year", "n_classes"):
        assert str(df[col].dtype) == "Int64", col
    assert str(df["top5_err"].dtype) == "float64"
    alex = df[df.method == "alexnet"].iloc[0]
    assert (alex.param_count, alex.crop) == (62550, 56)
    assert "62550.0" not in out.read_text()
    hog = df[df.method == "hog-svm"].iloc[0]
    assert pd.isna(hog.seed) and hog.n_seeds == 3  # a mean row stands for no one seed
    assert alex.display == "alexnet" and alex.tag == "small stem"  # the tag once
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    for col in LEADERBOARD_COLUMNS:
        assert f"| `{col}` |" in readme, col  # every column documented with its unit


# 7. five classes or fewer


def test_five_classes_say_top5_is_zero_by_construction(root5: Path, tmp_path: Path, capsys) -> None:
    from harness.report import write_report

    recs = [
        rec("h", "hog-svm", 0.0, n_classes=5),
        rec("l", "lenet5", 0.0, n_classes=5, family="cnn"),
    ]
    for r in recs:
        write_record(tmp_path, parse_record(r))
    md = write_report(tmp_path)["md"].read_text(encoding="utf-8")
    assert "0 by construction" in md and "read top-1 error" in md
    measured = [line for line in md.splitlines() if line.startswith("Measured on")]
    assert measured and not any("beats" in line for line in measured)
    assert "by 0.0 points" not in md
    assert main(["leaderboard", "--results", str(tmp_path)]) == 0
    assert "0 by construction" in capsys.readouterr().out


# 8. a class with no val images


def test_a_class_without_val_images_is_a_note_and_a_console_line(tmp_path: Path, caplog) -> None:
    from harness.data import make_synthetic_imagenet

    root = Path(
        make_synthetic_imagenet(
            tmp_path / "sorted",
            layout="ilsvrc-val-sorted",
            n_classes=4,
            train_per_class=5,
            val_per_class=3,
            size=32,
            seed=0,
        )
    )
    gone = sorted(p for p in (root / "val").iterdir() if p.is_dir())[0]
    shutil.rmtree(gone)
    args = ["run", "--data", str(root), "--methods", "random", "--no-report", "--jobs", "1"]
    args += ["--results", str(tmp_path / "r"), "--cache", str(tmp_path / "c")]
    with caplog.at_level("WARNING"):
        assert main(args) == 0
    (record,) = load_records(tmp_path / "r")
    assert any(gone.name in n and "no val images" in n for n in record.manifest_notes)
    assert any(gone.name in m and "no val images" in m for m in caplog.messages)


# 9. evaluate with the devkit's meta.mat


def test_evaluate_maps_wnids_to_devkit_ids_through_meta(
    root5: Path, tmp_path: Path, capsys
) -> None:
    from harness.data.layouts.devkit import (
        DEVKIT_GROUND_TRUTH,
        DEVKIT_META,
        find_devkit_file,
        read_devkit_meta,
    )

    gt = find_devkit_file(root5, DEVKIT_GROUND_TRUTH)
    meta = find_devkit_file(root5, DEVKIT_META)
    assert gt is not None and meta is not None
    id_to_wnid = read_devkit_meta(meta)[0]
    ids = [int(x) for x in gt.read_text().split()]
    preds = tmp_path / "preds.txt"
    preds.write_text("".join(f"{id_to_wnid[i]}\n" for i in ids))  # the right wnid first
    args = ["evaluate", "--predictions", str(preds), "--ground-truth", str(gt)]
    assert main(args) == 2  # wnids against IDs need the mapping
    assert main([*args, "--meta", str(meta)]) == 0
    assert "top-1 error: 0.00%" in capsys.readouterr().out
    assert main([*args, "--meta", str(meta.parent)]) == 0  # the devkit folder works too


# 10. timing across a resume, start-up apart


def test_train_seconds_add_the_time_before_a_resume_and_startup_is_apart(
    root5: Path, tmp_path: Path, monkeypatch
) -> None:
    from harness.fit_clock import CLOCK_FILE

    args = run_args(root5, tmp_path, "--methods", "clocked", "--plugin", "newuser_plugins:Clocked")
    monkeypatch.setenv("CLOCKED_INTERRUPT", "1")
    assert main(args) == 130  # Ctrl-C during fit
    (clock,) = (tmp_path / "cache" / "work").glob(f"*/{CLOCK_FILE}")
    assert json.loads(clock.read_text())["seconds"] >= 0  # the time spent so far is kept
    clock.write_text(json.dumps({"seconds": 1000.0}))  # as if fit had run 1000 s before
    monkeypatch.setenv("CLOCKED_INTERRUPT", "0")
    assert main(args) == 0
    record = next(r for r in load_records(tmp_path / "results") if r.variant is None)
    assert record.resumed is True
    assert record.train_seconds >= 1000.0  # both parts of the fit
    assert record.startup_seconds is not None
    assert record.notes["startup_imported_before_fit"] is True  # imported before the clock
    assert not clock.exists()  # a finished fit leaves no clock behind
