"""A tiny document model rendered both as Markdown and as self-contained HTML.

The report and the sweep summary are built once as a list of blocks
(headings, paragraphs, tables, figures) and rendered twice, so ``report.md``
and ``report.html`` always say the same thing. The HTML embeds every figure as
a base64 ``data:`` URI and its CSS inline, so the file stands alone. The number
formats of the report (errors to 1 decimal, human-friendly durations) live
here too, so every table rounds the same way.
"""

from __future__ import annotations

import base64
import html
import math
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

__all__ = [
    "Block",
    "Code",
    "Figure",
    "Heading",
    "Paragraph",
    "Table",
    "fmt_duration",
    "fmt_err",
    "fmt_points",
    "fmt_rate",
    "fmt_relative",
    "fmt_versions",
    "render_html",
    "render_markdown",
]

MISSING = "–"  # en dash: a value that does not exist (failed run, unpublished)


def _round_half_up(x: float, digits: int) -> Decimal:
    # Binary floats turn 26.172 - 16.422 into 9.749999...; rounding the
    # 6-digit decimal form half-up gives the 9.8 a person computes by hand.
    q = Decimal(1).scaleb(-digits)
    return Decimal(repr(round(float(x), 6))).quantize(q, rounding=ROUND_HALF_UP)


def _missing(x: float | None) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def fmt_err(x: float | None) -> str:
    """An error in percent, to 1 decimal ("15.3")."""
    return MISSING if _missing(x) else str(_round_half_up(x, 1))


def fmt_points(x: float) -> str:
    """A gap in percentage points ("10.9 points")."""
    return f"{_round_half_up(x, 1)} points"


def fmt_relative(x: float) -> str:
    """A relative reduction in percent, no decimals ("41%")."""
    return MISSING if _missing(x) else f"{_round_half_up(x, 0)}%"


def fmt_duration(seconds: float | None) -> str:
    """Seconds as a human-friendly duration: "0.4 s", "12 s", "4 min 05 s", "40 min", "2 h 10 min"."""
    if _missing(seconds):
        return MISSING
    s = float(seconds)
    if s < 10:
        return f"{s:.1f} s"
    if s < 60:
        return f"{s:.0f} s"
    if s < 600:
        m, r = divmod(round(s), 60)
        return f"{m} min {r:02d} s"
    if s < 3570:  # below that, minutes would round up to "60 min"
        return f"{round(s / 60)} min"
    if s < 86400 * 2:
        h, r = divmod(round(s / 60), 60)
        return f"{h} h {r:02d} min"
    return f"{s / 86400:.1f} d"


def fmt_rate(x: float | None) -> str:
    """Images per second with sensible precision ("0.52", "38.1", "1,234")."""
    if _missing(x):
        return MISSING
    x = float(x)
    if x < 1:
        return f"{x:.2f}"
    if x < 100:
        return f"{x:.1f}"
    return f"{x:,.0f}"


def fmt_mib(x: float | None) -> str:
    """Memory given in MiB, as "850 MiB" or "3.9 GiB"."""
    if _missing(x):
        return MISSING
    x = float(x)
    return f"{x:,.0f} MiB" if x < 1024 else f"{x / 1024:.1f} GiB"


def fmt_versions(version_dicts: Iterable[Any]) -> str:
    """Package versions of several records merged: "torch 2.13.0, numpy 2.1.0 / 2.2.0"."""
    merged: dict[str, list[str]] = {}
    for versions in version_dicts:
        if isinstance(versions, dict):
            for key, value in versions.items():
                merged.setdefault(str(key), [])
                if str(value) not in merged[str(key)]:
                    merged[str(key)].append(str(value))
        elif versions:
            merged.setdefault("versions", []).append(str(versions))
    return ", ".join(f"{k} {' / '.join(v)}" for k, v in merged.items()) or "not recorded"


@dataclass(frozen=True)
class Heading:
    text: str
    level: int = 2


@dataclass(frozen=True)
class Paragraph:
    """Text with `code` spans; ``style`` is "text", "note" (small print) or "warning"."""

    text: str
    style: str = "text"


@dataclass(frozen=True)
class Code:
    text: str


@dataclass(frozen=True)
class Table:
    """Pre-formatted cells; ``numeric`` names the right-aligned columns."""

    columns: list[str]
    rows: list[list[str]]
    numeric: frozenset[str] = field(default_factory=frozenset)
    caption: str = ""
    nowrap: frozenset[str] = field(default_factory=frozenset)  # short cells kept on one line
    wide: frozenset[str] = field(default_factory=frozenset)  # prose cells given room


@dataclass(frozen=True)
class Figure:
    path: Path
    caption: str = ""


Block = Heading | Paragraph | Code | Table | Figure


def _md_cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def render_markdown(blocks: list[Block], base_dir: Path) -> str:
    """Markdown with figures linked relative to ``base_dir`` (where the .md goes)."""
    out: list[str] = []
    for b in blocks:
        if isinstance(b, Heading):
            out.append(f"{'#' * b.level} {b.text}")
        elif isinstance(b, Paragraph):
            if b.style == "warning":
                out.append(f"> **Warning.** {b.text}")
            elif b.style == "note":
                out.append(f"<sub>{b.text}</sub>")
            else:
                out.append(b.text)
        elif isinstance(b, Code):
            out.append(f"```\n{b.text}\n```")
        elif isinstance(b, Table):
            if b.caption:
                out.append(f"*{b.caption}*\n")
            lines = ["| " + " | ".join(_md_cell(c) for c in b.columns) + " |"]
            lines.append(
                "| " + " | ".join("---:" if c in b.numeric else "---" for c in b.columns) + " |"
            )
            lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in b.rows]
            out.append("\n".join(lines))
        elif isinstance(b, Figure):
            rel = Path(os.path.relpath(b.path, base_dir)).as_posix()
            out.append(f"![{b.caption}]({rel})")
            if b.caption:
                out.append(f"*{b.caption}*")
        out.append("")
    return "\n".join(out)


_CSS = """
body { font-family: -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif;
       max-width: 1080px; margin: 2em auto; padding: 0 1.2em; color: #1d2327;
       line-height: 1.5; background: #fff; }
h1 { font-size: 1.9em; border-bottom: 2px solid #d0d7de; padding-bottom: .3em; }
h2 { font-size: 1.4em; margin-top: 2em; border-bottom: 1px solid #e4e8ec; padding-bottom: .2em; }
h3 { font-size: 1.15em; margin-top: 1.5em; }
table { border-collapse: collapse; margin: .8em 0 .3em; font-size: .92em; }
th, td { padding: .35em .75em; border-bottom: 1px solid #e4e8ec; text-align: left;
         vertical-align: top; }
th { background: #f3f5f7; border-bottom: 2px solid #c9d1d9; white-space: nowrap; }
td.nowrap { white-space: nowrap; }
td.wide { min-width: 16em; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr:hover td { background: #fafbfc; }
caption { caption-side: top; text-align: left; font-style: italic; color: #57606a;
          padding-bottom: .3em; }
code { font-family: ui-monospace, Menlo, Consolas, monospace; background: #f3f5f7;
       padding: .1em .3em; border-radius: 3px; font-size: .9em; }
pre { background: #f3f5f7; padding: .8em 1em; border-radius: 4px; overflow-x: auto; }
pre code { background: none; padding: 0; }
p.note { font-size: .82em; color: #57606a; margin-top: .2em; }
p.warning { background: #fff4e5; border-left: 4px solid #e8890c; padding: .7em 1em; }
figure { margin: 1.2em 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #e4e8ec; }
figcaption { font-size: .88em; color: #57606a; }
"""


def _inline_html(text: str) -> str:
    # Only `code` and **bold** spans: everything else is escaped text.
    parts = re.split(r"(`[^`]+`)", text)
    out = []
    for part in parts:
        if part.startswith("`") and part.endswith("`") and len(part) > 1:
            out.append(f"<code>{html.escape(part[1:-1])}</code>")
        else:
            esc = html.escape(part)
            out.append(re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", esc))
    return "".join(out)


def _data_uri(path: Path) -> str:
    data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    return f"data:image/png;base64,{data}"


def render_html(blocks: list[Block], title: str) -> str:
    """A standalone HTML page: inline CSS, figures as data URIs, no external resources."""
    body: list[str] = []
    for b in blocks:
        if isinstance(b, Heading):
            body.append(f"<h{b.level}>{html.escape(b.text)}</h{b.level}>")
        elif isinstance(b, Paragraph):
            cls = f' class="{b.style}"' if b.style != "text" else ""
            text = _inline_html(b.text)
            if b.style == "warning":
                text = "<strong>Warning.</strong> " + text
            body.append(f"<p{cls}>{text}</p>")
        elif isinstance(b, Code):
            body.append(f"<pre><code>{html.escape(b.text)}</code></pre>")
        elif isinstance(b, Table):
            cls = [
                ' class="num"'
                if c in b.numeric
                else ' class="nowrap"'
                if c in b.nowrap
                else ' class="wide"'
                if c in b.wide
                else ""
                for c in b.columns
            ]
            rows = ["<table>"]
            if b.caption:
                rows.append(f"<caption>{_inline_html(b.caption)}</caption>")
            rows.append(
                "<thead><tr>"
                + "".join(
                    f"<th{k}>{html.escape(c)}</th>" for c, k in zip(b.columns, cls, strict=True)
                )
                + "</tr></thead><tbody>"
            )
            for row in b.rows:
                rows.append(
                    "<tr>"
                    + "".join(
                        f"<td{k}>{_inline_html(str(v))}</td>" for v, k in zip(row, cls, strict=True)
                    )
                    + "</tr>"
                )
            rows.append("</tbody></table>")
            body.append("\n".join(rows))
        elif isinstance(b, Figure):
            alt = html.escape(b.caption or Path(b.path).stem)
            cap = f"<figcaption>{_inline_html(b.caption)}</figcaption>" if b.caption else ""
            body.append(f'<figure><img alt="{alt}" src="{_data_uri(b.path)}">{cap}</figure>')
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{html.escape(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        + "\n".join(body)
        + "\n</body>\n</html>\n"
    )
