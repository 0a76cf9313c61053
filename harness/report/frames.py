"""The report's frames: every table and figure of the report selects from these.

All start from :func:`harness.frame.records_frame` (the one flattening of
records) and :func:`harness.leaderboard.repeat_rows` (one row per manifest, method
and variant: the newest successful record, aggregated over its seeds), so a
number means the same in the leaderboard, the report and the sweep.

- :func:`measured_frame`: the run records (sweep records left out), ranked per
  manifest; :func:`groups` splits it into one :class:`Group` per manifest.
- :func:`sweep_frame` / :func:`sweep_gaps`: the grid cells of a ``harness
  sweep`` and the gap of each (with its paired interval when hits exist).
- :func:`cnn_progress`: a CNN's learning curve as error against cumulative
  wall seconds and images seen (the compute figure).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from harness.frame import records_frame
from harness.gap import best_gap
from harness.leaderboard import rank_rows, repeat_rows
from harness.names import SHORT_TAG, short_tag, table_names
from harness.record import RunRecord
from harness.report.figures import TOP_K

__all__ = [
    "SHORT_HASH",
    "SHORT_TAG",
    "SWEEP_COLUMNS",
    "Group",
    "cnn_progress",
    "curve_error_column",
    "groups",
    "measured_frame",
    "short_names",
    "short_tag",
    "sweep_frame",
    "sweep_gaps",
    "unique",
]

SHORT_HASH = 12  # characters of a manifest hash in headings


def short_names(frame: pd.DataFrame, by: tuple[str, ...] = ("manifest_hash",)) -> pd.DataFrame:
    """``display`` as the report's tables show it (``display_full`` keeps the whole name).

    Each row is named by :func:`harness.names.table_names` with its short tag,
    unique within its own table (one group of ``by``: a manifest), so a second
    dataset's runs never lengthen this one's names; two models whose short
    names would be equal in one table keep their whole tags there.
    """
    if frame.empty:
        return frame.assign(display_full=frame["display"])
    return frame.assign(
        display_full=frame["display"],
        display=table_names(frame, by=by, with_tag=True, mark_val=False),
    )


def measured_frame(records: list[RunRecord | Mapping[str, Any]]) -> pd.DataFrame:
    """The report's measured rows: the records frame less sweep records, one row per
    (manifest, method, variant) aggregated over seeds, ranked within each manifest,
    named by :func:`short_names`."""
    frame = records_frame(records)
    return short_names(rank_rows(repeat_rows(frame[~frame["is_sweep"]])))


def unique(values: Any) -> list[str]:
    """The distinct non-empty values as strings, in first-seen order."""
    seen: dict[str, None] = {}
    for v in values:
        if v is not None and not (isinstance(v, float) and pd.isna(v)) and str(v) != "":
            seen[str(v)] = None
    return list(seen)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", str(text)).strip("-") or "subset"


class Group:
    """The rows of one manifest, with the names the report gives them."""

    def __init__(self, rows: pd.DataFrame, slug: str) -> None:
        self.rows = rows
        self.slug = slug  # file-name part of its figures
        self.subset = str(rows["subset"].iloc[0])
        self.manifest = str(rows["manifest_hash"].iloc[0])
        self.short = self.manifest[:SHORT_HASH]
        self.is_demo = bool(rows["is_demo"].any())
        n = rows["n_classes"].dropna()
        self.n_classes = int(n.iloc[0]) if len(n) else None

    @property
    def label(self) -> str:
        """E.g. ``tiny-imagenet val, 100 classes, manifest 5ad3afeaf604``."""
        classes = f", {self.n_classes} classes" if self.n_classes is not None else ""
        return f"{self.subset} val{classes}, manifest {self.short}"

    @property
    def ok(self) -> pd.DataFrame:
        return self.rows[self.rows["ok"]]


def groups(measured: pd.DataFrame) -> list[Group]:
    """One group per manifest, in the ranked frame's order (real data first)."""
    manifests = list(measured["manifest_hash"].drop_duplicates())
    subsets = measured.drop_duplicates("manifest_hash")["subset"]
    shared = set(subsets[subsets.duplicated()])  # one subset name, several manifests
    out = []
    for manifest in manifests:
        rows = measured[measured["manifest_hash"] == manifest]
        subset = str(rows["subset"].iloc[0])
        slug = _slug(subset) + (f"-{str(manifest)[:8]}" if subset in shared else "")
        out.append(Group(rows, slug))
    return out


# ----------------------------------------------------------------- the sweep

#: Columns of ``sweep.csv``: the grid cell, then a selection of the records frame
#: (``method`` the registry name, ``display`` with its tag and variant).
SWEEP_COLUMNS = [
    "classes",
    "train_per_class",
    "n_classes",
    "n_train",
    "n_val",
    "method",
    "variant",
    "display",
    "display_full",  # method (whole tag)[variant]
    "family",
    "status",
    "top1_err",
    "top5_err",
    "top5_err_ci_low",
    "top5_err_ci_high",
    "top5_err_std",
    "n_seeds",
    "monitor",
    "train_seconds",
    "train_images_per_s",
    "device",
    "subset",
    "manifest_hash",
    "run_id",
    "error",
    "is_demo",
    "versions",
    "hits",
]


def sweep_frame(records: list[RunRecord | Mapping[str, Any]]) -> pd.DataFrame:
    """One row per (manifest, method, variant) of the sweep records, aggregated over seeds
    (failed runs included)."""
    frame = short_names(repeat_rows(records_frame(records)), by=())  # one table
    classes = frame["sweep_classes"].fillna(frame["n_classes"])
    per_class = frame["sweep_train_per_class"]
    derived = (frame["n_train"] // frame["n_classes"].where(frame["n_classes"] > 0)).astype("Int64")
    per_class = per_class.fillna(derived)
    missing = frame.loc[classes.isna(), "run_id"].tolist()
    if missing:
        raise ValueError(
            f"sweep record {missing[0]!r} names no class count (config.sweep.classes or n_classes)"
        )
    df = frame.assign(
        classes=classes.astype(int),
        train_per_class=per_class,
        n_train=frame["n_train"].fillna(classes * per_class.fillna(0)),
    )
    return (
        df[SWEEP_COLUMNS]
        .sort_values(["classes", "train_per_class", "display"])
        .reset_index(drop=True)
    )


def sweep_gaps(frame: pd.DataFrame) -> pd.DataFrame:
    """The gap per grid cell and manifest: best hand-crafted minus best CNN top-5 error,
    with its paired 95% interval (NaN without per-image hits)."""
    rows = []
    cells = frame.groupby(["classes", "train_per_class", "manifest_hash"], sort=True, dropna=False)
    for (classes, per_class, manifest), cell in cells:
        # With 5 classes or fewer every guess list holds the truth: no top-5 gap exists.
        trivial = classes <= TOP_K
        ok = cell[cell["status"] == "ok"]
        gap = None if trivial else best_gap(ok, name_col="display")
        nan = float("nan")
        rows.append(
            {
                "classes": classes,
                "train_per_class": per_class,
                "manifest_hash": manifest,
                "n_train": int(cell["n_train"].max()),
                "best_handcrafted": gap.handcrafted if gap else None,
                "handcrafted_top5": gap.handcrafted_top5 if gap else nan,
                "best_cnn": gap.cnn if gap else None,
                "cnn_top5": gap.cnn_top5 if gap else nan,
                "gap_points": gap.points if gap else nan,
                "gap_relative": gap.relative if gap else nan,
                "gap_ci_low": gap.ci_low if gap and gap.has_interval else nan,
                "gap_ci_high": gap.ci_high if gap and gap.has_interval else nan,
                "resolved": bool(gap.resolved) if gap else False,
            }
        )
    return pd.DataFrame(rows)


# ----------------------------------------------------------------- CNN progress


def curve_error_column(curve: pd.DataFrame, k: int = 5) -> str | None:
    """The curve's top-``k`` error column: ``monitor_top{k}_err`` (held out of train,
    schema 2) or ``val_top{k}_err`` (schema-1 records, whose monitor was val)."""
    for col in (f"monitor_top{k}_err", f"val_top{k}_err"):
        if col in curve and curve[col].notna().any():
            return col
    return None


def _images_per_epoch(row: Any) -> float | None:
    """Training images one epoch processed: the training facts, else the fit rows, else train."""
    epochs, seen = row.get("epochs"), row.get("images_seen")
    if pd.notna(epochs) and pd.notna(seen) and epochs:
        return float(seen) / float(epochs)
    for key in ("fit_images", "n_train"):
        value = row.get(key)
        if value is not None and pd.notna(value) and value:
            return float(value)
    return None


def cnn_progress(row: Any) -> pd.DataFrame:
    """A CNN row's curve as ``epoch, seconds, images, top5_err`` (cumulative, per epoch).

    ``seconds``: the curve's ``elapsed_seconds`` when the trainer logs it, else
    the running sum of its per-epoch ``seconds`` (training plus the monitor's
    evaluation); NaN when neither is logged. ``images``: the curve's
    ``images_seen`` when logged, else epoch x images per epoch (the training
    facts' images seen / epochs, else the fit rows, else n_train). Rows without
    a top-5 error are dropped; empty when the curve has none.
    """
    curve = pd.DataFrame(list(row.get("learning_curve") or []))
    col = curve_error_column(curve) if not curve.empty else None
    if col is None:
        return pd.DataFrame(columns=["epoch", "seconds", "images", "top5_err", "split"])
    if "epoch" not in curve:
        curve["epoch"] = np.arange(1, len(curve) + 1)
    if "elapsed_seconds" in curve and curve["elapsed_seconds"].notna().all():
        seconds = curve["elapsed_seconds"].astype(float)
    elif "seconds" in curve and curve["seconds"].notna().all():
        seconds = curve["seconds"].astype(float).cumsum()
    else:
        seconds = pd.Series(np.nan, index=curve.index)
    if "images_seen" in curve and curve["images_seen"].notna().all():
        images = curve["images_seen"].astype(float)
    else:
        per_epoch = _images_per_epoch(row)
        images = curve["epoch"].astype(float) * (per_epoch if per_epoch else np.nan)
    out = pd.DataFrame(
        {
            "epoch": curve["epoch"].astype(int),
            "seconds": seconds,
            "images": images,
            "top5_err": pd.to_numeric(curve[col], errors="coerce"),
            "split": "monitor" if col.startswith("monitor") else "val",
        }
    )
    return out[out["top5_err"].notna()].reset_index(drop=True)
