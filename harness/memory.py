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

import psutil

__all__ = ["PeakMemory", "release_mapped"]


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


def _mapping(array: Any) -> mmap.mmap | None:
    """The shared ``mmap`` under ``array`` (a memory map, a view of one, ``.codes`` of
    :class:`~baselines.features.pq.PQFeatures`), or None; never a copy-on-write map."""
    seen = 0
    node = getattr(array, "codes", array)
    while node is not None and seen < 16:
        if getattr(node, "mode", None) == "c":  # private: dropping pages would lose writes
            return None
        found = getattr(node, "_mmap", None)
        if isinstance(found, mmap.mmap):
            return found
        if isinstance(node, mmap.mmap):
            return node
        parent = getattr(node, "base", None)  # numpy's views
        node = parent if parent is not None else getattr(node, "_base", None)  # a RowView's
        seen += 1
    return None


def release_mapped(array: Any) -> None:
    """Drop the pages of ``array``'s memory-mapped file from this process's resident set.

    A pass over a memory-mapped cache (the images, the stored features) leaves
    every page it touched counted as this process's, so a run's resident peak
    would grow with the data although those pages are the kernel's to drop.
    ``madvise(MADV_DONTNEED)`` on a shared file mapping unmaps them only: the
    data stay in the page cache (the next read is a minor fault, no disk
    read) and writes are kept (they are the file's). The streaming readers
    call this after each block. A no-op for an array that is not memory-mapped,
    a copy-on-write map, or a platform without ``madvise``.
    """
    mapped = _mapping(array)
    if mapped is None or not hasattr(mmap, "MADV_DONTNEED"):
        return
    with contextlib.suppress(OSError, ValueError):  # closed, or refused by the platform
        mapped.madvise(mmap.MADV_DONTNEED)
