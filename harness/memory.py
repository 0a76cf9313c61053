"""Peak resident memory of one method's run: this process and every worker it starts.

``resource.getrusage`` gives a lifetime maximum for the process (not per
method) and counts children only once they have exited, so a background
thread samples the resident set of the process tree with psutil instead.
The figure is the sum of the processes' resident set sizes, so pages shared
between them (forked workers, the same memory-mapped file) are counted once
per process that maps them: an upper bound on the physical memory in use, and
resident memory-mapped cache pages count, as the kernel counts them. A spike
shorter than the sampling interval can be missed; workers on other machines
(a remote Dask cluster) are not counted.

Beside it, :attr:`PeakMemory.anon_bytes` is the peak of the same sum less each
process's file-backed resident pages (psutil's ``shared``: the memory-mapped
image cache and stored features, which the kernel drops and rereads under
pressure): the memory a run cannot do without. Where the platform does not
report file-backed pages, it equals the resident figure.

The streaming readers keep the cache out of the resident set: they read rows
with :func:`read_rows` (positioned reads, never through the map) and drop the
pages of rows they wrote through a map (:func:`release_rows`), so a run's
resident peak is its own memory plus its libraries, not the share of a 250 GB
cache that it last touched.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import threading
from types import TracebackType
from typing import Any, NamedTuple

import numpy as np
import psutil

PAGE = mmap.PAGESIZE

__all__ = ["PeakMemory", "own_anon_bytes", "read_rows", "release_rows"]


class PeakMemory:
    """Context manager: ``with PeakMemory() as peak: ...; peak.mib``."""

    def __init__(self, interval_s: float = 0.25) -> None:
        self.interval_s = interval_s
        self.peak_bytes = 0
        self.anon_bytes = 0  # peak of the resident memory less file-backed pages
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample_loop, daemon=True)
        self._process = psutil.Process()

    def _tree_rss(self) -> tuple[int, int]:
        """(resident, resident less file-backed) bytes, summed over the process tree."""
        rss = anon = 0
        try:
            procs = [self._process, *self._process.children(recursive=True)]
        except psutil.Error:
            return 0, 0
        for proc in procs:
            # a worker may exit between listing and reading
            with contextlib.suppress(psutil.Error):
                info = proc.memory_info()
                rss += info.rss
                anon += _anon(info)
        return rss, anon

    def _sample(self) -> None:
        rss, anon = self._tree_rss()
        self.peak_bytes = max(self.peak_bytes, rss)
        self.anon_bytes = max(self.anon_bytes, anon)

    def _sample_loop(self) -> None:
        while True:
            self._sample()
            if self._stop.wait(self.interval_s):
                return

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    @property
    def mib(self) -> float:
        """The peak resident set seen, in MiB (2**20 bytes)."""
        return round(self.peak_bytes / 2**20, 1)

    @property
    def anon_mib(self) -> float:
        """The peak resident set less file-backed pages, in MiB."""
        return round(self.anon_bytes / 2**20, 1)


def _anon(info: Any) -> int:
    """Resident bytes less file-backed ones (psutil's ``shared``; all where not reported)."""
    return int(info.rss - getattr(info, "shared", 0))


def own_anon_bytes() -> int:
    """This process's resident memory less its file-backed pages (as :class:`PeakMemory`)."""
    return _anon(psutil.Process().memory_info())


def _map_start(mapped: mmap.mmap) -> int:
    """The address of a map's first byte."""
    return np.frombuffer(mapped, dtype=np.uint8)[:0].ctypes.data


class _Mapped(NamedTuple):
    """Rows of a memory-mapped file, composed down to the array over the map."""

    array: np.ndarray  # the ndarray whose rows these are
    rows: np.ndarray  # rows of ``array``
    mapped: mmap.mmap  # the shared map under it
    node: Any  # the np.memmap that holds the map (``filename``, ``offset``)
    views: list[Any]  # the RowViews passed through on the way down


def _mapped_rows(array: Any, rows: Any, decoded: bool = True) -> _Mapped | None:
    """``rows`` of ``array`` (a memory map or a view of one, a
    :class:`~harness.types.RowView`, ``PQFeatures``' codes) as rows of the array over a
    shared map, or None: not memory-mapped, or a copy-on-write map (dropping its pages
    would lose writes), or (``decoded=False``) rows that a view decodes (PQ codes:
    their bytes are not the rows')."""
    if isinstance(rows, slice):
        rows = np.arange(*rows.indices(len(array)))
    rows = np.asarray(rows, dtype=np.int64).ravel()
    views = []
    for _ in range(8):  # views of views: rows composed down to the array itself
        if hasattr(array, "codes"):
            if not decoded:
                return None
            array = array.codes
        elif hasattr(array, "_rows") and hasattr(array, "_base"):
            views.append(array)
            rows, array = array._rows[rows], array._base
        else:
            break
    if not isinstance(array, np.ndarray) or array.ndim < 1 or not len(rows):
        return None
    node: Any = array
    for _ in range(16):
        if getattr(node, "mode", None) not in (None, "r", "r+", "w+"):  # "c": private
            return None
        found = getattr(node, "_mmap", None)
        if isinstance(found, mmap.mmap):
            return _Mapped(array, rows, found, node, views)
        node = getattr(node, "base", None)
        if node is None:
            return None
    return None


def release_rows(array: Any, rows: Any) -> None:
    """Drop the pages of ``rows`` of a memory-mapped ``array`` from this process's resident set.

    A pass over a memory-mapped cache (the images, the stored features) leaves
    every page it touched counted as this process's, so a run's resident peak
    would grow with the data although those pages are the kernel's to drop.
    ``madvise(MADV_DONTNEED)`` on those pages of a shared file mapping unmaps
    them only: the data stay in the page cache (the next read is a minor fault,
    no disk read) and writes are kept (they are the file's). The streaming
    readers call this with the rows they have just copied (or written), so the
    cost is that of the rows, never of the whole map (a 250 GB image cache's
    page tables are not walked per batch). A no-op for an array that is not
    memory-mapped, a copy-on-write map, rows that are not contiguous in memory,
    or a platform without ``madvise``.
    """
    found = _mapped_rows(array, rows)
    if found is None or not hasattr(mmap, "MADV_DONTNEED"):
        return
    array, rows, mapped = found.array, found.rows, found.mapped
    span = array.itemsize * int(np.prod(array.shape[1:], dtype=np.int64))
    if array.ndim > 1 and not array[:1].flags.c_contiguous:
        return  # a row is not one run of bytes
    with contextlib.suppress(OSError, ValueError, BufferError):  # closed, or refused
        first = array.ctypes.data - _map_start(mapped) + np.sort(rows) * array.strides[0]
        lo = first // PAGE * PAGE
        hi = np.minimum(-(-(first + span) // PAGE) * PAGE, len(mapped))
        # one call per run of adjacent rows (sorted rows of a batch often touch)
        breaks = np.flatnonzero(lo[1:] > hi[:-1]) + 1
        for a, b in zip(np.r_[0, breaks], np.r_[breaks, len(lo)], strict=True):
            mapped.madvise(mmap.MADV_DONTNEED, int(lo[a]), int(hi[b - 1] - lo[a]))


def read_rows(array: Any, rows: Any, out: np.ndarray | None = None) -> np.ndarray:
    """A copy of ``array[rows]`` (into ``out`` if given) that leaves no mapped page behind:
    what every streaming reader of a memory-mapped cache does.

    From a shared file map (an ``np.load(mmap_mode="r")`` array, a view of one, a
    :class:`~harness.types.RowView` over one) the rows are read with positioned
    reads (``os.preadv``, one per run of adjacent rows), never through the map. A
    read through the map makes every page it faults this process's resident set,
    and with the large page-cache folios of recent kernels (ext4 since Linux 6.16)
    a fault maps the whole folio around the row: 2,048 random rows of 63 KiB
    (126 MiB of Bag-of-Words features) mapped 2,272 MiB on Linux 6.18, sift-bovw-svm's
    resident peak 2.6x its anonymous one. Anything else is copied and its pages
    released (:func:`release_rows`). A RowView on the way counts the rows read.
    """
    found = None
    if not isinstance(rows, (int, np.integer)) and hasattr(os, "preadv"):
        found = _mapped_rows(array, rows, decoded=False)
    if found is None or found.array.ndim > 1 and not found.array[:1].flags.c_contiguous:
        block = array[rows] if out is None else _take(array, rows, out)
        if isinstance(block, np.ndarray) and not block.flags.owndata:  # a slice: a view of the map
            block = np.array(block)
        release_rows(array, rows)
        return np.asarray(block)
    base, base_rows = found.array, found.rows
    for view in found.views:
        view.rows_read += len(base_rows)
    shape = (len(base_rows), *base.shape[1:])
    if out is None:
        out = np.empty(shape, dtype=base.dtype)
    elif out.shape != shape or out.dtype != base.dtype or not out.flags.c_contiguous:
        raise ValueError(f"read_rows: out must be a C-contiguous {base.dtype} array of {shape}")
    node, stride = found.node, base.strides[0]
    at = (
        base.ctypes.data
        - _map_start(found.mapped)
        + node.offset
        - node.offset % mmap.ALLOCATIONGRANULARITY
    )
    span = base.itemsize * int(np.prod(base.shape[1:], dtype=np.int64))
    # one read per run of adjacent rows when rows are packed, else one per row
    step = np.diff(base_rows) != 1 if stride == span else np.ones(len(base_rows) - 1, bool)
    cuts = np.r_[0, np.flatnonzero(step) + 1, len(base_rows)]
    flat = memoryview(out.reshape(len(out), -1).view(np.uint8))
    fd = os.open(node.filename, os.O_RDONLY)
    try:
        for a, b in zip(cuts[:-1], cuts[1:], strict=False):
            _pread_all(fd, flat[a:b], at + int(base_rows[a]) * stride, node.filename)
    finally:
        os.close(fd)
    return out


def _take(array: Any, rows: Any, out: np.ndarray) -> np.ndarray:
    """``array[rows]`` gathered straight into ``out`` (no intermediate copy) where it can be."""
    if isinstance(rows, slice) or not hasattr(array, "take"):
        out[...] = array[rows]
        return out
    return array.take(np.asarray(rows, dtype=np.int64), axis=0, out=out)


def _pread_all(fd: int, buffer: memoryview, position: int, name: str) -> None:
    """Fill ``buffer`` from ``position`` of the file (a read may return less: loop)."""
    buffer = buffer.cast("B")
    done = 0
    while done < len(buffer):
        got = os.preadv(fd, [buffer[done:]], position + done)
        if got <= 0:
            raise OSError(f"{name}: ends before the rows it should hold (truncated?)")
        done += got
