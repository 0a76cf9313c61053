"""The data layer's errors: each names the file or folder and what is wrong with it.

Everything raised by ``harness.data`` for bad input subclasses :class:`DataError`,
so the runner can catch one type and print the message as it is.
"""

from __future__ import annotations

import errno
import re
from collections.abc import Sequence
from pathlib import Path

__all__ = [
    "BadImagesError",
    "CacheWriteError",
    "DataError",
    "DecodeError",
    "LayoutError",
    "SubsetError",
    "os_error_message",
]


class DataError(Exception):
    """Bad data: the message names the file (or folder) and the problem."""


class LayoutError(DataError):
    """A dataset root that is not (or not completely) a layout we can read.

    The message is always one line: the CLI prints one line per error, and
    messages embed texts from the OS and from scipy that may span several.
    ``layout`` is the name of the layout whose reader raised it (None when no
    layout was detected), so that callers can tell "not this layout" from
    "this layout, but broken".
    """

    def __init__(self, message: str, *, layout: str | None = None) -> None:
        super().__init__(re.sub(r"\s*[\r\n]+\s*", " ", message).strip())
        self.layout = layout


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


def os_error_message(path: str | Path, what: str, exc: OSError, *, folder: bool = False) -> str:
    """One line saying that ``what`` at ``path`` cannot be read, why, and what to do about it.

    ``folder`` says whether a folder (True) or a file (False) was expected
    there; it picks the right ``chmod`` (folders also need ``x`` to be listed).
    """
    if isinstance(exc, PermissionError):
        fix = f"chmod -R a+rX {path}" if folder else f"chmod a+r {path}"
        return f"cannot read {what} {path}: permission denied; make it readable: {fix}"
    if isinstance(exc, IsADirectoryError):
        return f"{what} {path} is a folder, but a file is expected there; put the file itself at that path"
    if isinstance(exc, NotADirectoryError):
        return (
            f"{what} {path} is a file, but a folder is expected there; put the folder at that path"
        )
    if isinstance(exc, FileNotFoundError):
        kind = "folder" if folder else "file"
        return f"{what} {path} does not exist; restore the {kind} from the dataset download"
    if exc.errno == errno.ELOOP:
        return f"cannot read {what} {path}: it is a symlink loop; point the link at the real {'folder' if folder else 'file'}"
    reason = exc.strerror or str(exc)
    return f"cannot read {what} {path}: {reason}; check the disk or network mount and retry"
