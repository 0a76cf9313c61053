"""The leaderboard: views of the records frame, ranked, and ``leaderboard.csv``.

The leaderboard (timm style: settings as columns, declared once in
:data:`harness.frame.COLUMNS`) groups rows by manifest, the exact images
scored, never by subset name alone: two ad-hoc subsets of one name but
different classes are two groups. Within a group rows are ranked by top-5
then top-1 error (:func:`rank_order`, the one ordering, which the gap uses
too). By default a group shows one row per (method, variant): the newest
successful record, or the newest failed one when none succeeded;
``all_records=True`` (``harness leaderboard --all``) shows every record.

Variants. A record with a ``variant`` (AlexNet's ``centre-crop``: other scores
of the same trained model) is shown as a variant of its method, never ranked
as a method of its own: its row stays in error order but gets no rank, its
``display`` says whose variant it is, and it is never a family's "best" in the
gap (:func:`methods_only`).

Smoke rows. A run under a step budget (``max_steps``: a few optimiser steps
to prove the path runs) has ``smoke: N steps`` in its tag
(:func:`is_smoke`); it is listed, in error order, but never ranked and never
a family's "best" in the gap, like a variant.

Repeats. Records of one configuration that differ only in their seed
(``harness run --seeds`` / ``--repeats``) are *repeats*: the leaderboard row
(:func:`repeat_rows`) takes the newest successful record of each seed and
shows the mean error over seeds, its standard deviation (``top*_err_std``,
ddof=1) and ``n_seeds``; its interval then covers seeds and images together
(the two-level bootstrap of :func:`harness.intervals.combine_repeats`,
computed once per repeat group and process). The other columns (times,
device, run id) are those of the newest record.

Regenerating. :func:`write_leaderboard` reads the records through the store's
per-process cache (:func:`harness.store.load_records`), so rewriting the
leaderboard after every method parses only the records new since.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from harness.frame import (
    BOOL,
    COLUMNS,
    FLOAT,
    FLOAT_COLUMNS,
    INT,
    LEADERBOARD_COLUMNS,
    OPTIONAL_COLUMNS,
    TEXT,
    cached_interval,
    hits_digest,
    records_frame,
)
from harness.intervals import combine_repeats
from harness.names import table_names
from harness.record import RunRecord, ValHits
from harness.store import atomic_write_text, load_records

__all__ = [
    "RANK_BY",
    "is_smoke",
    "why_unranked",
    "is_variant",
    "tuned_on_val",
    "csv_columns",
    "latest_rows",
    "leaderboard_dtypes",
    "leaderboard_frame",
    "methods_only",
    "rank_order",
    "rank_rows",
    "read_leaderboard",
    "repeat_rows",
    "write_leaderboard",
]

#: Groups: real data before the demo, then by subset and size; one group per manifest.
_GROUP_ORDER = ["is_demo", "subset", "n_classes", "n_train", "manifest_hash"]
#: Within a group, best first: top-5 error, then top-1 error, then the name (the one ranking).
RANK_BY = ["top5_err", "top1_err", "display"]


def _oldest_first(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows by the records' ``date`` (then ``run_id``), undated first: the newest is last."""
    when = pd.to_datetime(frame["date"], utc=True, errors="coerce", format="ISO8601")
    return (
        frame.assign(_when=when)
        .sort_values(["_when", "run_id"], na_position="first", kind="stable")
        .drop(columns="_when")
    )


def _row_key(frame: pd.DataFrame) -> list[pd.Series]:
    """What makes a leaderboard row: manifest, method, its suite row key, variant, monitor.

    Two configurations of one method from a suite (``[methods.lenet5-short]``,
    ``[methods.lenet5-long]``) are two rows; a run tuned on val (``--monitor
    val``) is never merged with one tuned on the held-out slice.
    """
    config = frame["config_name"] if "config_name" in frame else pd.Series("", index=frame.index)
    return [
        frame["manifest_hash"],
        frame["method"],
        config.fillna(""),
        frame["variant"].fillna(""),
        (frame["monitor"] == "val") if "monitor" in frame else pd.Series(False, frame.index),
    ]


def latest_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per (manifest, method, row key, variant, monitor): the newest successful
    record, else the newest.

    "Newest" is the record's ``date`` (then ``run_id``); a failed run stays only
    when no successful record exists for its key.
    """
    if frame.empty:
        return frame
    any_ok = frame.groupby(_row_key(frame))["ok"].transform("any")
    ordered = _oldest_first(frame[frame["ok"] | ~any_ok])
    newest = ordered.groupby(_row_key(ordered), sort=False).tail(1)
    return frame.loc[frame.index.isin(newest.index)]


def _paired_hits(hits: list[tuple[ValHits, ...]]) -> tuple[ValHits, ...]:
    """One ValHits per seed when every seed has hits of the same images in one order, else ()."""
    if not hits or any(len(h) != 1 for h in hits):
        return ()
    flat = tuple(h[0] for h in hits)
    if len({(h.n, h.order_digest) for h in flat}) != 1:
        return ()
    return flat


def _repeat_interval(
    run_ids: tuple[str, ...], hits: tuple[ValHits, ...], k: int
) -> tuple[float, float]:
    """The two-level interval of one repeat group's top-``k`` error, once per process."""
    key = ("repeats", k, tuple(zip(run_ids, map(hits_digest, hits), strict=True)))

    def compute() -> tuple[float, float]:
        summary = combine_repeats([h.hits(k) for h in hits])
        return summary.ci_low, summary.ci_high

    return cached_interval(key, compute)


def _aggregate(repeats: pd.DataFrame) -> dict[str, Any]:
    """The columns of one row that change when it stands for several seeds."""
    # a mean row stands for no one seed: ``seed`` empty, ``n_seeds`` and ``seeds`` say which
    out: dict[str, Any] = {
        "n_seeds": len(repeats),
        "seeds": tuple(repeats["seed"]),
        "seed": pd.NA,
    }
    hits = _paired_hits(list(repeats["hits"]))
    out["hits"] = hits
    for k in (1, 5):
        errs = repeats[f"top{k}_err"].astype(float)
        out[f"top{k}_err"] = float(errs.mean())
        out[f"top{k}_acc"] = 100.0 - float(errs.mean())
        out[f"top{k}_err_std"] = float(errs.std(ddof=1))
        if hits:
            low, high = _repeat_interval(tuple(repeats["run_id"]), hits, k)
        else:
            low = high = float("nan")
        out[f"top{k}_err_ci_low"], out[f"top{k}_err_ci_high"] = low, high
    return out


def repeat_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """:func:`latest_rows`, each successful row aggregated over its configuration's seeds.

    The repeats of a row are the successful records of its manifest, method,
    variant and :func:`harness.frame.config_key`, the newest one per seed (the
    row's own record among them). With more than one seed the errors become
    the mean over seeds, with ``top*_err_std``, ``n_seeds``, ``seeds`` and the
    two-level interval (NaN when a seed has no per-image hits, or the seeds'
    hits do not cover the same images in one order).
    """
    newest = latest_rows(frame)
    if newest.empty:
        return newest
    ok = _oldest_first(frame[frame["ok"]])
    key = ["manifest_hash", "method", "_config", "_variant", "config_key"]
    ok = ok.assign(
        _config=ok["config_name"].fillna(""),
        _variant=ok["variant"].fillna(""),
        _seed=ok["seed"].astype("Float64").fillna(-1.0),  # an unknown seed is one seed
    )
    per_seed = ok.groupby([*key, "_seed"], sort=False).tail(1)
    repeats_of = {
        k: g.drop(columns=["_config", "_variant", "_seed"])
        for k, g in per_seed.groupby(key, sort=False)
    }
    out = newest.copy()
    for index, row in newest.iterrows():
        if not row["ok"]:
            continue
        variant = row["variant"] if isinstance(row["variant"], str) else ""
        config = row["config_name"] if isinstance(row["config_name"], str) else ""
        repeats = repeats_of[
            (row["manifest_hash"], row["method"], config, variant, row["config_key"])
        ]
        if len(repeats) < 2:
            continue
        repeats = repeats.sort_values("seed", kind="stable", na_position="last")
        for col, value in _aggregate(repeats).items():
            out.at[index, col] = value
    return out


def is_variant(frame: pd.DataFrame) -> pd.Series:
    """Which rows are variants of a method (a non-empty ``variant``; none without the column)."""
    if "variant" not in frame.columns:
        return pd.Series(False, index=frame.index)
    return frame["variant"].map(lambda v: isinstance(v, str) and v != "").astype(bool)


def tuned_on_val(frame: pd.DataFrame) -> pd.Series:
    """Rows whose method chose on the scored split (``--monitor val``): shown, never ranked."""
    if "monitor" not in frame.columns:
        return pd.Series(False, index=frame.index)
    return (frame["monitor"] == "val").astype(bool)


def is_smoke(frame: pd.DataFrame) -> pd.Series:
    """Which rows are smoke runs (a tag with ``smoke:``, from a step budget; none without it)."""
    if "tag" not in frame.columns:
        return pd.Series(False, index=frame.index)
    return frame["tag"].map(lambda t: isinstance(t, str) and "smoke:" in t).astype(bool)


_SMOKE_TAG = re.compile(r"smoke: \d+ steps?")


def why_unranked(row: Any) -> str:
    """Why a successful row has no rank, in words: ``variant``, ``tuned on val``, or its
    smoke tag (``smoke: 4 steps``); ``unranked`` for none of these."""
    variant = getattr(row, "variant", None)
    if isinstance(variant, str) and variant:
        return "variant"
    if getattr(row, "monitor", None) == "val":
        return "tuned on val"
    tag = str(getattr(row, "tag", "") or "")
    found = _SMOKE_TAG.search(tag)
    return found.group(0) if found else ("smoke" if "smoke:" in tag else "unranked")


def methods_only(frame: pd.DataFrame) -> pd.DataFrame:
    """What may be ranked or called "best": methods, not their variants, not smoke runs
    (a few steps of training), and never a row that chose on the val split it is scored
    on (the protocol scores val once)."""
    return frame[~is_variant(frame) & ~is_smoke(frame) & ~tuned_on_val(frame)]


def rank_order(frame: pd.DataFrame, err_col: str = "top5_err") -> pd.DataFrame:
    """Rows best first (``err_col``, then top-1 error, then name; missing errors last).

    The one ordering of results: the leaderboard's rank and the gap's "best"
    method both come from it. Columns a frame lacks are skipped.
    """
    by = [err_col, *[c for c in RANK_BY if c != err_col]]
    by = [c for c in by if c in frame.columns]
    return frame.sort_values(by, kind="stable", na_position="last")


def rank_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows ordered by group (one manifest), ranked within it by top-5 then top-1 error.

    Adds ``rank`` (nullable integer, 1 = best): successful methods are ranked,
    failed rows follow them unranked; a variant, a smoke run or a row tuned on val
    keeps its place by error but gets no rank (not a method of its own; a few steps of
    training; not scored once).
    """
    df = rank_order(frame.assign(_failed=~frame["ok"].astype(bool)))
    df = df.sort_values([*_GROUP_ORDER, "_failed"], kind="stable", na_position="last")
    rank = pd.Series(pd.NA, index=df.index, dtype="Int64")
    ok = methods_only(df[~df["_failed"]])
    if len(ok):
        rank.loc[ok.index] = ok.groupby("manifest_hash", sort=False).cumcount().to_numpy() + 1
    df.insert(0, "rank", rank)
    return df.drop(columns="_failed").reset_index(drop=True)


def leaderboard_frame(
    records: Iterable[RunRecord | Mapping[str, Any]], *, all_records: bool = False
) -> pd.DataFrame:
    """The leaderboard: :data:`harness.frame.LEADERBOARD_COLUMNS`, grouped by manifest,
    ranked within it.

    One row per (manifest, method, row key, variant, monitor), aggregated over
    its seeds (:func:`repeat_rows`), unless ``all_records`` (every record, one
    seed each). ``display`` is the row's short name, unique within its
    manifest (:func:`harness.names.table_names`): ``alexnet[centre-crop]``,
    ``lenet5-short``, ``hog-svm (tuned on val)``; the whole tag is in ``tag``.
    """
    frame = records_frame(records)
    if not all_records:
        frame = repeat_rows(frame)
    df = rank_rows(frame)
    for col in FLOAT_COLUMNS:
        df[col] = df[col].round(2)
    df["display"] = table_names(df)
    return df[LEADERBOARD_COLUMNS]


def csv_columns(df: pd.DataFrame) -> list[str]:
    """The columns ``leaderboard.csv`` writes: every declared one, less the optional
    columns (``tag``, ``variant``, ``config_name``, ``error``, ...) no row fills."""
    return [
        c
        for c in LEADERBOARD_COLUMNS
        if c not in OPTIONAL_COLUMNS or (c in df and df[c].notna().any())
    ]


#: How ``leaderboard.csv`` is read back: each declared dtype as pandas names it.
_READ_DTYPES = {INT: "Int64", FLOAT: "float64", TEXT: "object", BOOL: "boolean"}


def leaderboard_dtypes() -> dict[str, str]:
    """The pandas dtype of every leaderboard column (nullable ``Int64`` for counts)."""
    return {c.name: _READ_DTYPES[c.dtype] for c in COLUMNS if c.leaderboard}


def read_leaderboard(path: str | Path) -> pd.DataFrame:
    """``leaderboard.csv`` as a DataFrame with every declared column and dtype.

    Integers stay integers (``Int64``, ``<NA>`` where a row has none: a
    pipeline's ``param_count``, a mean row's ``seed``); errors, intervals and
    times are float64 (NaN when unknown); text is object. An optional column
    the file leaves out (no row had a value) comes back all missing, so every
    reader sees the same columns in the declared order.
    """
    dtypes = leaderboard_dtypes()
    df = pd.read_csv(path, dtype={k: v for k, v in dtypes.items() if v != "Int64"})
    for name, dtype in dtypes.items():
        if name not in df:
            df[name] = pd.Series(pd.NA if dtype != "float64" else float("nan"), index=df.index)
        df[name] = df[name].astype(dtype)
    return df[list(dtypes)]


def write_leaderboard(
    results_dir: Path,
    out: Path | None = None,
    *,
    all_records: bool = False,
    records: Iterable[RunRecord] | None = None,
) -> Path:
    """Regenerate ``leaderboard.csv`` from the records; returns its path.

    ``records`` (those a caller already holds) defaults to
    :func:`harness.store.load_records` of ``results_dir`` (a bad record:
    skipped with a warning; files unchanged since the last call are not parsed
    again). An unwritable destination raises
    :class:`harness.store.ResultsWriteError`.
    """
    out = Path(out) if out else Path(results_dir) / "leaderboard.csv"
    records = load_records(results_dir) if records is None else records
    df = leaderboard_frame(records, all_records=all_records)
    atomic_write_text(out, df[csv_columns(df)].to_csv(index=False))
    return out
