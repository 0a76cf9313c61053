"""Records on disk, the one frame every view is made from, and the leaderboard.

A record (:class:`harness.record.RunRecord`, one JSON file per run under
``runs/``) is the single source of truth for a result. :func:`records_frame`
is the one flattening of records into a table: the leaderboard, the report,
the sweep tables and the gap all select from it, so a column means the same
everywhere. Files are written atomically (temporary file in the same folder,
fsync, rename) with the user's umask, so a reader sees either no file or a
complete one, and concurrent runs writing different records into one folder
lose nothing.

The leaderboard (timm style: settings as columns) groups rows by manifest, the
exact images scored, never by subset name alone: two ad-hoc subsets of one name
but different classes are two groups. Within a group rows are ranked by top-5
then top-1 error. By default a group shows one row per (method, variant): the
newest successful record, or the newest failed one when none succeeded;
``all_records=True`` (``harness leaderboard --all``) shows every record.

Intervals and repeats. A record that keeps its per-image hits
(``RunRecord.val_hits``) gets a 95% bootstrap interval of each error
(:mod:`harness.intervals`: :data:`~harness.intervals.N_RESAMPLES` draws of the
val images, seeded); an older record without hits gets empty interval columns
(NaN). Records of one configuration that differ only in their seed
(``harness run --seeds`` / ``--repeats``) are *repeats*: the leaderboard row
(:func:`repeat_rows`) takes the newest successful record of each seed and
shows the mean error over seeds, its standard deviation (``top*_err_std``,
ddof=1) and ``n_seeds``; its interval then covers seeds and images together
(the two-level bootstrap of :func:`harness.intervals.combine_repeats`). The
other columns (times, device, run id) are those of the newest record.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from harness.config import DEMO_DATA
from harness.intervals import bootstrap_error_ci, combine_repeats
from harness.record import (
    SCHEMA_VERSION,
    UNHASHED_PARAMS,
    RecordError,
    RunRecord,
    ValHits,
    parse_record,
    read_record,
    write_record,
)

log = logging.getLogger(__name__)

__all__ = [
    "LEADERBOARD_COLUMNS",
    "RECORD_COLUMNS",
    "SCHEMA_VERSION",
    "RecordError",
    "ResultsWriteError",
    "RunRecord",
    "atomic_write_text",
    "ensure_folder",
    "existing_ok_record",
    "is_demo_run",
    "is_demo_subset",
    "is_sweep_record",
    "latest_rows",
    "leaderboard_frame",
    "load_records",
    "method_overrides",
    "rank_order",
    "rank_rows",
    "read_record",
    "record_path",
    "records_dir",
    "records_frame",
    "repeat_rows",
    "write_error",
    "write_leaderboard",
    "write_record",
]

#: The leaderboard's columns, in order (``leaderboard.csv``). ``method`` is the
#: plain registry name; ``tag`` and ``variant`` say how a row departs from it;
#: ``display`` joins them for people ("alexnet (small stem)[centre-crop]").
LEADERBOARD_COLUMNS = [
    "rank",
    "method",
    "variant",
    "tag",
    "family",
    "year",
    "subset",
    "manifest_hash",
    "n_classes",
    "n_train",
    "n_val",
    "img_size",
    "crop",
    "param_count",
    "seed",
    "top1_err",
    "top5_err",
    "top1_err_ci_low",
    "top1_err_ci_high",
    "top5_err_ci_low",
    "top5_err_ci_high",
    "top1_err_std",
    "top5_err_std",
    "n_seeds",
    "top1_acc",
    "top5_acc",
    "monitor",
    "device",
    "train_seconds",
    "eval_seconds",
    "train_images_per_s",
    "peak_rss_mib",
    "date",
    "run_id",
    "error",
    "display",
]

#: Every column of :func:`records_frame` (one row per record).
RECORD_COLUMNS = [
    "run_id",
    "status",
    "ok",  # status "ok": both errors are known
    "error",  # the failure's message (None when ok)
    "method",
    "variant",
    "tag",
    "display",  # method (tag)[variant]
    "family",
    "year",
    "source",
    "subset",
    "subset_version",
    "manifest_hash",
    "layout",
    "n_classes",
    "n_train",
    "n_val",
    "img_size",  # stored side of the cached images, px
    "crop",  # side the model sees, px
    "param_count",
    "seed",
    "top1_err",  # percent; NaN for a failed run (in repeat_rows: the mean over seeds)
    "top5_err",
    "top1_err_ci_low",  # 95% bootstrap interval over val images (and seeds); NaN without hits
    "top1_err_ci_high",
    "top5_err_ci_low",
    "top5_err_ci_high",
    "top1_err_std",  # standard deviation over seeds (ddof=1); NaN for one seed
    "top5_err_std",
    "n_seeds",  # seeds aggregated: 1 per successful record (<NA> for a failed one)
    "seeds",  # tuple of those seeds
    "hits",  # tuple of ValHits, one per seed; () when a record has none
    "config_key",  # the configuration less the seed: records with one key are repeats
    "top1_acc",  # 100 - top1_err
    "top5_acc",
    "monitor",  # the split the method tuned on: "train-holdout", "val" or "none"
    "monitor_images",
    "train_seconds",
    "eval_seconds",
    "train_images_per_s",
    "eval_images_per_s",
    "peak_rss_mib",
    "device",
    "versions",  # dict
    "git_commit",
    "date",
    "command",  # the command that made the record (or one rebuilt from its config)
    "overrides",  # dict: the method's settings given by the suite file or --param
    "learning_curve",  # list of per-epoch dicts
    "epochs",  # epochs trained (training facts)
    "images_seen",  # training images processed, all epochs
    "fit_images",  # training images left for fitting after the monitor (monitor.n_fit)
    "is_sweep",  # written by `harness sweep` (config["sweep"] names the grid cell)
    "sweep_classes",
    "sweep_train_per_class",
    "is_demo",  # the generated demo data, not ImageNet
]

_INT_COLUMNS = (
    "year",
    "subset_version",
    "n_classes",
    "n_train",
    "n_val",
    "img_size",
    "crop",
    "param_count",
    "seed",
    "n_seeds",
    "epochs",
    "images_seen",
    "fit_images",
    "monitor_images",
    "sweep_classes",
    "sweep_train_per_class",
)
_FLOAT_COLUMNS = (
    "top1_err",
    "top5_err",
    "top1_err_ci_low",
    "top1_err_ci_high",
    "top5_err_ci_low",
    "top5_err_ci_high",
    "top1_err_std",
    "top5_err_std",
    "top1_acc",
    "top5_acc",
    "train_seconds",
    "eval_seconds",
    "train_images_per_s",
    "eval_images_per_s",
    "peak_rss_mib",
)
#: Groups: real data before the demo, then by subset and size; one group per manifest.
_GROUP_ORDER = ["is_demo", "subset", "n_classes", "n_train", "manifest_hash"]
#: Within a group, best first: top-5 error, then top-1 error, then the name (the one ranking).
RANK_BY = ["top5_err", "top1_err", "display"]


# ----------------------------------------------------------------- writing files


class ResultsWriteError(OSError):
    """A results file that cannot be written; the message names the path and what to do.

    ``errno`` and ``filename`` are those of the underlying OSError (its ``__cause__``).
    """

    def __str__(self) -> str:  # the one-line message, not "[Errno N] ..."
        return str(self.args[0]) if self.args else super().__str__()


_WHAT_TO_DO = "point --results (or --out) at a writable folder"


def _blocking_file(folder: Path) -> Path | None:
    """The nearest existing ancestor of ``folder`` (itself included) when it is not a folder."""
    for p in (folder, *folder.parents):
        if p.exists() or p.is_symlink():
            return None if p.is_dir() else p
    return None


def write_error(path: Path, exc: OSError, folder: Path | None = None) -> ResultsWriteError:
    """``exc`` from writing ``path`` (or creating ``folder``) as one line: what, and what to do."""
    path = Path(path)
    folder = Path(folder) if folder is not None else path.parent
    if isinstance(exc, ResultsWriteError):
        return exc
    blocker = _blocking_file(folder)
    if blocker is not None:
        what = f"{blocker} is a file, not a folder"
    elif exc.errno == errno.ENOSPC:
        what = exc.strerror or "No space left on device"
        return _with_errno(
            ResultsWriteError(
                f"cannot write {path}: {what}; free some space or point --results at another disk"
            ),
            exc,
        )
    elif exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        what = f"{folder} is not writable ({exc.strerror})"
    else:
        what = exc.strerror or str(exc)
    return _with_errno(ResultsWriteError(f"cannot write {path}: {what}; {_WHAT_TO_DO}"), exc)


def _with_errno(err: ResultsWriteError, cause: OSError) -> ResultsWriteError:
    err.errno = cause.errno
    err.filename = getattr(cause, "filename", None)
    return err


def ensure_folder(folder: Path) -> Path:
    """Create ``folder`` (and its parents) for results; ResultsWriteError when impossible."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise write_error(folder, exc, folder) from exc
    return folder


def _umask() -> int:
    """The process's umask, without changing it where /proc says it (no window for threads)."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    old = os.umask(0)
    os.umask(old)
    return old


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that readers never see a partial file.

    The file gets the mode an ordinary ``open`` would give it (``0o666`` less
    the umask; ``mkstemp`` alone would make it ``0o600``). On any failure (disk
    full included) the temporary file is removed, the previous content of
    ``path``, if any, is left untouched, and :class:`ResultsWriteError` names
    the path and what to do.
    """
    path = Path(path)
    ensure_folder(path.parent)
    tmp: str | None = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fchmod(fh.fileno(), 0o666 & ~_umask())
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        if isinstance(exc, OSError):
            raise write_error(path, exc) from exc
        raise


# ----------------------------------------------------------------- reading records


def records_dir(results_dir: Path) -> Path:
    return Path(results_dir) / "runs"


def record_path(results_dir: Path, run_id: str) -> Path:
    return records_dir(results_dir) / f"{run_id}.json"


def load_records(results_dir: Path, *, strict: bool = False) -> list[RunRecord]:
    """All valid records under ``results_dir/runs`` (temporary files ignored), by file name.

    A damaged, incomplete or mistyped record, or one of a newer schema, is
    skipped with one warning naming the file and its first bad field
    (``strict`` raises :class:`RecordError` instead).
    """
    folder = records_dir(results_dir)
    if not folder.is_dir():
        if folder.exists():
            log.warning("%s is a file, not a folder of records: no records read", folder)
        return []
    records = []
    for path in sorted(folder.glob("*.json")):
        if path.name.startswith("."):
            continue  # a temporary file of a writer in progress
        try:
            records.append(read_record(path))
        except RecordError as exc:
            if strict:
                raise
            log.warning("skipping %s", exc)
    return records


def existing_ok_record(results_dir: Path, run_id: str) -> RunRecord | None:
    """The record of ``run_id`` if it exists, is valid and succeeded, else None."""
    path = record_path(results_dir, run_id)
    if not path.exists():
        return None
    try:
        record = read_record(path)
    except RecordError:
        return None
    return record if record.ok else None


# ----------------------------------------------------------------- the records frame


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
    """The settings a run gave its method (suite file or ``--param``), not its defaults."""
    for spec in record.config.get("methods") or []:
        if isinstance(spec, Mapping) and spec.get("name") == record.method:
            return dict(spec.get("params") or {})
    return {}


def _int_or_none(x: Any) -> int | None:
    try:
        return int(x)
    except (TypeError, ValueError):
        return None


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


def _error_intervals(hits: ValHits | None) -> dict[str, float | None]:
    """The 95% bootstrap interval of each error from one record's hits (None without them)."""
    out: dict[str, float | None] = {}
    for k in (1, 5):
        low, high = bootstrap_error_ci(hits.hits(k)) if hits is not None else (None, None)
        out[f"top{k}_err_ci_low"], out[f"top{k}_err_ci_high"] = low, high
    return out


def _row(r: RunRecord) -> dict[str, Any]:
    cell = r.config.get("sweep")
    cell = cell if isinstance(cell, Mapping) and cell else None
    top1 = r.top1_err if r.ok else None
    top5 = r.top5_err if r.ok else None
    hits = r.val_hits if r.ok else None
    return {
        "run_id": r.run_id,
        "status": r.status,
        "ok": r.ok,
        "error": None if r.ok else r.error,
        "method": r.method,
        "variant": r.variant,
        "tag": r.tag,
        "display": r.display_name,
        "family": r.family,
        "year": r.year,
        "source": r.source,
        "subset": r.subset,
        "subset_version": r.subset_version,
        "manifest_hash": r.manifest_hash,
        "layout": r.layout,
        "n_classes": r.n_classes,
        "n_train": r.n_train,
        "n_val": r.n_val,
        "img_size": r.image_size,
        "crop": r.crop,
        "param_count": r.param_count,
        "seed": r.seed,
        "top1_err": top1,
        "top5_err": top5,
        **_error_intervals(hits),
        "top1_err_std": None,
        "top5_err_std": None,
        "n_seeds": 1 if r.ok else None,
        "seeds": (r.seed,),
        "hits": (hits,) if hits is not None else (),
        "config_key": config_key(r),
        "top1_acc": None if top1 is None else 100.0 - top1,
        "top5_acc": None if top5 is None else 100.0 - top5,
        "monitor": r.monitor.split,
        "monitor_images": r.monitor.n_images,
        "train_seconds": r.train_seconds,
        "eval_seconds": r.eval_seconds,
        "train_images_per_s": r.train_images_per_s,
        "eval_images_per_s": r.eval_images_per_s,
        "peak_rss_mib": r.peak_rss_mib,
        "device": r.device,
        "versions": dict(r.versions),
        "git_commit": r.git_commit,
        "date": r.date,
        "command": r.command_line(),
        "overrides": method_overrides(r),
        "learning_curve": list(r.learning_curve),
        "epochs": r.training.epochs,
        "images_seen": r.training.images_seen,
        "fit_images": r.monitor.n_fit,
        "is_sweep": cell is not None,
        "sweep_classes": _int_or_none(cell.get("classes")) if cell else None,
        "sweep_train_per_class": _int_or_none(cell.get("train_per_class")) if cell else None,
        "is_demo": is_demo_run(r.subset, r.config.get("data")),
    }


def records_frame(records: Iterable[RunRecord | Mapping[str, Any]]) -> pd.DataFrame:
    """One row per record, every column of :data:`RECORD_COLUMNS`, in the records' order.

    This is the one flattening of records; views select rows and columns of it
    (:func:`leaderboard_frame`, the report, the sweep). Dicts are validated as
    records first (RecordError names the bad field). Counts are nullable
    integers, errors and times floats (NaN when unknown or failed).
    """
    rows = [_row(parse_record(r)) for r in records]
    df = pd.DataFrame(rows, columns=RECORD_COLUMNS)
    for col in _INT_COLUMNS:
        df[col] = pd.array([None if pd.isna(v) else int(v) for v in df[col]], dtype="Int64")
    for col in _FLOAT_COLUMNS:
        df[col] = pd.to_numeric(df[col], errors="coerce").astype(float)
    for col in ("ok", "is_sweep", "is_demo"):
        df[col] = df[col].astype(bool)
    return df


def _oldest_first(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows by the records' ``date`` (then ``run_id``), undated first: the newest is last."""
    when = pd.to_datetime(frame["date"], utc=True, errors="coerce", format="ISO8601")
    return (
        frame.assign(_when=when)
        .sort_values(["_when", "run_id"], na_position="first", kind="stable")
        .drop(columns="_when")
    )


def latest_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per (manifest, method, variant): the newest successful record, else the newest.

    "Newest" is the record's ``date`` (then ``run_id``); a failed run stays only
    when no successful record exists for its key.
    """
    if frame.empty:
        return frame
    key = [frame["manifest_hash"], frame["method"], frame["variant"].fillna("")]
    any_ok = frame.groupby(key)["ok"].transform("any")
    ordered = _oldest_first(frame[frame["ok"] | ~any_ok])
    key = [ordered["manifest_hash"], ordered["method"], ordered["variant"].fillna("")]
    newest = ordered.groupby(key, sort=False).tail(1)
    return frame.loc[frame.index.isin(newest.index)]


def _paired_hits(hits: list[tuple[ValHits, ...]]) -> tuple[ValHits, ...]:
    """One ValHits per seed when every seed has hits of the same images in one order, else ()."""
    if not hits or any(len(h) != 1 for h in hits):
        return ()
    flat = tuple(h[0] for h in hits)
    if len({(h.n, h.order_digest) for h in flat}) != 1:
        return ()
    return flat


def _aggregate(repeats: pd.DataFrame) -> dict[str, Any]:
    """The columns of one row that change when it stands for several seeds."""
    out: dict[str, Any] = {"n_seeds": len(repeats), "seeds": tuple(repeats["seed"])}
    hits = _paired_hits(list(repeats["hits"]))
    out["hits"] = hits
    for k in (1, 5):
        errs = repeats[f"top{k}_err"].astype(float)
        out[f"top{k}_err"] = float(errs.mean())
        out[f"top{k}_acc"] = 100.0 - float(errs.mean())
        out[f"top{k}_err_std"] = float(errs.std(ddof=1))
        if hits:
            summary = combine_repeats([h.hits(k) for h in hits])
            low, high = summary.ci_low, summary.ci_high
        else:
            low = high = float("nan")
        out[f"top{k}_err_ci_low"], out[f"top{k}_err_ci_high"] = low, high
    return out


def repeat_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """:func:`latest_rows`, each successful row aggregated over its configuration's seeds.

    The repeats of a row are the successful records of its manifest, method,
    variant and :func:`config_key`, the newest one per seed (the row's own
    record among them). With more than one seed the errors become the mean
    over seeds, with ``top*_err_std``, ``n_seeds``, ``seeds`` and the
    two-level interval (NaN when a seed has no per-image hits, or the seeds'
    hits do not cover the same images in one order).
    """
    newest = latest_rows(frame)
    if newest.empty:
        return newest
    ok = _oldest_first(frame[frame["ok"]])
    key = ["manifest_hash", "method", "_variant", "config_key"]
    ok = ok.assign(
        _variant=ok["variant"].fillna(""),
        _seed=ok["seed"].astype("Float64").fillna(-1.0),  # an unknown seed is one seed
    )
    per_seed = ok.groupby([*key, "_seed"], sort=False).tail(1)
    repeats_of = {
        k: g.drop(columns=["_variant", "_seed"]) for k, g in per_seed.groupby(key, sort=False)
    }
    out = newest.copy()
    for index, row in newest.iterrows():
        if not row["ok"]:
            continue
        variant = row["variant"] if isinstance(row["variant"], str) else ""
        repeats = repeats_of[(row["manifest_hash"], row["method"], variant, row["config_key"])]
        if len(repeats) < 2:
            continue
        repeats = repeats.sort_values("seed", kind="stable", na_position="last")
        for col, value in _aggregate(repeats).items():
            out.at[index, col] = value
    return out


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

    Adds ``rank`` (nullable integer, 1 = best): successful rows are ranked,
    failed ones follow them unranked.
    """
    df = rank_order(frame.assign(_failed=~frame["ok"].astype(bool)))
    df = df.sort_values([*_GROUP_ORDER, "_failed"], kind="stable", na_position="last")
    rank = pd.Series(pd.NA, index=df.index, dtype="Int64")
    ok = df[~df["_failed"]]
    if len(ok):
        rank.loc[ok.index] = ok.groupby("manifest_hash", sort=False).cumcount().to_numpy() + 1
    df.insert(0, "rank", rank)
    return df.drop(columns="_failed").reset_index(drop=True)


def leaderboard_frame(
    records: Iterable[RunRecord | Mapping[str, Any]], *, all_records: bool = False
) -> pd.DataFrame:
    """The leaderboard: :data:`LEADERBOARD_COLUMNS`, grouped by manifest, ranked within it.

    One row per (manifest, method, variant), aggregated over its seeds
    (:func:`repeat_rows`), unless ``all_records`` (every record, one seed each).
    """
    frame = records_frame(records)
    if not all_records:
        frame = repeat_rows(frame)
    df = rank_rows(frame)
    for col in _FLOAT_COLUMNS:
        df[col] = df[col].round(2)
    return df[LEADERBOARD_COLUMNS]


def write_leaderboard(
    results_dir: Path,
    out: Path | None = None,
    *,
    all_records: bool = False,
    records: Iterable[RunRecord] | None = None,
) -> Path:
    """Regenerate ``leaderboard.csv`` from the records; returns its path.

    ``records`` defaults to :func:`load_records` of ``results_dir`` (a bad
    record: skipped with a warning). An unwritable destination raises
    :class:`ResultsWriteError`.
    """
    out = Path(out) if out else Path(results_dir) / "leaderboard.csv"
    records = load_records(results_dir) if records is None else records
    df = leaderboard_frame(records, all_records=all_records)
    atomic_write_text(out, df.to_csv(index=False))
    return out
