"""Gap versus scale: the figures and tables of a `harness sweep`.

A sweep runs the same methods over a grid of subset sizes (classes x training
images per class). Each record's ``config["sweep"]`` names its grid cell
(``{"classes": C, "train_per_class": M}``); ``n_train`` and ``n_classes`` are
record fields. From those records (through :func:`harness.results.records_frame`,
newest record per manifest, method and variant) this module draws top-5 error
against training-set size (one panel per class count, log x) and the gap (best
hand-crafted minus best CNN top-5 error, within one manifest) against
training-set size, and writes ``sweep.csv`` (one row per record shown) and
``sweep.md``. The 2012 lesson it is built to show or refute: at small scale
CNNs have no clear edge over hand-crafted features + SVMs; at large scale they
do.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from harness.gap import best_gap
from harness.plots import TOP_K
from harness.record import RunRecord
from harness.report_document import (
    Block,
    Figure,
    Heading,
    Paragraph,
    Table,
    fmt_err,
    fmt_points,
    fmt_relative,
    fmt_versions,
    render_markdown,
)
from harness.results import atomic_write_text, ensure_folder, latest_rows, records_frame

__all__ = ["SWEEP_COLUMNS", "sweep_blocks", "sweep_frame", "sweep_gaps", "write_sweep_report"]

#: Columns of ``sweep.csv``: the grid cell, then a selection of the records frame
#: (``method`` the registry name, ``display`` with its tag and variant).
SWEEP_COLUMNS = [
    "classes",
    "train_per_class",
    "n_classes",
    "n_train",
    "n_val",
    "method",
    "variant",
    "display",
    "family",
    "status",
    "top1_err",
    "top5_err",
    "monitor",
    "train_seconds",
    "train_images_per_s",
    "device",
    "subset",
    "manifest_hash",
    "run_id",
    "error",
    "is_demo",
    "versions",
]
_CSV_COLUMNS = [c for c in SWEEP_COLUMNS if c not in ("is_demo", "versions")]


def sweep_frame(records: list[RunRecord | Mapping[str, Any]]) -> pd.DataFrame:
    """One row per (manifest, method, variant) of the sweep records (failed runs included)."""
    frame = latest_rows(records_frame(records))
    classes = frame["sweep_classes"].fillna(frame["n_classes"])
    per_class = frame["sweep_train_per_class"]
    derived = (frame["n_train"] // frame["n_classes"].where(frame["n_classes"] > 0)).astype("Int64")
    per_class = per_class.fillna(derived)
    missing = frame.loc[classes.isna(), "run_id"].tolist()
    if missing:
        raise ValueError(
            f"sweep record {missing[0]!r} names no class count (config.sweep.classes or n_classes)"
        )
    df = frame.assign(
        classes=classes.astype(int),
        train_per_class=per_class,
        n_train=frame["n_train"].fillna(classes * per_class.fillna(0)),
    )
    return (
        df[SWEEP_COLUMNS]
        .sort_values(["classes", "train_per_class", "display"])
        .reset_index(drop=True)
    )


def sweep_gaps(frame: pd.DataFrame) -> pd.DataFrame:
    """The gap per grid cell and manifest: best hand-crafted minus best CNN top-5 error."""
    rows = []
    cells = frame.groupby(["classes", "train_per_class", "manifest_hash"], sort=True, dropna=False)
    for (classes, per_class, manifest), cell in cells:
        # With 5 classes or fewer every guess list holds the truth: no top-5 gap exists.
        trivial = classes <= TOP_K
        ok = cell[cell["status"] == "ok"]
        gap = None if trivial else best_gap(ok, name_col="display")
        rows.append(
            {
                "classes": classes,
                "train_per_class": per_class,
                "manifest_hash": manifest,
                "n_train": int(cell["n_train"].max()),
                "best_handcrafted": gap.handcrafted if gap else None,
                "handcrafted_top5": gap.handcrafted_top5 if gap else float("nan"),
                "best_cnn": gap.cnn if gap else None,
                "cnn_top5": gap.cnn_top5 if gap else float("nan"),
                "gap_points": gap.points if gap else float("nan"),
                "gap_relative": gap.relative if gap else float("nan"),
            }
        )
    return pd.DataFrame(rows)


_SEPARATORS = "-_~:@.+/"


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


def _style(ax: Any) -> None:
    ax.grid(color="#e4e8ec", which="major")
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def sweep_top5_chart(frame: pd.DataFrame, *, title: str, path: Path) -> Path:
    """Top-5 error of each method against training-set size, one panel per class count."""
    from matplotlib import colormaps

    from harness.plots import chance_top5_err, figure_legend, new_figure, save_figure

    ok = frame[frame["status"] == "ok"]
    class_counts = sorted(frame["classes"].unique())
    methods = sorted(frame["display"].unique())
    palette = colormaps["tab10"]
    colour = {m: palette(i % 10) for i, m in enumerate(methods)}
    family = dict(zip(frame["display"], frame["family"], strict=True))
    marker = {"cnn": "o", "hand-crafted": "s", "reference": "x", "other": "^"}
    line = {"cnn": "-", "hand-crafted": "-", "reference": ":", "other": "--"}

    fig = new_figure(max(6.0, 3.4 * len(class_counts) + 0.8), 4.8)
    axes = fig.subplots(1, len(class_counts), sharey=True, squeeze=False)[0]
    for ax, classes in zip(axes, class_counts, strict=True):
        panel = ok[ok["classes"] == classes]
        for m in methods:
            pts = panel[panel["display"] == m].sort_values("n_train")
            if pts.empty:
                continue
            ax.plot(
                pts["n_train"],
                pts["top5_err"],
                color=colour[m],
                marker=marker[family[m]],
                linestyle=line[family[m]],
                label=f"{m} ({family[m]})",
            )
        ax.axhline(chance_top5_err(int(classes)), color="#555", linestyle="--", linewidth=1)
        _size_axis(ax, list(frame.loc[frame["classes"] == classes, "n_train"]))
        trivial = " (top-5 error is 0 by construction)" if classes <= TOP_K else ""
        ax.set_title(f"{classes} classes{trivial}", fontsize=10 if trivial else 11)
        ax.set_xlabel("training images (log scale)")
        _style(ax)
    axes[0].set_ylabel("top-5 error (%), validation")
    axes[0].set_ylim(bottom=0)
    handles, labels = [], []
    for ax in axes:
        for h, lab in zip(*ax.get_legend_handles_labels(), strict=True):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
    from matplotlib.lines import Line2D

    handles.append(Line2D([], [], color="#555", linestyle="--", linewidth=1))
    labels.append("chance (1 - 5 / classes)")
    figure_legend(fig, handles, labels, fontsize=9)
    fig.suptitle(f"Top-5 error vs training-set size\n{title}", fontsize=11, fontweight="bold")
    return save_figure(fig, path)


def sweep_gap_chart(gaps: pd.DataFrame, *, title: str, path: Path) -> Path:
    """The gap (best hand-crafted minus best CNN top-5 error) against training-set size."""
    from matplotlib import colormaps

    from harness.plots import new_figure, save_figure

    fig = new_figure(7.5, 4.6)
    ax = fig.subplots()
    palette = colormaps["viridis"]
    class_counts = sorted(gaps["classes"].unique())
    for i, classes in enumerate(class_counts):
        pts = gaps[(gaps["classes"] == classes) & gaps["gap_points"].notna()].sort_values("n_train")
        if pts.empty:
            continue
        c = palette(i / max(1, len(class_counts) - 1) * 0.85)
        ax.plot(pts["n_train"], pts["gap_points"], marker="o", color=c, label=f"{classes} classes")
    ax.axhline(0, color="#333", linewidth=1)
    # Sizes of different class counts interleave: 1-2-5 ticks instead of one per cell.
    from matplotlib.ticker import FuncFormatter, LogLocator, NullLocator

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
    ax.text(ax.get_xlim()[0], hi, " CNN ahead \u2191", va="top", fontsize=9, color="#555")
    ax.text(
        ax.get_xlim()[0], lo, " hand-crafted ahead \u2193", va="bottom", fontsize=9, color="#555"
    )
    _style(ax)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(frameon=False, fontsize=9, loc="best")
    fig.suptitle(f"The gap vs training-set size\n{title}", fontsize=11, fontweight="bold")
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
        first, last = g.iloc[0], g.iloc[-1]
        text = f"{classes} classes: gap {fmt_points(first['gap_points'])} at {int(first['n_train']):,} training images"
        if len(g) > 1:
            text += f", {fmt_points(last['gap_points'])} at {int(last['n_train']):,}"
        out.append(text + ".")
    return out


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
    rows = []
    for g in gaps.itertuples():
        cell = frame[
            (frame["classes"] == g.classes)
            & (frame["train_per_class"] == g.train_per_class)
            & (frame["manifest_hash"] == g.manifest_hash)
        ]
        errs = dict(zip(cell["display"], cell["top5_err"], strict=True))
        status = dict(zip(cell["display"], cell["status"], strict=True))
        rows.append(
            [
                str(g.classes),
                str(g.train_per_class),
                f"{g.n_train:,}",
                *[
                    ("failed" if status.get(m) == "error" else fmt_err(errs.get(m)))
                    for m in methods
                ],
                fmt_points(g.gap_points) if pd.notna(g.gap_points) else "–",
                fmt_relative(g.gap_relative),
            ]
        )
    columns = ["classes", "train / class", "train images", *methods, "gap", "relative"]
    blocks: list[Block] = []
    # lazy: harness.report imports this module
    from harness.report import demo_warning, monitor_note

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
            caption="Top-5 error (%) on the validation split per grid cell; gap = best "
            "hand-crafted minus best CNN of the cell's manifest.",
        ),
        Paragraph(
            f"Data and hardware: {context}. Manifests: "
            + ", ".join(f"`{h}`" for h in frame["manifest_hash"].dropna().astype(str).unique())
            + ". Versions: "
            + fmt_versions(frame["versions"])
            + ".",
            "note",
        ),
        *([Paragraph(note, "note")] if (note := monitor_note(frame)) else []),
        *[Paragraph(s) for s in _trend_sentences(gaps)],
        Figure(
            top5,
            "Top-5 error of each method against the number of training images (dashed: chance).",
        ),
        Figure(
            gap_png, "Best hand-crafted minus best CNN top-5 error; above zero the CNN is ahead."
        ),
    ]
    failed = frame[frame["status"] == "error"]
    for r in failed.itertuples():
        blocks.append(
            Paragraph(
                f"**{r.display}** failed at {r.classes} classes x {r.train_per_class}/class: {r.error}"
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
