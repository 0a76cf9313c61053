"""The data layer's errors: each names the file or folder and what is wrong with it.

Everything raised by ``harness.data`` for bad input subclasses :class:`DataError`,
so the runner can catch one type and print the message as it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

__all__ = [
    "BadImagesError",
    "CacheWriteError",
    "DataError",
    "DecodeError",
    "LayoutError",
    "SubsetError",
]


class DataError(Exception):
    """Bad data: the message names the file (or folder) and the problem."""


class LayoutError(DataError):
    """A dataset root that is not (or not completely) a layout we can read."""


class SubsetError(DataError):
    """A subset definition that cannot be applied (unknown class, too few images, ...)."""


class DecodeError(DataError):
    """One image that cannot be decoded."""

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class BadImagesError(DataError):
    """Undecodable images found while building the cache (all of them, not the first)."""

    def __init__(self, bad_images: Sequence[tuple[str, str]], cache_dir: str | Path = "") -> None:
        self.bad_images = list(bad_images)
        lines = "\n".join(f"  {path}: {reason}" for path, reason in self.bad_images)
        where = f" (cache {cache_dir})" if cache_dir else ""
        super().__init__(
            f"{len(self.bad_images)} image(s) could not be decoded{where}; nothing was trained. "
            f"Fix or remove them, or rerun with --skip-bad-images to exclude them "
            f"(they are then listed in the run record):\n{lines}"
        )


class CacheWriteError(DataError):
    """The decoded-image cache could not be written (disk full, permissions, ...)."""
