"""Section: the 2012 gap, historical and measured, with the measured gap's paired interval.

Per manifest: the best hand-crafted method against the best CNN (ranked as in
the leaderboard), the gap in points and relative, its paired bootstrap 95%
interval (:mod:`harness.intervals`: the same val images resampled for both)
and a sentence saying whether that interval resolves the ordering. Then the
top-5 bar chart of each manifest beside the ILSVRC-2012 results and the table
of both.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from harness.gap import Gap, best_gap
from harness.history import historical_gaps
from harness.report.document import (
    MISSING,
    Block,
    Figure,
    Heading,
    Paragraph,
    Table,
    fmt_ci,
    fmt_err,
    fmt_points,
    fmt_relative,
    md_text,
)
from harness.report.figures import TOP_K, top5_bar_chart
from harness.report.frames import Group
from harness.report.notes import base_name, departures_text, few_classes_note, provenance_note

__all__ = ["GAP_COLUMNS", "gap_blocks", "gap_sentence", "interval_sentence", "ordering_label"]

GAP_COLUMNS = [
    "comparison",
    "best hand-crafted (top-5 %)",
    "best CNN (top-5 %)",
    "gap",
    "paired 95% CI",
    "ordering",
    "relative reduction",
    "source",
]


def gap_sentence(gap: Gap) -> str:
    """Who beats whom, by how much (Markdown)."""
    hc, cnn = md_text(gap.handcrafted), md_text(gap.cnn)
    if gap.points >= 0:
        return (
            f"the best CNN ({cnn}, {fmt_err(gap.cnn_top5)}%) beats the best hand-crafted "
            f"method ({hc}, {fmt_err(gap.handcrafted_top5)}%) by "
            f"{fmt_points(gap.points)} of top-5 error, a {fmt_relative(gap.relative)} relative "
            "reduction"
        )
    return (
        f"the best hand-crafted method ({hc}, {fmt_err(gap.handcrafted_top5)}%) beats "
        f"the best CNN ({cnn}, {fmt_err(gap.cnn_top5)}%) by {fmt_points(-gap.points)} of top-5 "
        "error"
    )


def ordering_label(gap: Gap) -> str:
    """The table's "ordering" cell: resolved (who leads) or not, or MISSING without hits."""
    if not gap.has_interval:
        return MISSING
    if not gap.resolved:
        return "not resolved"
    return "resolved: CNN ahead" if gap.points > 0 else "resolved: hand-crafted ahead"


def interval_sentence(gap: Gap) -> str:
    """Whether the paired interval of ``gap`` resolves the ordering, in words."""
    if not gap.has_interval:
        return (
            "No interval: the two records keep no per-image hits of the same images (records "
            "written before hits were recorded); rerun them for a paired interval."
        )
    seeds = ""
    if max(gap.seeds) > 1:
        seeds = f"; seeds resampled too: {gap.seeds[0]} of the hand-crafted method, {gap.seeds[1]} of the CNN"
    span = (
        f"The paired bootstrap {gap.level:.0%} interval of the gap is "
        f"{fmt_ci(gap.ci_low, gap.ci_high)} points ({gap.n_resamples:,} resamples of the "
        f"{gap.n_images:,} val images, the same images for both methods{seeds})"
    )
    if gap.resolved:
        leader = "the CNN" if gap.points > 0 else "the hand-crafted method"
        return f"{span}; it excludes 0, so the ordering is resolved: {leader} is ahead."
    return (
        f"{span}; it includes 0, so on these images the ordering is **not resolved**: "
        "more val images (or seeds) would be needed to call it."
    )


def _gap_row(label: str, gap: Gap, source: str, *, measured: bool) -> list[str]:
    return [
        label,
        f"{gap.handcrafted} ({fmt_err(gap.handcrafted_top5)})",
        f"{gap.cnn} ({fmt_err(gap.cnn_top5)})",
        fmt_points(gap.points),
        fmt_ci(gap.ci_low, gap.ci_high),
        ordering_label(gap) if measured else MISSING,
        fmt_relative(gap.relative),
        source,
    ]


def _provenance_notes(notes: list[str]) -> list[Block]:
    head = "Historical rows: as published (hardware and software per source)."
    return [Paragraph(head, "note"), *[Paragraph(f"Measured, {n}", "note") for n in notes]]


def gap_blocks(
    history: pd.DataFrame, groups: list[Group], out_dir: Path
) -> tuple[list[Block], dict[str, Path]]:
    """The gap section: sentences, the gap table, top-5 charts and the table beside 2012."""
    blocks: list[Block] = [Heading("The 2012 gap")]
    files: dict[str, Path] = {}
    hist_gaps = historical_gaps(history)
    if hist_gaps:
        first = hist_gaps[0]
        text = f"Historically ({md_text(first.label)}), {gap_sentence(first.gap)}."
        if len(hist_gaps) > 1:
            second = hist_gaps[1]
            text += (
                f" With {md_text(second.label.split(', ', 1)[-1])}: "
                f"{fmt_points(second.gap.points)}, {fmt_relative(second.gap.relative)} relative."
            )
        blocks.append(Paragraph(text))
    if len(groups) > 1:
        blocks.append(
            Paragraph(
                "Each measured gap compares methods scored on the same images (one manifest); "
                "gaps of different manifests are not compared with each other here."
            )
        )

    rows = [_gap_row(f"historical: {h.label}", h.gap, h.source, measured=False) for h in hist_gaps]
    notes = []
    for g in groups:
        ok = g.ok
        gap = best_gap(ok, name_col="display")
        label = f"measured: {g.label}"
        if g.n_classes is not None and g.n_classes <= TOP_K:
            # every guess list holds the truth: no top-5 gap exists, "beats by 0.0" says nothing
            rows.append([label, *[MISSING] * 6, "this harness"])
            blocks.append(Paragraph(f"Measured on **{md_text(g.label)}**: {few_classes_note(g)}"))
        elif gap is None:
            rows.append([label, *[MISSING] * 6, "this harness"])
            done = set(ok["family"])
            missing = " and ".join(
                f"a successful {f if f == 'hand-crafted' else 'CNN'} run"
                for f in ("hand-crafted", "cnn")
                if f not in done
            )
            blocks.append(
                Paragraph(
                    f"Measured on **{md_text(g.label)}**: no gap yet; it needs {missing} "
                    "(references such as `random` never count)."
                )
            )
        else:
            rows.append(_gap_row(label, gap, "this harness", measured=True))
            text = f"Measured on **{md_text(g.label)}**: {gap_sentence(gap)}. "
            text += interval_sentence(gap)
            cnn = ok[ok["family"] == "cnn"]
            modified = {
                base_name(r): departures_text(r)
                for r in cnn[cnn["display"] == gap.cnn].itertuples()
                if isinstance(r.tag, str) and r.tag
            }
            if modified:
                text += " Not the published model: " + "; ".join(modified.values()) + "."
            compared = ok[ok["display"].isin([gap.cnn, gap.handcrafted])]
            on_val = list(compared.loc[compared["monitor"] == "val", "display"])
            if on_val:
                text += (
                    f" Monitor: {', '.join(md_text(v) for v in on_val)} tuned on the validation "
                    "split it is scored on (monitor `val`), so this gap may flatter it."
                )
            blocks.append(Paragraph(text))
        notes.append(f"{md_text(g.label)}: {provenance_note(g.rows)}")
    blocks.append(
        Table(
            GAP_COLUMNS,
            rows,
            numeric=frozenset({"gap", "paired 95% CI", "relative reduction"}),
            caption="Gap = best hand-crafted minus best CNN top-5 error of one manifest (above "
            "0: the CNN is ahead); paired 95% CI = bootstrap over the val images, the same "
            "images resampled for both methods; resolved = the interval excludes 0; relative = "
            "gap / hand-crafted error.",
        )
    )
    blocks += _provenance_notes(notes)

    entries = history[
        (history["benchmark"] == "ILSVRC-2012")
        & (history["split"] == "test")
        & (history["kind"] == "competition")
    ].sort_values("top5_err")
    for g in groups:
        measured = g.rows[["display", "family", "top5_err", "top5_err_ci_low", "top5_err_ci_high"]]
        path = top5_bar_chart(
            entries,
            measured.rename(columns={"display": "name"}),
            n_classes=g.n_classes or 1000,
            measured_label=g.label + ("\n(generated demo data, not ImageNet)" if g.is_demo else ""),
            path=out_dir / f"top5_{g.slug}.png",
        )
        files[path.name] = path
        blocks.append(
            Figure(
                path,
                f"Top-5 error: the ILSVRC-2012 test results (left) and the methods measured on "
                f"{md_text(g.label)} (right), with 95% intervals where the records keep per-image "
                "hits; dashed: chance.",
            )
        )
    blocks.append(Heading("The 2012 results beside the measured ones", 3))
    table_rows = [
        [
            "ILSVRC-2012 test",
            r.team_or_method,
            r.family,
            fmt_err(r.top1_err),
            fmt_err(r.top5_err),
            r.source,
        ]
        for r in entries.itertuples()
    ]
    for g in groups:
        table_rows += [
            [
                f"{g.subset} val ({g.short})",
                r.display,
                r.family,
                fmt_err(r.top1_err),
                fmt_err(r.top5_err) if r.ok else "failed",
                f"this harness ({str(r.date)[:10]})" if isinstance(r.date, str) else "this harness",
            ]
            for r in g.rows.itertuples()
        ]
    blocks.append(
        Table(
            ["evaluated on", "team / method", "family", "top-1 (%)", "top-5 (%)", "source"],
            table_rows,
            numeric=frozenset({"top-1 (%)", "top-5 (%)"}),
            caption="Top-1 / top-5 error in percent; the 2012 results page gives top-5 only. "
            "Measured rows: subset (manifest); several seeds: their mean.",
        )
    )
    blocks += _provenance_notes(notes)
    return blocks, files
