"""`harness report`: the whole document, regenerated from the run records and the history.

Reads the records under ``results_dir/runs`` (never writes them) and the
historical numbers (:mod:`harness.history`), and writes ``report.md``, the
self-contained ``report.html`` rendered from it, and the PNG figures. The
sections, in order: the 2012 gap (with paired intervals), per manifest the
measured table (with intervals), its learning curves and the gap against
compute, the sweep, the historical results, and the commands to reproduce.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from harness.frame import is_sweep_record
from harness.history import load_history
from harness.report.compute import compute_blocks
from harness.report.curves import curves_blocks
from harness.report.document import Block, Heading, Paragraph, render_html, render_markdown
from harness.report.frames import groups, measured_frame
from harness.report.gap_table import gap_blocks
from harness.report.history_table import history_blocks
from harness.report.measured import measured_blocks
from harness.report.notes import REAL_DATA_COMMAND, demo_warning, display_path
from harness.report.reproduce import reproduce_blocks
from harness.report.sweep import sweep_blocks, sweep_cell_records
from harness.report.timeline import timeline_blocks
from harness.store import atomic_write_text, ensure_folder, load_records, records_dir

__all__ = ["write_report"]


def write_report(
    results_dir: Path, out_dir: Path | None = None, *, sweep_results_dir: Path | None = None
) -> dict[str, Path]:
    """Write ``report.md``, ``report.html`` and the PNGs.

    Returns ``{"html": report.html, "md": report.md, <png file name>: path, ...}``.

    ``out_dir`` defaults to ``results_dir``. Records are read only. Sweep
    records are taken from ``results_dir/runs`` and from ``sweep_results_dir``
    (default ``results_dir/sweep`` when it holds records). An unwritable
    ``out_dir`` raises :class:`harness.store.ResultsWriteError`.
    """
    results_dir = Path(results_dir)
    out_dir = ensure_folder(Path(out_dir) if out_dir is not None else results_dir)
    history = load_history()
    records = load_records(results_dir)
    if sweep_results_dir is None and records_dir(results_dir / "sweep").is_dir():
        sweep_results_dir = results_dir / "sweep"
    sweep_records = [r for r in records if is_sweep_record(r)]
    if sweep_results_dir is not None and Path(sweep_results_dir).resolve() != results_dir.resolve():
        sweep_records += [r for r in load_records(Path(sweep_results_dir)) if is_sweep_record(r)]
    run_records = [r for r in records if not is_sweep_record(r)]
    # the comparison on a swept subset taken whole is the grid's largest cell
    sweep_cells = sweep_cell_records([*sweep_records, *run_records]) if sweep_records else []
    measured = measured_frame(run_records)
    manifest_groups = groups(measured)
    shown = int(measured["n_seeds"].where(measured["ok"], 1).fillna(1).sum())
    hidden = len(run_records) - shown

    files: dict[str, Path] = {}
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    blocks: list[Block] = [
        Heading("ILSVRC harness: the 2012 gap, replayed", 1),
        Paragraph(
            f"Generated {now} by `harness report` from {len(records)} run record(s) in "
            f"`{display_path(records_dir(results_dir), out_dir)}` and the historical results; "
            "regenerate it rather than editing it. Errors are ILSVRC flat top-1 / top-5 error in "
            "percent (lower is better), with 95% bootstrap intervals over the val images where "
            "the records keep per-image hits. Tables are grouped by manifest: the exact images "
            "scored."
        ),
    ]
    if hidden > 0:
        blocks.append(
            Paragraph(
                f"{hidden} older record(s) of a method already shown for the same manifest are "
                "not in the tables (the newest successful record of each seed wins); "
                "`harness leaderboard --all` lists every record.",
                "note",
            )
        )
    if any(g.is_demo for g in manifest_groups):
        blocks.append(demo_warning())
    if measured.empty:
        blocks.append(
            Paragraph(
                f"No run records found under `{records_dir(results_dir)}`: run `harness run` first "
                f"(e.g. `{REAL_DATA_COMMAND}`). Only the historical numbers are shown.",
                "warning",
            )
        )
    section, section_files = gap_blocks(history, manifest_groups, out_dir)
    blocks += section
    files.update(section_files)
    for g in manifest_groups:
        for make in (measured_blocks, curves_blocks, compute_blocks):
            section, section_files = make(g, out_dir)
            blocks += section
            files.update(section_files)
        section, section_files = timeline_blocks(history, g, out_dir)
        blocks += section
        files.update(section_files)
    if sweep_cells:
        section, section_files = sweep_blocks(sweep_cells, out_dir)
        blocks += [Heading("Gap versus scale (sweep)"), *section]
        files.update(section_files)
    blocks += history_blocks(history)
    blocks += reproduce_blocks([*run_records, *sweep_records])

    md_path = out_dir / "report.md"
    html_path = out_dir / "report.html"
    markdown = render_markdown(blocks, out_dir)
    atomic_write_text(md_path, markdown)
    atomic_write_text(html_path, render_html(markdown, "ILSVRC harness report", out_dir))
    return {"html": html_path, "md": md_path, **files}
