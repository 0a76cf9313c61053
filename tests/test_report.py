"""`harness report` and the sweep report: files, gaps computed from the records within one
manifest, demo warning, failures, monitor splits, self-contained HTML, records left untouched,
sweep.csv matching the records, the reproduce commands."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from harness.gap import best_gap
from harness.report import REAL_DATA_COMMAND, write_report, write_sweep_report
from harness.report.document import fmt_duration, fmt_err, fmt_mib, fmt_points, fmt_relative
from harness.report.frames import sweep_frame, sweep_gaps
from harness.store import load_records, write_record

# Realistic fake run records.

VERSIONS = {"python": "3.12.3", "harness": "0.1.0", "numpy": "2.1.0", "torch": "2.13.0"}


def make_record(
    method: str,
    subset: str,
    top5: float | None,
    *,
    top1: float | None = None,
    year: int = 2012,
    family: str = "hand-crafted",
    status: str = "ok",
    error: str | None = None,
    n_classes: int = 100,
    n_train: int = 25_000,
    n_val: int = 5_000,
    train_seconds: float = 120.0,
    device: str = "cpu: Test CPU (2 cores)",
    curve: list[dict[str, Any]] | None = None,
    sweep: dict[str, int] | None = None,
    manifest_hash: str | None = None,
    tag: str | None = None,
    variant: str | None = None,
    monitor: str = "train-holdout",
    command: str | None = None,
) -> dict[str, Any]:
    manifest_hash = manifest_hash or manifest_of(subset)
    return {
        # the config hash of a run id covers the manifest: one id per manifest
        "run_id": f"{subset}__{method}__{manifest_hash[:8]}" + (f"__{variant}" if variant else ""),
        "status": status,
        "error": error,
        "method": method,
        "variant": variant,
        "tag": tag,
        "family": family,
        "year": year,
        "source": "test citation",
        "params": {},
        "subset": subset,
        "subset_version": 1,
        "manifest_hash": manifest_hash,
        "layout": "tiny-imagenet",
        "label_space": "sorted-wnid-index",
        "n_classes": n_classes,
        "n_train": n_train,
        "n_val": n_val,
        "image_size": 64,
        "top1_err": top1 if top1 is not None else (None if top5 is None else min(100.0, top5 + 20)),
        "top5_err": top5,
        "train_seconds": train_seconds if status == "ok" else None,
        "eval_seconds": train_seconds / 10 if status == "ok" else None,
        "train_images_per_s": n_train / train_seconds if status == "ok" else None,
        "eval_images_per_s": None,
        "device": device,
        "versions": VERSIONS,
        "git_commit": "abcdef1234567890",
        "seed": 0,
        "date": "2026-11-23T12:00:00+00:00",
        "bad_images": [],
        "monitor": {"split": monitor},
        "learning_curve": curve or [],
        "notes": {},
        "config": {"sweep": sweep} if sweep else {"suite": "test"},
        "command": command,
    }


def manifest_of(subset: str) -> str:
    """Each subset of these tests is its own set of images: its own manifest."""
    if subset == SUBSET:
        return "0123456789abcdef0123"
    return hashlib.sha256(subset.encode()).hexdigest()[:20]


def write_records(results_dir: Path, records: list[dict[str, Any]]) -> list[Path]:
    return [write_record(results_dir, r) for r in records]


def curve(epochs: int = 3) -> list[dict[str, Any]]:
    return [
        {
            "epoch": e,
            "train_loss": 4.0 / e,
            "val_top1_err": 90.0 - 10 * e,
            "val_top5_err": 70.0 - 10 * e,
            "lr": 0.01,
        }
        for e in range(1, epochs + 1)
    ]


SUBSET = "tiny-test"


def _snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(folder.iterdir())}


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict:
    results = tmp_path_factory.mktemp("results")
    paths = write_records(
        results,
        [
            make_record("random", SUBSET, 95.0, family="reference", monitor="none"),
            make_record("hog-svm", SUBSET, 45.0, year=2005),
            make_record("sift-fv-svm", SUBSET, 40.0, year=2011),
            make_record("lenet5", SUBSET, 50.0, year=1998, family="cnn", curve=curve(4)),
            make_record(
                "alexnet", SUBSET, 30.0, family="cnn", curve=curve(5), device="cuda: Test GPU"
            ),
            make_record(
                "sift-bovw-svm",
                SUBSET,
                None,
                status="error",
                error="MethodError: vocabulary needs 1000 descriptors, got 12",
            ),
            make_record("hog-svm", "demo", 60.0, n_classes=20, n_train=200, n_val=40),
        ],
    )
    before = _snapshot(paths[0].parent)
    files = write_report(results)
    after = _snapshot(paths[0].parent)
    return {
        "results": results,
        "files": files,
        "md": files["md"].read_text(encoding="utf-8"),
        "html": files["html"].read_text(encoding="utf-8"),
        "before": before,
        "after": after,
    }


def test_writes_markdown_html_and_pngs(report: dict) -> None:
    files = report["files"]
    assert files["md"] == report["results"] / "report.md"
    assert files["html"] == report["results"] / "report.html"
    for name in ("md", "html", f"top5_{SUBSET}.png", f"cost_{SUBSET}.png"):
        assert files[name].is_file(), name
    assert files[f"learning_curves_{SUBSET}.png"].is_file()
    pngs = [p for p in files.values() if p.suffix == ".png"]
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)
    # Markdown links every figure relative to itself.
    for png in pngs:
        assert f"]({png.name})" in report["md"]


def test_measured_gap_is_computed_from_the_records(report: dict) -> None:
    md = report["md"]
    row = next(line for line in md.splitlines() if line.startswith(f"| measured: {SUBSET}"))
    # best hand-crafted: sift-fv-svm 40.0; best CNN: alexnet 30.0 (random never counts).
    assert "sift-fv-svm (40.0)" in row
    assert "alexnet (30.0)" in row
    assert "10.0 points" in row
    assert "25%" in row


def test_historical_gap_is_shown(report: dict) -> None:
    md = report["md"]
    assert "10.9 points" in md and "41%" in md
    assert "9.8 points" in md
    assert "image-net.org/challenges/LSVRC/2012/results.html" in md
    # Historical rows beside measured rows in one table.
    assert re.search(r"\| ILSVRC-2012 test \| ISI \| hand-crafted \| – \| 26\.2 \|", md)
    assert re.search(
        rf"\| {SUBSET} val \(0123456789ab\) \| alexnet \| cnn \| 50\.0 \| 30\.0 \|", md
    )


def test_demo_subset_carries_the_warning_and_the_real_data_command(report: dict) -> None:
    for text in (report["md"], report["html"]):
        assert "say nothing about ImageNet" in text
        assert REAL_DATA_COMMAND in text


def test_failed_run_is_listed_with_its_error(report: dict) -> None:
    assert "MethodError: vocabulary needs 1000 descriptors, got 12" in report["md"]
    assert "MethodError: vocabulary needs 1000 descriptors, got 12" in report["html"]
    # Listed in the measured table, ranked "failed" after the successful runs.
    assert "| failed | sift-bovw-svm | hand-crafted |" in report["md"]


def test_provenance_under_tables(report: dict) -> None:
    md = report["md"]
    assert "manifest `0123456789abcdef0123`" in md
    assert "cuda: Test GPU" in md and "cpu: Test CPU (2 cores)" in md
    assert "torch 2.13.0" in md


def test_html_is_self_contained(report: dict) -> None:
    html = report["html"]
    assert "<script" not in html and "<link" not in html
    srcs = re.findall(r'src="([^"]*)"', html)
    assert srcs, "figures must be embedded"
    assert all(s.startswith("data:image/png;base64,") for s in srcs)
    assert not re.search(r"url\(|@import|https?://", html)


def test_records_are_not_changed(report: dict) -> None:
    assert report["after"] == report["before"]


def test_no_demo_warning_without_demo_and_gap_needs_both_families(tmp_path: Path) -> None:
    write_records(
        tmp_path,
        [
            make_record("hog-svm", SUBSET, 45.0),
            make_record("my-convnet", SUBSET, 20.0, family="hand-crafted"),
            make_record("plugin", SUBSET, 10.0, family="other"),
        ],
    )
    md = write_report(tmp_path, tmp_path / "out")["md"].read_text(encoding="utf-8")
    assert "say nothing about ImageNet" not in md
    assert "no gap yet" in md
    assert "](top5_tiny-test.png)" in md  # figures beside the report in out_dir


def test_empty_results_still_give_the_historical_report(tmp_path: Path) -> None:
    files = write_report(tmp_path)
    md = files["md"].read_text(encoding="utf-8")
    assert "No run records found" in md
    assert "10.9 points" in md


def test_the_family_is_the_records_never_the_names(tmp_path: Path) -> None:
    write_records(
        tmp_path,
        [
            make_record("alexnet-lookalike", SUBSET, 20.0, family="hand-crafted"),
            make_record("my-net", SUBSET, 30.0, family="cnn"),
        ],
    )
    md = write_report(tmp_path)["md"].read_text(encoding="utf-8")
    assert "| 1 | alexnet-lookalike | hand-crafted |" in md
    row = next(line for line in md.splitlines() if line.startswith(f"| measured: {SUBSET}"))
    assert "alexnet-lookalike (20.0)" in row and "my-net (30.0)" in row


def test_number_formats() -> None:
    assert fmt_err(15.315) == "15.3"
    assert fmt_err(None) == "–"
    assert fmt_points(26.172 - 16.422) == "9.8 points"
    assert fmt_relative(25.0) == "25%"
    assert fmt_duration(4.2) == "4.2 s"
    assert fmt_duration(245) == "4 min 05 s"
    assert fmt_duration(2400) == "40 min"
    assert fmt_duration(5400) == "1 h 30 min"
    assert fmt_mib(850.4) == "850 MiB"
    assert fmt_mib(4000) == "3.9 GiB"
    assert fmt_mib(None) == "–"


# Gap-versus-scale sweep.

# (classes, train_per_class) -> {method: top-5 error}
GRID = {
    (10, 20): {"hog-svm": 50.0, "alexnet": 60.0, "lenet5": 55.0},
    (10, 80): {"hog-svm": 45.0, "alexnet": 35.0, "lenet5": 50.0},
    (30, 20): {"hog-svm": 70.0, "alexnet": 80.0, "lenet5": 75.0},
    (30, 80): {"hog-svm": 66.0, "alexnet": 50.0, "lenet5": 60.0},
}


def _sweep_records() -> list[dict]:
    records = []
    for (classes, per_class), errs in GRID.items():
        for method, err in errs.items():
            records.append(
                make_record(
                    method,
                    f"sweep-c{classes}-m{per_class}",
                    err,
                    family="hand-crafted" if method == "hog-svm" else "cnn",
                    n_classes=classes,
                    n_train=classes * per_class,
                    n_val=classes * 5,
                    sweep={"classes": classes, "train_per_class": per_class},
                )
            )
    records.append(
        make_record(
            "sift-fv-svm",
            "sweep-c10-m20",
            None,
            status="error",
            error="MethodError: too few descriptors",
            n_classes=10,
            n_train=200,
            sweep={"classes": 10, "train_per_class": 20},
        )
    )
    return records


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory) -> dict:
    results = tmp_path_factory.mktemp("sweep")
    write_records(results, _sweep_records())
    records = load_records(results)
    files = write_sweep_report(records, results / "plots")
    return {"records": records, "files": files, "results": results}


def test_sweep_outputs_exist(sweep: dict) -> None:
    files = sweep["files"]
    assert files["csv"].name == "sweep.csv" and files["md"].name == "sweep.md"
    for name in ("csv", "md", "sweep_top5.png", "sweep_gap.png"):
        assert files[name].is_file(), name
    md = files["md"].read_text(encoding="utf-8")
    assert "](sweep_top5.png)" in md and "](sweep_gap.png)" in md
    assert "MethodError: too few descriptors" in md


def test_sweep_csv_rows_match_the_records(sweep: dict) -> None:
    df = pd.read_csv(sweep["files"]["csv"])
    assert len(df) == len(sweep["records"])
    ok = df[df["status"] == "ok"]
    got = {(r.classes, r.train_per_class, r.method): r.top5_err for r in ok.itertuples()}
    want = {(c, m, method): e for (c, m), errs in GRID.items() for method, e in errs.items()}
    assert got == pytest.approx(want)
    assert (ok["n_train"] == ok["classes"] * ok["train_per_class"]).all()
    failed = df[df["status"] == "error"]
    assert failed["method"].tolist() == ["sift-fv-svm"]
    assert failed["top5_err"].isna().all()


def test_sweep_gap_per_cell(sweep: dict) -> None:
    gaps = sweep_gaps(sweep_frame(sweep["records"])).set_index(["classes", "train_per_class"])
    # Small data: the hand-crafted method leads; large data: the CNN does.
    assert gaps.loc[(10, 20), "gap_points"] == pytest.approx(50.0 - 55.0)
    assert gaps.loc[(10, 80), "gap_points"] == pytest.approx(45.0 - 35.0)
    assert gaps.loc[(30, 80), "best_cnn"] == "alexnet"
    assert gaps.loc[(30, 80), "gap_relative"] == pytest.approx(100 * 16.0 / 66.0)


def test_no_records_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no sweep records"):
        write_sweep_report([], tmp_path)


def test_report_shows_sweep_section_not_one_table_per_cell(sweep: dict, tmp_path: Path) -> None:
    files = write_report(sweep["results"], tmp_path)
    md = files["md"].read_text(encoding="utf-8")
    assert "## Gap versus scale" in md
    assert "## Measured: sweep-c10-m20" not in md
    assert files["sweep_gap.png"].is_file()


def test_five_classes_or_fewer_have_no_top5_gap() -> None:
    records = [
        make_record(
            method,
            "sweep-c5-m10",
            0.0,
            family="hand-crafted" if method == "hog-svm" else "cnn",
            n_classes=5,
            n_train=50,
            sweep={"classes": 5, "train_per_class": 10},
        )
        for method in ("hog-svm", "alexnet")
    ]
    gaps = sweep_gaps(sweep_frame(records))
    assert gaps["gap_points"].isna().all()


def test_non_default_settings_are_named_under_the_table() -> None:
    from harness.report import measured_frame, settings_note

    def rec(method: str, params: dict) -> dict:
        config = {"methods": [{"name": method, "params": params}]}
        return {"run_id": method, "subset": "s", "method": method, "status": "ok",
                "family": "cnn", "manifest_hash": "m", "top1_err": 50.0, "top5_err": 20.0,
                "config": config}  # fmt: skip

    frame = measured_frame([rec("alexnet", {"epochs": 4, "stem": "small"}), rec("hog-svm", {})])
    assert settings_note(frame) == (
        "Settings changed from each method's defaults (suite file or --param): "
        "**alexnet**: epochs=4, stem=small"
    )
    assert settings_note(measured_frame([rec("hog-svm", {})])) == ""


def test_a_modified_cnn_is_flagged_in_the_gap_sentence(tmp_path: Path) -> None:
    small = make_record("alexnet", SUBSET, 60.0, family="cnn", tag="small stem, width 0.5")
    crop = make_record(
        "alexnet", SUBSET, 61.0, family="cnn", tag="small stem, width 0.5", variant="centre-crop"
    )
    write_records(tmp_path, [make_record("hog-svm", SUBSET, 45.0), small, crop])
    md = write_report(tmp_path, tmp_path / "out")["md"].read_text(encoding="utf-8")
    assert "Not the published model: **alexnet (small stem, width 0.5)**." in md
    clean = tmp_path / "clean"
    write_records(
        clean,
        [make_record("hog-svm", SUBSET, 45.0), make_record("lenet5", SUBSET, 50.0, family="cnn")],
    )
    assert "Not the published model" not in write_report(clean)["md"].read_text(encoding="utf-8")


# Grouping by manifest, the monitor split, the reproduce commands.


def test_two_manifests_of_one_subset_name_are_two_tables_and_two_gaps(tmp_path: Path) -> None:
    # An 8-class and a 12-class ad-hoc run that share the subset name.
    small, large = "aaaaaaaaaaaa0000", "bbbbbbbbbbbb1111"
    write_records(
        tmp_path,
        [
            make_record("hog-svm", "adhoc", 40.0, manifest_hash=small, n_classes=8),
            make_record("alexnet", "adhoc", 30.0, manifest_hash=small, n_classes=8, family="cnn"),
            make_record("hog-svm", "adhoc", 50.0, manifest_hash=large, n_classes=12),
            make_record("alexnet", "adhoc", 55.0, manifest_hash=large, n_classes=12, family="cnn"),
        ],
    )
    files = write_report(tmp_path)
    md = files["md"].read_text(encoding="utf-8")
    assert "## Measured: adhoc · manifest aaaaaaaaaaaa" in md
    assert "## Measured: adhoc · manifest bbbbbbbbbbbb" in md
    gaps = [line for line in md.splitlines() if line.startswith("| measured: adhoc")]
    assert len(gaps) == 2
    eight = next(g for g in gaps if "8 classes" in g)
    twelve = next(g for g in gaps if "12 classes" in g)
    assert "10.0 points" in eight and "-5.0 points" in twelve
    # figures of the two groups do not overwrite each other
    assert files["top5_adhoc-aaaaaaaa.png"] != files["top5_adhoc-bbbbbbbb.png"]


def test_no_gap_across_manifests(tmp_path: Path) -> None:
    # a CNN on one manifest, a hand-crafted method on another: nothing to compare
    write_records(
        tmp_path,
        [
            make_record("hog-svm", "a", 40.0),
            make_record("alexnet", "b", 30.0, family="cnn"),
        ],
    )
    md = write_report(tmp_path)["md"].read_text(encoding="utf-8")
    assert md.count("no gap yet") == 2
    frame = pd.DataFrame(
        {
            "display": ["hog-svm", "alexnet"],
            "family": ["hand-crafted", "cnn"],
            "top5_err": [40.0, 30.0],
            "manifest_hash": ["a", "b"],
        }
    )
    with pytest.raises(ValueError, match="2 manifests"):
        best_gap(frame, name_col="display")


def test_v1_records_show_that_their_monitor_was_val(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    runs.mkdir()
    for method, family, top5 in (("lenet5", "cnn", 50.0), ("hog-svm", "hand-crafted", 45.0)):
        v1 = make_record(method, SUBSET, top5, family=family)
        for key in ("tag", "monitor", "command"):
            del v1[key]
        v1.update(schema_version=1, display_name=method)
        (runs / f"{v1['run_id']}.json").write_text(json.dumps(v1))
    md = write_report(tmp_path)["md"].read_text(encoding="utf-8")
    # chose on val: shown, marked, never ranked
    lenet_row = next(line for line in md.splitlines() if line.startswith("| tuned on val | lenet5"))
    assert "| val |" in lenet_row
    hog_row = next(line for line in md.splitlines() if line.startswith("| 1 | hog-svm |"))
    assert "| none |" in hog_row
    assert "Monitor `val`: lenet5" in md and "optimistic" in md


def test_reproduce_names_the_commands_that_made_the_records(tmp_path: Path) -> None:
    made = "harness run --suite tiny-imagenet --data /data/ti --methods hog-svm"
    rebuilt = make_record("alexnet", SUBSET, 30.0, family="cnn")
    rebuilt["config"] = {
        "suite": "demo",
        "data": "demo",
        "methods": [{"name": "alexnet", "params": {"epochs": 2}}],
        "classes": 8,
    }
    write_records(tmp_path, [make_record("hog-svm", SUBSET, 40.0, command=made), rebuilt])
    md = write_report(tmp_path)["md"].read_text(encoding="utf-8")
    reproduce = md.split("## Reproduce", 1)[1]
    assert made in reproduce
    assert (
        "harness run --suite demo --data demo --methods alexnet --classes 8 "
        "--param alexnet.epochs=2" in reproduce
    )
    assert REAL_DATA_COMMAND not in reproduce


def test_older_records_of_a_method_are_counted_not_shown(tmp_path: Path) -> None:
    old = make_record("hog-svm", SUBSET, 60.0)
    old.update(run_id="old", date="2026-11-01T00:00:00+00:00")
    write_records(tmp_path, [old, make_record("hog-svm", SUBSET, 45.0)])
    md = write_report(tmp_path)["md"].read_text(encoding="utf-8")
    assert "| 1 | hog-svm |" in md and "| 2 | hog-svm |" not in md
    assert "1 older record(s)" in md and "--all" in md


def test_long_tags_are_shortened_in_tables_and_listed_whole(tmp_path: Path) -> None:
    tag = "cpu profile: small stem, 56px crops, width 0.5, kaiming init, 8 epochs, batch 64"
    records = [
        make_record("hog-svm", SUBSET, 45.0),
        make_record("alexnet", SUBSET, 60.0, family="cnn", tag=tag),
        make_record("alexnet", SUBSET, 61.0, family="cnn", tag=tag, variant="centre-crop"),
    ]
    write_records(tmp_path, records)
    md = write_report(tmp_path, tmp_path / "out")["md"].read_text(encoding="utf-8")
    assert "| alexnet (cpu profile) |" in md
    assert "| alexnet (cpu profile)[centre-crop] |" in md
    assert "| variant | alexnet (cpu profile)[centre-crop] |" in md  # not ranked as a method
    assert "| 2 | alexnet (cpu profile) |" in md
    assert "small stem, 56px crops, width 0.5, kaiming init, 8 epochs, batch 64" in md  # whole
    assert f"alexnet ({tag})" not in md  # never as a table cell or axis name
    # one device: no device column (the hardware line names it)
    assert "| device |" not in md


def test_short_names_keep_whole_names_when_they_would_clash() -> None:
    from harness.report.frames import short_names, short_tag

    assert short_tag("cpu profile: small stem") == "cpu profile"
    assert short_tag("small stem") == "small stem"
    assert short_tag("small stem, width 0.5, kaiming init, 8 epochs") == "small stem, width 0.5, …"
    assert short_tag(None) is None
    a = "small stem, width 0.5, kaiming init, 8 epochs"
    b = "small stem, width 0.5, paper init, 8 epochs"
    frame = pd.DataFrame(
        {
            "method": ["alexnet", "alexnet", "alexnet", "hog-svm"],
            "tag": [a, b, b, None],
            "variant": [None, None, "centre-crop", None],
            "display": [
                f"alexnet ({a})",
                f"alexnet ({b})",
                f"alexnet ({b})[centre-crop]",
                "hog-svm",
            ],
        }
    )
    short = short_names(frame)
    # a and b shorten alike: both models keep their whole names, variants included
    assert list(short["display"]) == [
        f"alexnet ({a})",
        f"alexnet ({b})",
        f"alexnet ({b})[centre-crop]",
        "hog-svm",
    ]
    assert list(short["display_full"]) == list(frame["display"])
    assert short_names(frame.iloc[:0]).empty


def _sweep_cell(method: str, subset: str, err: float, classes: int, per_class: int, **kw: Any):
    rec = make_record(
        method,
        subset,
        err,
        family="cnn" if method == "alexnet" else "hand-crafted",
        n_classes=classes,
        n_train=classes * per_class,
        sweep={"classes": classes, "train_per_class": per_class},
        **kw,
    )
    rec["config"]["data"] = "/data/tiny"
    return rec


def _whole(method: str, subset: str, err: float, **kw: Any) -> dict:
    rec = make_record(
        method,
        subset,
        err,
        family="cnn" if method == "alexnet" else "hand-crafted",
        n_classes=100,
        n_train=50_000,
        **kw,
    )
    rec["config"]["data"] = "/data/tiny"
    return rec


def test_the_swept_subset_taken_whole_is_the_sweeps_largest_cell(tmp_path: Path) -> None:
    from harness.report.sweep import sweep_cell_records

    base = "tiny-imagenet-100cls-0123abcd"  # `harness sweep --suite` draws from every class held
    cells = [
        _sweep_cell(m, f"{base}:c10-t50-s0", e, 10, 50)
        for m, e in (("hog-svm", 30.0), ("alexnet", 40.0))
    ]
    whole = [_whole(m, "tiny-imagenet", e) for m, e in (("hog-svm", 60.0), ("alexnet", 50.0))]
    other = [
        make_record("hog-svm", "imagenette", 20.0, n_classes=10, n_train=9_000),  # other data
        {**_whole("hog-svm", "tiny-imagenet", 10.0), "image_size": 32},  # another stored size
        {**_whole("hog-svm", "tiny-imagenet", 10.0), "params": {"colour": False}},  # other recipe
    ]
    other[0]["config"]["data"] = "/data/imagenette"
    for i, r in enumerate(other[1:]):
        r["run_id"] += f"-{i}"
        r["manifest_hash"] = f"{i}" * 64
    picked = sweep_cell_records([*cells, *whole, *other])
    assert [r["subset"] for r in picked] == [f"{base}:c10-t50-s0"] * 2 + ["tiny-imagenet"] * 2
    assert all(r["image_size"] == 64 and not r["params"] for r in picked)
    gaps = sweep_gaps(sweep_frame(picked)).set_index(["classes", "train_per_class"])
    assert list(gaps.index) == [(10, 50), (100, 500)]
    assert gaps.loc[(100, 500), "gap_points"] == pytest.approx(10.0)  # the CNN ahead when whole
    assert sweep_cell_records(whole) == []  # no sweep, no sweep section
    # a grid that has the whole cell already: the plain run does not count it twice
    own = [_sweep_cell("hog-svm", f"{base}:c100-t500-s0", 61.0, 100, 500)]
    assert [r["subset"] for r in sweep_cell_records([*own, *whole])] == [own[0]["subset"]]

    write_records(tmp_path, [*cells, *whole, other[0]])
    md = write_report(tmp_path, tmp_path / "out")["md"].read_text(encoding="utf-8")
    sweep_part = md.split("## Gap versus scale", 1)[1]
    assert "| 100 | 500 | 50,000 |" in sweep_part
    # errors and gaps in two tables, so neither runs past the page
    assert "| 100 | 500 | 50,000 | hog-svm (60.0) | alexnet (50.0) | 10.0 points |" in sweep_part
    assert "imagenette" not in sweep_part.split("## Historical", 1)[0]
