"""The figures of one manifest beside the 2012 results: top-5 bars and the cost of each method.

Both are drawn in the report's one style (:mod:`harness.report.style`).
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pandas as pd

from harness.protocol import MAX_LABELS
from harness.report.document import fmt_duration, fmt_err, fmt_rate
from harness.report.style import (
    CHANCE_COLOUR,
    FAMILY_COLOURS,
    FAMILY_LABELS,
    log_time_axis,
    new_figure,
    save_figure,
    style_axes,
    styled,
)

__all__ = ["ILSVRC_CLASSES", "TOP_K", "chance_top5_err", "cost_chart", "top5_bar_chart"]

TOP_K = MAX_LABELS  # the k of the ILSVRC top-5 protocol
ILSVRC_CLASSES = 1000  # classes of the ILSVRC classification task (for its chance line)


def chance_top5_err(n_classes: int) -> float:
    """Top-5 error of guessing, in percent: 1 - 5 / n_classes (0 for 5 classes or fewer)."""
    return 100.0 * max(0.0, 1.0 - min(TOP_K, n_classes) / n_classes)


def _family_legend(ax: Any, families: list[str]) -> None:
    from matplotlib.patches import Patch

    handles = [
        Patch(color=FAMILY_COLOURS[f], label=FAMILY_LABELS[f])
        for f in FAMILY_COLOURS
        if f in families
    ]
    # Below the chance line, above the bars of the 2012 results (all under 30%).
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(0.0, 0.9), fontsize=9)


def _bars(
    ax: Any,
    names: list[str],
    errs: list[float],
    families: list[str],
    intervals: list[tuple[float, float]] | None = None,
) -> None:
    """Bars with their value on top (and their interval, when known); NaN: no bar, no value."""
    xs = list(range(len(names)))
    heights = [0.0 if pd.isna(e) else e for e in errs]
    ax.bar(xs, heights, color=[FAMILY_COLOURS[f] for f in families], width=0.7, zorder=2)
    tops = list(heights)
    for x, e, ci in zip(xs, errs, intervals or [(float("nan"),) * 2] * len(xs), strict=True):
        if pd.isna(e):
            continue
        low, high = ci
        if not (pd.isna(low) or pd.isna(high)):
            ax.errorbar(x, e, yerr=[[e - low], [high - e]], color="#222", capsize=3, lw=1, zorder=3)
            tops[x] = max(e, high)
        ax.text(x, tops[x] + 1.2, fmt_err(e), ha="center", va="bottom", fontsize=9)
    ax.set_xticks(xs, names, rotation=35, ha="right", fontsize=9)
    ax.set_xlim(-0.6, len(names) - 0.4)
    style_axes(ax, "y")


def _chance_line(ax: Any, n_classes: int) -> None:
    chance = chance_top5_err(n_classes)
    if chance <= 0:  # 5 classes or fewer: every guess list holds the truth
        return
    ax.axhline(chance, color=CHANCE_COLOUR, linestyle="--", linewidth=1, zorder=3)
    # At the left end, above the line: the bars are sorted by error, so the left
    # end is the lowest bar's and the worst one (often random, at chance) is at the right.
    ax.text(
        ax.get_xlim()[0] + 0.05,
        chance + 0.8,
        f"chance ({n_classes} classes)",
        ha="left",
        va="bottom",
        fontsize=8,
        color=CHANCE_COLOUR,
        zorder=4,
        bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8, "pad": 1},
    )


@styled
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
    has name, family, top5_err (NaN for a failed run, drawn as "failed") and,
    optionally, top5_err_ci_low / top5_err_ci_high (drawn as error bars).
    """
    hist = historical.sort_values("top5_err")
    meas = measured.assign(_failed=measured["top5_err"].isna()).sort_values(["_failed", "top5_err"])
    # A narrow measured panel would cut its title: give it at least 4 bar widths.
    n_h, n_m = max(len(hist), 1), max(len(meas), 4)
    fig = new_figure(max(8.0, 0.62 * (n_h + n_m) + 2.5), 5.0)
    ax_h, ax_m = fig.subplots(1, 2, sharey=True, gridspec_kw={"width_ratios": [n_h, n_m]})

    _bars(ax_h, list(hist["team_or_method"]), list(hist["top5_err"]), list(hist["family"]))
    ax_h.set_title("ILSVRC-2012 test (historical)")
    ax_h.set_ylabel("top-5 error (%)")
    _chance_line(ax_h, ILSVRC_CLASSES)

    ok = meas[~meas["_failed"]]
    intervals = None
    if {"top5_err_ci_low", "top5_err_ci_high"} <= set(meas.columns):
        intervals = list(zip(meas["top5_err_ci_low"], meas["top5_err_ci_high"], strict=True))
    _bars(ax_m, list(meas["name"]), list(meas["top5_err"]), list(meas["family"]), intervals)
    for x, failed in enumerate(meas["_failed"]):
        if failed:
            ax_m.text(x, 2, "failed", ha="center", va="bottom", fontsize=9, color="#b00020")
    # a long label (subset, classes, manifest) wraps to the panel's width
    width = max(28, int(7.5 * n_m))
    ax_m.set_title("\n".join(textwrap.wrap(f"Measured: {measured_label}", width) or [""]))
    _chance_line(ax_m, n_classes)
    ax_m.tick_params(labelleft=False)

    ax_h.set_ylim(0, 105)
    families = sorted(set(hist["family"]) | set(ok["family"]))
    _family_legend(ax_h, families)
    fig.suptitle("Top-5 error, lower is better" + ("; bars: 95% intervals" if intervals else ""))
    return save_figure(fig, path)


def _log_limits(values: pd.Series, headroom: float) -> tuple[float, float]:
    pos = values[values > 0]
    return float(pos.min()) / 2, float(pos.max()) * headroom


@styled
def cost_chart(measured: pd.DataFrame, *, title: str, path: Path) -> Path | None:
    """Train/eval wall time and training images/s per method (log scales).

    ``measured`` has name, family, train_seconds, eval_seconds, train_images_per_s.
    None when no row has a positive training time.
    """
    df = measured[measured["train_seconds"].astype(float) > 0].sort_values("train_seconds")
    if df.empty:
        return None
    from matplotlib.patches import Patch
    from matplotlib.ticker import FuncFormatter, LogLocator, NullLocator

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
    log_time_axis(ax_t, lo, hi)
    ax_t.set_yticks(ys, list(df["name"]), fontsize=9)
    ax_t.set(xlabel="wall time (log scale)", title="Time")
    ax_t.legend(
        handles=[
            Patch(color="#555", label="train (fit)"),
            Patch(color="#555", alpha=0.4, label="evaluate (val)"),
        ],
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
        style_axes(ax, "x")
    fig.suptitle(title)
    return save_figure(fig, path)
