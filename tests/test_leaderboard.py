"""The records frame and the leaderboard: one column declaration, ranked per manifest."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from harness.cli import main
from harness.frame import LEADERBOARD_COLUMNS, OPTIONAL_COLUMNS, RECORD_COLUMNS, records_frame
from harness.leaderboard import leaderboard_frame, read_leaderboard, write_leaderboard
from harness.record import RecordError, parse_record
from harness.store import load_records, write_record


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
        **kw,
    }


def test_leaderboard_ranks_within_subset_and_keeps_failures(tmp_path: Path) -> None:
    write_record(tmp_path, make_record("a", "hog", 60.0))
    write_record(tmp_path, make_record("b", "fv", 40.0))
    write_record(tmp_path, make_record("c", "broken", None))
    write_record(tmp_path, make_record("d", "hog", 10.0, subset="t"))
    out = write_leaderboard(tmp_path)
    df = read_leaderboard(out)  # the optional columns no row fills come back, all missing
    assert list(df.columns) == LEADERBOARD_COLUMNS
    s = df[df.subset == "s"]
    assert s.method.tolist() == ["fv", "hog", "broken"]
    assert s["rank"].tolist()[:2] == [1, 2]
    assert pd.isna(s["rank"].iloc[2])
    assert s.error.iloc[2] == "ValueError: boom"
    assert df[df.subset == "t"]["rank"].tolist() == [1]


def test_leaderboard_command(tmp_path: Path, capsys) -> None:
    write_record(tmp_path, make_record("a", "hog", 60.0))
    out = tmp_path / "lb.csv"
    assert main(["leaderboard", "--results", str(tmp_path), "--out", str(out)]) == 0
    assert pd.read_csv(out).method.tolist() == ["hog"]
    assert "hog" in capsys.readouterr().out


def test_empty_results_give_an_empty_leaderboard(tmp_path: Path) -> None:
    df = leaderboard_frame(load_records(tmp_path))
    assert df.empty and list(df.columns) == LEADERBOARD_COLUMNS


# Grouping by manifest; one row per (manifest, method, variant).


def test_two_manifests_of_one_subset_name_are_two_groups(tmp_path: Path) -> None:
    # An 8-class and a 12-class ad-hoc run of one subset name scored different images.
    write_record(tmp_path, make_record("a8", "hog", 30.0, manifest_hash="m8", n_classes=8))
    write_record(tmp_path, make_record("b8", "fv", 20.0, manifest_hash="m8", n_classes=8))
    write_record(tmp_path, make_record("a12", "hog", 40.0, manifest_hash="m12", n_classes=12))
    write_record(tmp_path, make_record("b12", "fv", 50.0, manifest_hash="m12", n_classes=12))
    df = pd.read_csv(write_leaderboard(tmp_path))
    assert set(df.subset) == {"s"}
    by = {m: g for m, g in df.groupby("manifest_hash")}
    assert by["m8"].method.tolist() == ["fv", "hog"] and by["m8"]["rank"].tolist() == [1, 2]
    assert by["m12"].method.tolist() == ["hog", "fv"] and by["m12"]["rank"].tolist() == [1, 2]
    assert df.manifest_hash.tolist() == ["m8", "m8", "m12", "m12"]  # groups stay together


def test_ties_on_top5_are_ranked_by_top1(tmp_path: Path) -> None:
    recs = [
        make_record("a", "hog", 30.0, top1_err=60.0),
        make_record("b", "fv", 30.0, top1_err=55.0),
    ]
    assert leaderboard_frame(recs).method.tolist() == ["fv", "hog"]


def _dated(run_id: str, top5: float | None, date: str, **kw) -> dict:
    return make_record(run_id, "hog", top5, date=f"2026-11-{date}T12:00:00+00:00", **kw)


def test_newest_complete_record_wins_per_manifest_method_variant() -> None:
    recs = [
        _dated("old", 50.0, "01", seed=0),
        _dated("new", 40.0, "03", seed=1),
        _dated("newer-but-failed", None, "05", seed=2),
        _dated("crop", 45.0, "02", variant="centre-crop"),
        make_record("broken-only", "fv", None, date="2026-11-02T00:00:00+00:00"),
        make_record("broken-older", "fv", None, date="2020-01-01T00:00:00+00:00"),
        make_record("undated", "fv", None),  # no date: older than any dated record
    ]
    df = leaderboard_frame(recs)
    assert df.run_id.tolist() == ["new", "crop", "broken-only"]
    assert df["rank"].tolist()[0] == 1 and df["rank"].iloc[1:].isna().all()  # a variant: no rank
    assert df.method.tolist() == ["hog", "hog", "fv"]  # the plain registry name
    assert df.variant.isna().tolist() == [True, False, True]
    assert df.display.tolist() == ["hog", "hog[centre-crop]", "fv"]  # the tag is its own column
    every = leaderboard_frame(recs, all_records=True)
    assert sorted(every.run_id) == sorted(r["run_id"] for r in recs)
    ranked = every[every["rank"].notna()]
    assert ranked.run_id.tolist() == ["new", "old"]  # every successful record of a method


def test_leaderboard_all_flag(tmp_path: Path) -> None:
    for rec in (_dated("old", 50.0, "01", seed=0), _dated("new", 40.0, "03", seed=1)):
        write_record(tmp_path, rec)
    out = tmp_path / "lb.csv"
    assert main(["leaderboard", "--results", str(tmp_path), "--out", str(out)]) == 0
    assert pd.read_csv(out).run_id.tolist() == ["new"]
    assert main(["leaderboard", "--results", str(tmp_path), "--out", str(out), "--all"]) == 0
    assert pd.read_csv(out).run_id.tolist() == ["new", "old"]


def test_leaderboard_columns_are_settings_not_names(tmp_path: Path) -> None:
    rec = make_record(
        "a",
        "alexnet",
        30.0,
        family="cnn",
        tag="small stem",
        variant="centre-crop",
        image_size=64,
        crop=56,
        param_count=1234,
        top1_err=60.0,
        monitor={"split": "train-holdout", "n_images": 10},
    )
    (row,) = pd.read_csv(write_leaderboard(tmp_path, records=[parse_record(rec)])).itertuples()
    assert (row.method, row.variant, row.tag) == ("alexnet", "centre-crop", "small stem")
    assert row.display == "alexnet[centre-crop]"  # short: the tag is in its own column
    assert (row.img_size, row.crop, row.param_count) == (64, 56, 1234)
    assert (row.top1_acc, row.top5_acc, row.monitor) == (40.0, 70.0, "train-holdout")


def test_records_frame_is_one_row_per_record_with_every_column() -> None:
    df = records_frame([make_record("a", "hog", 30.0), make_record("b", "x", None)])
    assert list(df.columns) == RECORD_COLUMNS
    assert df.ok.tolist() == [True, False]
    assert df.top5_acc.iloc[0] == 70.0 and pd.isna(df.top5_err.iloc[1])
    assert str(df.n_classes.dtype) == "Int64"


# Bad record files: skipped with one warning; strict reading raises.


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"top5_err": "abc"}, "top5_err"),
        ({"n_classes": "x"}, "n_classes"),
        ({"schema_version": 99}, "schema_version"),
        ({"family": "convnet"}, "family"),
    ],
)
def test_a_mistyped_or_newer_record_is_skipped_with_one_warning(
    tmp_path: Path, caplog, change: dict, field: str
) -> None:
    write_record(tmp_path, make_record("good", "fv", 40.0))
    bad = tmp_path / "runs" / "bad.json"
    bad.write_text(json.dumps({**make_record("bad", "hog", 30.0), "schema_version": 2, **change}))
    caplog.set_level("WARNING")
    assert [r.run_id for r in load_records(tmp_path)] == ["good"]
    (warning,) = [r for r in caplog.records if r.levelname == "WARNING"]
    assert "bad.json" in warning.getMessage() and field in warning.getMessage()
    assert "\n" not in warning.getMessage()
    with pytest.raises(RecordError, match=f"bad.json: .*{field}") as info:
        load_records(tmp_path, strict=True)
    assert "\n" not in str(info.value)
    caplog.clear()
    out = tmp_path / "lb.csv"
    assert main(["leaderboard", "--results", str(tmp_path), "--out", str(out)]) == 0
    assert pd.read_csv(out).run_id.tolist() == ["good"]
    assert len([r for r in caplog.records if r.levelname == "WARNING"]) == 1


# Intervals and repeats.


def hit_record(run_id: str, method: str, err5: float, seed: int = 0, n: int = 2000, **kw) -> dict:
    """A record whose errors come from per-image hits (top-1 hits: half the top-5 hits)."""
    import numpy as np

    from harness.record import ValHits

    rng = np.random.default_rng(seed + 100 * len(method))
    top5 = np.ones(n, dtype=bool)
    top5[: round(n * err5 / 100)] = False
    top5 = rng.permutation(top5)
    top1 = top5 & (np.arange(n) % 2 == 0)
    hits = ValHits.from_arrays(top1, top5, labels=np.arange(n) % 10)
    return make_record(
        run_id,
        method,
        round(hits.error(5), 4),
        top1_err=round(hits.error(1), 4),
        n_val=n,
        seed=seed,
        val_hits=hits.model_dump(),
        **kw,
    )


def test_the_leaderboard_has_an_interval_on_every_row_with_hits() -> None:
    df = leaderboard_frame([hit_record("a", "fv", 40.0), make_record("b", "hog", 50.0)])
    fv, hog = df.set_index("method").loc["fv"], df.set_index("method").loc["hog"]
    assert fv.top5_err_ci_low < 40.0 < fv.top5_err_ci_high
    assert fv.top5_err_ci_high - fv.top5_err_ci_low == pytest.approx(4.3, abs=0.5)  # n = 2,000
    assert fv.top1_err_ci_low < fv.top1_err < fv.top1_err_ci_high
    assert fv.n_seeds == 1 and pd.isna(fv.top5_err_std)
    # a record without per-image hits (older records): empty interval columns
    assert pd.isna(hog.top5_err_ci_low) and pd.isna(hog.top1_err_ci_high)


def test_repeats_are_aggregated_over_the_newest_record_per_seed() -> None:
    recs = [
        hit_record("s0", "fv", 40.0, seed=0, date="2026-11-01T00:00:00+00:00"),
        hit_record("s1", "fv", 42.0, seed=1, date="2026-11-02T00:00:00+00:00"),
        hit_record("s2", "fv", 50.0, seed=2, date="2026-11-02T00:00:00+00:00"),
        hit_record("s2-rerun", "fv", 44.0, seed=2, date="2026-11-03T00:00:00+00:00"),
        # another configuration of the same method (other parameters): not a repeat
        hit_record("other", "fv", 10.0, seed=3, date="2026-10-01T00:00:00+00:00", params={"k": 1}),
    ]
    (row,) = leaderboard_frame(recs).itertuples()
    assert row.run_id == "s2-rerun"  # the newest record's other columns
    assert row.n_seeds == 3
    assert row.top5_err == pytest.approx(42.0)
    assert row.top5_err_std == pytest.approx(2.0)
    assert row.top5_acc == pytest.approx(58.0)
    assert row.top5_err_ci_low < 42.0 < row.top5_err_ci_high
    every = leaderboard_frame(recs, all_records=True)
    assert len(every) == 5 and (every["n_seeds"] == 1).all()


def test_seeds_on_different_images_get_no_interval() -> None:
    a = hit_record("s0", "fv", 40.0, seed=0)
    b = hit_record("s1", "fv", 42.0, seed=1)
    b["val_hits"] = {**b["val_hits"], "order_digest": "other-images"}
    (row,) = leaderboard_frame([a, b]).itertuples()
    assert row.n_seeds == 2 and pd.isna(row.top5_err_ci_low)


def test_run_with_repeats_writes_one_record_per_seed(synthetic_root, tmp_path: Path) -> None:
    root = synthetic_root("ilsvrc-devkit")
    args = ["run", "--data", str(root), "--suite", "demo", "--subset", "demo"]
    args += ["--methods", "random", "--results", str(tmp_path / "r"), "--cache"]
    args += [str(tmp_path / "c"), "--quiet", "--no-report", "--jobs", "1"]
    assert main([*args, "--repeats", "2", "--seed", "5"]) == 0
    records = load_records(tmp_path / "r")
    assert sorted(r.seed for r in records) == [5, 6]
    assert all(r.val_hits is not None and r.val_hits.n == r.n_val for r in records)
    assert records[0].val_hits.order_digest == records[1].val_hits.order_digest
    board = pd.read_csv(tmp_path / "r" / "leaderboard.csv")
    assert board["n_seeds"].tolist() == [2]
    assert board["top5_err_ci_low"].notna().all()
    assert main([*args, "--seeds", "5,6"]) == 0  # the same two runs: found, skipped
    assert len(load_records(tmp_path / "r")) == 2
    assert main([*args, "--seeds", "1,2", "--seed", "3"]) == 2  # one or the other


# Variants: shown as variants of their method, never ranked or "best" as a method.


def test_a_variant_is_never_ranked_as_a_method_nor_the_best_of_its_family(tmp_path: Path) -> None:
    from harness.gap import best_gap, gaps_by_manifest
    from harness.leaderboard import rank_rows, repeat_rows

    cnn = {"family": "cnn", "tag": "small stem"}
    recs = [
        make_record("a", "alexnet", 50.0, **cnn),
        make_record("a-crop", "alexnet", 20.0, variant="centre-crop", **cnn),  # better than all
        make_record("hc", "fv", 30.0),
        make_record("hc-crop", "fv", 10.0, variant="ensemble"),
        make_record("l", "lenet5", 60.0, family="cnn"),
    ]
    df = pd.read_csv(write_leaderboard(tmp_path, records=[parse_record(r) for r in recs]))
    assert df.run_id.tolist() == ["hc-crop", "a-crop", "hc", "a", "l"]  # by error
    assert df["rank"].tolist()[2:] == [1, 2, 3] and df["rank"].iloc[:2].isna().all()
    assert df.display.tolist()[:2] == [
        "fv[ensemble]",
        "alexnet[centre-crop]",
    ]
    # the gap: best hand-crafted fv (30) against best CNN alexnet (50), variants aside
    frame = rank_rows(repeat_rows(records_frame(recs)))
    gap = best_gap(frame, name_col="display")
    assert (gap.handcrafted, gap.cnn) == ("fv", "alexnet (small stem)")
    assert gap.points == pytest.approx(-20.0)
    (by_manifest,) = gaps_by_manifest(frame).values()
    assert by_manifest == gap
    # a family with only a variant has no best
    assert best_gap(frame[frame.run_id.isin(["a", "hc-crop"])]) is None


# The columns are declared once: a column is one line of harness.frame.COLUMNS.

_ONE_MORE_COLUMN = """
import importlib.util, sys
from pathlib import Path

path = Path({frame!r})
anchor = '    Column("crop",'
line = '    Column("epochs_trained", INT, lambda r: r.training.epochs, L, "added by a test"),\\n'
src = path.read_text()
assert src.count(anchor) == 1
module = importlib.util.module_from_spec(importlib.util.spec_from_loader("harness.frame", None))
module.__file__ = str(path)
sys.modules["harness.frame"] = module
exec(compile(src.replace(anchor, line + anchor), str(path), "exec"), module.__dict__)

import pandas as pd
from harness.leaderboard import write_leaderboard
from harness.record import parse_record

rec = parse_record({record!r})
out = write_leaderboard(Path({out!r}), records=[rec])
df = pd.read_csv(out)
cols = list(df.columns)
print(cols[cols.index("epochs_trained") - 1], cols[cols.index("epochs_trained") + 1])
print(df["epochs_trained"].tolist(), module.records_frame([rec])["epochs_trained"].dtype)
"""


def test_a_column_is_one_line_of_the_declaration(tmp_path: Path) -> None:
    import subprocess
    import sys

    from harness import frame

    names = [c.name for c in frame.COLUMNS]
    assert len(names) == len(set(names))
    assert [c.name for c in frame.COLUMNS if c.leaderboard] == LEADERBOARD_COLUMNS
    assert [c.name for c in frame.COLUMNS if c.get is not None] == RECORD_COLUMNS
    header = write_leaderboard(tmp_path, records=[]).read_text().splitlines()[0]
    # every declared column, less the optional ones no row fills
    assert header.split(",") == [c for c in LEADERBOARD_COLUMNS if c not in OPTIONAL_COLUMNS]
    record = make_record("a", "alexnet", 30.0, family="cnn", training={"epochs": 7})
    code = _ONE_MORE_COLUMN.format(frame=frame.__file__, record=record, out=str(tmp_path))
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    placed, values = run.stdout.splitlines()
    assert placed == "img_size crop"  # in the CSV where the line was added
    assert values == "[7] Int64"  # read off the record, with the declared dtype


def test_a_row_tuned_on_val_is_shown_but_never_ranked_or_best() -> None:
    """--monitor val chose on the scored split: its row stays, marked, without a rank."""
    import pandas as pd

    from harness.leaderboard import methods_only, tuned_on_val

    frame = pd.DataFrame(
        {"method": ["a", "a", "b"], "variant": [None, None, None],
         "monitor": ["train-holdout", "val", "train-holdout"]}
    )  # fmt: skip
    assert tuned_on_val(frame).tolist() == [False, True, False]
    assert methods_only(frame)["monitor"].tolist() == ["train-holdout", "train-holdout"]


def test_a_smoke_run_is_listed_but_never_ranked_nor_in_the_gap(tmp_path: Path) -> None:
    from harness.gap import best_gap
    from harness.leaderboard import is_smoke, rank_rows, repeat_rows

    recs = [
        make_record("s", "alexnet", 5.0, family="cnn", tag="smoke: 4 steps"),  # best of all
        make_record("l", "lenet5", 60.0, family="cnn"),
        make_record("hc", "fv", 30.0),
    ]
    df = pd.read_csv(write_leaderboard(tmp_path, records=[parse_record(r) for r in recs]))
    assert df.run_id.tolist() == ["s", "hc", "l"]  # in error order
    assert pd.isna(df["rank"].iloc[0]) and df["rank"].tolist()[1:] == [1, 2]
    frame = rank_rows(repeat_rows(records_frame(recs)))
    assert is_smoke(frame).tolist() == [True, False, False]
    gap = best_gap(frame, name_col="display")
    assert (gap.handcrafted, gap.cnn) == ("fv", "lenet5")
