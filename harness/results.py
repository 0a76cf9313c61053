"""Run records (one JSON file per run) and the leaderboard derived from them.

A record is the single source of truth for a result; ``leaderboard.csv`` and
the report are views regenerated from records, never edited by hand. Records
are written atomically (temporary file in the same folder, fsync, rename), so a
reader sees either no record or a complete one, and concurrent runs writing
different records into one folder lose nothing.

Record schema (``SCHEMA_VERSION`` 1); errors are percentages, times seconds:

======================  =====================================================
run_id                  ``<subset>__<method>__<config hash>`` (file name stem)
status                  ``"ok"`` or ``"error"``
error                   message of the failure (``null`` when ok)
method, variant         registry name; variant of the method (``null``) e.g.
                        ``"centre-crop"``, ``"ensemble-5"``
display_name            ``method``, ``method (tag)`` when the method names its
                        departures from the published model
                        (``display_tag``), plus ``[variant]`` for variants
year, source            the era and the citation of the method
params                  the method's parameters
subset, subset_version  the named subset and its version
manifest_hash           identifies the exact images (see harness.data)
layout                  the dataset layout that was read
label_space             always ``"sorted-wnid-index"`` (never devkit IDs)
n_classes, n_train,     counts of the evaluated subset
n_val, image_size
top1_err, top5_err      ILSVRC flat error in percent (devkit semantics)
train_seconds,          wall time of ``fit`` and of ``decision_function``; a
                        resumed CNN's ``train_seconds`` adds the epochs trained
                        before the kill (``notes.train_seconds_before_resume``)
eval_seconds
train_images_per_s,     images per second of training (n_train * passes is not
eval_images_per_s       known to the harness: n_train / train_seconds)
peak_rss_mib            peak resident memory (MiB): the sum of the RSS of the
                        harness process and its workers during fit +
                        decision_function, sampled every 0.25 s (shared and
                        resident memory-mapped pages count per process: an
                        upper bound); also recorded for a failed run
device                  the device name (GPU model or CPU model and cores)
versions                python, harness and library versions
git_commit              commit of the harness checkout (or null)
seed, date              seed of the run; UTC ISO date of the record
bad_images              images excluded with --skip-bad-images: [path, reason]
learning_curve          per-epoch rows logged by the method (may be empty)
notes                   free-form facts the method reported
config                  the full resolved run configuration
======================  =====================================================
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1

REQUIRED_FIELDS = (
    "run_id",
    "status",
    "method",
    "subset",
    "manifest_hash",
    "top1_err",
    "top5_err",
)

LEADERBOARD_COLUMNS = [
    "rank",
    "method",
    "year",
    "subset",
    "n_classes",
    "n_train",
    "n_val",
    "top1_err",
    "top5_err",
    "device",
    "train_seconds",
    "eval_seconds",
    "train_images_per_s",
    "peak_rss_mib",
    "manifest_hash",
    "date",
    "run_id",
    "error",
]


class RecordError(ValueError):
    """A record file that is not a complete, valid record."""


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that readers never see a partial file.

    On any failure (disk full included) the temporary file is removed and the
    previous content of ``path``, if any, is left untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "item"):  # numpy scalars
        return obj.item()
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, set | frozenset | tuple):
        return list(obj)
    return repr(obj)


def _clean_floats(obj: Any) -> Any:
    """JSON has no NaN/inf: they become null."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _clean_floats(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_clean_floats(v) for v in obj]
    return obj


def records_dir(results_dir: Path) -> Path:
    return Path(results_dir) / "runs"


def record_path(results_dir: Path, run_id: str) -> Path:
    return records_dir(results_dir) / f"{run_id}.json"


def write_record(results_dir: Path, record: dict[str, Any]) -> Path:
    """Write one record atomically as ``runs/<run_id>.json``; returns its path."""
    missing = [f for f in REQUIRED_FIELDS if f not in record]
    if missing:
        raise RecordError(f"record {record.get('run_id')!r} lacks fields {missing}")
    record = {"schema_version": SCHEMA_VERSION, **record}
    text = json.dumps(_clean_floats(record), indent=2, default=_json_default, sort_keys=False)
    path = record_path(results_dir, record["run_id"])
    # Temporaries of this record left by a killed writer: one run id has one writer at a
    # time (the runner holds its lock), so any that exist are dead.
    for stale in path.parent.glob(f".{path.name}.*.tmp"):
        stale.unlink(missing_ok=True)
    atomic_write_text(path, text + "\n")
    return path


def read_record(path: Path) -> dict[str, Any]:
    """Read one record; raise RecordError naming the file when it is not valid."""
    try:
        record = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RecordError(f"{path}: not a readable JSON record ({exc})") from exc
    if not isinstance(record, dict):
        raise RecordError(f"{path}: a record must be a JSON object")
    missing = [f for f in REQUIRED_FIELDS if f not in record]
    if missing:
        raise RecordError(f"{path}: incomplete record, missing {missing}")
    return record


def load_records(results_dir: Path, *, strict: bool = False) -> list[dict[str, Any]]:
    """All complete records under ``results_dir/runs`` (temporary files ignored).

    A damaged record is skipped with a warning naming it (``strict`` raises).
    """
    records = []
    folder = records_dir(results_dir)
    if not folder.is_dir():
        return records
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


def existing_ok_record(results_dir: Path, run_id: str) -> dict[str, Any] | None:
    """The record of ``run_id`` if it exists and succeeded, else None."""
    path = record_path(results_dir, run_id)
    if not path.exists():
        return None
    try:
        record = read_record(path)
    except RecordError:
        return None
    return record if record.get("status") == "ok" else None


def leaderboard_frame(records: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """One row per record, ranked by top-5 error within each subset.

    Failed runs stay as rows with their error and no rank, after the ranked ones.
    """
    rows = []
    for r in records:
        rows.append(
            {
                "method": r.get("display_name") or r["method"],
                "year": r.get("year"),
                "subset": r["subset"],
                "n_classes": r.get("n_classes"),
                "n_train": r.get("n_train"),
                "n_val": r.get("n_val"),
                "top1_err": r.get("top1_err"),
                "top5_err": r.get("top5_err"),
                "device": r.get("device"),
                "train_seconds": r.get("train_seconds"),
                "eval_seconds": r.get("eval_seconds"),
                "train_images_per_s": r.get("train_images_per_s"),
                "peak_rss_mib": r.get("peak_rss_mib"),
                "manifest_hash": r.get("manifest_hash"),
                "date": r.get("date"),
                "run_id": r["run_id"],
                "error": r.get("error"),
            }
        )
    df = pd.DataFrame(rows, columns=[c for c in LEADERBOARD_COLUMNS if c != "rank"])
    if df.empty:
        return pd.DataFrame(columns=LEADERBOARD_COLUMNS)
    ok = df["error"].isna() & df["top5_err"].notna()
    df["_failed"] = ~ok
    df = df.sort_values(["subset", "_failed", "top5_err", "top1_err", "method"], kind="stable")
    df["rank"] = pd.array([pd.NA] * len(df), dtype="Int64")
    ranked = df.loc[ok.reindex(df.index)]
    df.loc[ranked.index, "rank"] = ranked.groupby("subset").cumcount().to_numpy() + 1
    df = df.drop(columns="_failed")
    for col in (
        "top1_err",
        "top5_err",
        "train_seconds",
        "eval_seconds",
        "train_images_per_s",
        "peak_rss_mib",
    ):
        df[col] = pd.to_numeric(df[col], errors="coerce").round(2)
    return df[LEADERBOARD_COLUMNS].reset_index(drop=True)


def write_leaderboard(results_dir: Path, out: Path | None = None) -> Path:
    """Regenerate ``leaderboard.csv`` from the records; returns its path."""
    out = Path(out) if out else Path(results_dir) / "leaderboard.csv"
    df = leaderboard_frame(load_records(results_dir))
    atomic_write_text(out, df.to_csv(index=False))
    return out
