"""The one look of every report figure: colours, fonts, axes, the canvas, saving.

Figures are drawn on a bare ``matplotlib.figure.Figure`` with the Agg canvas
(no pyplot state, no display needed) inside :data:`RC` (:func:`styled` wraps
each figure function in it), and saved as PNG without a date, so the same
records give the same bytes. matplotlib is imported inside the functions so
that the CLI starts without it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from harness.store import ensure_folder, write_error

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "CHANCE_COLOUR",
    "CNN_PALETTE",
    "DPI",
    "FAMILY_COLOURS",
    "FAMILY_LABELS",
    "FAMILY_MARKERS",
    "GRID_COLOUR",
    "RC",
    "TEXT_COLOUR",
    "figure_legend",
    "log_time_axis",
    "method_colours",
    "new_figure",
    "save_figure",
    "style_axes",
    "styled",
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
FAMILY_MARKERS = {"cnn": "o", "hand-crafted": "s", "reference": "x", "other": "^"}
GRID_COLOUR = "#e4e8ec"
CHANCE_COLOUR = "#555555"
TEXT_COLOUR = "#555555"
DPI = 110

#: rcParams of every figure.
RC: dict[str, Any] = {
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "legend.fontsize": 8,
    "legend.frameon": False,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.edgecolor": "#444444",
    "grid.color": GRID_COLOUR,
    "lines.linewidth": 1.5,
    "lines.markersize": 5,
    "figure.titlesize": 11,
    "figure.titleweight": "bold",
    "savefig.dpi": DPI,
}

F = TypeVar("F", bound=Callable[..., Any])


def styled(func: F) -> F:
    """Run a figure function inside :data:`RC` (drawing and saving both)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        import matplotlib

        with matplotlib.rc_context(RC):
            return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def new_figure(width: float, height: float) -> Figure:
    """A pyplot-free figure on the Agg canvas, constrained layout."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def save_figure(fig: Figure, path: Path) -> Path:
    """Save as PNG; an unwritable path raises :class:`harness.store.ResultsWriteError`."""
    path = Path(path)
    ensure_folder(path.parent)
    # PNG metadata carries the matplotlib version and no date, so re-running the
    # report on the same records gives the same bytes.
    try:
        fig.savefig(path, dpi=DPI, metadata={"Software": None})
    except OSError as exc:
        raise write_error(path, exc) from exc
    return path


def style_axes(ax: Any, grid: str = "both") -> None:
    """The grid of the report's axes (``"both"``, ``"x"``, ``"y"`` or ``"none"``), below the data."""
    ax.set_axisbelow(True)
    if grid != "none":
        ax.grid(axis=grid, color=GRID_COLOUR, which="major")


#: Warm colours for CNN curves drawn beside hand-crafted (blue) points.
CNN_PALETTE = ["#c8553d", "#e09f3e", "#9e2a2b", "#d1495b", "#8f5d46", "#f4a261"]


def method_colours(names: list[str], palette: list[str] | None = None) -> dict[str, Any]:
    """One colour per method name, stable for a sorted list (tab10, or ``palette``)."""
    if palette:
        return {name: palette[i % len(palette)] for i, name in enumerate(sorted(names))}
    from matplotlib import colormaps

    tab10 = colormaps["tab10"]
    return {name: tab10(i % 10) for i, name in enumerate(sorted(names))}


def figure_legend(fig: Figure, handles: list[Any], labels: list[str], fontsize: float = 9) -> None:
    """One legend under all panels, in as many columns (at most 4) as the labels' width allows.

    Method names with their departures (``alexnet (small stem, width 0.5, ...)``)
    are long; a fixed column count would push them off the figure's edges.
    """
    if not labels:
        return
    char_in = 0.55 * fontsize / 72  # average glyph width of DejaVu Sans, inches
    column_in = max(len(lab) for lab in labels) * char_in + 0.7  # + handle and padding
    ncols = max(1, min(4, len(labels), int(fig.get_figwidth() // column_in)))
    fig.legend(
        handles, labels, loc="outside lower center", ncols=ncols, frameon=False, fontsize=fontsize
    )


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


def log_time_axis(ax: Any, lo: float, hi: float, axis: str = "x") -> None:
    """A log-scale time axis from ``lo`` to ``hi`` seconds, ticks labelled "10 s", "1 min", ..."""
    from matplotlib.ticker import FixedLocator, NullLocator

    target = ax.xaxis if axis == "x" else ax.yaxis
    (ax.set_xscale if axis == "x" else ax.set_yscale)("log")
    (ax.set_xlim if axis == "x" else ax.set_ylim)(lo, hi)
    ticks = [(v, lab) for v, lab in _TIME_TICKS if lo <= v <= hi]
    target.set_major_locator(FixedLocator([v for v, _ in ticks]))
    target.set_ticklabels([lab for _, lab in ticks])
    target.set_minor_locator(NullLocator())
