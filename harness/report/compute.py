"""Section: the gap against compute: where, in training time, a CNN overtakes.

For one manifest: each CNN's held-out top-5 error along its training (against
cumulative wall seconds, and against training images seen), beside each
hand-crafted method's final top-5 error at its training time, and a sentence
per CNN saying when (if ever) its curve first drops below the best
hand-crafted final error. The curves come from the records' learning curves
(:func:`harness.report.frames.cnn_progress`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from harness.leaderboard import methods_only, rank_order
from harness.report.document import Block, Figure, Paragraph, fmt_duration, fmt_err, md_text
from harness.report.frames import Group, cnn_progress, unique
from harness.report.style import (
    CNN_PALETTE,
    FAMILY_COLOURS,
    FAMILY_MARKERS,
    TEXT_COLOUR,
    figure_legend,
    log_time_axis,
    method_colours,
    new_figure,
    save_figure,
    style_axes,
    styled,
)

__all__ = ["Crossing", "compute_blocks", "compute_chart", "crossing"]


class Crossing(NamedTuple):
    """The first epoch of a curve below a target (cumulative seconds and images; NaN: unknown)."""

    epoch: int
    seconds: float
    images: float
    top5_err: float


def crossing(progress: pd.DataFrame, target: float) -> Crossing | None:
    """The first row of ``progress`` (:func:`cnn_progress`) whose top-5 error is below ``target``."""
    below = progress[progress["top5_err"] < target]
    if below.empty:
        return None
    first = below.iloc[0]
    return Crossing(
        epoch=int(first["epoch"]),
        seconds=float(first["seconds"]),
        images=float(first["images"]),
        top5_err=float(first["top5_err"]),
    )


def _images_label(v: float, _: Any = None) -> str:
    if v >= 1e6:
        return f"{v / 1e6:.1f}M"
    if v >= 1e3:
        return f"{v / 1e3:.0f}k"
    return f"{v:.0f}"


@styled
def compute_chart(
    progress: dict[str, pd.DataFrame],
    cnn_finals: pd.DataFrame,
    handcrafted: pd.DataFrame,
    *,
    title: str,
    path: Path,
) -> Path | None:
    """Top-5 error against wall seconds (log) and against images seen, CNN curves beside
    the hand-crafted methods' final errors; None without a curve.

    ``progress``: name -> :func:`cnn_progress` frame; ``cnn_finals`` and
    ``handcrafted``: name, top5_err, train_seconds (and images_total for CNNs).
    """
    progress = {n: p for n, p in progress.items() if not p.empty}
    if not progress:
        return None
    from matplotlib.lines import Line2D
    from matplotlib.ticker import FuncFormatter

    fig = new_figure(11.0, 5.0)
    ax_s, ax_i = fig.subplots(1, 2, sharey=True)
    colours = method_colours(list(progress), CNN_PALETTE)
    times: list[float] = []
    for name, p in sorted(progress.items()):
        c = colours[name]
        split = str(p["split"].iloc[0])
        if p["seconds"].notna().any():
            ax_s.plot(p["seconds"], p["top5_err"], color=c, marker=".", label=f"{name} ({split})")
            times += list(p["seconds"].dropna())
        if p["images"].notna().any():
            ax_i.plot(p["images"], p["top5_err"], color=c, marker=".", label=f"{name} ({split})")
        final = cnn_finals[cnn_finals["name"] == name]
        for r in final.itertuples():
            if pd.notna(r.train_seconds) and r.train_seconds > 0:
                ax_s.plot(r.train_seconds, r.top5_err, marker="*", ms=11, color=c, ls="none")
                times.append(float(r.train_seconds))
            if pd.notna(r.images_total):
                ax_i.plot(r.images_total, r.top5_err, marker="*", ms=11, color=c, ls="none")
    hc_colour = FAMILY_COLOURS["hand-crafted"]
    for r in handcrafted.itertuples():
        if pd.notna(r.train_seconds) and r.train_seconds > 0:
            ax_s.plot(
                r.train_seconds,
                r.top5_err,
                marker=FAMILY_MARKERS["hand-crafted"],
                color=hc_colour,
                ls="none",
                ms=7,
            )
            ax_s.annotate(
                r.name,
                (r.train_seconds, r.top5_err),
                textcoords="offset points",
                xytext=(5, 4),
                fontsize=7,
                color=hc_colour,
            )
            times.append(float(r.train_seconds))
    if len(handcrafted):
        best = handcrafted.iloc[0]
        for ax in (ax_s, ax_i):
            ax.axhline(best["top5_err"], color=hc_colour, linestyle=":", linewidth=1.2)
    if times:
        pos = [t for t in times if t > 0]
        log_time_axis(ax_s, min(pos) / 2, max(pos) * 3)
    ax_s.set(xlabel="wall time of training (log scale)", ylabel="top-5 error (%)")
    ax_s.set_title("Against training time")
    ax_i.set(xlabel="training images seen")
    ax_i.set_title("Against training images seen")
    ax_i.xaxis.set_major_formatter(FuncFormatter(_images_label))
    ax_i.set_xlim(left=0)
    for ax in (ax_s, ax_i):
        style_axes(ax)
    handles, labels = [], []
    for ax in (ax_s, ax_i):
        for h, lab in zip(*ax.get_legend_handles_labels(), strict=True):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
    handles += [
        Line2D([], [], marker="*", ms=10, color=TEXT_COLOUR, ls="none"),
        Line2D([], [], marker="s", color=hc_colour, ls="none"),
    ]
    labels += ["CNN final val error", "hand-crafted final val error (at its training time)"]
    if len(handcrafted):
        handles.append(Line2D([], [], color=hc_colour, linestyle=":"))
        labels.append(f"best hand-crafted final ({handcrafted.iloc[0]['name']})")
    figure_legend(fig, handles, labels, fontsize=8)
    fig.suptitle(title)
    return save_figure(fig, path)


def _cnn_total_images(row: pd.Series, p: pd.DataFrame) -> float:
    seen = row.get("images_seen")
    if seen is not None and pd.notna(seen):
        return float(seen)
    return float(p["images"].iloc[-1]) if len(p) else float("nan")


def _sentence(name: str, p: pd.DataFrame, best_name: str, best_err: float) -> str:
    split = "monitor" if p["split"].iloc[0] == "monitor" else "val"
    who = f"**{md_text(name)}**"
    target = f"the best hand-crafted final error ({md_text(best_name)}, {fmt_err(best_err)}%)"
    cross = crossing(p, best_err)
    if cross is None:
        low = p.loc[p["top5_err"].idxmin()]
        total = p["seconds"].iloc[-1]
        spent = f" ({fmt_duration(total)} of training)" if pd.notna(total) else ""
        return (
            f"{who}: its {split} top-5 error never drops below {target} in its {len(p)} "
            f"epoch(s){spent}; its lowest is {fmt_err(low['top5_err'])}% at epoch "
            f"{int(low['epoch'])}."
        )
    when = (
        f"after {fmt_duration(cross.seconds)} of training"
        if not np.isnan(cross.seconds)
        else "(no per-epoch time logged)"
    )
    images = f" and {cross.images:,.0f} training images seen" if not np.isnan(cross.images) else ""
    first = " (already after its first epoch)" if cross.epoch == 1 else ""
    return (
        f"{who}: its {split} top-5 error first drops below {target} at epoch "
        f"{cross.epoch}{first}, {when}{images} ({fmt_err(cross.top5_err)}%)."
    )


def compute_blocks(g: Group, out_dir: Path) -> tuple[list[Block], dict[str, Path]]:
    """The compute figure of one manifest and when each CNN overtakes; empty without
    a CNN curve or a hand-crafted result."""
    ok = g.ok
    hc = rank_order(methods_only(ok[ok["family"] == "hand-crafted"]))
    cnn = ok[ok["family"] == "cnn"]
    progress = {r["display"]: cnn_progress(r) for _, r in cnn.iterrows()}
    progress = {n: p for n, p in progress.items() if not p.empty}
    if not progress or hc.empty:
        return [], {}
    finals = pd.DataFrame(
        [
            {
                "name": r["display"],
                "top5_err": r["top5_err"],
                "train_seconds": r["train_seconds"],
                "images_total": _cnn_total_images(r, progress[r["display"]]),
            }
            for _, r in cnn.iterrows()
            if r["display"] in progress
        ]
    )
    handcrafted = hc.rename(columns={"display": "name"})[["name", "top5_err", "train_seconds"]]
    devices = unique(pd.concat([hc["device"], cnn["device"]]))
    path = compute_chart(
        progress,
        finals,
        handcrafted,
        title=f"The gap against compute on {g.label}\n{'; '.join(devices) or 'unknown device'}",
        path=out_dir / f"compute_{g.slug}.png",
    )
    if path is None:
        return [], {}
    best = hc.iloc[0]
    text = " ".join(
        _sentence(name, p, str(best["display"]), float(best["top5_err"]))
        for name, p in sorted(progress.items())
    )
    note = (
        "The CNN curves are the top-5 error on each CNN's monitor (images held out of train; "
        "`val` for schema-1 records, whose monitor was the val split), the hand-crafted points "
        "their final val error at their whole fit's wall time (features included): the splits "
        "differ, so a crossing is indicative. Wall time: the running sum of the per-epoch times "
        "the trainer logs (training plus the monitor's evaluation); images seen: epochs x "
        "training images per epoch."
    )
    if len(devices) > 1:
        note += (
            f" The methods ran on different hardware ({md_text('; '.join(devices))}): their "
            "seconds do not compare one to one."
        )
    return [
        Paragraph(f"Gap against compute on **{md_text(g.label)}**: {text}"),
        Figure(
            path,
            "Top-5 error along each CNN's training against wall time (left) and training images "
            "seen (right); stars: its final val error; squares: each hand-crafted method's final "
            "val error at its training time; dotted: the best hand-crafted final error.",
        ),
        Paragraph(note, "note"),
    ], {path.name: path}
