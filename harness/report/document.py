"""The report's document: blocks written once as Markdown, that Markdown rendered to HTML.

Sections build a list of blocks (headings, paragraphs, tables, figures, code);
:func:`render_markdown` writes them as CommonMark with GFM tables
(``report.md``), and :func:`render_html` renders *that Markdown* with
markdown-it-py into a self-contained page (``report.html``: inline CSS, every
figure embedded as a base64 ``data:`` URI), so the two files always say the
same thing. The number formats of the report (errors to 1 decimal,
intervals, human-friendly durations) live here too, so every table rounds the
same way.

Text that comes from records (names, error messages, table cells) goes
through :func:`md_text` (tables do it for every cell): Markdown and HTML
characters in it are escaped, so a record can never inject markup.
"""

from __future__ import annotations

import base64
import html
import math
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

__all__ = [
    "MISSING",
    "Block",
    "Code",
    "Figure",
    "Heading",
    "Paragraph",
    "Table",
    "fmt_ci",
    "fmt_duration",
    "fmt_err",
    "fmt_err_spread",
    "fmt_mib",
    "fmt_points",
    "fmt_rate",
    "fmt_relative",
    "fmt_versions",
    "md_text",
    "render_html",
    "render_markdown",
]

MISSING = "–"  # en dash: a value that does not exist (failed run, unpublished, no hits)


# ----------------------------------------------------------------- number formats


def _round_half_up(x: float, digits: int) -> Decimal:
    # Binary floats turn 26.172 - 16.422 into 9.749999...; rounding the
    # 6-digit decimal form half-up gives the 9.8 a person computes by hand.
    q = Decimal(1).scaleb(-digits)
    return Decimal(repr(round(float(x), 6))).quantize(q, rounding=ROUND_HALF_UP)


def _missing(x: Any) -> bool:
    if x is None:
        return True
    try:
        return math.isnan(float(x))
    except (TypeError, ValueError):
        return True


def fmt_err(x: float | None) -> str:
    """An error in percent, to 1 decimal ("15.3")."""
    return MISSING if _missing(x) else str(_round_half_up(x, 1))


def fmt_err_spread(mean: float | None, std: float | None, n_seeds: int | None) -> str:
    """An error, or "mean ± std" over several seeds ("30.2 ± 0.4")."""
    if _missing(mean):
        return MISSING
    if n_seeds is None or _missing(n_seeds) or int(n_seeds) < 2 or _missing(std):
        return fmt_err(mean)
    return f"{fmt_err(mean)} ± {fmt_err(std)}"


def fmt_ci(low: float | None, high: float | None) -> str:
    """An interval, to 1 decimal ("[29.1, 30.9]"); MISSING when unknown."""
    if _missing(low) or _missing(high):
        return MISSING
    return f"[{_round_half_up(low, 1)}, {_round_half_up(high, 1)}]"


def fmt_points(x: float) -> str:
    """A gap in percentage points ("10.9 points")."""
    return f"{_round_half_up(x, 1)} points"


def fmt_relative(x: float | None) -> str:
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


# ----------------------------------------------------------------- blocks


@dataclass(frozen=True)
class Heading:
    text: str  # plain text (escaped when written)
    level: int = 2


@dataclass(frozen=True)
class Paragraph:
    """Markdown text (`code`, **bold**); ``style`` is "text", "note" (small print) or "warning".

    Interpolate record values through :func:`md_text`.
    """

    text: str
    style: str = "text"


@dataclass(frozen=True)
class Code:
    text: str


@dataclass(frozen=True)
class Table:
    """Plain-text cells (escaped when written); ``numeric`` names the right-aligned columns."""

    columns: list[str]
    rows: list[list[str]]
    numeric: frozenset[str] = frozenset()
    caption: str = ""  # Markdown, like a Paragraph


@dataclass(frozen=True)
class Figure:
    path: Path
    caption: str = ""  # Markdown, like a Paragraph


Block = Heading | Paragraph | Code | Table | Figure

_MD_SPECIAL = re.compile(r"([\\`*_<>|])")


def md_text(text: Any) -> str:
    """Record text as Markdown that shows exactly that text (Markdown and HTML escaped).

    Underscores inside words (``tiny_imagenet``) are left alone: CommonMark never
    reads them as emphasis.
    """
    out = _MD_SPECIAL.sub(r"\\\1", str(text)).replace("\n", " ")
    return re.sub(r"(?<=\w)\\_(?=\w)", "_", out)


def _cell(text: Any) -> str:
    return md_text(text)


def render_markdown(blocks: list[Block], base_dir: Path) -> str:
    """Markdown (CommonMark + GFM tables) with figures linked relative to ``base_dir``."""
    out: list[str] = []
    for b in blocks:
        if isinstance(b, Heading):
            out.append(f"{'#' * b.level} {md_text(b.text)}")
        elif isinstance(b, Paragraph):
            if b.style == "warning":
                out.append(f"> **Warning.** {b.text}")
            elif b.style == "note":
                out.append(f"<sub>{b.text}</sub>")
            else:
                out.append(b.text)
        elif isinstance(b, Code):
            fence = "~~~" if "```" in b.text else "```"
            out.append(f"{fence}\n{b.text}\n{fence}")
        elif isinstance(b, Table):
            if b.caption:
                out.append(f"*{b.caption}*\n")
            lines = ["| " + " | ".join(_cell(c) for c in b.columns) + " |"]
            lines.append(
                "| " + " | ".join("---:" if c in b.numeric else "---" for c in b.columns) + " |"
            )
            lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in b.rows]
            out.append("\n".join(lines))
        elif isinstance(b, Figure):
            rel = Path(os.path.relpath(b.path, base_dir)).as_posix()
            alt = md_text(Path(b.path).stem)
            out.append(f"![{alt}]({rel})")
            if b.caption:
                out.append(f"\n*{b.caption}*")
        out.append("")
    return "\n".join(out)


# ----------------------------------------------------------------- HTML

_CSS = """
body { font-family: -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif;
       max-width: 1180px; margin: 2em auto; padding: 0 1.2em; color: #1d2327;
       line-height: 1.5; background: #fff; }
h1 { font-size: 1.9em; border-bottom: 2px solid #d0d7de; padding-bottom: .3em; }
h2 { font-size: 1.4em; margin-top: 2em; border-bottom: 1px solid #e4e8ec; padding-bottom: .2em; }
h3 { font-size: 1.15em; margin-top: 1.5em; }
table { border-collapse: collapse; margin: .3em 0 .3em; font-size: .9em; display: block;
        overflow-x: auto; }
th, td { padding: .35em .7em; border-bottom: 1px solid #e4e8ec; text-align: left;
         vertical-align: top; overflow-wrap: break-word; }
th { background: #f3f5f7; border-bottom: 2px solid #c9d1d9; white-space: nowrap; }
td[style*="right"] { font-variant-numeric: tabular-nums; white-space: nowrap; }
tr:hover td { background: #fafbfc; }
code { font-family: ui-monospace, Menlo, Consolas, monospace; background: #f3f5f7;
       padding: .1em .3em; border-radius: 3px; font-size: .9em; }
pre { background: #f3f5f7; padding: .8em 1em; border-radius: 4px; overflow-x: auto; }
pre code { background: none; padding: 0; }
sub { vertical-align: baseline; font-size: .86em; color: #57606a; }
blockquote { background: #fff4e5; border-left: 4px solid #e8890c; margin: 1em 0;
             padding: .2em 1em; }
img { max-width: 100%; height: auto; border: 1px solid #e4e8ec; }
p > em:only-child { font-size: .9em; color: #57606a; }
"""


def _data_uri(path: Path) -> str:
    data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    return f"data:image/png;base64,{data}"


def _markdown_parser(base_dir: Path) -> Any:
    from markdown_it import MarkdownIt

    # commonmark + GFM tables; raw HTML on for the <sub> of notes (record text is escaped).
    md = MarkdownIt("commonmark", {"html": True}).enable("table")
    default_image = md.renderer.rules.get("image")

    def image(self: Any, tokens: Any, idx: int, options: Any, env: Any) -> str:
        token = tokens[idx]
        src = str(token.attrGet("src") or "")
        local = Path(base_dir) / src
        if src and "://" not in src and not src.startswith("data:") and local.is_file():
            token.attrSet("src", _data_uri(local))
        if default_image is not None:
            return default_image(tokens, idx, options, env)
        return self.image(tokens, idx, options, env)

    md.add_render_rule("image", image)
    return md


def render_html(markdown: str, title: str, base_dir: Path) -> str:
    """``markdown`` (from :func:`render_markdown`) as a standalone HTML page.

    Rendered by markdown-it-py (CommonMark + tables); figures linked relative to
    ``base_dir`` are embedded as data URIs, the CSS is inline: the page loads
    nothing from anywhere.
    """
    body = _markdown_parser(base_dir).render(markdown)
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{html.escape(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        + body
        + "</body>\n</html>\n"
    )
