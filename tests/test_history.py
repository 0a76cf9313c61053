"""The historical data: HISTORY.md's numbers, each with its source, and the published gap."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from harness.history import historical_gaps, history_csv_path, load_history
from harness.report.document import fmt_points, fmt_relative

# Transcribed from HISTORY.md (percent): (benchmark, split, team_or_method) -> (top1, top5).
EXPECTED = {
    ("ILSVRC-2012", "test", "SuperVision"): (None, 15.315),
    ("ILSVRC-2012", "test", "SuperVision (supplied data only)"): (None, 16.422),
    ("ILSVRC-2012", "test", "ISI"): (None, 26.172),
    ("ILSVRC-2012", "test", "OXFORD_VGG"): (None, 26.979),
    ("ILSVRC-2012", "test", "XRCE/INRIA"): (None, 27.058),
    ("ILSVRC-2012", "test", "OXFORD_VGG (baseline)"): (None, 27.302),
    ("ILSVRC-2012", "test", "UvA"): (None, 29.576),
    ("ILSVRC-2010", "test", "NEC-UIUC"): (None, 28.191),
    ("ILSVRC-2011", "test", "XRCE"): (None, 25.770),
    ("ILSVRC-2010", "test", "Sparse coding"): (47.1, 28.2),
    ("ILSVRC-2010", "test", "SIFT + FVs"): (45.7, 25.7),
    ("ILSVRC-2010", "test", "CNN"): (37.5, 17.0),
    ("ILSVRC-2012", "test", "SIFT + FVs"): (None, 26.2),
    ("ILSVRC-2012", "val", "1 CNN"): (40.7, 18.2),
    ("ILSVRC-2012", "val", "5 CNNs"): (38.1, 16.4),
    ("ILSVRC-2012", "test", "5 CNNs"): (None, 16.4),
    ("ILSVRC-2012", "val", "1 CNN*"): (39.0, 16.6),
    ("ILSVRC-2012", "val", "7 CNNs*"): (36.7, 15.4),
    ("ILSVRC-2012", "test", "7 CNNs*"): (None, 15.3),
    # Reproductions: HISTORY.md gives accuracy; the CSV stores 100 - accuracy.
    ("ILSVRC-2012", "val", "Caffe bvlc_alexnet"): (100 - 57.1, 100 - 80.2),
    ("ILSVRC-2012", "val", "torchvision alexnet"): (100 - 56.5, 100 - 79.1),
    # After 2012 (HISTORY.md, "After 2012")
    ("ILSVRC-2013", "test", "Clarifai"): (None, 11.7),
    ("ILSVRC-2012", "val", "ZFNet (AlexNet replication)"): (40.5, 18.1),
    ("ILSVRC-2012", "val", "ZFNet (1 convnet)"): (38.3, 16.4),
    ("ILSVRC-2012", "test", "ZFNet (1 convnet)"): (None, 16.5),
    ("ILSVRC-2012", "val", "ZFNet (5 convnets)"): (36.6, 15.3),
    ("ILSVRC-2012", "test", "ZFNet (5 convnets)"): (None, 15.3),
    ("ILSVRC-2012", "test", "ZFNet (6 convnets)"): (None, 14.8),
    ("ILSVRC-2014", "test", "GoogLeNet"): (None, 6.67),
    ("ILSVRC-2014", "test", "VGG"): (None, 7.32),
    ("ILSVRC-2014", "test", "VGG (2 nets)"): (None, 6.8),
    ("ILSVRC-2012", "val", "VGG-11 (A)"): (29.6, 10.4),
    ("ILSVRC-2012", "val", "VGG-16 (D)"): (25.6, 8.1),
    ("ILSVRC-2014", "val", "GoogLeNet (1 model)"): (None, 10.07),
    ("ILSVRC-2015", "test", "MSRA ResNet"): (None, 3.57),
    ("ILSVRC-2012", "val", "ResNet-34 (B)"): (24.52, 7.46),
}


def test_history_rows_equal_history_md() -> None:
    df = load_history()
    got = {
        (r.benchmark, r.split, r.team_or_method): (
            None if pd.isna(r.top1_err) else r.top1_err,
            r.top5_err,
        )
        for r in df.itertuples()
    }
    assert set(got) == set(EXPECTED)
    for key, (top1, top5) in EXPECTED.items():
        assert got[key][1] == pytest.approx(top5, abs=1e-9), key
        if top1 is None:
            assert got[key][0] is None, key
        else:
            assert got[key][0] == pytest.approx(top1, abs=1e-9), key


def test_every_row_has_a_source_and_a_known_family() -> None:
    df = load_history()
    assert (df["source"].str.len() > 0).all()
    assert set(df["family"]) <= {"cnn", "hand-crafted"}
    assert set(df.loc[df["team_or_method"].str.startswith("SuperVision"), "family"]) == {"cnn"}
    assert df.loc[df["team_or_method"] == "ISI", "family"].item() == "hand-crafted"
    # Fall-2011 pre-training is marked, so "supplied data only" can be selected as data.
    assert df.loc[df["team_or_method"] == "SuperVision", "extra_data"].item()
    assert not df.loc[
        df["team_or_method"] == "SuperVision (supplied data only)", "extra_data"
    ].item()


def test_historical_gap_is_the_2012_gap() -> None:
    gaps = {h.label: h for h in historical_gaps()}
    everything = gaps["ILSVRC-2012 test, competition entries"]
    assert (everything.gap.handcrafted, everything.gap.cnn) == ("ISI", "SuperVision")
    assert everything.gap.points == pytest.approx(26.172 - 15.315)
    assert fmt_points(everything.gap.points) == "10.9 points"
    assert fmt_relative(everything.gap.relative) == "41%"
    supplied = gaps["ILSVRC-2012 test, supplied training data only"]
    assert supplied.gap.cnn_top5 == pytest.approx(16.422)
    assert fmt_points(supplied.gap.points) == "9.8 points"  # 9.75, rounded half up
    assert "results.html" in supplied.source
    table1 = gaps["ILSVRC-2010 test, AlexNet paper Table 1"]
    assert table1.gap.points == pytest.approx(25.7 - 17.0)
    assert table1.source == "Krizhevsky, Sutskever, Hinton, NIPS 2012, Table 1"


def test_every_number_of_shared_history_md_is_in_the_csv() -> None:
    history_md = Path(__file__).resolve().parents[2] / "shared" / "HISTORY.md"
    if not history_md.exists():
        pytest.skip(f"{history_md} not present (only in the project workspace)")
    text = history_md.read_text(encoding="utf-8")
    fractions = {round(float(x) * 100, 3) for x in re.findall(r"\b0\.\d{5}\b", text)}
    top5 = {round(v, 3) for v in load_history()["top5_err"]}
    assert fractions and fractions <= top5


def test_a_row_without_source_is_rejected_naming_the_file(tmp_path: Path) -> None:
    lines = history_csv_path().read_text(encoding="utf-8").splitlines()
    broken = tmp_path / "broken.csv"
    # Drop the source of the first data row (last field).
    lines[1] = lines[1].rsplit(",", 1)[0] + ","
    broken.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"broken\.csv.*source"):
        load_history(broken)


def test_unknown_family_is_rejected(tmp_path: Path) -> None:
    text = history_csv_path().read_text(encoding="utf-8").replace(",cnn,", ",deep,", 1)
    broken = tmp_path / "family.csv"
    broken.write_text(text, encoding="utf-8")
    with pytest.raises(ValueError, match="unknown family"):
        load_history(broken)
