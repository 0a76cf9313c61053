"""The report's figures: top-5 bar chart, learning curves, cost chart.

Figures are drawn on a bare ``matplotlib.figure.Figure`` with the Agg canvas
(no pyplot state, no display needed) and saved as PNG. matplotlib is imported
inside the functions so that the CLI starts without it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from harness.protocol import MAX_LABELS
from harness.report_document import fmt_duration, fmt_err, fmt_rate
from harness.results import ensure_folder, write_error

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "FAMILY_COLOURS",
    "FAMILY_LABELS",
    "TOP_K",
    "chance_top5_err",
    "cost_chart",
    "learning_curves_chart",
    "new_figure",
    "save_figure",
    "top5_bar_chart",
]

FAMILY_COLOURS = {
    "cnn": "#c8553d",
    "hand-crafted": "#2f6690",
    "reference": "#a0a8b0",
    "other": "#8a6fb0",
}
FAMILY_LABELS = {
    "cnn": "CNN",
    "hand-crafted": "hand-crafted features",
    "reference": "reference",
    "other": "other",
}
TOP_K = MAX_LABELS  # the k of the ILSVRC top-5 protocol
ILSVRC_CLASSES = 1000  # classes of the ILSVRC classification task (for its chance line)
DPI = 110


def chance_top5_err(n_classes: int) -> float:
    """Top-5 error of guessing, in percent: 1 - 5 / n_classes (0 for 5 classes or fewer)."""
    return 100.0 * max(0.0, 1.0 - min(TOP_K, n_classes) / n_classes)


def new_figure(width: float, height: float) -> Figure:
    """A pyplot-free figure on the Agg canvas."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def save_figure(fig: Figure, path: Path) -> Path:
    path = Path(path)
    ensure_folder(path.parent)
    # PNG metadata carries the matplotlib version and no date, so re-running the
    # report on the same records gives the same bytes.
    try:
        fig.savefig(path, dpi=DPI, metadata={"Software": None})
    except OSError as exc:
        raise write_error(path, exc) from exc
    return path


def figure_legend(fig: Figure, handles: list[Any], labels: list[str], fontsize: float = 9) -> None:
    """One legend under all panels, in as many columns (at most 4) as the labels' width allows.

    Method names with their departures (``alexnet (small stem, width 0.5, ...)``)
    are long; a fixed column count would push them off the figure's edges.
    """
    char_in = 0.55 * fontsize / 72  # average glyph width of DejaVu Sans, inches
    column_in = max(len(lab) for lab in labels) * char_in + 0.7  # + handle and padding
    ncols = max(1, min(4, len(labels), int(fig.get_figwidth() // column_in)))
    fig.legend(
        handles, labels, loc="outside lower center", ncols=ncols, frameon=False, fontsize=fontsize
    )


def _family_legend(ax: Any, families: list[str]) -> None:
    from matplotlib.patches import Patch

    handles = [
        Patch(color=FAMILY_COLOURS[f], label=FAMILY_LABELS[f])
        for f in FAMILY_COLOURS
        if f in families
    ]
    # Below the chance line, above the bars of the 2012 results (all under 30%).
    ax.legend(
        handles=handles, loc="upper left", bbox_to_anchor=(0.0, 0.9), frameon=False, fontsize=9
    )


def _bars(ax: Any, names: list[str], errs: list[float], families: list[str]) -> None:
    """Bars with their value on top; a NaN error (failed run) gets no bar and no value."""
    xs = range(len(names))
    heights = [0.0 if pd.isna(e) else e for e in errs]
    ax.bar(xs, heights, color=[FAMILY_COLOURS[f] for f in families], width=0.7, zorder=2)
    for x, e in zip(xs, errs, strict=True):
        if not pd.isna(e):
            ax.text(x, e + 1.2, fmt_err(e), ha="center", va="bottom", fontsize=9)
    ax.set_xticks(list(xs), names, rotation=35, ha="right", fontsize=9)
    ax.set_xlim(-0.6, len(names) - 0.4)
    ax.grid(axis="y", color="#e4e8ec", zorder=0)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def _chance_line(ax: Any, n_classes: int) -> None:
    chance = chance_top5_err(n_classes)
    ax.axhline(chance, color="#555", linestyle="--", linewidth=1, zorder=3)
    ax.text(
        ax.get_xlim()[1],
        chance - 1.0,
        f"chance ({n_classes} classes)",
        ha="right",
        va="top",
        fontsize=8,
        color="#555",
        zorder=4,
        bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8, "pad": 1},
    )


def top5_bar_chart(
    historical: pd.DataFrame,
    measured: pd.DataFrame,
    *,
    n_classes: int,
    measured_label: str,
    path: Path,
) -> Path:
    """Top-5 error bars, historical (left) beside measured (right), like the 2012 results slide.

    ``historical`` has columns team_or_method, family, top5_err; ``measured``
    has name, family, top5_err (NaN for a failed run, drawn as "failed").
    """
    hist = historical.sort_values("top5_err")
    meas = measured.assign(_failed=measured["top5_err"].isna()).sort_values(["_failed", "top5_err"])
    # A narrow measured panel would cut its title: give it at least 4 bar widths.
    n_h, n_m = max(len(hist), 1), max(len(meas), 4)
    fig = new_figure(max(8.0, 0.62 * (n_h + n_m) + 2.5), 5.0)
    ax_h, ax_m = fig.subplots(1, 2, sharey=True, gridspec_kw={"width_ratios": [n_h, n_m]})

    _bars(ax_h, list(hist["team_or_method"]), list(hist["top5_err"]), list(hist["family"]))
    ax_h.set_title("ILSVRC-2012 test (historical)", fontsize=10)
    ax_h.set_ylabel("top-5 error (%)")
    _chance_line(ax_h, ILSVRC_CLASSES)

    ok = meas[~meas["_failed"]]
    _bars(ax_m, list(meas["name"]), list(meas["top5_err"]), list(meas["family"]))
    for x, failed in enumerate(meas["_failed"]):
        if failed:
            ax_m.text(x, 2, "failed", ha="center", va="bottom", fontsize=9, color="#b00020")
    ax_m.set_title(f"Measured: {measured_label}", fontsize=10)
    _chance_line(ax_m, n_classes)
    ax_m.tick_params(labelleft=False)

    ax_h.set_ylim(0, 105)
    families = sorted(set(hist["family"]) | set(ok["family"]))
    _family_legend(ax_h, families)
    fig.suptitle("Top-5 error, lower is better", fontsize=12, fontweight="bold")
    return save_figure(fig, path)


def learning_curves_chart(
    curves: dict[str, list[dict[str, Any]]], *, title: str, path: Path
) -> Path | None:
    """Training loss and validation error per epoch of each CNN; None when no curve has rows."""
    curves = {name: rows for name, rows in curves.items() if rows}
    if not curves:
        return None
    from matplotlib import colormaps

    fig = new_figure(10.0, 4.8)
    ax_loss, ax_err = fig.subplots(1, 2)
    palette = colormaps["tab10"]
    for i, (name, rows) in enumerate(sorted(curves.items())):
        df = pd.DataFrame(rows)
        if "epoch" not in df:
            df["epoch"] = range(1, len(df) + 1)
        colour = palette(i % 10)
        if "train_loss" in df and df["train_loss"].notna().any():
            ax_loss.plot(df["epoch"], df["train_loss"], color=colour, label=name, marker=".")
        for k, style in ((5, {"marker": "."}), (1, {"linestyle": "--"})):
            # Curves name the split they were measured on: monitor_* (held out of
            # train) in schema 2, val_* in schema-1 records (the monitor was val).
            col = next((c for c in (f"monitor_top{k}_err", f"val_top{k}_err") if c in df), None)
            if col is not None and df[col].notna().any():
                ax_err.plot(df["epoch"], df[col], color=colour, label=f"{name} top-{k}", **style)
    ax_loss.set(xlabel="epoch", ylabel="training loss (cross-entropy)", title="Training loss")
    ax_err.set(xlabel="epoch", ylabel="error on the monitor split (%)", title="Monitor error")
    from matplotlib.ticker import MaxNLocator

    handles, labels = [], []
    for ax in (ax_loss, ax_err):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(color="#e4e8ec")
        for h, lab in zip(*ax.get_legend_handles_labels(), strict=True):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
    if labels:
        figure_legend(fig, handles, labels, fontsize=8)
    fig.suptitle(title, fontsize=11, fontweight="bold")
    return save_figure(fig, path)


# Human-friendly ticks for a log time axis: (seconds, label).
_TIME_TICKS = [
    (0.01, "10 ms"),
    (0.1, "0.1 s"),
    (1, "1 s"),
    (10, "10 s"),
    (60, "1 min"),
    (600, "10 min"),
    (3600, "1 h"),
    (36000, "10 h"),
    (86400, "1 d"),
    (864000, "10 d"),
]


def _log_limits(values: pd.Series, headroom: float) -> tuple[float, float]:
    pos = values[values > 0]
    return float(pos.min()) / 2, float(pos.max()) * headroom


def cost_chart(measured: pd.DataFrame, *, title: str, path: Path) -> Path | None:
    """Train/eval wall time and training images/s per method (log scales).

    ``measured`` has name, family, train_seconds, eval_seconds, train_images_per_s.
    None when no row has a positive training time.
    """
    df = measured[measured["train_seconds"].astype(float) > 0].sort_values("train_seconds")
    if df.empty:
        return None
    from matplotlib.patches import Patch
    from matplotlib.ticker import FixedLocator, FuncFormatter, LogLocator, NullLocator

    fig = new_figure(10.0, 1.5 + 0.45 * len(df))
    ax_t, ax_r = fig.subplots(1, 2, sharey=True)
    ys = list(range(len(df)))
    colours = [FAMILY_COLOURS[f] for f in df["family"]]
    h = 0.38
    train_s = df["train_seconds"].astype(float)
    eval_s = df["eval_seconds"].astype(float)
    lo, hi = _log_limits(pd.concat([train_s, eval_s]).dropna(), headroom=8)
    # Bars start at the left edge of the log axis (``lo``), so their width is value - lo.
    ax_t.barh([y + h / 2 for y in ys], train_s - lo, height=h, color=colours, left=lo)
    eval_w = (eval_s - lo).clip(lower=0).fillna(0)
    ax_t.barh([y - h / 2 for y in ys], eval_w, height=h, color=colours, alpha=0.4, left=lo)
    for y, t in zip(ys, train_s, strict=True):
        ax_t.text(t * 1.1, y + h / 2, fmt_duration(t), va="center", fontsize=8)
    ax_t.set_xscale("log")
    ax_t.set_xlim(lo, hi)
    ticks = [(v, lab) for v, lab in _TIME_TICKS if lo <= v <= hi]
    ax_t.xaxis.set_major_locator(FixedLocator([v for v, _ in ticks]))
    ax_t.set_xticklabels([lab for _, lab in ticks])
    ax_t.xaxis.set_minor_locator(NullLocator())
    ax_t.set_yticks(ys, list(df["name"]), fontsize=9)
    ax_t.set(xlabel="wall time (log scale)", title="Time")
    ax_t.legend(
        handles=[
            Patch(color="#555", label="train (fit)"),
            Patch(color="#555", alpha=0.4, label="evaluate (val)"),
        ],
        frameon=False,
        fontsize=8,
        loc="lower right",
    )

    rate = df["train_images_per_s"].astype(float)
    if (rate > 0).any():
        r_lo, r_hi = _log_limits(rate.dropna(), headroom=12)
        ax_r.barh(ys, (rate - r_lo).clip(lower=0).fillna(0), height=0.6, color=colours, left=r_lo)
        for y, r in zip(ys, rate, strict=True):
            if pd.notna(r) and r > 0:
                ax_r.text(r * 1.1, y, fmt_rate(r), va="center", fontsize=8)
        ax_r.set_xscale("log")
        ax_r.set_xlim(r_lo, r_hi)
        # Few decades: ticks at 1-2-5 so the axis has more than one label.
        subs = (1.0, 2.0, 5.0) if r_hi / r_lo < 1000 else (1.0,)
        ax_r.xaxis.set_major_locator(LogLocator(base=10, subs=subs))
        ax_r.xaxis.set_major_formatter(FuncFormatter(lambda v, _: fmt_rate(v)))
        ax_r.xaxis.set_minor_locator(NullLocator())
    ax_r.set(xlabel="training images / s (log scale)", title="Training throughput")
    for ax in (ax_t, ax_r):
        ax.grid(axis="x", color="#e4e8ec", which="major")
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
    fig.suptitle(title, fontsize=11, fontweight="bold")
    return save_figure(fig, path)
