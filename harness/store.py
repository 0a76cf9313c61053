"""Records on disk: atomic writes, where each file lives, reading and writing records.

The store is the only module that touches result files. A record
(:class:`harness.record.RunRecord`, the schema) lives as
``<results>/runs/<run_id>.json``; a method's learning curve beside it as
``<run_id>.curve.csv``; a failed rerun of a run that already has a good record
is kept aside under ``runs/failed/`` so the good one stays in place.

Files are written atomically (temporary file in the same folder, fsync,
rename) with the user's umask, so a reader sees either no file or a complete
one, and concurrent runs writing different records into one folder lose
nothing. A write that cannot happen raises :class:`ResultsWriteError` with one
line naming the path and what to do.

Reading is cached per process: a record file is parsed again only when its
``(mtime, size, inode)`` changed, so regenerating the leaderboard after every
method parses only the records written since (:func:`write_record` puts what
it wrote in the cache, so not even those).
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from harness.record import RecordError, RunRecord, parse_record

log = logging.getLogger(__name__)

__all__ = [
    "ResultsWriteError",
    "atomic_write_text",
    "clear_cache",
    "ensure_folder",
    "existing_ok_record",
    "keep_failed_attempt",
    "load_records",
    "read_record",
    "record_path",
    "records_dir",
    "write_curve",
    "write_error",
    "write_record",
]


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


# ----------------------------------------------------------------- paths


def records_dir(results_dir: Path) -> Path:
    """The folder of a results folder's records: ``<results>/runs``."""
    return Path(results_dir) / "runs"


def record_path(results_dir: Path, run_id: str) -> Path:
    """Where the record of ``run_id`` lives: ``<results>/runs/<run_id>.json``."""
    return records_dir(results_dir) / f"{run_id}.json"


# ----------------------------------------------------------------- the parse cache

#: Parsed records by resolved path, with the (mtime_ns, size, inode) they were parsed at.
_PARSED: dict[Path, tuple[tuple[int, int, int], RunRecord]] = {}


def _stamp(stat: os.stat_result) -> tuple[int, int, int]:
    # An atomic rewrite is a new inode, so even a rewrite of equal size within one
    # mtime tick is seen.
    return (stat.st_mtime_ns, stat.st_size, stat.st_ino)


def clear_cache() -> None:
    """Forget every parsed record (the next reads parse their files again)."""
    _PARSED.clear()


def _parse_file(path: Path) -> RunRecord:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RecordError(f"{path}: not a readable JSON record ({exc})") from exc
    return parse_record(data, path)


def read_record(path: Path) -> RunRecord:
    """Read and validate one record file; RecordError names the file and the first bad field.

    A file unchanged since it was last read (or written) in this process is not
    parsed again.
    """
    path = Path(path)
    try:
        stamp = _stamp(path.stat())
    except OSError as exc:
        raise RecordError(f"{path}: not a readable JSON record ({exc})") from exc
    key = path.resolve()
    hit = _PARSED.get(key)
    if hit is not None and hit[0] == stamp:
        return hit[1]
    record = _parse_file(path)
    _PARSED[key] = (stamp, record)
    return record


def load_records(results_dir: Path, *, strict: bool = False) -> list[RunRecord]:
    """All valid records under ``results_dir/runs`` (temporary files ignored), by file name.

    A damaged, incomplete or mistyped record, or one of a newer schema, is
    skipped with one warning naming the file and its first bad field
    (``strict`` raises :class:`RecordError` instead). Only files new or changed
    since the last read in this process are parsed.
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


# ----------------------------------------------------------------- writing records


def _as_record(record: RunRecord | Mapping[str, Any], source: str | None = None) -> RunRecord:
    """``record`` validated (RecordError names the bad field and ``source``)."""
    if isinstance(record, RunRecord):
        return record
    return parse_record(record, source or f"record {record.get('run_id')!r}")


def write_record(results_dir: Path, record: RunRecord | Mapping[str, Any]) -> Path:
    """Write one record atomically as ``results_dir/runs/<run_id>.json``; returns its path.

    A dict is validated first (RecordError names the bad field). Unwritable
    folders raise :class:`ResultsWriteError`. The record written is what later
    reads of the file in this process return, unparsed.
    """
    record = _as_record(record)
    path = record_path(results_dir, record.run_id)
    # Temporaries of this record left by a killed writer: one run id has one writer at a
    # time (the runner holds its lock), so any that exist are dead.
    if path.parent.is_dir():
        for stale in path.parent.glob(f".{path.name}.*.tmp"):
            stale.unlink(missing_ok=True)
    atomic_write_text(path, record.to_json())
    with contextlib.suppress(OSError):
        _PARSED[path.resolve()] = (_stamp(path.stat()), record)
    return path


def keep_failed_attempt(results_dir: Path, record: dict[str, Any]) -> Path:
    """A failed rerun of a run that has a good record: kept aside, the good record untouched.

    Written as ``runs/failed/<run_id>.<date stamp>.json`` (never read as a record of
    the results folder); returns its path.
    """
    stamp = str(record["date"]).replace(":", "").replace("-", "")
    path = records_dir(results_dir) / "failed" / f"{record['run_id']}.{stamp}.json"
    atomic_write_text(path, _as_record(record, str(path)).to_json() + "\n")
    return path


def write_curve(results_dir: Path, run_id: str, rows: list[dict[str, Any]]) -> None:
    """A method's per-epoch rows as ``runs/<run_id>.curve.csv`` (nothing without rows)."""
    if not rows:
        return
    import pandas as pd  # pandas only for a method that logged epochs

    path = record_path(results_dir, run_id).with_suffix(".curve.csv")
    atomic_write_text(path, pd.DataFrame(rows).to_csv(index=False))
