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
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample_loop, daemon=True)
        self._process = psutil.Process()

    def _tree_rss(self) -> int:
        total = 0
        try:
            procs = [self._process, *self._process.children(recursive=True)]
        except psutil.Error:
            return 0
        for proc in procs:
            # a worker may exit between listing and reading
            with contextlib.suppress(psutil.Error):
                total += proc.memory_info().rss
        return total

    def _sample_loop(self) -> None:
        while True:
            self.peak_bytes = max(self.peak_bytes, self._tree_rss())
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
        self.peak_bytes = max(self.peak_bytes, self._tree_rss())

    @property
    def mib(self) -> float:
        """The peak resident set seen, in MiB (2**20 bytes)."""
        return round(self.peak_bytes / 2**20, 1)
