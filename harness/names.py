"""The short name each row of a table gets: unique within its own table, never the whole tag.

A row is named by its configuration: the suite's row key when it has one
(``[methods.lenet5-short]`` -> ``lenet5-short``), else the method; a row tuned
on the scored split says so (``hog-svm (tuned on val)``); a variant of the
scores follows in brackets (``alexnet[centre-crop]``). Rows of one table (one
manifest) whose names would still be equal are told apart by their short tag
(:func:`short_tag`), and where even that clashes, by the whole tag. The whole
tag stays in its own column (``tag``) and in the report's footnotes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

__all__ = ["SHORT_TAG", "VAL_MARK", "row_label", "short_tag", "table_names"]

SHORT_TAG = 28  # longest tag shown whole in tables, axes and legends
VAL_MARK = "tuned on val"  # the mark of a row whose method watched the scored split


def short_tag(tag: Any) -> str | None:
    """The part of a row's tag that names it in tables and figures.

    ``"cpu profile: small stem, 56px crops, ..."`` -> ``"cpu profile"``; a tag
    of at most :data:`SHORT_TAG` characters stays whole; a longer one keeps its
    first two departures and ``…``.
    """
    if not isinstance(tag, str) or not tag:
        return None
    if ": " in tag:
        return tag.split(": ", 1)[0]
    if len(tag) <= SHORT_TAG:
        return tag
    parts = [p.strip() for p in tag.split(",")]
    return ", ".join(parts[:2]) + (", …" if len(parts) > 2 else "")


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _on_val(row: Any) -> bool:
    return _text(getattr(row, "monitor", None)) == "val"


def row_label(row: Any, mark_val: bool = True) -> str:
    """The configuration a row stands for, before any tag: row key or method, val mark."""
    label = _text(getattr(row, "config_name", None)) or str(row.method)
    return f"{label} ({VAL_MARK})" if mark_val and _on_val(row) else label


def table_names(
    frame: pd.DataFrame,
    *,
    by: Sequence[str] = ("manifest_hash",),
    with_tag: bool = False,
    mark_val: bool = True,
) -> pd.Series:
    """A short name for every row, unique within each group of ``by`` (one table).

    ``with_tag``: every modified model shows its short tag (the report's
    tables: ``alexnet (cpu profile)``); else a tag appears only where it is
    needed to tell two rows apart (the leaderboard's ``display``). ``mark_val``:
    every row tuned on val says so; else only where a row of the same name was
    not (a table with its own monitor column).
    """
    if frame.empty:
        return pd.Series([], index=frame.index, dtype=object)
    rows = list(frame.itertuples())
    by = [c for c in by if c in frame.columns]
    groups = [tuple(getattr(r, c) for c in by) for r in rows]
    bases = [row_label(r, mark_val=False) for r in rows]
    monitors: dict[tuple[Any, ...], set[bool]] = {}
    for g, base, r in zip(groups, bases, rows, strict=True):
        monitors.setdefault((g, base), set()).add(_on_val(r))
    labels = [
        row_label(r, mark_val=mark_val or len(monitors[(g, base)]) > 1)
        for g, base, r in zip(groups, bases, rows, strict=True)
    ]
    tags = [_text(getattr(r, "tag", None)) for r in rows]
    # the whole tags each (table, label) stands for, and each (table, label, short tag)
    wholes: dict[tuple[Any, ...], set[str]] = {}
    for g, label, tag in zip(groups, labels, tags, strict=True):
        wholes.setdefault((g, label), set()).add(tag)
        wholes.setdefault((g, label, short_tag(tag)), set()).add(tag)
    out = []
    for r, g, label, tag in zip(rows, groups, labels, tags, strict=True):
        shown: str | None = None
        if with_tag or len(wholes[(g, label)]) > 1:
            shown = short_tag(tag)
            if len(wholes[(g, label, shown)]) > 1:
                shown = tag or None  # two models shorten alike: the whole tag names each
        name = f"{label} ({shown})" if shown else label
        variant = _text(getattr(r, "variant", None))
        out.append(f"{name}[{variant}]" if variant else name)
    return pd.Series(out, index=frame.index, dtype=object)
