"""`harness run` end to end on generated data: records, skips, failures, concurrency, kills."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from harness.cli import main
from harness.store import load_records

PLUGINS = Path(__file__).parent / "harness_plugins"


@pytest.fixture(scope="module")
def tiny_root(tmp_path_factory) -> Path:
    from harness.data import make_synthetic_imagenet

    root = tmp_path_factory.mktemp("tiny data ünï")  # a space and unicode in the path
    return Path(
        make_synthetic_imagenet(
            root / "ilsvrc",
            layout="ilsvrc-devkit",
            n_classes=5,
            train_per_class=6,
            val_per_class=4,
            size=40,
            seed=0,
        )
    )


@pytest.fixture(autouse=True)
def plugin_path(monkeypatch) -> None:
    monkeypatch.syspath_prepend(str(PLUGINS))
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join([str(PLUGINS), os.environ.get("PYTHONPATH", "")])
    )


def run_args(root: Path, out: Path, *extra: str) -> list[str]:
    return [
        "run",
        "--data",
        str(root),
        "--subset",
        "demo",
        "--suite",
        "demo",
        "--results",
        str(out / "results"),
        "--cache",
        str(out / "cache"),
        "--quiet",
        "--no-report",
        "--jobs",
        "1",
        *extra,
    ]


def by_method(results: Path) -> dict[str, dict]:
    return {r["display_name"]: r for r in load_records(results)}


def test_run_scores_with_the_protocol_and_writes_records(tiny_root: Path, tmp_path: Path) -> None:
    plugins = ["--plugin", "fault_plugins:Oracle"]
    rc = main(run_args(tiny_root, tmp_path, "--methods", "random,oracle", *plugins))
    assert rc == 0
    recs = by_method(tmp_path / "results")
    assert recs["oracle"]["top1_err"] == 0.0 and recs["oracle"]["top5_err"] == 0.0
    rnd = recs["random"]
    assert rnd["status"] == "ok" and 0 <= rnd["top5_err"] <= 100
    # random's fit takes microseconds: a rate from that would time the clock, so none is given
    assert rnd["train_images_per_s"] is None
    assert rnd["peak_rss_mib"] > 10  # the harness process itself, sampled during the run
    for field in (
        "manifest_hash",
        "n_train",
        "n_val",
        "n_classes",
        "device",
        "versions",
        "config",
        "seed",
    ):
        assert rnd[field] not in (None, ""), field
    assert (rnd["n_classes"], rnd["n_train"], rnd["n_val"], rnd["image_size"]) == (5, 30, 20, 64)
    assert rnd["label_space"] == "sorted-wnid-index"
    assert (
        rnd["manifest_hash"] == recs["oracle"]["manifest_hash"]
    )  # the same images for every method
    board = pd.read_csv(tmp_path / "results" / "leaderboard.csv")
    assert board.method.tolist() == ["oracle", "random"]
    assert (tmp_path / "results" / "config.json").exists()
    assert list((tmp_path / "results" / "manifests").glob("*.csv"))


def test_broken_methods_fail_alone_with_clear_messages(
    tiny_root: Path, tmp_path: Path, capsys
) -> None:
    names = ["Raises", "WrongShape", "WrongRows", "NanScores"]
    plugins = [a for n in names for a in ("--plugin", f"fault_plugins:{n}")]
    rc = main(
        run_args(
            tiny_root,
            tmp_path,
            "--methods",
            "raises,wrong-shape,wrong-rows,nan-scores,random",
            *plugins,
        )
    )
    assert rc == 1  # any failure makes the exit code non-zero
    recs = by_method(tmp_path / "results")
    assert recs["random"]["status"] == "ok"
    assert recs["raises"]["error"] == "RuntimeError: deliberate failure in fit"
    assert "shape (20, 6), expected (20, 5)" in recs["wrong-shape"]["error"]
    assert "shape (19, 5), expected (20, 5)" in recs["wrong-rows"]["error"]
    assert "1 NaN/inf scores in 1 rows (first row 2)" in recs["nan-scores"]["error"]
    out = capsys.readouterr().out
    assert "FAILED: RuntimeError: deliberate failure in fit" in out


def test_a_plugin_that_cannot_import_stops_before_any_work(
    tiny_root: Path, tmp_path: Path, capsys
) -> None:
    suite = tmp_path / "s.toml"
    suite.write_text("[suite]\nsubset = 'demo'\n[methods.random]\n[methods.ghost]\n")
    from harness.registry import BASELINES

    BASELINES.add_lazy("ghost", "no_such_plugin_module:Ghost")
    args = run_args(tiny_root, tmp_path)
    args[args.index("--suite") + 1] = str(suite)
    assert main(args) == 2  # found before the cache is built, not after the other methods ran
    err = capsys.readouterr().err.strip()
    assert "cannot import module 'no_such_plugin_module'" in err and "\n" not in err
    assert load_records(tmp_path / "results") == []
    assert not (tmp_path / "cache" / "images").exists()


def test_existing_records_are_skipped_and_fresh_reruns(tiny_root: Path, tmp_path: Path) -> None:
    assert main(run_args(tiny_root, tmp_path, "--methods", "random")) == 0
    (path,) = (tmp_path / "results" / "runs").glob("*.json")
    first = path.read_bytes()
    assert main(run_args(tiny_root, tmp_path, "--methods", "random")) == 0
    assert path.read_bytes() == first  # skipped: the record is untouched
    assert main(run_args(tiny_root, tmp_path, "--methods", "random", "--fresh")) == 0
    again = json.loads(path.read_text())
    assert again["top5_err"] == json.loads(first)["top5_err"]  # same seed, same result
    assert main(run_args(tiny_root, tmp_path, "--methods", "random", "--seed", "7")) == 0
    assert (
        len(list((tmp_path / "results" / "runs").glob("*.json"))) == 2
    )  # a new config, a new record


def test_unknown_method_stops_before_work_naming_the_closest(
    tiny_root: Path, tmp_path: Path, capsys
) -> None:
    assert main(run_args(tiny_root, tmp_path, "--methods", "randon")) == 2
    assert "Did you mean 'random'?" in capsys.readouterr().err
    assert load_records(tmp_path / "results") == []  # no failed row, no family guessed


def _harness(*args: str, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "harness", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, **(env or {})},
    )


def test_two_concurrent_runs_lose_nothing_and_build_the_cache_once(
    tiny_root: Path, tmp_path: Path
) -> None:
    plugins = ["--plugin", "fault_plugins:Oracle"]
    a = _harness(*run_args(tiny_root, tmp_path, "--methods", "random,oracle", *plugins))
    b = _harness(*run_args(tiny_root, tmp_path, "--methods", "oracle,random", *plugins))
    out_a, _ = a.communicate(timeout=240)
    out_b, _ = b.communicate(timeout=240)
    assert a.returncode == 0, out_a
    assert b.returncode == 0, out_b
    recs = load_records(tmp_path / "results", strict=True)
    assert sorted(r["display_name"] for r in recs) == ["oracle", "random"]
    # exactly one of the two processes ran each method; the other found its record
    assert (out_a + out_b).count("exists, skipping") == 2
    caches = [
        p
        for p in (tmp_path / "cache" / "images").rglob("*")
        if p.is_file() and p.stat().st_size > 1000
    ]
    assert caches, "no cache written"
    assert len({p.parent for p in caches}) == 1  # one cache folder for the one manifest


def test_sigkill_mid_method_then_rerun_finishes_with_the_same_record(
    tiny_root: Path, tmp_path: Path
) -> None:
    marker = tmp_path / "started"
    plugins = ["--plugin", "fault_plugins:Sleepy", "--plugin", "fault_plugins:Oracle"]
    args = run_args(
        tiny_root, tmp_path, "--methods", "oracle,sleepy", "--param", "sleepy.seconds=60", *plugins
    )
    proc = _harness(*args, env={"SLEEPY_MARKER": str(marker)})
    deadline = time.time() + 120
    while not marker.exists() and time.time() < deadline:
        time.sleep(0.1)
    assert marker.exists(), (
        proc.communicate(timeout=5)[0] if proc.poll() is not None else "never started"
    )
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    recs = by_method(tmp_path / "results")
    assert set(recs) == {"oracle"}  # nothing half-written for the killed method
    # the leaderboard written during the run read only complete records
    assert pd.read_csv(tmp_path / "results" / "leaderboard.csv").method.tolist() == ["oracle"]
    args = run_args(
        tiny_root, tmp_path, "--methods", "oracle,sleepy", "--param", "sleepy.seconds=0", *plugins
    )
    assert main(args) == 0
    recs = by_method(tmp_path / "results")
    assert recs["sleepy"]["status"] == "ok"
    # Sleepy ranks class 0 first for every image: wrong for 4 of 5 balanced classes
    assert recs["sleepy"]["top1_err"] == pytest.approx(80.0)
    assert recs["sleepy"]["top5_err"] == 0.0
    assert recs["oracle"]["top1_err"] == 0.0


def test_plugin_template_installs_and_runs_through_harness(tiny_root: Path, tmp_path: Path) -> None:
    # a copy, so the build leaves nothing in the source tree
    template = tmp_path / "plugin_template"
    shutil.copytree(Path(__file__).resolve().parents[1] / "examples" / "plugin_template", template)
    target = tmp_path / "site"
    pip = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(target),
            str(template),
        ],
        capture_output=True,
        text=True,
    )
    assert pip.returncode == 0, pip.stderr
    env = {"PYTHONPATH": os.pathsep.join([str(target), os.environ.get("PYTHONPATH", "")])}
    listing = subprocess.run(
        [sys.executable, "-m", "harness", "list"],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
    )
    assert "colour-hist-svm" in listing.stdout, listing.stdout + listing.stderr
    proc = _harness(*run_args(tiny_root, tmp_path, "--methods", "random,colour-hist-svm"), env=env)
    out, _ = proc.communicate(timeout=240)
    assert proc.returncode == 0, out
    rec = by_method(tmp_path / "results")["colour-hist-svm"]
    assert rec["status"] == "ok" and rec["year"] == 1991
    assert rec["top5_err"] is not None


def test_run_id_hashes_the_resolved_parameters_so_a_changed_default_is_a_new_run(
    monkeypatch,
) -> None:
    from harness.api import BaselineBase
    from harness.config import MethodSpec
    from harness.methods import run_id_for
    from harness.registry import BASELINES

    def make(default: float) -> type:
        class Probe(BaselineBase):
            name = "probe-defaults"
            year = 2000

            def __init__(self, C: float = default) -> None:
                self.C = C

        return Probe

    monkeypatch.setitem(BASELINES._objects, "probe-defaults", make(1.0))
    first = run_id_for("s", MethodSpec("probe-defaults"), 0, "m")
    explicit = run_id_for("s", MethodSpec("probe-defaults", (("C", 1.0),)), 0, "m")
    monkeypatch.setitem(BASELINES._objects, "probe-defaults", make(2.0))
    changed = run_id_for("s", MethodSpec("probe-defaults"), 0, "m")
    assert first == explicit  # the same resolved configuration is the same run
    assert first != changed  # a new default is never served the old record


def test_sigkill_during_svm_training_then_rerun_matches_an_uninterrupted_run(
    tiny_root: Path, tmp_path: Path
) -> None:
    # enough SGD epochs that the kill lands inside the SVM fit, after the features are cached
    params = ["--param", "hog-svm.svm_epochs=4000", "--methods", "hog-svm"]
    killed, clean = tmp_path / "killed", tmp_path / "clean"
    proc = _harness(*run_args(tiny_root, killed, *params))
    seen: list[str] = []
    for line in proc.stdout:  # the log says when the SVMs start
        seen.append(line)
        if "OvR SVMs" in line:
            break
    assert proc.poll() is None, "".join(seen)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert load_records(killed / "results") == []  # no record from a killed fit
    features = list((killed / "cache" / "methods" / "hog-svm").rglob("complete.json"))
    assert features, "the finished feature cache should survive the kill"

    assert main(run_args(tiny_root, killed, *params)) == 0
    assert main(run_args(tiny_root, clean, *params)) == 0
    (after_kill,) = load_records(killed / "results", strict=True)
    (uninterrupted,) = load_records(clean / "results", strict=True)
    assert after_kill["status"] == uninterrupted["status"] == "ok"
    same = ("run_id", "top1_err", "top5_err", "n_train", "n_val", "params", "manifest_hash")
    assert {k: after_kill[k] for k in same} == {k: uninterrupted[k] for k in same}
    assert set(after_kill.to_dict()) == set(uninterrupted.to_dict())  # the same record fields


def test_a_modified_model_is_named_as_such_in_every_row(tiny_root: Path, tmp_path: Path) -> None:
    # the demo suite runs alexnet with the small stem, width 0.25 and He init
    args = run_args(tiny_root, tmp_path, "--methods", "alexnet", "--param", "alexnet.epochs=1")
    assert main(args) == 0
    records = load_records(tmp_path / "results")
    assert sorted(r["variant"] or "" for r in records) == ["", "centre-crop"]
    for rec in records:  # every departure from the paper is in the tag of every row
        for departure in ("small stem", "width 0.25", "kaiming init", "1 epoch"):
            assert departure in rec["tag"] and departure in rec["display_name"]
    board = pd.read_csv(tmp_path / "results" / "leaderboard.csv")
    assert sorted(board.method) == ["alexnet", "alexnet"]  # the registry name, tag apart
    assert all("small stem" in t for t in board.tag)


def test_fresh_retrains_instead_of_resuming_the_finished_checkpoint(
    tiny_root: Path, tmp_path: Path
) -> None:
    args = run_args(tiny_root, tmp_path, "--methods", "lenet5", "--param", "lenet5.epochs=2")
    assert main(args) == 0
    assert main([*args, "--fresh"]) == 0
    (rec,) = load_records(tmp_path / "results", strict=True)
    assert not rec["training"]["resumed_from_epoch"]  # trained again, from epoch 1
    assert not rec["training"]["seconds_before_resume"]
    assert len(rec["learning_curve"]) == 2


def test_sweep_tables_every_cell_of_the_subset_and_the_whole_subset(
    tiny_root: Path, tmp_path: Path
) -> None:
    base = ["--data", str(tiny_root), "--results", str(tmp_path / "results")]
    base += ["--cache", str(tmp_path / "cache"), "--quiet", "--no-report", "--jobs", "1"]
    base += ["--methods", "random"]
    assert main(["run", *base]) == 0  # the whole copy: 5 classes x 6 training images
    assert main(["sweep", *base, "--classes", "3", "--train-per-class", "4"]) == 0
    # a second grid: the table keeps the first grid's cell and the whole subset
    assert main(["sweep", *base, "--classes", "4", "--train-per-class", "2"]) == 0
    table = pd.read_csv(tmp_path / "results" / "sweep" / "sweep.csv")
    cells = sorted(zip(table["classes"], table["train_per_class"], strict=True))
    assert cells == [(3, 4), (4, 2), (5, 6)]
