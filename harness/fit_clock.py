"""The time a method's fit has taken across interruptions, kept in its work folder.

A run killed during fit (Ctrl-C, a lost machine) resumes from what the method
cached (checkpoints, feature files); the seconds spent before the kill are
part of what the result cost. :class:`FitClock` keeps them in
``<work_dir>/fit_seconds.json``: rewritten every :data:`HEARTBEAT_SECONDS`
while fit runs (a kill -9 loses at most that) and when fit ends by an
exception, read back by the next attempt and added to its ``train_seconds``.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from types import TracebackType

__all__ = ["CLOCK_FILE", "HEARTBEAT_SECONDS", "FitClock"]

CLOCK_FILE = "fit_seconds.json"
HEARTBEAT_SECONDS = 10.0


class FitClock:
    """``with FitClock(work_dir) as clock:`` around fit; ``clock.before``: seconds of earlier
    attempts; ``clock.elapsed``: this one's."""

    def __init__(self, work_dir: Path, heartbeat: float = HEARTBEAT_SECONDS) -> None:
        self.path = Path(work_dir) / CLOCK_FILE
        self.heartbeat = heartbeat
        self.before = self._read()
        self.elapsed = 0.0
        self._start = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _read(self) -> float:
        try:
            return max(0.0, float(json.loads(self.path.read_text())["seconds"]))
        except (OSError, ValueError, KeyError, TypeError):
            return 0.0

    def _write(self) -> None:
        seconds = self.before + time.perf_counter() - self._start
        tmp = self.path.with_suffix(".tmp")
        try:
            tmp.write_text(json.dumps({"seconds": round(seconds, 3)}))
            tmp.replace(self.path)
        except OSError:  # a clock that cannot be kept must not fail the method
            pass

    def _beat(self) -> None:
        while not self._stop.wait(self.heartbeat):
            self._write()

    def __enter__(self) -> FitClock:
        self._start = time.perf_counter()
        self._thread = threading.Thread(target=self._beat, name="fit-clock", daemon=True)
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.elapsed = time.perf_counter() - self._start
        if exc_type is not None:  # interrupted or failed: the next attempt adds this time
            self._write()

    def done(self) -> None:
        """Fit finished: the next run of this configuration starts from zero."""
        self.path.unlink(missing_ok=True)
