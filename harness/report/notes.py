"""The report's small print: provenance, settings, monitor and interval notes, the demo warning.

Each function turns rows of :mod:`harness.report.frames` into one Markdown
paragraph's text (record values escaped with :func:`~harness.report.document.md_text`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from harness.intervals import LEVEL, N_RESAMPLES
from harness.report.document import MISSING, Paragraph, fmt_versions, md_text
from harness.report.frames import short_tag, unique

__all__ = [
    "REAL_DATA_COMMAND",
    "base_name",
    "demo_warning",
    "display_path",
    "few_classes_note",
    "intervals_note",
    "monitor_note",
    "provenance_note",
    "settings_note",
]

#: What to run for real numbers (a hint next to demo results, not how a record was made).
REAL_DATA_COMMAND = "harness run --suite tiny-imagenet --data /path/to/tiny-imagenet-100"


def few_classes_note(group: Any) -> str:
    """The one line for a table of 5 classes or fewer: top-5 error is 0 there by construction."""
    return (
        f"{group.n_classes} classes: top-5 error is 0 by construction at 5 classes or fewer "
        "(every list of five guesses holds the truth); read top-1 error, and no top-5 gap "
        "is given."
    )


def base_name(row: Any) -> str:
    """A row's name in the tables without its variant (a variant shares its run's settings):
    its ``display`` (:func:`harness.report.frames.short_names`) less ``[variant]``, else
    the method with its short tag."""
    display, variant = getattr(row, "display", None), getattr(row, "variant", None)
    if isinstance(display, str) and display:
        suffix = f"[{variant}]" if isinstance(variant, str) and variant else ""
        return display[: -len(suffix)] if suffix and display.endswith(suffix) else display
    tag = short_tag(getattr(row, "tag", None))
    return f"{row.method} ({tag})" if tag else str(row.method)


def _whole_tag(row: Any) -> str | None:
    """The row's tag when its name in the tables does not already show it whole."""
    tag = getattr(row, "tag", None)
    if not isinstance(tag, str) or not tag or f"({tag})" in base_name(row):
        return None
    return tag.split(": ", 1)[1] if ": " in tag else tag


def departures_text(row: Any) -> str:
    """``"**alexnet (cpu profile)**: small stem, 56px crops, ..."``: the row's name and, when
    the name shortens its tag, the whole tag."""
    whole = _whole_tag(row)
    name = f"**{md_text(base_name(row))}**"
    return f"{name}: {md_text(whole)}" if whole else name


def names_note(rows: pd.DataFrame) -> str:
    """The whole tag of every row whose name in the tables is shortened, or ""."""
    seen: dict[str, str] = {}
    for r in rows.itertuples():
        if _whole_tag(r):
            seen.setdefault(base_name(r), departures_text(r))
    if not seen:
        return ""
    return (
        "Names: what differs from the published method, in full: " + "; ".join(seen.values()) + "."
    )


def settings_note(rows: pd.DataFrame) -> str:
    """One line naming every method's non-default settings, or "" when all ran on defaults."""
    parts: dict[str, str] = {}
    for r in rows.itertuples():
        name = base_name(r)
        if r.overrides and name not in parts:
            parts[name] = ", ".join(f"{k}={v}" for k, v in sorted(r.overrides.items()))
    if not parts:
        return ""
    return "Settings changed from each method's defaults (suite file or --param): " + "; ".join(
        f"**{md_text(name)}**: {md_text(values)}" for name, values in parts.items()
    )


def provenance_note(rows: pd.DataFrame) -> str:
    """Manifest hash, data size, hardware, versions and commit of a group of records."""
    parts = []
    hashes = unique(rows["manifest_hash"])
    parts.append(
        "manifest " + ", ".join(f"`{h}`" for h in hashes) if hashes else "manifest unknown"
    )
    sizes = rows[["n_classes", "n_train", "n_val", "img_size"]].drop_duplicates()
    for _, s in sizes.iterrows():
        if pd.notna(s["n_classes"]):
            size = f"{int(s['n_classes'])} classes"
            if pd.notna(s["n_train"]) and pd.notna(s["n_val"]):
                size += f", {int(s['n_train']):,} train / {int(s['n_val']):,} val images"
            if pd.notna(s["img_size"]):
                size += f" stored at {int(s['img_size'])} px"
            parts.append(size)
    parts.append("hardware: " + (md_text("; ".join(unique(rows["device"]))) or "not recorded"))
    parts.append("versions: " + md_text(fmt_versions(rows["versions"])))
    commits = unique(rows["git_commit"])
    if commits:
        parts.append("harness commit " + ", ".join(f"`{c[:12]}`" for c in commits))
    dates = sorted(unique(rows["date"]))
    if dates:
        parts.append(
            f"run {dates[0][:10]}"
            + (f" to {dates[-1][:10]}" if dates[-1][:10] != dates[0][:10] else "")
        )
    return " · ".join(parts)


def monitor_note(rows: pd.DataFrame) -> str:
    """A warning line when some rows tuned on the validation split they were scored on."""
    val = unique(rows.loc[rows["monitor"] == "val", "display"])
    if not val:
        return ""
    return (
        f"Monitor `val`: {', '.join(md_text(v) for v in val)} chose learning-rate drops or "
        "stopping points on the validation split they are scored on (records written before the "
        "held-out monitor, schema 1); their errors are optimistic. `train-holdout` rows tuned on "
        "images held out of train; `none`: nothing was tuned on held-out images."
    )


def intervals_note(rows: pd.DataFrame) -> str:
    """How the intervals were made, which rows have none, and how seeds were combined."""
    ok = rows[rows["ok"]]
    if ok.empty:
        return ""
    without = unique(ok.loc[ok["top5_err_ci_low"].isna(), "display"])
    if len(without) == len(ok):
        return (
            f"95% CI {MISSING}: no record here keeps per-image hits (all were written before "
            "hits were recorded), so no interval can be computed; rerun the methods to get them."
        )
    text = (
        f"{LEVEL:.0%} CI: percentile bootstrap over the val images ({N_RESAMPLES:,} resamples, "
        "seeded), from the per-image hits each record keeps."
    )
    if (ok["n_seeds"].fillna(1) > 1).any():
        text += (
            " Rows of several seeds (the seeds column) show mean ± standard deviation over "
            "seeds; their interval resamples the seeds and the images together (two-level "
            "bootstrap)."
        )
    if without:
        text += (
            f" {MISSING}: {', '.join(md_text(n) for n in without)} "
            f"{'keeps' if len(without) == 1 else 'keep'} no per-image hits (records written "
            "before hits were recorded, or seeds scored on different images), so no interval; "
            "rerun to get one."
        )
    return text


def demo_warning() -> Paragraph:
    return Paragraph(
        "These results come from the built-in `demo` data: small procedurally drawn images that the "
        "harness generates itself. Demo numbers say nothing about ImageNet; they only show that every "
        f"method runs end to end. For real data run `{REAL_DATA_COMMAND}`.",
        "warning",
    )


def display_path(path: Path, base: Path) -> str:
    """``path`` relative to the report's folder when it is inside it (no machine paths)."""
    try:
        return Path(path).resolve().relative_to(Path(base).resolve()).as_posix() + "/"
    except ValueError:
        return str(path)
