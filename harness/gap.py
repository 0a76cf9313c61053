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
span several manifests. A variant of a method (AlexNet's centre-crop scores)
is never a family's best: it is not a method of its own. "Best" is the first row of
:func:`harness.leaderboard.rank_order` (top-5, then top-1 error): the leaderboard's
ranking.

Uncertainty. When both best rows keep their per-image hits (a ``hits`` column
of :func:`harness.frame.records_frame`, one entry per seed) for the same
images in one order, the gap gets a paired bootstrap 95% interval
(:func:`harness.intervals.paired_gap_ci`: the same val images resampled for
both methods; with repeats, their seeds resampled too). The ordering is
*resolved* when that interval excludes 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from harness.api import FAMILIES
from harness.intervals import LEVEL, N_RESAMPLES, interval_excludes_zero, paired_gap_ci
from harness.leaderboard import methods_only, rank_order

__all__ = ["FAMILIES", "Gap", "best_gap", "gaps_by_manifest"]


@dataclass(frozen=True)
class Gap:
    """Best hand-crafted versus best CNN top-5 error (percent)."""

    handcrafted: str
    handcrafted_top5: float
    cnn: str
    cnn_top5: float
    ci_low: float | None = None  # paired bootstrap interval of ``points`` (None: no hits)
    ci_high: float | None = None
    n_images: int | None = None  # images the interval resampled
    seeds: tuple[int, int] = (1, 1)  # seeds behind (hand-crafted, CNN)
    level: float = LEVEL
    n_resamples: int = N_RESAMPLES

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

    @property
    def has_interval(self) -> bool:
        return self.ci_low is not None and self.ci_high is not None

    @property
    def resolved(self) -> bool:
        """The interval excludes 0: on these images the ordering of the two is resolved."""
        return interval_excludes_zero(self.ci_low, self.ci_high)


def _seed_hits(row: pd.Series) -> tuple[Any, ...]:
    """A row's per-seed ValHits (the records frame's ``hits``), () when it has none."""
    hits = row.get("hits") if "hits" in row.index else None
    return tuple(hits) if isinstance(hits, tuple | list) else ()


def _paired_interval(hc: pd.Series, cnn: pd.Series, k: int) -> dict[str, Any]:
    """The interval fields of a Gap, or {} when the two rows' hits cannot be paired."""
    a, b = _seed_hits(hc), _seed_hits(cnn)
    if not a or not b or len({(h.n, h.order_digest) for h in (*a, *b)}) != 1:
        return {}
    hits_a = np.stack([h.hits(k) for h in a])
    hits_b = np.stack([h.hits(k) for h in b])
    low, high = paired_gap_ci(hits_a, hits_b)
    return {"ci_low": low, "ci_high": high, "n_images": a[0].n, "seeds": (len(a), len(b))}


def best_gap(
    rows: pd.DataFrame,
    *,
    name_col: str = "method",
    family_col: str = "family",
    err_col: str = "top5_err",
) -> Gap | None:
    """The gap over ``rows`` (one result per row), or None without both families.

    Rows with a missing error (failed runs) and variants of a method (a
    ``variant`` column: other scores of a method's run) are ignored; the best of a family
    is its first row in :func:`harness.leaderboard.rank_order`. Rows with a
    ``manifest_hash`` column must all share one manifest; rows with a ``hits``
    column give the gap its paired interval.
    """
    valid = methods_only(rows[rows[err_col].notna()])
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
        best[family] = rank_order(
            fam.assign(**{err_col: fam[err_col].astype(float)}), err_col
        ).iloc[0]
    hc, cnn = best["hand-crafted"], best["cnn"]
    k = 1 if err_col.startswith("top1") else 5
    return Gap(
        str(hc[name_col]),
        float(hc[err_col]),
        str(cnn[name_col]),
        float(cnn[err_col]),
        **_paired_interval(hc, cnn, k),
    )


def gaps_by_manifest(frame: pd.DataFrame, *, name_col: str = "display") -> dict[str, Gap | None]:
    """The gap of each manifest of a records frame (successful rows only), by manifest hash."""
    ok = frame[frame["ok"].astype(bool)] if "ok" in frame else frame
    return {
        str(manifest): best_gap(ok[ok["manifest_hash"] == manifest], name_col=name_col)
        for manifest in frame["manifest_hash"].drop_duplicates()
    }
