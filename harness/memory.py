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
"""

from __future__ import annotations

import contextlib
import mmap
import threading
from types import TracebackType
from typing import Any

import numpy as np
import psutil

PAGE = mmap.PAGESIZE

__all__ = ["PeakMemory", "read_rows", "release_rows"]


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
                anon += info.rss - getattr(info, "shared", 0)
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


def _mapped_rows(array: Any, rows: Any) -> tuple[np.ndarray, np.ndarray, mmap.mmap] | None:
    """``(ndarray, rows of it, shared mmap under it)`` for ``rows`` of ``array`` (a memory
    map or a view of one, a :class:`~harness.types.RowView`, ``PQFeatures``' codes), or
    None: not memory-mapped, or a copy-on-write map (dropping its pages would lose writes)."""
    if isinstance(rows, slice):
        rows = np.arange(*rows.indices(len(array)))
    rows = np.asarray(rows, dtype=np.int64).ravel()
    for _ in range(8):  # views of views: rows composed down to the array itself
        if hasattr(array, "codes"):
            array = array.codes
        elif hasattr(array, "_rows") and hasattr(array, "_base"):
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
            return array, rows, found
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
    array, rows, mapped = found
    span = array.itemsize * int(np.prod(array.shape[1:], dtype=np.int64))
    if array.ndim > 1 and not array[:1].flags.c_contiguous:
        return  # a row is not one run of bytes
    with contextlib.suppress(OSError, ValueError, BufferError):  # closed, or refused
        start = np.frombuffer(mapped, dtype=np.uint8)[:0].ctypes.data  # the map's first byte
        first = array.ctypes.data - start + np.sort(rows) * array.strides[0]
        lo = first // PAGE * PAGE
        hi = np.minimum(-(-(first + span) // PAGE) * PAGE, len(mapped))
        # one call per run of adjacent rows (sorted rows of a batch often touch)
        breaks = np.flatnonzero(lo[1:] > hi[:-1]) + 1
        for a, b in zip(np.r_[0, breaks], np.r_[breaks, len(lo)], strict=True):
            mapped.madvise(mmap.MADV_DONTNEED, int(lo[a]), int(hi[b - 1] - lo[a]))


def read_rows(array: Any, rows: Any) -> np.ndarray:
    """A copy of ``array[rows]`` whose mapped pages then leave this process's resident set
    (:func:`release_rows`): what every streaming reader of a memory-mapped cache does."""
    block = array[rows]
    if isinstance(block, np.ndarray) and not block.flags.owndata:  # a slice: a view of the map
        block = np.array(block)
    release_rows(array, rows)
    return np.asarray(block)
