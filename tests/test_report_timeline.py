"""The report's timeline 2010-2015 and the crossing question, answered from the records."""

from __future__ import annotations

from pathlib import Path

from harness.history import load_history
from harness.report import write_report
from harness.report.frames import groups, measured_frame
from harness.report.timeline import crossing_answer, winners
from harness.store import load_records
from tests.test_report import SUBSET, make_record, write_records


def _write(tmp_path: Path, cnn_errors: dict[str, tuple[int, float]]) -> Path:
    records = [
        make_record("random", SUBSET, 95.0, family="reference", monitor="none", year=0),
        make_record("sift-bovw-svm", SUBSET, 42.0, year=2010),
        make_record("sift-fv-svm", SUBSET, 24.0, year=2011),
        make_record("hog-svm", SUBSET, 60.0, year=2005),
    ]
    for name, (year, top5) in cnn_errors.items():
        records.append(make_record(name, SUBSET, top5, year=year, family="cnn"))
    write_records(tmp_path, records)
    return tmp_path


def _group(results: Path):
    return groups(measured_frame(load_records(results)))[0]


def test_winners_are_each_ilsvrc_years_lowest_test_top5() -> None:
    w = winners(load_history())
    assert list(w["year"]) == [2010, 2011, 2012, 2013, 2014, 2015]
    assert w["top5_err"].is_monotonic_decreasing
    assert w.set_index("year").loc[2012, "team_or_method"] == "SuperVision"


def test_first_year_that_beats_the_best_hand_crafted_is_named(tmp_path: Path) -> None:
    results = _write(
        tmp_path,
        {
            "alexnet": (2012, 50.0),
            "zfnet": (2013, 30.0),
            "vgg11": (2014, 20.0),
            "resnet18": (2015, 18.0),
        },
    )
    answer, per_year = crossing_answer(_group(results))
    assert [y for y, *_ in per_year] == [2012, 2013, 2014, 2015]
    assert "is **2014**: **vgg11** at 20.0%" in answer
    assert "**sift-fv-svm** (2011) at 24.0% top-5" in answer
    assert "alexnet (2012) at 50.0%, zfnet (2013) at 30.0% did not" in answer


def test_no_crossing_is_said_plainly_with_the_closest(tmp_path: Path) -> None:
    results = _write(tmp_path, {"alexnet": (2012, 56.0), "resnet18": (2015, 40.0)})
    answer, _ = crossing_answer(_group(results))
    assert "no CNN architecture measured here beats **sift-fv-svm**" in answer
    assert "the closest is **resnet18** (2015) at 40.0%, 16.0 points behind" in answer


def test_report_has_the_timeline_figure_table_and_answer(tmp_path: Path) -> None:
    results = _write(tmp_path, {"alexnet": (2012, 50.0), "googlenet": (2014, 22.0)})
    files = write_report(results)
    md = files["md"].read_text(encoding="utf-8")
    assert "## Timeline 2010-2014: tiny-test" in md
    assert any(name.startswith("timeline_") for name in files)
    assert "| 2014 | googlenet | cnn | 22.0 |" in md
    assert "first year whose CNN architecture beats" in md
    assert "Before the first ILSVRC, in the measured table only: hog-svm (2005)" in md
