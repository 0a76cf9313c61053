"""Tables for the console: at most :data:`WIDTH` columns, names left-aligned.

A value too long for its column is shortened with ``…`` (the whole text is in
``leaderboard.csv``); numbers are right-aligned with fixed decimals, missing
values are ``–``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["WIDTH", "fit_line", "format_table"]

WIDTH = 100  # the widest line the console commands print


def fit_line(text: str, width: int = WIDTH) -> str:
    """``text`` cut to ``width`` characters, ``…`` marking the cut."""
    return text if len(text) <= width else text[: width - 1] + "…"


def _missing(value: Any) -> bool:
    import pandas as pd

    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):  # a list or tuple: present
        return False


def _cell(value: Any, decimals: int) -> str:
    if _missing(value):
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float | np.floating) and not math.isinf(value):
        return f"{value:,.{decimals}f}"
    return str(value)


def _numeric(values: Sequence[Any]) -> bool:
    present = [v for v in values if not _missing(v)]
    return bool(present) and all(
        isinstance(v, int | float | np.integer | np.floating) and not isinstance(v, bool)
        for v in present
    )


def format_table(
    rows: Sequence[dict[str, Any]],
    columns: Sequence[str],
    *,
    width: int = WIDTH,
    shrink: str | None = None,
    decimals: int = 2,
) -> str:
    """``rows`` as an aligned text table no wider than ``width``.

    Text columns are left-aligned, numeric ones right-aligned. When the table
    is too wide, the column ``shrink`` (default: the widest text column) is
    shortened with ``…``, then any other text column that still does not fit.
    """
    cells = {c: [_cell(r.get(c), decimals) for r in rows] for c in columns}
    numeric = {c: _numeric([r.get(c) for r in rows]) for c in columns}
    widths = {c: max([len(c), *map(len, cells[c])]) for c in columns}

    def total() -> int:
        return sum(widths.values()) + 2 * (len(columns) - 1)

    texts = sorted((c for c in columns if not numeric[c]), key=lambda c: -widths[c])
    order = ([shrink] if shrink in texts else []) + [c for c in texts if c != shrink]
    for c in order:
        excess = total() - width
        if excess <= 0:
            break
        widths[c] = max(len(c), 8, widths[c] - excess)
    for c in columns:
        cells[c] = [fit_line(v, widths[c]) for v in cells[c]]

    def line(values: dict[str, str]) -> str:
        parts = [
            values[c].rjust(widths[c]) if numeric[c] else values[c].ljust(widths[c])
            for c in columns
        ]
        return "  ".join(parts).rstrip()

    out = [line({c: fit_line(c, widths[c]) for c in columns})]
    out += [line({c: cells[c][i] for c in columns}) for i in range(len(rows))]
    return "\n".join(out)
