"""Section: the historical results, as published, from ``harness/history/ilsvrc_history.csv``."""

from __future__ import annotations

import pandas as pd

from harness.report.document import Block, Heading, Paragraph, Table, fmt_err

__all__ = ["history_blocks"]


def history_blocks(history: pd.DataFrame) -> list[Block]:
    """The table of every historical row with its source, and how to read it."""
    rows = [
        [
            "" if pd.isna(r.year) else str(int(r.year)),
            r.benchmark,
            r.split,
            r.team_or_method,
            r.family,
            fmt_err(r.top1_err),
            fmt_err(r.top5_err),
            r.description,
            r.source,
        ]
        for r in history.itertuples()
    ]
    return [
        Heading("Historical results"),
        Table(
            [
                "year",
                "benchmark",
                "split",
                "team / method",
                "family",
                "top-1 (%)",
                "top-5 (%)",
                "what it was",
                "source",
            ],
            rows,
            numeric=frozenset({"year", "top-1 (%)", "top-5 (%)"}),
        ),
        Paragraph(
            "As published; errors rounded to 1 decimal (exact values and sources in "
            "`harness/history/ilsvrc_history.csv`). Hardware and software as in each source "
            "(SuperVision: 2 GTX 580 GPUs, 5-6 days of training). \\* = pre-trained on the "
            "Fall-2011 release of ImageNet.",
            "note",
        ),
    ]
