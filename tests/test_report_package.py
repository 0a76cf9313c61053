"""The report package: intervals in the tables, the gap's paired interval in words, the
gap against compute, repeats, the HTML (markdown-it-py) parsed back, no import cycle."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from harness.record import ValHits
from harness.report import write_report, write_sweep_report
from harness.report.document import Heading, Paragraph, Table, md_text, render_markdown
from harness.report.frames import cnn_progress
from harness.store import load_records, write_record

N_VAL = 2000
MANIFEST = "feedfacefeedface0000"


def hits_for(err5: float, *, seed: int, base: np.ndarray | None = None) -> np.ndarray:
    """Top-5 hits with the given error; with ``base``, a superset of base's hits (dominating)."""
    rng = np.random.default_rng(seed)
    if base is not None:
        hits = base.copy()
        misses = np.flatnonzero(~hits)
        n_missed = round(N_VAL * err5 / 100)
        hits[rng.choice(misses, len(misses) - n_missed, replace=False)] = True
        return hits
    hits = np.ones(N_VAL, dtype=bool)
    hits[: round(N_VAL * err5 / 100)] = False
    return rng.permutation(hits)


def record(
    method: str,
    family: str,
    top5_hits: np.ndarray | None,
    *,
    top5: float | None = None,
    seed: int = 0,
    curve: list[dict[str, Any]] | None = None,
    train_seconds: float = 100.0,
    manifest: str = MANIFEST,
    subset: str = "pkg-test",
    **extra: Any,
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "run_id": f"{subset}__{method}__{manifest[:6]}__s{seed}",
        "status": "ok",
        "method": method,
        "family": family,
        "year": 2012,
        "subset": subset,
        "manifest_hash": manifest,
        "n_classes": 100,
        "n_train": 10_000,
        "n_val": N_VAL,
        "train_seconds": train_seconds,
        "eval_seconds": 5.0,
        "device": "cpu: Test CPU (2 cores)",
        "seed": seed,
        "date": "2026-11-23T12:00:00+00:00",
        "monitor": {"split": "train-holdout", "n_fit": 9_000},
        "learning_curve": curve or [],
        "config": {"suite": "test"},
        **extra,
    }
    if top5_hits is not None:
        top1 = top5_hits & (np.arange(N_VAL) % 2 == 0)
        hits = ValHits.from_arrays(top1, top5_hits, labels=np.arange(N_VAL) % 100)
        data.update(
            top1_err=round(hits.error(1), 4),
            top5_err=round(hits.error(5), 4),
            val_hits=hits.model_dump(),
        )
    else:
        data.update(top1_err=min(100.0, (top5 or 0) + 20), top5_err=top5)
    return data


def cnn_curve(errors: list[float], seconds: float = 30.0) -> list[dict[str, Any]]:
    return [
        {"epoch": e, "train_loss": 4.0 / e, "monitor_top5_err": err, "seconds": seconds}
        for e, err in enumerate(errors, start=1)
    ]


class Parsed(HTMLParser):
    """Headings, tables (with their rows of cell text) and image sources of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.headings: list[tuple[str, str]] = []
        self.tables: list[list[list[str]]] = []
        self.images: list[str] = []
        self.scripts = 0
        self._heading: str | None = None
        self._cell: list[str] | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("h1", "h2", "h3"):
            self._heading, self._text = tag, []
        elif tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "img":
            self.images.append(dict(attrs).get("src") or "")
        elif tag == "script":
            self.scripts += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == self._heading:
            self.headings.append((tag, "".join(self._text).strip()))
            self._heading = None
        elif tag in ("td", "th") and self._cell is not None:
            self.tables[-1][-1].append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._heading:
            self._text.append(data)
        if self._cell is not None:
            self._cell.append(data)


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    results = tmp_path_factory.mktemp("pkg")
    hc = hits_for(40.0, seed=1)
    records = [
        record("sift-fv-svm", "hand-crafted", hc, train_seconds=300.0),
        record("hog-svm", "hand-crafted", hits_for(55.0, seed=2), train_seconds=20.0),
        # the CNN: every image the hand-crafted method gets plus more, over three seeds
        *[
            record(
                "alexnet",
                "cnn",
                hits_for(30.0 + s, seed=10 + s, base=hc),
                seed=s,
                curve=cnn_curve([80, 60, 45, 38, 31 + s]),
            )
            for s in range(3)
        ],
        # an older record without hits, on its own manifest, beside a CNN of equal error
        record("lenet5", "cnn", None, top5=50.0, manifest="0ld0ld0ld0ld"),
        record("hog-svm", "hand-crafted", None, top5=50.5, manifest="0ld0ld0ld0ld"),
        {
            **record("sift-bovw-svm", "hand-crafted", None, top5=None, status="error"),
            "error": "MethodError: <script>alert(1)</script> *boom*",
            "top1_err": None,
        },
    ]
    for r in records:
        write_record(results, r)
    files = write_report(results)
    md = files["md"].read_text(encoding="utf-8")
    html = files["html"].read_text(encoding="utf-8")
    parsed = Parsed()
    parsed.feed(html)
    return {"results": results, "files": files, "md": md, "html": html, "parsed": parsed}


def test_the_html_parses_back_with_the_markdowns_headings_tables_and_images(report) -> None:
    parsed, md, files = report["parsed"], report["md"], report["files"]
    md_headings = [line.lstrip("#").strip() for line in md.splitlines() if line.startswith("#")]
    assert [text for _, text in parsed.headings] == md_headings
    assert parsed.headings[0][0] == "h1"
    md_tables = md.count("\n| --- |") + md.count("\n| ---: |")
    assert len(parsed.tables) == md_tables >= 4
    assert parsed.scripts == 0  # the record's "<script>" stayed text
    assert "<script>alert(1)</script> *boom*" in md.replace("\\", "")
    pngs = {p.read_bytes() for name, p in files.items() if name.endswith(".png")}
    assert len(parsed.images) == len(pngs) >= 5
    for src in parsed.images:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1]) in pngs  # each an existing figure


def _table_with(parsed: Parsed, column: str) -> list[dict[str, str]]:
    """The rows of every table with ``column``, as dicts."""
    rows = [
        dict(zip(table[0], row, strict=True))
        for table in parsed.tables
        if column in table[0]
        for row in table[1:]
    ]
    assert rows, f"no table with a {column!r} column"
    return rows


def test_every_measured_row_with_hits_shows_its_interval_and_repeats_their_spread(report) -> None:
    rows = {(r["method"], r["family"]): r for r in _table_with(report["parsed"], "top-5 95% CI")}
    fv = rows["sift-fv-svm", "hand-crafted"]
    low, high = (float(x) for x in fv["top-5 95% CI"].strip("[]").split(","))
    assert low < 40.0 < high and fv["seeds"] == "1"
    cnn = rows["alexnet", "cnn"]
    assert cnn["seeds"] == "3" and cnn["top-5 (%)"] == "31.0 ± 1.0"
    assert cnn["top-5 95% CI"].startswith("[")
    # the record without hits: an empty interval, and the report says why
    assert rows["lenet5", "cnn"]["top-5 95% CI"] == "–"
    assert "no record here keeps per-image hits" in report["md"]
    assert "two-level bootstrap" in report["md"]


def test_the_gap_has_a_paired_interval_and_says_the_ordering_is_resolved(report) -> None:
    gaps = _table_with(report["parsed"], "paired 95% CI")
    measured = next(r for r in gaps if MANIFEST[:12] in r["comparison"])
    assert measured["gap"] == "9.0 points"
    low, high = (float(x) for x in measured["paired 95% CI"].strip("[]").split(","))
    assert 0 < low < 9.0 < high
    assert measured["ordering"] == "resolved: CNN ahead"
    assert "excludes 0, so the ordering is resolved: the CNN is ahead" in report["md"]
    # the old manifest: no hits, no interval, said in words
    old = next(r for r in gaps if "0ld0ld0ld0l" in r["comparison"])
    assert old["paired 95% CI"] == "–" and old["ordering"] == "–"
    assert "No interval: the two records keep no per-image hits" in report["md"]


def test_an_unresolved_ordering_is_said_in_words(tmp_path: Path) -> None:
    hc = hits_for(40.0, seed=1)
    cnn = hc.copy()
    cnn[np.flatnonzero(~hc)[:6]] = True  # 6 more hits of 2,000: 0.3 points
    cnn[np.flatnonzero(hc)[:2]] = False
    write_record(tmp_path, record("sift-fv-svm", "hand-crafted", hc))
    write_record(tmp_path, record("alexnet", "cnn", cnn))
    md = write_report(tmp_path)["md"].read_text(encoding="utf-8")
    assert "the ordering is **not resolved**" in md
    assert "| not resolved |" in md


def test_the_gap_against_compute_names_where_the_cnn_overtakes(report) -> None:
    md, files = report["md"], report["files"]
    assert files[f"compute_pkg-test-{MANIFEST[:8]}.png"].is_file()
    # the best hand-crafted final error is 40.0%; the curve reaches 38 at epoch 4 (4 x 30 s)
    assert (
        "**alexnet**: its monitor top-5 error first drops below the best hand-crafted final "
        "error (sift-fv-svm, 40.0%) at epoch 4, after 2 min 00 s of training and 36,000 "
        "training images seen" in md
    )


def test_cnn_progress_uses_cumulative_columns_when_the_trainer_logs_them() -> None:
    import pandas as pd

    row = pd.Series(
        {
            "learning_curve": [
                {"epoch": 1, "monitor_top5_err": 70.0, "seconds": 10.0},
                {"epoch": 2, "monitor_top5_err": 60.0, "seconds": 12.0},
            ],
            "epochs": 2,
            "images_seen": 400,
            "fit_images": 9_000,
            "n_train": 10_000,
        }
    )
    p = cnn_progress(row)
    assert p["seconds"].tolist() == [10.0, 22.0] and p["images"].tolist() == [200.0, 400.0]
    logged = row.copy()
    logged["learning_curve"] = [
        {"epoch": 1, "val_top5_err": 70.0, "elapsed_seconds": 15.0, "images_seen": 150},
        {"epoch": 2, "val_top5_err": 60.0, "elapsed_seconds": 40.0, "images_seen": 300},
    ]
    p = cnn_progress(logged)
    assert p["seconds"].tolist() == [15.0, 40.0] and p["images"].tolist() == [150.0, 300.0]
    assert set(p["split"]) == {"val"}


def test_v1_records_without_hits_render_with_empty_intervals(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    runs.mkdir()
    for method, family, top5 in (("lenet5", "cnn", 50.0), ("hog-svm", "hand-crafted", 45.0)):
        v1 = record(method, family, None, top5=top5)
        del v1["monitor"]
        v1.update(schema_version=1, display_name=method)
        (runs / f"{v1['run_id']}.json").write_text(json.dumps(v1))
    files = write_report(tmp_path)
    md = files["md"].read_text(encoding="utf-8")
    assert "| 1 | hog-svm | hand-crafted | 2012 | 65.0 | – | 45.0 | – | 1 |" in md
    assert "no record here keeps per-image hits" in md


def test_the_sweep_gap_has_paired_intervals(tmp_path: Path) -> None:
    records = []
    for i, per_class in enumerate((20, 80)):
        hc = hits_for(40.0, seed=i)
        cnn = hits_for(35.0 - 10 * i, seed=20 + i, base=hc)
        subset = f"sw-c100-m{per_class}"
        cell = {"classes": 100, "train_per_class": per_class}
        for method, family, hits in (("hog-svm", "hand-crafted", hc), ("alexnet", "cnn", cnn)):
            records.append(
                record(
                    method,
                    family,
                    hits,
                    manifest=f"m{per_class:04d}" * 4,
                    subset=subset,
                    n_train=100 * per_class,
                    config={"sweep": cell},
                )
            )
    for r in records:
        write_record(tmp_path, r)
    files = write_sweep_report(load_records(tmp_path), tmp_path / "out")
    md = files["md"].read_text(encoding="utf-8")
    assert "gap 95% CI" in md
    assert "100 classes: gap 5.0 points [" in md and "15.0 points [" in md
    assert files["sweep_gap.png"].is_file()


def test_markdown_escapes_record_text() -> None:
    assert md_text("a*b*_c_ <x> |") == "a\\*b\\*\\_c\\_ \\<x\\> \\|"
    assert md_text("tiny_imagenet") == "tiny_imagenet"  # intraword: never emphasis
    md = render_markdown([Heading("T"), Table(["a"], [["x|y"]]), Paragraph("n", "note")], Path("."))
    assert "| x\\|y |" in md and "<sub>n</sub>" in md


def test_the_report_modules_import_in_any_order_without_a_cycle() -> None:
    code = (
        "import harness.report.sweep, harness.report.frames, harness.report\n"
        "from harness.report import write_report, write_sweep_report\n"
        "print(write_sweep_report.__module__)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "harness.report.sweep"
    package = Path(__file__).parents[1] / "harness" / "report"
    for module in package.glob("*.py"):  # no lazy import back into the package's top
        assert "from harness.report import" not in module.read_text(encoding="utf-8"), module
    for gone in ("sweep_plots.py", "report_document.py", "report.py", "plots.py"):
        assert not package.parent.joinpath(gone).exists(), gone
