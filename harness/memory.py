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
import threading
from types import TracebackType

import psutil

__all__ = ["PeakMemory"]


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
