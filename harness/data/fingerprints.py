"""Cheap content fingerprints of image files, with an optional on-disk memo.

A fingerprint is ``<file size>-<blake2b-128 of the first 64 KiB>``. Hashing
whole files would read all of ILSVRC-2012 (~140 GB) on every run; size plus
the head catches the realistic changes (a replaced, truncated, re-encoded or
re-compressed image changes its size or its JPEG header and first scans) at a
cost of one small read per file, done on a thread pool because it is I/O.

Even 64 KiB per file is most of an average ImageNet JPEG (~110 KB), so for
large copies a memo (``memo_dir``) remembers ``(size, mtime_ns) ->
fingerprint`` per file, the rule ``make`` and ``rsync`` use: a file whose size
and nanosecond modification time are unchanged is not read again. The memo is
only a speed-up: a missing or damaged memo is recomputed, never trusted.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd

__all__ = ["FINGERPRINT_BYTES", "file_fingerprint", "fingerprint_files"]

FINGERPRINT_BYTES = 64 * 1024


def file_fingerprint(path: str | Path) -> str:
    """``<size>-<blake2b-128 of the first 64 KiB>``; ``unreadable-<error>`` if it cannot be read.

    An unreadable file is not an error here: the decoder reports it by path
    with the reason, together with every other bad image.
    """
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            head = f.read(FINGERPRINT_BYTES)
    except OSError as exc:
        return f"unreadable-{type(exc).__name__}"
    return f"{size}-{hashlib.blake2b(head, digest_size=16).hexdigest()}"


def _memo_path(memo_dir: Path, root: Path) -> Path:
    key = hashlib.blake2b(str(root).encode(), digest_size=8).hexdigest()
    return memo_dir / f"fingerprints-{key}.csv"


def _load_memo(path: Path) -> dict[str, tuple[int, int, str]]:
    try:
        df = pd.read_csv(
            path, dtype={"path": str, "size": "int64", "mtime_ns": "int64", "fingerprint": str}
        )
        return {
            p: (s, m, f)
            for p, s, m, f in df[["path", "size", "mtime_ns", "fingerprint"]].itertuples(
                index=False
            )
        }
    except (OSError, ValueError, KeyError):
        return {}  # no memo, or a damaged one: recompute


def fingerprint_files(
    root: Path, paths: Sequence[str], *, memo_dir: Path | None = None, io_threads: int = 16
) -> list[str]:
    """Fingerprints of ``root/<path>`` for each root-relative ``path``, in order."""
    if memo_dir is None:
        with ThreadPoolExecutor(max_workers=io_threads) as pool:
            return list(pool.map(file_fingerprint, (root / p for p in paths), chunksize=64))

    memo_file = _memo_path(memo_dir, root)
    memo = _load_memo(memo_file)
    fresh: dict[str, tuple[int, int, str]] = {}

    def one(rel: str) -> str:
        try:
            st = os.stat(root / rel)
        except OSError:
            return file_fingerprint(root / rel)
        known = memo.get(rel)
        if known is not None and known[0] == st.st_size and known[1] == st.st_mtime_ns:
            return known[2]
        fp = file_fingerprint(root / rel)
        if not fp.startswith("unreadable"):
            fresh[rel] = (st.st_size, st.st_mtime_ns, fp)
        return fp

    with ThreadPoolExecutor(max_workers=io_threads) as pool:
        out = list(pool.map(one, paths, chunksize=64))
    if fresh:
        memo.update(fresh)
        rows = [(p, *v) for p, v in memo.items()]
        try:
            memo_dir.mkdir(parents=True, exist_ok=True)
            tmp = memo_file.with_name(f"{memo_file.name}.tmp-{os.getpid()}")
            pd.DataFrame(rows, columns=["path", "size", "mtime_ns", "fingerprint"]).to_csv(
                tmp, index=False
            )
            os.replace(tmp, memo_file)
        except OSError:
            pass  # a memo we cannot write only costs speed next time
    return out
