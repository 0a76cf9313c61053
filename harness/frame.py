"""The records frame: every column declared once, and the one flattening of records.

A record (:class:`harness.record.RunRecord`) is the single source of truth for
a result. :func:`records_frame` turns records into a table, one row per
record; the leaderboard (:mod:`harness.leaderboard`), the report, the sweep
tables and the gap all select from it, so a column means the same everywhere.

Each column is one line of :data:`COLUMNS`: its name, its dtype, how it is
read off a record, whether ``leaderboard.csv`` shows it, and what it means.
The row builder, the dtypes, :data:`RECORD_COLUMNS` and the CSV's header and
column order (:data:`LEADERBOARD_COLUMNS`, the leaderboard columns in
declaration order) all come from that table: adding a column is one line.

Intervals. A record that keeps its per-image hits (``RunRecord.val_hits``) gets
a 95% bootstrap interval of each error (:mod:`harness.intervals`, seeded); one
without hits gets NaN. An interval is computed once per process for a record
(keyed by its run id and a digest of its hits, :func:`cached_interval`), not on
every rewrite of the leaderboard.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from harness.commands import command_line
from harness.config import DEMO_DATA
from harness.intervals import bootstrap_error_ci
from harness.record import UNHASHED_PARAMS, RunRecord, ValHits, parse_record

__all__ = [
    "BOOL",
    "COLUMNS",
    "FLOAT",
    "INT",
    "OPTIONAL_COLUMNS",
    "TEXT",
    "LEADERBOARD_COLUMNS",
    "RECORD_COLUMNS",
    "Column",
    "cached_interval",
    "clear_interval_cache",
    "config_key",
    "error_intervals",
    "hits_digest",
    "is_demo_run",
    "is_demo_subset",
    "is_sweep_record",
    "method_overrides",
    "records_frame",
]

INT, FLOAT, BOOL, TEXT = "Int64", "float", "bool", "object"


@dataclass(frozen=True)
class Column:
    """One column of the records frame (and, when ``leaderboard``, of ``leaderboard.csv``)."""

    name: str
    dtype: str  # INT (nullable Int64), FLOAT (NaN when unknown), BOOL, or TEXT (as read)
    get: Callable[[RunRecord], Any] | None  # its value for one record; None: made by a view
    leaderboard: bool  # a column of leaderboard.csv, in declaration order
    doc: str  # what it means, with its unit
    optional: bool = False  # left out of leaderboard.csv when no row has a value


# ----------------------------------------------------------------- record facts


def is_demo_subset(subset: str) -> bool:
    """The built-in generated ``demo`` data (numbers that say nothing about ImageNet)."""
    return str(subset).startswith("demo")


def is_demo_run(subset: str, data: Any = None) -> bool:
    """A run on the generated demo data: a ``demo`` subset or ``--data demo``.

    The one test of "demo" for the records frame, the report and the CLI.
    """
    return is_demo_subset(subset) or data == DEMO_DATA


def is_sweep_record(record: RunRecord | Mapping[str, Any]) -> bool:
    """A record (typed, or its JSON mapping) written by ``harness sweep``: its config
    names the grid cell."""
    config = record.get("config") or {}
    cell = config.get("sweep") if isinstance(config, Mapping) else None
    return isinstance(cell, Mapping) and bool(cell)


def method_overrides(record: RunRecord) -> dict[str, Any]:
    """The settings a run gave its method (suite file or ``--param``), not its defaults:
    those of its own row of the suite (``config_name``) when the method has several."""
    for spec in record.config.get("methods") or []:
        if (
            isinstance(spec, Mapping)
            and spec.get("name") == record.method
            and (spec.get("key") or None) == record.config_name
        ):
            return dict(spec.get("params") or {})
    return {}


def config_key(r: RunRecord) -> str:
    """A digest of everything that makes a run what it is, except its seed.

    Records with one key (and one manifest, method and variant) are repeats of
    one configuration: the method's parameters (less run-only switches), its
    tag, and the monitor draw it tuned on.
    """
    params = {k: v for k, v in r.params.items() if k not in UNHASHED_PARAMS}
    payload = {
        "params": params,
        "tag": r.tag,
        "monitor": [r.monitor.split, r.monitor.fraction, r.monitor.seed],
    }
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


# ----------------------------------------------------------------- intervals, once each

#: Intervals computed in this process, by what they were computed from.
_INTERVALS: dict[tuple[Any, ...], Any] = {}


def hits_digest(hits: ValHits) -> str:
    """A digest of one record's per-image hits (which images, and each one's hits)."""
    text = f"{hits.n}\t{hits.order_digest}\t{hits.top1}\t{hits.top5}"
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def cached_interval(key: tuple[Any, ...], compute: Callable[[], Any]) -> Any:
    """``compute()``, once per process for ``key`` (run ids and hit digests name the inputs)."""
    if key not in _INTERVALS:
        _INTERVALS[key] = compute()
    return _INTERVALS[key]


def clear_interval_cache() -> None:
    """Forget every interval computed so far."""
    _INTERVALS.clear()


def _hits(r: RunRecord) -> ValHits | None:
    return r.val_hits if r.ok else None


def error_intervals(r: RunRecord) -> dict[str, float | None]:
    """The 95% bootstrap interval of each error from the record's hits (None without them)."""
    hits = _hits(r)
    if hits is None:
        return {f"top{k}_err_ci_{end}": None for k in (1, 5) for end in ("low", "high")}

    def compute() -> dict[str, float | None]:
        out: dict[str, float | None] = {}
        for k in (1, 5):
            out[f"top{k}_err_ci_low"], out[f"top{k}_err_ci_high"] = bootstrap_error_ci(hits.hits(k))
        return out

    return cached_interval(("record", r.run_id, hits_digest(hits)), compute)


# ----------------------------------------------------------------- the columns


def _int_or_none(x: Any) -> int | None:
    try:
        return int(x)
    except (TypeError, ValueError):
        return None


def _cell(r: RunRecord) -> Mapping[str, Any]:
    """The sweep grid cell of a record ({} outside a sweep)."""
    cell = r.config.get("sweep")
    return cell if isinstance(cell, Mapping) and cell else {}


def _err(k: int) -> Callable[[RunRecord], float | None]:
    return lambda r: getattr(r, f"top{k}_err") if r.ok else None


def _acc(k: int) -> Callable[[RunRecord], float | None]:
    err = _err(k)
    return lambda r: None if err(r) is None else 100.0 - err(r)


def _ci(k: int, end: str) -> Callable[[RunRecord], float | None]:
    return lambda r: error_intervals(r)[f"top{k}_err_ci_{end}"]


def speed_switches(r: RunRecord) -> str | None:
    """The speed switches a network trained under, in words (``notes["speed_switches"]``).

    A CNN record written before the trainer recorded them (2026-12-03) ran on a CPU
    with none of them: autocast, channels-last and compile were CUDA-only then.
    """
    ran = r.notes.get("speed_switches")
    if isinstance(ran, Mapping):
        words = [f"{ran['autocast']} autocast" if ran.get("autocast") else "fp32"]
        words += ["channels-last"] if ran.get("channels_last") else []
        compiled = ran.get("compile")
        words += [compiled if isinstance(compiled, str) else "compiled"] if compiled else []
        return ", ".join(words) + ("" if len(words) > 1 else " eager")
    if r.family == "cnn" and str(r.device or "").startswith("cpu"):
        return "fp32 eager (switches were CUDA-only then)"
    return None


L, R = True, False  # in leaderboard.csv, or in the records frame only

#: Every column, in order. Leaderboard columns (L) appear in leaderboard.csv in this order.
COLUMNS: tuple[Column, ...] = (
    Column(
        "rank",
        INT,
        None,
        L,
        "1 = best of its manifest (by top-5, then top-1 error); empty: failed or a variant",
    ),
    Column("method", TEXT, lambda r: r.method, L, "the plain registry name"),
    Column(
        "config_name",
        TEXT,
        lambda r: r.config_name,
        L,
        "the suite's row key ([methods.<key>]) of a method run in several configurations",
        optional=True,
    ),
    Column(
        "variant", TEXT, lambda r: r.variant, L, "other scores of the same model", optional=True
    ),
    Column("variant_reason", TEXT, lambda r: r.variant_reason, R, "why the variant row exists"),
    Column("tag", TEXT, lambda r: r.tag, L, "departures from the published model", optional=True),
    Column("family", TEXT, lambda r: r.family, L, "hand-crafted, cnn, reference or other"),
    Column("year", INT, lambda r: r.year, L, "year of the era the method represents (0: chance)"),
    Column("source", TEXT, lambda r: r.source, R, "its citation"),
    Column(
        "subset",
        TEXT,
        lambda r: r.subset,
        L,
        "the subset (named, or ad hoc: layout, class count, hash)",
    ),
    Column("subset_version", INT, lambda r: r.subset_version, R, "its version"),
    Column(
        "manifest_hash",
        TEXT,
        lambda r: r.manifest_hash,
        L,
        "sha256 of the manifest: the exact images (rows of one hash are one table)",
    ),
    Column("layout", TEXT, lambda r: r.layout, R, "the dataset layout read"),
    Column(
        "n_classes",
        INT,
        lambda r: r.n_classes,
        L,
        "classes (at 5 or fewer, top-5 error is 0 by construction)",
    ),
    Column("n_train", INT, lambda r: r.n_train, L, "training images, monitor included"),
    Column("n_val", INT, lambda r: r.n_val, L, "val images scored"),
    Column("img_size", INT, lambda r: r.image_size, L, "stored side of the cached images, px"),
    Column("crop", INT, lambda r: r.crop, L, "side the model sees, px; empty: the whole image"),
    Column(
        "param_count",
        INT,
        lambda r: r.param_count,
        L,
        "trainable parameters of a network; empty for the pipelines",
    ),
    Column("seed", INT, lambda r: r.seed, L, "the run's seed; empty on a mean over seeds"),
    Column(
        "top1_err",
        FLOAT,
        _err(1),
        L,
        "%, ILSVRC flat error; mean over seeds when n_seeds > 1; empty when failed",
    ),
    Column(
        "top5_err",
        FLOAT,
        _err(5),
        L,
        "%, ILSVRC flat error; mean over seeds when n_seeds > 1; empty when failed",
    ),
    Column(
        "top1_err_ci_low",
        FLOAT,
        _ci(1, "low"),
        L,
        "%, low end of the 95% bootstrap interval over val images (and seeds)",
    ),
    Column(
        "top1_err_ci_high",
        FLOAT,
        _ci(1, "high"),
        L,
        "%, high end of that interval; empty without per-image hits",
    ),
    Column(
        "top5_err_ci_low",
        FLOAT,
        _ci(5, "low"),
        L,
        "%, low end of the 95% bootstrap interval over val images (and seeds)",
    ),
    Column(
        "top5_err_ci_high",
        FLOAT,
        _ci(5, "high"),
        L,
        "%, high end of that interval; empty without per-image hits",
    ),
    Column(
        "top1_err_std",
        FLOAT,
        lambda r: None,
        L,
        "%, standard deviation over seeds (ddof=1); empty for one seed",
    ),
    Column(
        "top5_err_std",
        FLOAT,
        lambda r: None,
        L,
        "%, standard deviation over seeds (ddof=1); empty for one seed",
    ),
    Column(
        "n_seeds",
        INT,
        lambda r: 1 if r.ok else None,
        L,
        "seeds the row averages (1: a single run; empty: failed)",
    ),
    Column("seeds", TEXT, lambda r: (r.seed,), R, "tuple of those seeds"),
    Column(
        "hits",
        TEXT,
        lambda r: () if _hits(r) is None else (_hits(r),),
        R,
        "ValHits per seed, or ()",
    ),
    Column("config_key", TEXT, config_key, R, "the configuration less the seed (repeats share it)"),
    Column("top1_acc", FLOAT, _acc(1), L, "%, 100 - top1_err"),
    Column("top5_acc", FLOAT, _acc(5), L, "%, 100 - top5_err"),
    Column(
        "monitor",
        TEXT,
        lambda r: r.monitor.split,
        L,
        "what the method tuned on: train-holdout, val (marked in display) or none",
    ),
    Column("monitor_images", INT, lambda r: r.monitor.n_images, R, "images in the monitor"),
    Column("device", TEXT, lambda r: r.device, L, "GPU model, or CPU model and cores"),
    Column(
        "speed",
        TEXT,
        speed_switches,
        L,
        "a network's speed switches as trained: fp32 or bf16 autocast, channels-last, compiled",
        optional=True,
    ),
    Column(
        "train_seconds",
        FLOAT,
        lambda r: r.train_seconds,
        L,
        "s, wall time of fit and refit (both parts of a resumed run; start-up apart)",
    ),
    Column(
        "startup_seconds",
        FLOAT,
        lambda r: r.startup_seconds,
        L,
        "s, one-off start-up before fit's clock (importing the method); not in train_seconds",
        optional=True,
    ),
    Column("resumed", BOOL, lambda r: bool(r.resumed), R, "fit went on after an interruption"),
    Column("eval_seconds", FLOAT, lambda r: r.eval_seconds, L, "s, wall time of scoring val"),
    Column("train_images_per_s", FLOAT, lambda r: r.train_images_per_s, L, "images/s, training"),
    Column("eval_images_per_s", FLOAT, lambda r: r.eval_images_per_s, R, "scoring rate"),
    Column(
        "peak_rss_mib",
        FLOAT,
        lambda r: r.peak_rss_mib,
        L,
        "MiB, peak resident memory of the process tree during fit and eval",
    ),
    Column(
        "peak_anon_mib",
        FLOAT,
        lambda r: r.peak_anon_mib,
        L,
        "MiB, that peak less file-backed pages (the memory-mapped cache and features)",
        optional=True,
    ),
    Column("versions", TEXT, lambda r: dict(r.versions), R, "python, harness, libraries"),
    Column("git_commit", TEXT, lambda r: r.git_commit, R, "the harness's commit"),
    Column("date", TEXT, lambda r: r.date, L, "ISO 8601 date and time (UTC) of the record"),
    Column("command", TEXT, command_line, R, "the command that made it (or one rebuilt)"),
    Column("overrides", TEXT, method_overrides, R, "settings given by the suite or --param"),
    Column("learning_curve", TEXT, lambda r: list(r.learning_curve), R, "per-epoch dicts"),
    Column("epochs", INT, lambda r: r.training.epochs, R, "epochs trained"),
    Column("images_seen", INT, lambda r: r.training.images_seen, R, "training images, all epochs"),
    Column("fit_images", INT, lambda r: r.monitor.n_fit, R, "training images less the monitor"),
    Column(
        "run_id",
        TEXT,
        lambda r: r.run_id,
        L,
        "the record's file name in runs/ (the newest record of a mean row)",
    ),
    Column("status", TEXT, lambda r: r.status, R, "ok or error"),
    Column("ok", BOOL, lambda r: r.ok, R, "status ok: both errors known"),
    Column(
        "error",
        TEXT,
        lambda r: None if r.ok else r.error,
        L,
        "the failure's message (a failed row)",
        optional=True,
    ),
    Column(
        "display",
        TEXT,
        lambda r: r.display_name,
        L,
        "short name, unique in its manifest: row key or method, (tuned on val), [variant]",
    ),
    Column("is_sweep", BOOL, lambda r: bool(_cell(r)), R, "written by harness sweep"),
    Column("sweep_classes", INT, lambda r: _int_or_none(_cell(r).get("classes")), R, "its cell"),
    Column(
        "sweep_train_per_class",
        INT,
        lambda r: _int_or_none(_cell(r).get("train_per_class")),
        R,
        "its cell",
    ),
    Column("is_demo", BOOL, lambda r: is_demo_run(r.subset, r.config.get("data")), R, "demo data"),
)

#: The columns of :func:`records_frame` (one row per record), in order.
RECORD_COLUMNS = [c.name for c in COLUMNS if c.get is not None]
#: The columns of ``leaderboard.csv``, in order.
LEADERBOARD_COLUMNS = [c.name for c in COLUMNS if c.leaderboard]
#: Leaderboard columns written only when some row has a value (read back all missing).
OPTIONAL_COLUMNS = [c.name for c in COLUMNS if c.leaderboard and c.optional]
#: Columns by dtype (the leaderboard rounds the FLOAT ones to 2 decimals).
INT_COLUMNS = [c.name for c in COLUMNS if c.dtype == INT and c.get is not None]
FLOAT_COLUMNS = [c.name for c in COLUMNS if c.dtype == FLOAT]
BOOL_COLUMNS = [c.name for c in COLUMNS if c.dtype == BOOL]

_GETTERS = [(c.name, c.get) for c in COLUMNS if c.get is not None]


def _row(r: RunRecord) -> dict[str, Any]:
    return {name: get(r) for name, get in _GETTERS}


def records_frame(records: Iterable[RunRecord | Mapping[str, Any]]) -> pd.DataFrame:
    """One row per record, every column of :data:`RECORD_COLUMNS`, in the records' order.

    This is the one flattening of records; views select rows and columns of it
    (:func:`harness.leaderboard.leaderboard_frame`, the report, the sweep).
    Dicts are validated as records first (RecordError names the bad field).
    Counts are nullable integers, errors and times floats (NaN when unknown or
    failed).
    """
    rows = [_row(parse_record(r)) for r in records]
    df = pd.DataFrame(rows, columns=RECORD_COLUMNS)
    for col in INT_COLUMNS:
        df[col] = pd.array([None if pd.isna(v) else int(v) for v in df[col]], dtype="Int64")
    for col in FLOAT_COLUMNS:
        df[col] = pd.to_numeric(df[col], errors="coerce").astype(float)
    for col in BOOL_COLUMNS:
        df[col] = df[col].astype(bool)
    return df
