"""Read the small text files that label a dataset, whatever editor last saved them.

Label files (``wnids.txt``, ``words.txt``, ``val_annotations.txt``,
``LOC_val_solution.csv``, ``LOC_synset_mapping.txt``, the devkit's ground
truth, a predictions file) reach us re-saved by Excel ("CSV UTF-8" adds a
byte-order mark), by Notepad ("Unicode" is UTF-16 with a BOM) or by tools that
write Windows-1252. Every reader goes through :func:`read_label_text`, so that
a BOM never becomes part of the first wnid or header and a non-UTF-8 name
never ends a run with ``UnicodeDecodeError``.

Decoding order: a byte-order mark decides (UTF-32, UTF-8, UTF-16); without
one, strict UTF-8; if that fails, Windows-1252 (what "ANSI" means on the
systems that write such files), then Latin-1, which decodes any byte. The
fallbacks can only mis-render a human-readable name, never an ID: wnids,
integers and file names are ASCII in every one of these encodings.
"""

from __future__ import annotations

import codecs
from collections.abc import Callable, Iterator
from pathlib import Path

from harness.data.errors import LayoutError, os_error_message

__all__ = ["decode_label_bytes", "label_lines", "read_label_bytes", "read_label_text"]

# UTF-32-LE's mark starts with UTF-16-LE's, so the longer marks are tried first.
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def decode_label_bytes(data: bytes) -> str:
    """The text of a label file's bytes: BOM first, then UTF-8, then cp1252, then Latin-1."""
    for bom, codec in _BOMS:
        if data.startswith(bom):
            try:
                return data.decode(codec)
            except UnicodeDecodeError:
                # a BOM followed by broken data: decode what follows the mark as unmarked text
                data = data[len(bom) :]
                break
    for codec in ("utf-8", "cp1252"):
        try:
            return data.decode(codec)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")


def read_label_bytes(
    path: str | Path, what: str, *, error: Callable[[str], Exception] = LayoutError
) -> bytes:
    """The bytes of label file ``path``; any OS error becomes ``error(one-line message)``.

    ``what`` names the file's role for the message, e.g. "the Tiny ImageNet
    class list". ``error`` lets a caller outside the layout readers keep its
    own exception type (the protocol raises ``SubmissionFormatError``).
    """
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise error(os_error_message(path, what, exc)) from exc


def read_label_text(
    path: str | Path, what: str, *, error: Callable[[str], Exception] = LayoutError
) -> str:
    """The decoded text of label file ``path`` (see the module docstring for the decoding)."""
    return decode_label_bytes(read_label_bytes(path, what, error=error))


def label_lines(text: str) -> Iterator[tuple[int, str]]:
    """``(line number, stripped line)`` for each non-blank line, numbered from 1.

    Splits on ``\\n``, ``\\r\\n`` and ``\\r`` only: ``str.splitlines`` would
    also split inside a name at characters such as U+0085 or U+2028.
    """
    for lineno, line in enumerate(text.replace("\r\n", "\n").replace("\r", "\n").split("\n"), 1):
        line = line.strip()
        if line:
            yield lineno, line
