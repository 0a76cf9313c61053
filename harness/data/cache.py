"""The decoded-image cache: every image of a manifest decoded once, memory-mapped back.

Layout on disk, one folder per (manifest hash, stored size)::

    <cache_root>/<subset>-<hash16>-s<size>/images.u8   raw uint8 rows (N, S, S, 3), manifest order
    <cache_root>/<subset>-<hash16>-s<size>/meta.json   written last: shape, checksums, bad images
    <cache_root>/<subset>-<hash16>-s<size>.lock        cross-process lock (filelock)

Guarantees:

* **Atomic.** Rows are decoded into ``images.u8.tmp-<pid>`` (space reserved up
  front with ``posix_fallocate``, so a full disk is an ``ENOSPC`` error at the
  start, never a SIGBUS half-way), fsynced, renamed with ``os.replace``; then
  ``meta.json`` is written the same way, *last*. A cache is used only if its
  metadata parses, carries its own checksum, names this manifest hash and
  size, and the data file has exactly the recorded length and checksum.
  Anything else (a SIGKILLed build, a truncated or edited file) is rebuilt.
* **Once.** Builders take a ``filelock`` lock and re-check after getting it, so
  two runs needing the same cache build it once.
* **Bounded memory.** Workers decode chunks of :data:`CHUNK_ROWS` images and
  ``os.pwrite`` them straight into the file; the parent never holds images.
* **Nothing silent.** Every undecodable file is collected (path + reason). The
  cache keeps only the good rows (in manifest order) and lists the bad ones in
  its metadata; :func:`ensure_cache` raises :class:`BadImagesError` with the
  whole list unless ``skip_bad_images``.

Parallelism is ``concurrent.futures.ProcessPoolExecutor`` on a ``forkserver``
context (forking a parent that may already run threads, e.g. torch's, is
unsafe).
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import multiprocessing
import os
import re
import time
from concurrent.futures import FIRST_EXCEPTION, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from filelock import FileLock

from harness.api import Split
from harness.data.decode import MAX_PIXELS, decode_or_reason
from harness.data.errors import BadImagesError, CacheWriteError
from harness.data.manifest import Manifest

__all__ = ["CACHE_FORMAT", "CHUNK_ROWS", "CachedSubset", "cache_dir_for", "ensure_cache"]

log = logging.getLogger(__name__)

CACHE_FORMAT = "harness-cache/1"
CHUNK_ROWS = 256  # images per worker task: ~50 MB of rows at 256 px, ~3 MB at 64 px
DATA_FILE = "images.u8"
META_FILE = "meta.json"
#: Data files up to this size are verified by a full checksum on every open;
#: larger ones (ILSVRC-2012 at 256 px is ~250 GB) by size + a sampled checksum.
FULL_VERIFY_BYTES = 2 * 1024**3
_SAMPLE_BLOCKS, _SAMPLE_BYTES = 64, 64 * 1024
_READ_BLOCK = 16 * 1024 * 1024


@dataclass
class CachedSubset:
    """A built, verified cache: the good rows of a manifest as a read-only memory map."""

    manifest: Manifest
    directory: Path
    images: np.ndarray  # (n_rows, S, S, 3) uint8, read-only memmap
    rows: np.ndarray  # (n_rows,) int64: manifest entry index of each cached row
    bad_images: list[tuple[str, str]]  # (path, reason) of every image left out
    build_seconds: float  # wall time of the build that made this cache
    n_decoded: int  # images decoded (good + bad) by that build
    n_jobs: int  # worker processes of that build
    built_now: bool  # True if this call built it, False if an existing cache was reused

    @property
    def decode_rate(self) -> float:
        """Images decoded per second by the build that made this cache."""
        return self.n_decoded / self.build_seconds if self.build_seconds > 0 else float("nan")

    @property
    def size(self) -> int:
        return self.manifest.subset.size

    def split(self, name: str) -> Split:
        """The ``"train"`` or ``"val"`` rows as a :class:`harness.api.Split` (a memmap view)."""
        entries = self.manifest.entries
        in_split = (entries["split"].to_numpy()[self.rows] == name).nonzero()[0]
        if len(in_split) and (in_split[-1] - in_split[0] + 1) != len(in_split):
            raise AssertionError(f"cache {self.directory}: {name} rows are not contiguous")
        lo, hi = (int(in_split[0]), int(in_split[-1]) + 1) if len(in_split) else (0, 0)
        picked = entries.iloc[self.rows[lo:hi]]
        return Split(
            name=name,
            images=self.images[lo:hi],
            labels=picked["label"].to_numpy(dtype=np.int64),
            wnids=self.manifest.wnids,
            paths=tuple(picked["path"]),
            class_names=self.manifest.class_names,
        )

    def record(self) -> dict[str, Any]:
        """Facts for the run record."""
        return {
            "cache_dir": str(self.directory),
            "cache_built_now": self.built_now,
            "cache_build_seconds": round(self.build_seconds, 3),
            "cache_decode_images_per_s": round(self.decode_rate, 1),
            "cache_n_jobs": self.n_jobs,
            "bad_images": [list(b) for b in self.bad_images],
        }


def cache_dir_for(manifest: Manifest, cache_root: Path) -> Path:
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", manifest.subset.name)
    return Path(cache_root) / f"{name}-{manifest.hash[:16]}-s{manifest.subset.size}"


# --------------------------------------------------------------------------- verification


def _file_checksum(path: Path) -> str:
    h = hashlib.blake2b(digest_size=20)
    with open(path, "rb") as f:
        while block := f.read(_READ_BLOCK):
            h.update(block)
    return h.hexdigest()


def _sample_checksum(path: Path, nbytes: int) -> str:
    """Blocks at evenly spaced offsets plus the tail: O(1) reads for a huge file."""
    h = hashlib.blake2b(digest_size=20)
    with open(path, "rb") as f:
        offsets = {int(o) for o in np.linspace(0, max(0, nbytes - _SAMPLE_BYTES), _SAMPLE_BLOCKS)}
        for off in sorted(offsets):
            f.seek(off)
            h.update(f.read(_SAMPLE_BYTES))
    return h.hexdigest()


def _meta_digest(meta: dict[str, Any]) -> str:
    body = {k: v for k, v in meta.items() if k != "meta_checksum"}
    return hashlib.blake2b(json.dumps(body, sort_keys=True).encode(), digest_size=20).hexdigest()


def _open_valid(directory: Path, manifest: Manifest) -> tuple[CachedSubset | None, str]:
    """The cache in ``directory`` if it is complete and matches ``manifest``, else (None, why)."""
    meta_path, data_path = directory / META_FILE, directory / DATA_FILE
    if not meta_path.is_file():
        return None, "no metadata (never built, or the build did not finish)"
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return None, f"unreadable metadata: {exc}"
    if not isinstance(meta, dict) or meta.get("meta_checksum") != _meta_digest(meta):
        return None, "metadata checksum mismatch (damaged or edited)"
    size = manifest.subset.size
    expect = {
        "format": CACHE_FORMAT,
        "manifest_hash": manifest.hash,
        "size": size,
        "n_entries": len(manifest),
    }
    for key, want in expect.items():
        if meta.get(key) != want:
            return None, f"stale: {key} is {meta.get(key)!r}, expected {want!r}"
    excluded = sorted(int(i) for i in meta["excluded"])
    rows = np.setdiff1d(
        np.arange(len(manifest), dtype=np.int64), np.asarray(excluded, dtype=np.int64)
    )
    nbytes = len(rows) * size * size * 3
    try:
        actual = data_path.stat().st_size
    except OSError:
        return None, f"{DATA_FILE} is missing"
    if actual != nbytes or meta.get("data_bytes") != nbytes:
        return None, f"{DATA_FILE} has {actual} bytes, expected {nbytes}"
    if nbytes <= FULL_VERIFY_BYTES:
        if _file_checksum(data_path) != meta["checksum"]:
            return None, f"{DATA_FILE} checksum mismatch (damaged)"
    elif _sample_checksum(data_path, nbytes) != meta["sample_checksum"]:
        return None, f"{DATA_FILE} sampled checksum mismatch (damaged)"
    if len(rows):
        images: np.ndarray = np.memmap(
            data_path, dtype=np.uint8, mode="r", shape=(len(rows), size, size, 3)
        )
    else:
        images = np.zeros((0, size, size, 3), np.uint8)
    root = manifest.root
    bad = [(str(root / p), reason) for p, reason in meta["bad_images"]]
    return (
        CachedSubset(
            manifest=manifest,
            directory=directory,
            images=images,
            rows=rows,
            bad_images=bad,
            build_seconds=float(meta["build_seconds"]),
            n_decoded=int(meta["n_decoded"]),
            n_jobs=int(meta["n_jobs"]),
            built_now=False,
        ),
        "",
    )


# --------------------------------------------------------------------------- building


def _allocate(path: Path, nbytes: int) -> None:
    """Create ``path`` with ``nbytes`` reserved on disk (ENOSPC now, not SIGBUS later)."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        if nbytes:
            try:
                os.posix_fallocate(fd, 0, nbytes)
            except OSError as exc:
                if exc.errno not in (errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL):
                    raise
                os.ftruncate(fd, nbytes)  # filesystem without fallocate: sparse file
    finally:
        os.close(fd)


def _decode_chunk(
    paths: list[str], size: int, data_path: str, first_row: int, max_pixels: int
) -> list[tuple[int, str]]:
    """Decode ``paths`` into rows ``first_row...`` of ``data_path``; return (row, reason) of failures."""
    block = np.zeros((len(paths), size, size, 3), np.uint8)
    bad: list[tuple[int, str]] = []
    for i, path in enumerate(paths):
        image, reason = decode_or_reason(path, size, max_pixels)
        if image is None:
            bad.append((first_row + i, reason))
        else:
            block[i] = image
    _write_rows(data_path, first_row * size * size * 3, block)
    return bad


def _write_rows(data_path: str, offset: int, block: np.ndarray) -> None:
    fd = os.open(data_path, os.O_WRONLY)
    try:
        view = memoryview(block.reshape(-1))
        while view:
            written = os.pwrite(fd, view, offset)
            view, offset = view[written:], offset + written
    finally:
        os.close(fd)


def _compact(data_path: Path, n: int, size: int, keep: np.ndarray) -> None:
    """Drop the rows not in ``keep`` (sorted) in place, chunk by chunk, then truncate."""
    shape = (n, size, size, 3)
    mm = np.memmap(data_path, dtype=np.uint8, mode="r+", shape=shape)
    write = 0
    for start in range(0, len(keep), CHUNK_ROWS):
        idx = keep[start : start + CHUNK_ROWS]
        rows = mm[idx]  # a copy: sources are never behind the write position
        mm[write : write + len(idx)] = rows
        write += len(idx)
    mm.flush()
    del mm
    os.truncate(data_path, len(keep) * size * size * 3)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_meta(directory: Path, meta: dict[str, Any]) -> None:
    meta = dict(meta, meta_checksum=_meta_digest(meta))
    tmp = directory / f"{META_FILE}.tmp-{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(meta, f, indent=1, sort_keys=True)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, directory / META_FILE)
    _fsync(directory)


def _run_chunks(
    tasks: list[tuple[list[str], int]],
    args: tuple[int, str, int],
    n_jobs: int,
    progress: Any,
) -> list[tuple[int, str]]:
    bad: list[tuple[int, str]] = []
    if n_jobs <= 1:
        for paths, first in tasks:
            bad += _decode_chunk(paths, args[0], args[1], first, args[2])
            progress.update(len(paths))
        return bad
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["harness.data.decode"])
    with ProcessPoolExecutor(max_workers=n_jobs, mp_context=ctx) as pool:
        futures = {
            pool.submit(_decode_chunk, paths, args[0], args[1], first, args[2]): len(paths)
            for paths, first in tasks
        }
        pending = set(futures)
        while pending:
            done, pending = wait(pending, return_when=FIRST_EXCEPTION)
            for fut in done:
                if fut.exception() is not None:
                    for p in pending:
                        p.cancel()
                    raise fut.exception()  # type: ignore[misc]
                bad += fut.result()
                progress.update(futures[fut])
    return sorted(bad)


def _build(directory: Path, manifest: Manifest, n_jobs: int, quiet: bool, max_pixels: int) -> None:
    from harness.api import progress_bar

    size, n = manifest.subset.size, len(manifest)
    row_bytes = size * size * 3
    tmp = directory / f"{DATA_FILE}.tmp-{os.getpid()}"
    paths = [str(manifest.root / p) for p in manifest.entries["path"]]
    tasks = [(paths[i : i + CHUNK_ROWS], i) for i in range(0, n, CHUNK_ROWS)]
    t0 = time.perf_counter()
    try:
        directory.mkdir(parents=True, exist_ok=True)
        # Invalidate first: from here until meta.json is rewritten, nothing here looks valid.
        (directory / META_FILE).unlink(missing_ok=True)
        for stale in directory.glob("*.tmp-*"):
            stale.unlink(missing_ok=True)
        (directory / DATA_FILE).unlink(missing_ok=True)
        _allocate(tmp, n * row_bytes)
        with progress_bar(
            total=n, unit="img", desc=f"decoding {manifest.subset.key} @{size}px", quiet=quiet
        ) as bar:
            bad = _run_chunks(tasks, (size, str(tmp), max_pixels), n_jobs, bar)
        bad_rows = np.asarray([r for r, _ in bad], dtype=np.int64)
        keep = np.setdiff1d(np.arange(n, dtype=np.int64), bad_rows)
        if len(bad):
            _compact(tmp, n, size, keep)
        _fsync(tmp)
        seconds = time.perf_counter() - t0
        nbytes = len(keep) * row_bytes
        meta = {
            "format": CACHE_FORMAT,
            "manifest_hash": manifest.hash,
            "subset": manifest.subset.key,
            "size": size,
            "n_entries": n,
            "n_rows": len(keep),
            "data_bytes": nbytes,
            "excluded": bad_rows.tolist(),
            "bad_images": [[manifest.entries["path"].iat[r], reason] for r, reason in bad],
            "checksum": _file_checksum(tmp),
            "sample_checksum": _sample_checksum(tmp, nbytes),
            "build_seconds": seconds,
            "n_decoded": n,
            "n_jobs": n_jobs,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        os.replace(tmp, directory / DATA_FILE)
        _write_meta(directory, meta)
    except OSError as exc:
        for leftover in (tmp, directory / DATA_FILE, directory / META_FILE):
            leftover.unlink(missing_ok=True)
        need = f"{n * row_bytes / 2**30:.2f} GiB for {n} images at {size}x{size}"
        if exc.errno == errno.ENOSPC:
            raise CacheWriteError(
                f"no space left on device while writing the image cache in {directory} ({need}); "
                f"nothing was kept. Free space or point the cache elsewhere (--cache)"
            ) from exc
        raise CacheWriteError(
            f"cannot write the image cache in {directory} ({need}): {exc}"
        ) from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def ensure_cache(
    manifest: Manifest,
    cache_root: str | Path,
    *,
    n_jobs: int,
    skip_bad_images: bool = False,
    quiet: bool = False,
    max_pixels: int = MAX_PIXELS,
) -> CachedSubset:
    """The verified cache of ``manifest`` under ``cache_root``, built (once) if needed.

    Raises :class:`BadImagesError` listing every undecodable image unless
    ``skip_bad_images``, in which case they are excluded from the splits and
    listed in :attr:`CachedSubset.bad_images`. Raises :class:`CacheWriteError`
    when the cache cannot be written (e.g. the disk is full).
    """
    directory = cache_dir_for(manifest, Path(cache_root))
    cached, why = _open_valid(directory, manifest)
    if cached is None:
        try:
            directory.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CacheWriteError(
                f"cannot create the cache folder {directory.parent}: {exc}"
            ) from exc
        with FileLock(str(directory) + ".lock"):
            cached, why = _open_valid(directory, manifest)  # another process may have built it
            if cached is None:
                if directory.exists():
                    log.info("rebuilding image cache %s: %s", directory, why)
                _build(directory, manifest, max(1, n_jobs), quiet, max_pixels)
                cached, why = _open_valid(directory, manifest)
                if cached is None:
                    raise CacheWriteError(
                        f"image cache {directory} failed verification right after building: {why}"
                    )
                cached.built_now = True
    if cached.bad_images and not skip_bad_images:
        raise BadImagesError(cached.bad_images, cache_dir=directory)
    return cached
