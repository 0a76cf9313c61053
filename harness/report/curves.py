"""Section: the CNNs' learning curves of one manifest (loss and monitor error per epoch)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from harness.report.document import Block, Figure
from harness.report.frames import Group, curve_error_column, unique
from harness.report.style import (
    figure_legend,
    method_colours,
    new_figure,
    save_figure,
    style_axes,
    styled,
)

__all__ = ["curves_blocks", "learning_curves_chart"]


@styled
def learning_curves_chart(
    curves: dict[str, list[dict[str, Any]]], *, title: str, path: Path
) -> Path | None:
    """Training loss and monitor error per epoch of each CNN; None when no curve has rows."""
    curves = {name: rows for name, rows in curves.items() if rows}
    if not curves:
        return None
    from matplotlib.ticker import MaxNLocator

    fig = new_figure(10.0, 4.8)
    ax_loss, ax_err = fig.subplots(1, 2)
    colours = method_colours(list(curves))
    for name, rows in sorted(curves.items()):
        df = pd.DataFrame(rows)
        if "epoch" not in df:
            df["epoch"] = range(1, len(df) + 1)
        colour = colours[name]
        if "train_loss" in df and df["train_loss"].notna().any():
            ax_loss.plot(df["epoch"], df["train_loss"], color=colour, label=name, marker=".")
        for k, style in ((5, {"marker": "."}), (1, {"linestyle": "--"})):
            col = curve_error_column(df, k)
            if col is not None:
                ax_err.plot(df["epoch"], df[col], color=colour, label=f"{name} top-{k}", **style)
    ax_loss.set(xlabel="epoch", ylabel="training loss (cross-entropy)", title="Training loss")
    ax_err.set(xlabel="epoch", ylabel="error on the monitor split (%)", title="Monitor error")
    handles, labels = [], []
    for ax in (ax_loss, ax_err):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        style_axes(ax)
        for h, lab in zip(*ax.get_legend_handles_labels(), strict=True):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
    figure_legend(fig, handles, labels, fontsize=8)
    fig.suptitle(title)
    return save_figure(fig, path)


def curves_blocks(g: Group, out_dir: Path) -> tuple[list[Block], dict[str, Path]]:
    """The learning-curve figure of one manifest's CNNs (the newest record of each), if any."""
    cnn = g.ok[g.ok["family"] == "cnn"]
    devices = "; ".join(unique(g.rows["device"])) or "unknown device"
    path = learning_curves_chart(
        dict(zip(cnn["display"], cnn["learning_curve"], strict=True)),
        title=f"CNN learning curves on {g.label}\n{devices}",
        path=out_dir / f"learning_curves_{g.slug}.png",
    )
    if path is None:
        return [], {}
    splits = ", ".join(sorted(set(cnn["monitor"]))) or "none"
    return [
        Figure(
            path,
            "Per-epoch training loss and the error on each CNN's monitor split "
            f"({splits}), as logged during training.",
        )
    ], {path.name: path}
