"""Section: the measured table of one manifest, with intervals, failures and the cost figure."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from harness.leaderboard import why_unranked
from harness.report.document import (
    MISSING,
    Block,
    Figure,
    Heading,
    Paragraph,
    Table,
    fmt_ci,
    fmt_duration,
    fmt_err_spread,
    fmt_mib,
    fmt_rate,
    md_text,
)
from harness.report.figures import cost_chart
from harness.report.frames import Group, unique
from harness.report.notes import (
    demo_warning,
    few_classes_note,
    intervals_note,
    monitor_note,
    names_note,
    provenance_note,
    settings_note,
)

__all__ = ["MEASURED_COLUMNS", "measured_blocks"]

MEASURED_COLUMNS = [
    "rank",
    "method",
    "family",
    "year",
    "top-1 (%)",
    "top-1 95% CI",
    "top-5 (%)",
    "top-5 95% CI",
    "seeds",
    "monitor",
    "train time",
    "eval time",
    "train images/s",
    "peak memory",
    "device",
]
_NUMERIC = frozenset(MEASURED_COLUMNS) - {"method", "family", "monitor", "device"}


def _unranked(r: Any) -> str:
    """Why a successful row has no rank: a variant, tuned on val, or a smoke run."""
    reason = why_unranked(r)
    return "smoke" if reason.startswith("smoke") else reason


def _row(r: Any) -> list[str]:
    ok = bool(r.ok)
    return [
        (_unranked(r) if pd.isna(r.rank) else str(int(r.rank))) if ok else "failed",
        r.display,
        r.family,
        str(int(r.year)) if pd.notna(r.year) and r.year else MISSING,
        fmt_err_spread(r.top1_err, r.top1_err_std, r.n_seeds),
        fmt_ci(r.top1_err_ci_low, r.top1_err_ci_high),
        fmt_err_spread(r.top5_err, r.top5_err_std, r.n_seeds),
        fmt_ci(r.top5_err_ci_low, r.top5_err_ci_high),
        str(int(r.n_seeds)) if ok and pd.notna(r.n_seeds) else MISSING,
        r.monitor,
        fmt_duration(r.train_seconds),
        fmt_duration(r.eval_seconds),
        # Below 10 ms, n_train / seconds measures the timer, not the method.
        fmt_rate(r.train_images_per_s) if r.train_seconds >= 0.01 else MISSING,
        fmt_mib(r.peak_rss_mib),
        r.device if isinstance(r.device, str) else "unknown device",
    ]


def measured_blocks(g: Group, out_dir: Path) -> tuple[list[Block], dict[str, Path]]:
    """The measured table of one manifest, its notes, its failures and its cost chart.

    The device column appears only when the rows ran on more than one device
    (the hardware line under the table names it otherwise), so the table fits
    the page.
    """
    sub = g.rows
    files: dict[str, Path] = {}
    blocks: list[Block] = [Heading(f"Measured: {g.subset} · manifest {g.short}")]
    if g.is_demo:
        blocks.append(demo_warning())
    if g.n_classes is not None and g.n_classes <= 5:
        blocks.append(Paragraph(few_classes_note(g)))
    one_device = len(unique(sub["device"])) <= 1 and bool(sub["device"].notna().all())
    columns = MEASURED_COLUMNS[:-1] if one_device else MEASURED_COLUMNS
    blocks.append(
        Table(
            columns,
            [_row(r)[: len(columns)] for r in sub.itertuples()],
            numeric=_NUMERIC,
            caption=f"{md_text(g.label)}; ILSVRC flat top-k error on the validation split, lower "
            "is better, with its 95% interval; seeds = runs averaged (mean ± std); monitor = the "
            "split each method tuned on.",
        )
    )
    for note in (
        intervals_note(sub),
        names_note(sub),
        settings_note(sub),
        monitor_note(sub),
        provenance_note(sub),
    ):
        if note:
            blocks.append(Paragraph(note, "note"))
    failed = sub[~sub["ok"]]
    if not failed.empty:
        blocks.append(Paragraph(f"{len(failed)} run(s) failed:"))
        for r in failed.itertuples():
            blocks.append(Paragraph(f"**{md_text(r.display)}** (`{r.run_id}`): {md_text(r.error)}"))

    devices = "; ".join(unique(sub["device"])) or "unknown device"
    path = cost_chart(
        sub[sub["train_seconds"].notna()].rename(columns={"display": "name"}),
        title=f"Cost on {g.label}\n{devices}",
        path=out_dir / f"cost_{g.slug}.png",
    )
    if path is not None:
        files[path.name] = path
        blocks.append(
            Figure(
                path,
                "Wall time of training and evaluation, and training images per second (log "
                "scales); for several seeds, the newest run's.",
            )
        )
    return blocks, files
