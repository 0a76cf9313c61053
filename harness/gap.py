"""The 2012 gap: how far the best CNN leads the best hand-crafted method.

The gap is the top-5 error of the best hand-crafted method minus that of the
best CNN, in percentage points, and as a reduction relative to the
hand-crafted error (ILSVRC-2012: ISI 26.2% vs SuperVision 15.3%, about 10.9
points or 41%). It is computed the same way for historical rows, measured
records and every cell of a sweep.

A method's family is what its record says (``RunRecord.family``, declared by
the baseline class and checked by the registry); nothing is guessed from a
name. Measured gaps compare methods scored on the same images only: rows of
one manifest (:func:`gaps_by_manifest`); :func:`best_gap` refuses rows that
span several manifests.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from harness.api import FAMILIES

__all__ = ["FAMILIES", "Gap", "best_gap", "gaps_by_manifest"]


@dataclass(frozen=True)
class Gap:
    """Best hand-crafted versus best CNN top-5 error (percent)."""

    handcrafted: str
    handcrafted_top5: float
    cnn: str
    cnn_top5: float

    @property
    def points(self) -> float:
        """Hand-crafted minus CNN top-5 error, in percentage points."""
        return self.handcrafted_top5 - self.cnn_top5

    @property
    def relative(self) -> float:
        """The gap as a percentage of the hand-crafted error (NaN if that is 0)."""
        if self.handcrafted_top5 == 0:
            return float("nan")
        return 100.0 * self.points / self.handcrafted_top5


def best_gap(
    rows: pd.DataFrame,
    *,
    name_col: str = "method",
    family_col: str = "family",
    err_col: str = "top5_err",
) -> Gap | None:
    """The gap over ``rows`` (one result per row), or None without both families.

    Rows with a missing error (failed runs) are ignored; ties go to the first
    row. Rows with a ``manifest_hash`` column must all share one manifest.
    """
    valid = rows[rows[err_col].notna()]
    if "manifest_hash" in valid and valid["manifest_hash"].nunique() > 1:
        raise ValueError(
            f"best_gap: rows of {valid['manifest_hash'].nunique()} manifests; a gap compares "
            "methods scored on the same images (use gaps_by_manifest)"
        )
    best = {}
    for family in ("hand-crafted", "cnn"):
        fam = valid[valid[family_col] == family]
        if fam.empty:
            return None
        best[family] = fam.loc[fam[err_col].astype(float).idxmin()]
    hc, cnn = best["hand-crafted"], best["cnn"]
    return Gap(str(hc[name_col]), float(hc[err_col]), str(cnn[name_col]), float(cnn[err_col]))


def gaps_by_manifest(frame: pd.DataFrame, *, name_col: str = "display") -> dict[str, Gap | None]:
    """The gap of each manifest of a records frame (successful rows only), by manifest hash."""
    ok = frame[frame["ok"].astype(bool)] if "ok" in frame else frame
    return {
        str(manifest): best_gap(ok[ok["manifest_hash"] == manifest], name_col=name_col)
        for manifest in frame["manifest_hash"].drop_duplicates()
    }
