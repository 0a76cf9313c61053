"""The historical ImageNet numbers the measured results are compared with.

The numbers live in ``ilsvrc_history.csv`` next to this module, one row per
published result, each with its source (ILSVRC results pages, the AlexNet
paper's Tables 1 and 2, later single-model reproductions). Code never repeats
them as literals: tables, plots and the historical gap are all computed from
this file.

Columns: ``year`` (publication year, empty when unknown), ``benchmark``
(``ILSVRC-2010`` ...), ``split`` (``test`` | ``val``), ``kind``
(``competition`` | ``paper`` | ``reproduction``), ``team_or_method``,
``family`` (``cnn`` | ``hand-crafted``), ``extra_data`` (trained with data
beyond the supplied training set), ``top1_err`` / ``top5_err`` (percent,
top-1 may be empty), ``description``, ``source``.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import NamedTuple

import pandas as pd

from harness.gap import FAMILIES, Gap, best_gap

__all__ = [
    "HISTORY_COLUMNS",
    "HistoricalGap",
    "historical_gaps",
    "history_csv_path",
    "load_history",
]

HISTORY_COLUMNS = (
    "year",
    "benchmark",
    "split",
    "kind",
    "team_or_method",
    "family",
    "extra_data",
    "top1_err",
    "top5_err",
    "description",
    "source",
)


def history_csv_path() -> Path:
    """Path of the packaged history CSV."""
    return Path(str(resources.files(__name__).joinpath("ilsvrc_history.csv")))


def load_history(path: Path | None = None) -> pd.DataFrame:
    """The historical results as a DataFrame (errors in percent).

    Raises ValueError naming the file when a column is missing, a family is
    unknown, an error is outside [0, 100] or a row has no source.
    """
    path = Path(path) if path else history_csv_path()
    df = pd.read_csv(path, dtype={"extra_data": "boolean"}, keep_default_na=True)
    missing = [c for c in HISTORY_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"{path}: history CSV lacks columns {missing}")
    df["year"] = df["year"].astype("Int64")
    for col in ("top1_err", "top5_err"):
        df[col] = pd.to_numeric(df[col], errors="raise").astype(float)
    df["description"] = df["description"].fillna("")
    bad_family = sorted(set(df["family"]) - set(FAMILIES))
    if bad_family:
        raise ValueError(f"{path}: unknown family {bad_family}; known: {list(FAMILIES)}")
    if df["source"].isna().any() or (df["source"].str.strip() == "").any():
        rows = (df.index[df["source"].isna()] + 2).tolist()
        raise ValueError(f"{path}: every row needs a source (lines {rows})")
    if df["top5_err"].isna().any():
        raise ValueError(f"{path}: every row needs a top-5 error")
    errs = df[["top1_err", "top5_err"]].stack()
    if ((errs < 0) | (errs > 100)).any():
        raise ValueError(f"{path}: errors must be percentages in [0, 100]")
    return df[list(HISTORY_COLUMNS)]


class HistoricalGap(NamedTuple):
    label: str  # which results are compared, e.g. "ILSVRC-2012 test, competition entries"
    gap: Gap
    source: str  # the sources of the two rows compared


def historical_gaps(history: pd.DataFrame | None = None) -> list[HistoricalGap]:
    """The gap between the best hand-crafted method and the best CNN, as published.

    For the ILSVRC-2012 test results (all entries, and supplied training data
    only) and the AlexNet paper's ILSVRC-2010 test comparison (its Table 1).
    """
    h = load_history() if history is None else history
    test2012 = h[(h["benchmark"] == "ILSVRC-2012") & (h["split"] == "test")]
    entries = test2012[test2012["kind"] == "competition"]
    table1 = h[(h["benchmark"] == "ILSVRC-2010") & (h["split"] == "test") & (h["kind"] == "paper")]
    selections = [
        ("ILSVRC-2012 test, competition entries", entries),
        ("ILSVRC-2012 test, supplied training data only", entries[~entries["extra_data"]]),
        ("ILSVRC-2010 test, AlexNet paper Table 1", table1),
    ]
    gaps = []
    for label, rows in selections:
        gap = best_gap(rows, name_col="team_or_method")
        if gap is not None:
            compared = rows[rows["team_or_method"].isin([gap.handcrafted, gap.cnn])]
            gaps.append(HistoricalGap(label, gap, "; ".join(dict.fromkeys(compared["source"]))))
    return gaps
