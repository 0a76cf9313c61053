"""Section and files of a `harness sweep`: the gap against the training-set size.

A sweep runs the same methods over a grid of subset sizes (classes x training
images per class). Each record's ``config["sweep"]`` names its grid cell;
:func:`harness.report.frames.sweep_frame` gives one row per cell and method
(seeds aggregated). This module draws top-5 error against training-set size
(one panel per class count, log x, with 95% intervals) and the gap (best
hand-crafted minus best CNN top-5 error, within one manifest) against
training-set size with its paired 95% interval as error bars, and writes
``sweep.csv`` and ``sweep.md``. The 2012 lesson it is built to show or
refute: at small scale CNNs have no clear edge over hand-crafted features +
SVMs; at large scale they do.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from harness.frame import is_sweep_record
from harness.record import RunRecord
from harness.report.document import (
    MISSING,
    Block,
    Figure,
    Heading,
    Paragraph,
    Table,
    fmt_ci,
    fmt_err_spread,
    fmt_points,
    fmt_relative,
    fmt_versions,
    md_text,
    render_markdown,
)
from harness.report.figures import TOP_K, chance_top5_err
from harness.report.frames import SWEEP_COLUMNS, sweep_frame, sweep_gaps
from harness.report.notes import demo_warning, monitor_note, names_note
from harness.report.style import (
    CHANCE_COLOUR,
    FAMILY_MARKERS,
    TEXT_COLOUR,
    figure_legend,
    method_colours,
    new_figure,
    save_figure,
    style_axes,
    styled,
)
from harness.store import atomic_write_text, ensure_folder

__all__ = [
    "sweep_blocks",
    "sweep_cell_records",
    "sweep_gap_chart",
    "sweep_top5_chart",
    "write_sweep_report",
]

_CSV_COLUMNS = [c for c in SWEEP_COLUMNS if c not in ("is_demo", "versions", "hits")]
_SEPARATORS = "-_~:@.+/"
_LINES = {"cnn": "-", "hand-crafted": "-", "reference": ":", "other": "--"}


def _common_stem(names: list[str]) -> str:
    """The shared leading part of subset names, cut at a separator ("tiny-imagenet-100")."""
    prefix = os.path.commonprefix(names)
    if any(len(n) > len(prefix) and n[len(prefix)] not in _SEPARATORS for n in names):
        cut = max(prefix.rfind(c) for c in _SEPARATORS)
        prefix = prefix[: cut + 1] if cut >= 0 else ""
    return prefix.rstrip(_SEPARATORS)


def _title_context(frame: pd.DataFrame) -> str:
    subsets = [s for s in frame["subset"].dropna().astype(str).unique()]
    base = _common_stem(subsets) if len(subsets) > 1 else ""
    data = base or (subsets[0] if len(subsets) == 1 else f"{len(subsets)} subsets")
    devices = "; ".join(frame["device"].dropna().astype(str).unique()) or "unknown device"
    return f"{data} · {devices}"


def _size_axis(ax: Any, sizes: list[int]) -> None:
    """Log x axis with ticks at the grid's training-set sizes, labelled in full."""
    from matplotlib.ticker import FixedLocator, NullLocator

    ax.set_xscale("log")
    ticks = sorted({int(v) for v in sizes if v and v > 0})
    if ticks:
        ax.xaxis.set_major_locator(FixedLocator(ticks))
        ax.set_xticklabels([f"{t:,}" for t in ticks], fontsize=8)
        ax.set_xlim(ticks[0] / 1.5, ticks[-1] * 1.5)
    ax.xaxis.set_minor_locator(NullLocator())


def _yerr(values: pd.Series, low: pd.Series, high: pd.Series) -> list[list[float]] | None:
    """Asymmetric error bars; 0 where an interval is unknown; None when none is known."""
    if low.isna().all():
        return None
    return [
        list((values - low).fillna(0).clip(lower=0)),
        list((high - values).fillna(0).clip(lower=0)),
    ]


@styled
def sweep_top5_chart(frame: pd.DataFrame, *, title: str, path: Path) -> Path:
    """Top-5 error of each method against training-set size, one panel per class count."""
    from matplotlib.lines import Line2D

    ok = frame[frame["status"] == "ok"]
    class_counts = sorted(frame["classes"].unique())
    methods = sorted(frame["display"].unique())
    colour = method_colours(methods)
    family = dict(zip(frame["display"], frame["family"], strict=True))

    fig = new_figure(max(6.0, 3.4 * len(class_counts) + 0.8), 4.8)
    axes = fig.subplots(1, len(class_counts), sharey=True, squeeze=False)[0]
    for ax, classes in zip(axes, class_counts, strict=True):
        panel = ok[ok["classes"] == classes]
        for m in methods:
            pts = panel[panel["display"] == m].sort_values("n_train")
            if pts.empty:
                continue
            ax.errorbar(
                pts["n_train"],
                pts["top5_err"],
                yerr=_yerr(pts["top5_err"], pts["top5_err_ci_low"], pts["top5_err_ci_high"]),
                color=colour[m],
                marker=FAMILY_MARKERS[family[m]],
                linestyle=_LINES[family[m]],
                capsize=2,
                label=f"{m} ({family[m]})",
            )
        ax.axhline(chance_top5_err(int(classes)), color=CHANCE_COLOUR, linestyle="--", linewidth=1)
        _size_axis(ax, list(frame.loc[frame["classes"] == classes, "n_train"]))
        trivial = " (top-5 error is 0 by construction)" if classes <= TOP_K else ""
        ax.set_title(f"{classes} classes{trivial}", fontsize=10 if trivial else 11)
        ax.set_xlabel("training images (log scale)")
        style_axes(ax)
    axes[0].set_ylabel("top-5 error (%), validation")
    axes[0].set_ylim(bottom=0)
    handles, labels = [], []
    for ax in axes:
        for h, lab in zip(*ax.get_legend_handles_labels(), strict=True):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
    handles.append(Line2D([], [], color=CHANCE_COLOUR, linestyle="--", linewidth=1))
    labels.append("chance (1 - 5 / classes)")
    figure_legend(fig, handles, labels, fontsize=9)
    fig.suptitle(f"Top-5 error vs training-set size (bars: 95% intervals)\n{title}")
    return save_figure(fig, path)


@styled
def sweep_gap_chart(gaps: pd.DataFrame, *, title: str, path: Path) -> Path:
    """The gap (best hand-crafted minus best CNN top-5 error) against training-set size,
    with the paired 95% interval of each cell as an error bar."""
    from matplotlib import colormaps
    from matplotlib.ticker import FuncFormatter, LogLocator, NullLocator

    fig = new_figure(7.5, 4.6)
    ax = fig.subplots()
    palette = colormaps["viridis"]
    class_counts = sorted(gaps["classes"].unique())
    for i, classes in enumerate(class_counts):
        pts = gaps[(gaps["classes"] == classes) & gaps["gap_points"].notna()].sort_values("n_train")
        if pts.empty:
            continue
        c = palette(i / max(1, len(class_counts) - 1) * 0.85)
        ax.errorbar(
            pts["n_train"],
            pts["gap_points"],
            yerr=_yerr(pts["gap_points"], pts["gap_ci_low"], pts["gap_ci_high"]),
            marker="o",
            color=c,
            capsize=3,
            label=f"{classes} classes",
        )
    ax.axhline(0, color="#333", linewidth=1)
    # Sizes of different class counts interleave: 1-2-5 ticks instead of one per cell.
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    ax.xaxis.set_minor_locator(NullLocator())
    sizes = gaps["n_train"][gaps["n_train"] > 0]
    if not sizes.empty:
        ax.set_xlim(sizes.min() / 1.5, sizes.max() * 1.5)
    ax.set_xlabel("training images (log scale)")
    ax.set_ylabel("gap: hand-crafted minus CNN top-5 error (points)")
    lo, hi = ax.get_ylim()
    ax.text(ax.get_xlim()[0], hi, " CNN ahead \u2191", va="top", fontsize=9, color=TEXT_COLOUR)
    ax.text(
        ax.get_xlim()[0],
        lo,
        " hand-crafted ahead \u2193",
        va="bottom",
        fontsize=9,
        color=TEXT_COLOUR,
    )
    style_axes(ax)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=9, loc="best")
    fig.suptitle(f"The gap vs training-set size (bars: paired 95% intervals)\n{title}")
    return save_figure(fig, path)


def _trend_sentences(gaps: pd.DataFrame) -> list[str]:
    out = []
    for classes, g in gaps.groupby("classes", sort=True):
        g = g[g["gap_points"].notna()].sort_values("n_train")
        if classes <= TOP_K:
            out.append(
                f"{classes} classes: with {TOP_K} classes or fewer the top-5 error is 0 by "
                "construction, so these cells show no gap."
            )
            continue
        if g.empty:
            out.append(f"{classes} classes: no cell with both a CNN and a hand-crafted result.")
            continue

        def cell(r: Any) -> str:
            ci = fmt_ci(r["gap_ci_low"], r["gap_ci_high"])
            state = (
                "" if ci == MISSING else (f" {ci}" + ("" if r["resolved"] else ", not resolved"))
            )
            return f"{fmt_points(r['gap_points'])}{state} at {int(r['n_train']):,} training images"

        text = f"{classes} classes: gap {cell(g.iloc[0])}"
        if len(g) > 1:
            text += f", {cell(g.iloc[-1])}"
        out.append(text + ".")
    return out


#: A base subset of every class a copy holds (``present_classes_subset``): its name
#: spells the layout and the class count.
_PRESENT_CLASSES = re.compile(r"^(?P<layout>.+)-(?P<n>\d+)cls-[0-9a-f]{8}$")


def _swept_from(whole: RunRecord | Mapping[str, Any], cell: RunRecord | Mapping[str, Any]) -> bool:
    """Whether ``whole`` (a plain run) is the subset the sweep record ``cell`` drew from.

    The same data root, layout and stored size, the same method with the same
    resolved parameters (the same recipe: a grey-HOG cell never shares a line
    with a colour-HOG whole run), and either the base's very name or, for a
    base of "every class the copy holds", a run on all those classes under a
    named subset (``--suite tiny-imagenet`` runs ``tiny-imagenet``; its sweep
    draws from ``tiny-imagenet-100cls-<digest>``).
    """
    w_cfg, c_cfg = whole.get("config") or {}, cell.get("config") or {}
    same = (
        whole.get("layout") == cell.get("layout")
        and whole.get("image_size") == cell.get("image_size")
        and w_cfg.get("data") == c_cfg.get("data")
        and whole.get("method") == cell.get("method")
        and (whole.get("params") or {}) == (cell.get("params") or {})
    )
    if not same:
        return False
    subset, base = str(whole.get("subset")), str(cell.get("subset")).split(":", 1)[0]
    if subset == base:
        return True
    present = _PRESENT_CLASSES.match(base)
    return (
        present is not None
        and ":" not in subset
        and present["layout"] == whole.get("layout")
        and int(present["n"]) == whole.get("n_classes")
    )


def _cell_of(record: RunRecord | Mapping[str, Any]) -> tuple[int, int] | None:
    n_classes, n_train = record.get("n_classes"), record.get("n_train")
    if not n_classes or n_train is None:
        return None
    return int(n_classes), int(n_train) // int(n_classes)


def _origin(record: RunRecord | Mapping[str, Any]) -> tuple[Any, ...]:
    """What a sweep cell was drawn from: data root, layout, stored size, base subset."""
    config = record.get("config") or {}
    base = str(record.get("subset")).split(":", 1)[0]
    return (config.get("data"), record.get("layout"), record.get("image_size"), base)


def sweep_cell_records(
    records: list[RunRecord | Mapping[str, Any]],
    like: list[RunRecord | Mapping[str, Any]] | None = None,
) -> list[RunRecord | Mapping[str, Any]]:
    """The sweep records, plus the records of each swept subset taken whole.

    A sweep cell is an ad-hoc draw from a base subset (``harness sweep --suite
    tiny-imagenet --classes 10 ...`` draws from every class the copy holds).
    The plain comparison on that base (``harness run --suite tiny-imagenet``)
    is the grid's largest cell, all its classes x all its images per class, on
    the same images as the leaderboard: its records join the sweep (cell from
    ``n_classes`` and ``n_train / n_classes``) rather than being recomputed
    under a second manifest. Only runs of the same data root, stored size and
    recipe join (:func:`_swept_from`), and none whose cell the grid already
    has (no cell twice). ``like`` (e.g. the records one ``harness sweep`` just
    wrote) keeps only the sweep records drawn from the same subsets as those.
    """
    sweep = [r for r in records if is_sweep_record(r)]
    if like is not None:
        origins = {_origin(r) for r in like}
        sweep = [r for r in sweep if _origin(r) in origins]
    cells = set()
    for r in sweep:
        cell = r.get("config", {}).get("sweep", {})
        if cell.get("classes") is not None and cell.get("train_per_class") is not None:
            cells.add((int(cell["classes"]), int(cell["train_per_class"])))
    whole = [
        r
        for r in records
        if not is_sweep_record(r)
        and (cell := _cell_of(r)) is not None
        and cell not in cells
        and any(_swept_from(r, s) for s in sweep)
    ]
    return [*sweep, *whole]


def sweep_blocks(
    records: list[RunRecord | Mapping[str, Any]], out_dir: Path
) -> tuple[list[Block], dict[str, Path]]:
    """The sweep's figures (written to ``out_dir``) and the blocks that show them."""
    out_dir = Path(out_dir)
    frame = sweep_frame(records)
    gaps = sweep_gaps(frame)
    context = _title_context(frame)
    top5 = sweep_top5_chart(frame, title=context, path=out_dir / "sweep_top5.png")
    gap_png = sweep_gap_chart(gaps, title=context, path=out_dir / "sweep_gap.png")

    methods = sorted(frame["display"].unique())
    rows: list[list[str]] = []
    gap_rows: list[list[str]] = []
    for g in gaps.itertuples():
        cell = frame[
            (frame["classes"] == g.classes)
            & (frame["train_per_class"] == g.train_per_class)
            & (frame["manifest_hash"] == g.manifest_hash)
        ].set_index("display")
        values = []
        for m in methods:
            if m not in cell.index:
                values.append(MISSING)
            elif cell.at[m, "status"] == "error":
                values.append("failed")
            else:
                r = cell.loc[m]
                values.append(fmt_err_spread(r["top5_err"], r["top5_err_std"], r["n_seeds"]))
        cell_key = [str(g.classes), str(g.train_per_class), f"{g.n_train:,}"]
        rows.append([*cell_key, *values])
        gap_rows.append(
            [
                *cell_key,
                md_text(f"{g.best_handcrafted} ({g.handcrafted_top5:.1f})")
                if isinstance(g.best_handcrafted, str)
                else MISSING,
                md_text(f"{g.best_cnn} ({g.cnn_top5:.1f})")
                if isinstance(g.best_cnn, str)
                else MISSING,
                fmt_points(g.gap_points) if pd.notna(g.gap_points) else MISSING,
                fmt_ci(g.gap_ci_low, g.gap_ci_high),
                fmt_relative(g.gap_relative),
            ]
        )
    # Two tables, so that neither runs past the page: the errors, then the gaps.
    keys = ["classes", "train / class", "train images"]
    columns = [*keys, *methods]
    gap_columns = [*keys, "best hand-crafted (top-5 %)", "best CNN (top-5 %)"]
    gap_columns += ["gap", "gap 95% CI", "relative"]
    blocks: list[Block] = []
    if frame["is_demo"].any():
        blocks.append(demo_warning())
    blocks += [
        Paragraph(
            "The lesson of 2012: at LeNet's scale CNNs had no clear edge over hand-crafted "
            "features + linear SVMs; at ImageNet's scale they did. The sweep runs every method on "
            "a grid of subset sizes; a positive gap means the best CNN has the lower top-5 error."
        ),
        Table(
            columns,
            rows,
            numeric=frozenset(columns),
            caption="Top-5 error (%) on the validation split per grid cell (mean ± std for "
            "several seeds).",
        ),
        Table(
            gap_columns,
            gap_rows,
            numeric=frozenset([*keys, "gap", "gap 95% CI", "relative"]),
            caption="The gap per grid cell: best hand-crafted minus best CNN top-5 error of the "
            "cell's manifest (above 0: the CNN is ahead), with its paired bootstrap 95% interval "
            f"({MISSING} without per-image hits); relative = gap / hand-crafted error.",
        ),
        Paragraph(
            f"Data and hardware: {md_text(context)}. Manifests: "
            + ", ".join(f"`{h}`" for h in frame["manifest_hash"].dropna().astype(str).unique())
            + ". Versions: "
            + md_text(fmt_versions(frame["versions"]))
            + ".",
            "note",
        ),
        *([Paragraph(note, "note")] if (note := names_note(frame)) else []),
        *([Paragraph(note, "note")] if (note := monitor_note(frame)) else []),
        *[Paragraph(s) for s in _trend_sentences(gaps)],
        Figure(
            top5,
            "Top-5 error of each method against the number of training images (dashed: chance; "
            "bars: 95% intervals where the records keep per-image hits).",
        ),
        Figure(
            gap_png,
            "Best hand-crafted minus best CNN top-5 error; above zero the CNN is ahead; bars: "
            "paired 95% intervals (an interval that crosses zero leaves the ordering unresolved).",
        ),
    ]
    failed = frame[frame["status"] == "error"]
    for r in failed.itertuples():
        blocks.append(
            Paragraph(
                f"**{md_text(r.display)}** failed at {r.classes} classes x {r.train_per_class}"
                f"/class: {md_text(r.error)}"
            )
        )
    return blocks, {top5.name: top5, gap_png.name: gap_png}


def write_sweep_report(
    records: list[RunRecord | Mapping[str, Any]], out_dir: Path
) -> dict[str, Path]:
    """Write ``sweep.csv``, ``sweep.md`` and the sweep PNGs into ``out_dir``.

    Returns ``{"csv": sweep.csv, "md": sweep.md, <png file name>: path, ...}``.
    """
    if not records:
        raise ValueError("write_sweep_report: no sweep records to plot")
    out_dir = ensure_folder(Path(out_dir))
    blocks, files = sweep_blocks(records, out_dir)
    csv_path = out_dir / "sweep.csv"
    atomic_write_text(csv_path, sweep_frame(records)[_CSV_COLUMNS].to_csv(index=False))
    md_path = out_dir / "sweep.md"
    atomic_write_text(md_path, render_markdown([Heading("Gap versus scale", 1), *blocks], out_dir))
    return {"csv": csv_path, "md": md_path, **files}
