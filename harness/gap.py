"""The 2012 gap: which family a method belongs to, and how far CNNs lead.

The gap is the top-5 error of the best hand-crafted method minus that of the
best CNN, in percentage points, and as a reduction relative to the
hand-crafted error (ILSVRC-2012: ISI 26.2% vs SuperVision 15.3%, about 10.9
points or 41%). It is computed the same way for historical rows, measured
records and every cell of a sweep.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

__all__ = ["FAMILIES", "Gap", "best_gap", "family_of"]

FAMILIES = ("cnn", "hand-crafted", "reference")

# Methods known to be CNNs when a record carries no ``family`` field.
_CNN_NAME_PREFIXES = ("alexnet", "lenet")
# Methods that are references (chance), never part of the gap.
_REFERENCE_NAMES = ("random",)


def family_of(record: dict[str, Any]) -> str:
    """``"cnn"``, ``"hand-crafted"`` or ``"reference"`` for a run record.

    Order of evidence: the record's ``family`` field, then ``notes["family"]``,
    then the method name (``alexnet*`` / ``lenet*`` are CNNs, ``random`` is the
    chance reference); any other method counts as hand-crafted.
    """
    for value in (record.get("family"), (record.get("notes") or {}).get("family")):
        if isinstance(value, str) and value in FAMILIES:
            return value
    method = str(record.get("method", "")).lower()
    if method.startswith(_CNN_NAME_PREFIXES):
        return "cnn"
    if method in _REFERENCE_NAMES:
        return "reference"
    return "hand-crafted"


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

    Rows with a missing error (failed runs) are ignored; ties go to the first row.
    """
    valid = rows[rows[err_col].notna()]
    best = {}
    for family in ("hand-crafted", "cnn"):
        fam = valid[valid[family_col] == family]
        if fam.empty:
            return None
        best[family] = fam.loc[fam[err_col].astype(float).idxmin()]
    hc, cnn = best["hand-crafted"], best["cnn"]
    return Gap(str(hc[name_col]), float(hc[err_col]), str(cnn[name_col]), float(cnn[err_col]))
