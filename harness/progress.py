"""Progress for a long stage: a tqdm bar on a terminal, plain periodic lines elsewhere.

On a log file (``harness run > log 2>&1``) a bar's refreshes are noise: a run
logs one line per stage (``hog-svm: fitting on ...``) and, while a stage lasts,
one plain line every :data:`PLAIN_PROGRESS_SECONDS` (what it is, how far, the
rate): never a bar, never a carriage return, nothing for a stage shorter than
that. :class:`PlainProgress` offers the part of tqdm's interface the methods
use (iteration, ``update``, ``set_description``, ``set_postfix``, ``close``,
a context manager).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from typing import Any, TextIO

__all__ = ["PLAIN_PROGRESS_SECONDS", "PlainProgress", "progress_bar"]

#: Seconds between two plain progress lines when stderr is not a terminal.
PLAIN_PROGRESS_SECONDS = 30.0


class PlainProgress:
    """One line every ``interval`` seconds while a stage runs; nothing else."""

    def __init__(
        self,
        iterable: Iterable[Any] | None = None,
        *,
        total: float | None = None,
        desc: str | None = None,
        unit: str = "it",
        interval: float = PLAIN_PROGRESS_SECONDS,
        file: TextIO | None = None,
        **_: Any,  # tqdm's display options (unit_scale, leave, ...) mean nothing here
    ) -> None:
        self.iterable = iterable
        if total is None and iterable is not None and hasattr(iterable, "__len__"):
            total = len(iterable)  # type: ignore[arg-type]
        self.total, self.desc, self.unit = total, desc or "", unit
        self.interval, self.file = interval, file
        self.n = 0
        self.postfix = ""
        self._start = self._last = time.monotonic()

    def __iter__(self) -> Iterator[Any]:
        for item in self.iterable or ():
            yield item
            self.update(1)

    def __len__(self) -> int:
        return int(self.total or 0)

    def __enter__(self) -> PlainProgress:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def update(self, n: float = 1) -> None:
        self.n += n
        now = time.monotonic()
        if now - self._last >= self.interval:
            self._last = now
            self._write(now)

    def _write(self, now: float) -> None:
        elapsed = now - self._start
        done = f"{self.n:,.0f}" + (f"/{self.total:,.0f}" if self.total else "")
        pct = f" ({100.0 * self.n / self.total:.0f}%)" if self.total else ""
        rate = f", {self.n / elapsed:,.1f} {self.unit}/s" if elapsed > 0 else ""
        extra = f", {self.postfix}" if self.postfix else ""
        line = f"{self.desc or 'progress'}: {done} {self.unit}{pct} after {elapsed:.0f} s{rate}"
        stream = self.file or sys.stderr
        stream.write(line + extra + "\n")
        stream.flush()

    def set_description(self, desc: str | None = None, refresh: bool = True) -> None:
        self.desc = desc or ""

    def set_postfix(self, ordered_dict: Any = None, refresh: bool = True, **kwargs: Any) -> None:
        items = dict(ordered_dict or {}, **kwargs)
        self.postfix = ", ".join(f"{k}={v}" for k, v in items.items())

    def set_postfix_str(self, s: str = "", refresh: bool = True) -> None:
        self.postfix = s

    def refresh(self) -> None:
        """Nothing to redraw: lines are written on ``update``."""

    def close(self) -> None:
        """Nothing to clear: a plain line is never rewritten."""


def _no_progress(iterable: Any = None, **_: Any) -> Any:
    return iterable


def progress_bar(iterable: Any = None, *, quiet: bool = False, **kwargs: Any) -> Any:
    """tqdm on a terminal; :class:`PlainProgress` on anything else; nothing when quiet."""
    if quiet and iterable is not None:
        return _no_progress(iterable, **kwargs)
    if quiet:  # a manual bar (``total=``, used as a context manager): one that writes nothing
        return PlainProgress(iterable, interval=float("inf"), **kwargs)
    if not sys.stderr.isatty():
        return PlainProgress(iterable, **kwargs)
    from tqdm.auto import tqdm

    return tqdm(iterable, dynamic_ncols=True, leave=False, **kwargs)
