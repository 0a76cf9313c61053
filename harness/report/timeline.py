"""Section: the timeline 2010-2015, measured rows by their year against the ILSVRC winners.

For one manifest: each ranked method's measured top-5 error (with its 95%
interval) plotted at the year of the era it represents (the record's
``year``), the historical winners' test top-5 error of each ILSVRC year
behind it, and the question a reader asks of it, answered from the records:
in which year's architecture does a CNN first beat the best hand-crafted
method measured on the same images? A year's CNN is its best ranked CNN
row (:func:`harness.leaderboard.rank_order`); "beats" means a lower top-5
error, and the paired bootstrap interval of the difference
(:func:`harness.gap.best_gap`) says whether that ordering is resolved.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from harness.gap import Gap, best_gap
from harness.leaderboard import rank_order
from harness.report.document import Block, Figure, Heading, Paragraph, Table, fmt_ci, fmt_err
from harness.report.figures import chance_top5_err
from harness.report.frames import Group
from harness.report.style import (
    CHANCE_COLOUR,
    FAMILY_COLOURS,
    FAMILY_MARKERS,
    new_figure,
    save_figure,
    style_axes,
    styled,
)

__all__ = ["FIRST_YEAR", "crossing_answer", "timeline_blocks", "timeline_chart", "winners"]

FIRST_YEAR = 2010  # the first ILSVRC


def winners(history: pd.DataFrame) -> pd.DataFrame:
    """The lowest test top-5 error of each ILSVRC year's competition: ``year``, ``top5_err``, name."""
    h = history[(history["kind"] == "competition") & (history["split"] == "test")].copy()
    h = h[h["top5_err"].notna() & h["year"].notna()]
    h = h[h["benchmark"] == "ILSVRC-" + h["year"].astype(int).astype(str)]
    h = h.sort_values(["year", "top5_err"]).drop_duplicates("year")
    return h[["year", "top5_err", "team_or_method"]].reset_index(drop=True)


def _ranked(g: Group) -> pd.DataFrame:
    """The manifest's ranked rows, ``year`` numeric (0: none, as chance)."""
    rows = g.rows[g.rows["ok"].astype(bool)]
    if "rank" in rows:
        rows = rows[rows["rank"].notna()]
    return rows.assign(year=pd.to_numeric(rows.get("year"), errors="coerce").fillna(0).astype(int))


def _dated(g: Group) -> pd.DataFrame:
    """The ranked rows of the ILSVRC years."""
    rows = _ranked(g)
    return rows[rows["year"] >= FIRST_YEAR]


def crossing_answer(g: Group) -> tuple[str, list[tuple[int, str, float, Gap | None]]]:
    """The answer in one paragraph, and per CNN year ``(year, name, top-5, gap to hand-crafted)``."""
    rows = _dated(g)
    hc = rows[rows["family"] == "hand-crafted"]
    cnn = rows[rows["family"] == "cnn"]
    if hc.empty or cnn.empty:
        return "", []
    hc_best = rank_order(hc, "top5_err").iloc[0]
    per_year: list[tuple[int, str, float, Gap | None]] = []
    for year, fam in cnn.groupby("year", sort=True):
        best = rank_order(fam, "top5_err").iloc[0]
        pair = pd.DataFrame([hc_best, best])
        per_year.append(
            (
                int(year),
                str(best["display"]),
                float(best["top5_err"]),
                best_gap(pair, name_col="display"),
            )
        )
    target = f"**{hc_best['display']}** ({int(hc_best['year'])}) at {fmt_err(hc_best['top5_err'])}% top-5"
    first = next(
        ((y, n, e, gp) for y, n, e, gp in per_year if gp is not None and gp.points > 0), None
    )
    budget = _budget_text(cnn)
    if first is None:
        y, n, e, gp = min(per_year, key=lambda t: t[2])
        text = (
            f"On these images{budget}, no CNN architecture measured here beats {target}: "
            f"the closest is **{n}** ({y}) at {fmt_err(e)}%"
            + (f", {fmt_err(-gp.points)} points behind{_interval_text(gp)}." if gp else ".")
        )
        return text, per_year
    y, n, e, gp = first
    earlier = [t for t in per_year if t[0] < y]
    text = (
        f"On these images{budget}, the first year whose CNN architecture beats {target} is "
        f"**{y}**: **{n}** at {fmt_err(e)}%, {fmt_err(gp.points)} points lower{_interval_text(gp)}"
        + (
            "; before it, "
            + ", ".join(f"{nm} ({yr}) at {fmt_err(er)}%" for yr, nm, er, _ in earlier)
            + " did not."
            if earlier
            else "."
        )
    )
    return text, per_year


def _interval_text(gap: Gap) -> str:
    if gap.ci_low is None or gap.ci_high is None:
        return ""
    resolved = gap.ci_low > 0 or gap.ci_high < 0
    return f" (paired 95% interval of the difference {fmt_ci(gap.ci_low, gap.ci_high)} points: " + (
        "resolved)" if resolved else "within noise, the ordering is not resolved)"
    )


def _budget_text(cnn: pd.DataFrame) -> str:
    seconds = pd.to_numeric(cnn.get("train_seconds"), errors="coerce").dropna()
    devices = sorted({str(d) for d in cnn.get("device", pd.Series(dtype=str)).dropna()})
    if seconds.empty:
        return ""
    low, high = f"{seconds.min() / 60:.0f}", f"{seconds.max() / 60:.0f}"
    minutes = low if low == high else f"{low}-{high}"
    return f" (CNNs trained {minutes} minutes each on {'; '.join(devices) or 'this device'})"


@styled
def timeline_chart(history: pd.DataFrame, g: Group, path: Path) -> Path | None:
    """Measured top-5 per method at its year, the ILSVRC winners' curve behind it."""
    rows = _dated(g)
    if rows.empty:
        return None
    fig = new_figure(8.0, 4.8)
    ax = fig.add_subplot()
    w = winners(history)
    ax.plot(
        w["year"],
        w["top5_err"],
        color=CHANCE_COLOUR,
        marker="D",
        lw=1.5,
        alpha=0.6,
        zorder=1,
        label="ILSVRC winners (test, 1,000 classes)",
    )
    for r in w.itertuples():
        ax.annotate(
            str(r.team_or_method),
            (r.year, r.top5_err),
            textcoords="offset points",
            xytext=(0, 7),
            ha="center",
            fontsize=7,
            color=CHANCE_COLOUR,
        )
    chance = chance_top5_err(int(g.n_classes)) if g.n_classes else 0.0
    if chance > 0:
        ax.axhline(chance, color=CHANCE_COLOUR, ls="--", lw=1, zorder=1)
        ax.text(FIRST_YEAR - 0.4, chance + 1, f"chance ({g.n_classes} classes)", fontsize=8)
    seen: set[str] = set()
    for year, same in rows.sort_values("top5_err").groupby("year", sort=True):
        offsets = [0.12 * (i - (len(same) - 1) / 2) for i in range(len(same))]
        for dx, r in zip(offsets, same.itertuples(), strict=True):
            fam = str(r.family) if str(r.family) in FAMILY_COLOURS else "other"
            x, e = int(year) + dx, float(r.top5_err)
            low, high = getattr(r, "top5_err_ci_low", None), getattr(r, "top5_err_ci_high", None)
            yerr = None
            if low is not None and high is not None and not (pd.isna(low) or pd.isna(high)):
                yerr = [[e - float(low)], [float(high) - e]]
            ax.errorbar(
                x,
                e,
                yerr=yerr,
                fmt=FAMILY_MARKERS.get(fam, "o"),
                color=FAMILY_COLOURS[fam],
                capsize=3,
                zorder=3,
                label=None if fam in seen else f"measured: {fam}",
            )
            seen.add(fam)
            ax.annotate(
                str(r.method), (x, e), textcoords="offset points", xytext=(6, 2), fontsize=7
            )
    years = [int(y) for y in rows["year"]] + [int(y) for y in w["year"]]
    ax.set_xlim(FIRST_YEAR - 0.5, max(years) + 0.5)
    ax.set_xticks(range(FIRST_YEAR, max(years) + 1))
    ax.set_ylim(0, 100)
    ax.set_xlabel("year of the method's era")
    ax.set_ylabel("top-5 error (%)")
    ax.set_title(f"Measured on {g.label}, beside the ILSVRC winners", fontsize=10)
    style_axes(ax, "y")
    ax.legend(loc="lower left", fontsize=8)
    return save_figure(fig, path)


def timeline_blocks(
    history: pd.DataFrame, g: Group, out_dir: Path
) -> tuple[list[Block], dict[str, Path]]:
    """The timeline figure, the per-year table and the crossing answer of one manifest."""
    rows = _dated(g)
    if rows.empty or rows["year"].nunique() < 2:
        return [], {}
    answer, per_year = crossing_answer(g)
    blocks: list[Block] = [Heading(f"Timeline {FIRST_YEAR}-{int(rows['year'].max())}: {g.subset}")]
    files: dict[str, Path] = {}
    path = timeline_chart(history, g, out_dir / f"timeline_{g.slug}.png")
    if path is not None:
        files[path.name] = path
        blocks.append(
            Figure(
                path,
                "Each ranked method's measured top-5 error (95% interval) at the year of its "
                "era, on this manifest; grey: the winning ILSVRC test top-5 error of each year "
                "(1,000 classes, full data and budget: a different task, for the shape only).",
            )
        )
    w = winners(history).set_index("year")
    table = []
    for r in rows.sort_values(["year", "top5_err"]).itertuples():
        won = w.loc[r.year] if r.year in w.index else None
        table.append(
            [
                str(int(r.year)),
                str(r.display),
                str(r.family),
                fmt_err(r.top5_err),
                fmt_ci(getattr(r, "top5_err_ci_low", None), getattr(r, "top5_err_ci_high", None)),
                "" if won is None else f"{won['team_or_method']} {fmt_err(won['top5_err'])}",
            ]
        )
    blocks.append(
        Table(
            [
                "year",
                "method",
                "family",
                "top-5 (%)",
                "95% interval",
                "ILSVRC winner that year (test top-5 %)",
            ],
            table,
            numeric=frozenset({"year", "top-5 (%)"}),
        )
    )
    if answer:
        blocks.append(Paragraph(answer))
    older = _ranked(g)
    older = older[(older["year"] > 0) & (older["year"] < FIRST_YEAR)]
    if not older.empty:
        names = ", ".join(f"{r.display} ({r.year})" for r in older.itertuples())
        blocks.append(
            Paragraph(f"Before the first ILSVRC, in the measured table only: {names}.", "note")
        )
    return blocks, files
