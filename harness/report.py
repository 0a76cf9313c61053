"""`harness report`: the 2012-gap report, regenerated from run records and history.

Reads the records under ``results_dir/runs`` (never writes them) and the
historical numbers (``harness.history``), and writes ``report.md``, a
self-contained ``report.html`` and the PNG figures it shows:

1. per manifest (the exact images scored; the heading names the subset and a
   short manifest hash), the measured table: rank, method, family, year,
   top-1/top-5 error, the monitor split each method tuned on, time, images/s,
   memory, device; failed runs with their error;
2. the 2012-gap table: historical rows with their sources beside the measured
   rows, and the gap between the best hand-crafted method and the best CNN of
   each manifest (never across manifests), in points and as a relative
   reduction;
3. a top-5 bar chart in the style of the 2012 results slide, CNN learning
   curves and a cost chart per manifest;
4. under every table, the manifest hash, hardware and versions; at the end the
   commands that made the records.

Rows come from :func:`harness.results.records_frame` (the one flattening of
records), one per (manifest, method, variant): the newest successful record,
as in the leaderboard. Records of a gap-versus-scale sweep (``config["sweep"]``
set) are shown in a sweep section rather than as one table per grid cell.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from harness.gap import Gap, best_gap
from harness.history import historical_gaps, load_history
from harness.record import RunRecord, command_from_config
from harness.report_document import (
    Block,
    Code,
    Figure,
    Heading,
    Paragraph,
    Table,
    fmt_duration,
    fmt_err,
    fmt_mib,
    fmt_points,
    fmt_rate,
    fmt_relative,
    fmt_versions,
    render_html,
    render_markdown,
)
from harness.results import (
    atomic_write_text,
    ensure_folder,
    is_demo_subset,
    latest_rows,
    load_records,
    rank_rows,
    records_dir,
    records_frame,
)
from harness.sweep_plots import write_sweep_report

__all__ = [
    "REAL_DATA_COMMAND",
    "demo_warning",
    "is_demo_subset",
    "is_sweep_record",
    "measured_frame",
    "provenance_note",
    "reproduce_commands",
    "settings_note",
    "write_report",
    "write_sweep_report",
]

#: What to run for real numbers (a hint next to demo results, not how a record was made).
REAL_DATA_COMMAND = "harness run --suite tiny-imagenet --data /path/to/tiny-imagenet-100"

SHORT_HASH = 12  # characters of a manifest hash in headings


def is_sweep_record(record: RunRecord) -> bool:
    """A record written by ``harness sweep`` (its config names the grid cell)."""
    return bool(record.config.get("sweep"))


def measured_frame(records: list[RunRecord]) -> pd.DataFrame:
    """The report's measured rows: the records frame less sweep records, newest per
    (manifest, method, variant), ranked within each manifest."""
    frame = records_frame(records)
    return rank_rows(latest_rows(frame[~frame["is_sweep"]]))


def _base_name(row: Any) -> str:
    """A row's method with its tag, without the variant (a variant shares its run's settings)."""
    return f"{row.method} ({row.tag})" if isinstance(row.tag, str) and row.tag else str(row.method)


def settings_note(rows: pd.DataFrame) -> str:
    """One line naming every method's non-default settings, or "" when all ran on defaults."""
    parts: dict[str, str] = {}
    for r in rows.itertuples():
        name = _base_name(r)
        if r.overrides and name not in parts:
            parts[name] = ", ".join(f"{k}={v}" for k, v in sorted(r.overrides.items()))
    if not parts:
        return ""
    return "Settings changed from each method's defaults (suite file or --param): " + "; ".join(
        f"**{name}**: {values}" for name, values in parts.items()
    )


def _unique(values: Any) -> list[str]:
    seen: dict[str, None] = {}
    for v in values:
        if v is not None and not (isinstance(v, float) and pd.isna(v)) and str(v) != "":
            seen[str(v)] = None
    return list(seen)


def provenance_note(rows: pd.DataFrame) -> str:
    """Manifest hash, data size, hardware, versions and commit of a group of records."""
    parts = []
    hashes = _unique(rows["manifest_hash"])
    parts.append(
        "manifest " + ", ".join(f"`{h}`" for h in hashes) if hashes else "manifest unknown"
    )
    sizes = rows[["n_classes", "n_train", "n_val", "img_size"]].drop_duplicates()
    for _, s in sizes.iterrows():
        if pd.notna(s["n_classes"]):
            size = f"{int(s['n_classes'])} classes"
            if pd.notna(s["n_train"]) and pd.notna(s["n_val"]):
                size += f", {int(s['n_train']):,} train / {int(s['n_val']):,} val images"
            if pd.notna(s["img_size"]):
                size += f" stored at {int(s['img_size'])} px"
            parts.append(size)
    parts.append("hardware: " + ("; ".join(_unique(rows["device"])) or "not recorded"))
    parts.append("versions: " + fmt_versions(rows["versions"]))
    commits = _unique(rows["git_commit"])
    if commits:
        parts.append("harness commit " + ", ".join(f"`{c[:12]}`" for c in commits))
    dates = sorted(_unique(rows["date"]))
    if dates:
        parts.append(
            f"run {dates[0][:10]}"
            + (f" to {dates[-1][:10]}" if dates[-1][:10] != dates[0][:10] else "")
        )
    return " · ".join(parts)


def monitor_note(rows: pd.DataFrame) -> str:
    """A warning line when some rows tuned on the validation split they were scored on."""
    val = _unique(rows.loc[rows["monitor"] == "val", "display"])
    if not val:
        return ""
    return (
        f"Monitor `val`: {', '.join(val)} chose learning-rate drops or stopping points on the "
        "validation split they are scored on (records written before the held-out monitor, "
        "schema 1); their errors are optimistic. `train-holdout` rows tuned on images held out "
        "of train; `none`: nothing was tuned on held-out images."
    )


def _display_path(path: Path, base: Path) -> str:
    """``path`` relative to the report's folder when it is inside it (no machine paths)."""
    try:
        return Path(path).resolve().relative_to(Path(base).resolve()).as_posix() + "/"
    except ValueError:
        return str(path)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", str(text)).strip("-") or "subset"


def _gap_sentence(gap: Gap) -> str:
    if gap.points >= 0:
        return (
            f"the best CNN ({gap.cnn}, {fmt_err(gap.cnn_top5)}%) beats the best hand-crafted "
            f"method ({gap.handcrafted}, {fmt_err(gap.handcrafted_top5)}%) by "
            f"{fmt_points(gap.points)} of top-5 error, a {fmt_relative(gap.relative)} relative reduction"
        )
    return (
        f"the best hand-crafted method ({gap.handcrafted}, {fmt_err(gap.handcrafted_top5)}%) beats "
        f"the best CNN ({gap.cnn}, {fmt_err(gap.cnn_top5)}%) by {fmt_points(-gap.points)} of top-5 error"
    )


def _gap_row(label: str, gap: Gap, source: str) -> list[str]:
    return [
        label,
        f"{gap.handcrafted} ({fmt_err(gap.handcrafted_top5)})",
        f"{gap.cnn} ({fmt_err(gap.cnn_top5)})",
        fmt_points(gap.points),
        fmt_relative(gap.relative),
        source,
    ]


_GAP_COLUMNS = [
    "comparison",
    "best hand-crafted (top-5 %)",
    "best CNN (top-5 %)",
    "gap",
    "relative reduction",
    "source",
]

MISSING_GAP = "–"


class _Group:
    """The rows of one manifest, with the names the report gives them."""

    def __init__(self, rows: pd.DataFrame, slug: str) -> None:
        self.rows = rows
        self.slug = slug  # file-name part of its figures
        self.subset = str(rows["subset"].iloc[0])
        self.manifest = str(rows["manifest_hash"].iloc[0])
        self.short = self.manifest[:SHORT_HASH]
        self.is_demo = bool(rows["is_demo"].any())
        n = rows["n_classes"].dropna()
        self.n_classes = int(n.iloc[0]) if len(n) else None

    @property
    def label(self) -> str:
        """E.g. ``tiny-imagenet val, 100 classes, manifest 5ad3afeaf604``."""
        classes = f", {self.n_classes} classes" if self.n_classes is not None else ""
        return f"{self.subset} val{classes}, manifest {self.short}"


def _groups(measured: pd.DataFrame) -> list[_Group]:
    """One group per manifest, in the ranked frame's order (real data first)."""
    manifests = list(measured["manifest_hash"].drop_duplicates())
    subsets = measured.drop_duplicates("manifest_hash")["subset"]
    shared = set(subsets[subsets.duplicated()])  # one subset name, several manifests
    groups = []
    for manifest in manifests:
        rows = measured[measured["manifest_hash"] == manifest]
        subset = str(rows["subset"].iloc[0])
        slug = _slug(subset) + (f"-{str(manifest)[:8]}" if subset in shared else "")
        groups.append(_Group(rows, slug))
    return groups


def _provenance_notes(notes: list[str]) -> list[Block]:
    head = "Historical rows: as published (hardware and software per source)."
    return [Paragraph(head, "note"), *[Paragraph(f"Measured, {n}", "note") for n in notes]]


def _gap_section(
    history: pd.DataFrame, groups: list[_Group], out_dir: Path
) -> tuple[list[Block], dict[str, Path]]:
    from harness.plots import top5_bar_chart

    blocks: list[Block] = [Heading("The 2012 gap")]
    files: dict[str, Path] = {}
    hist_gaps = historical_gaps(history)
    if hist_gaps:
        first = hist_gaps[0]
        text = f"Historically ({first.label}), {_gap_sentence(first.gap)}."
        if len(hist_gaps) > 1:
            second = hist_gaps[1]
            text += (
                f" With {second.label.split(', ', 1)[-1]}: {fmt_points(second.gap.points)}, "
                f"{fmt_relative(second.gap.relative)} relative."
            )
        blocks.append(Paragraph(text))
    if len(groups) > 1:
        blocks.append(
            Paragraph(
                "Each measured gap compares methods scored on the same images (one manifest); "
                "gaps of different manifests are not compared with each other here."
            )
        )

    rows = [_gap_row(f"historical: {h.label}", h.gap, h.source) for h in hist_gaps]
    notes = []
    for g in groups:
        sub = g.rows
        ok = sub[sub["ok"]]
        gap = best_gap(ok, name_col="display")
        label = f"measured: {g.label}"
        if gap is None:
            rows.append([label, MISSING_GAP, MISSING_GAP, MISSING_GAP, MISSING_GAP, "this harness"])
            done = set(ok["family"])
            missing = " and ".join(
                f"a successful {f if f == 'hand-crafted' else 'CNN'} run"
                for f in ("hand-crafted", "cnn")
                if f not in done
            )
            blocks.append(
                Paragraph(
                    f"Measured on **{g.label}**: no gap yet; it needs {missing} "
                    "(references such as `random` never count)."
                )
            )
        else:
            rows.append(_gap_row(label, gap, "this harness"))
            text = f"Measured on **{g.label}**: {_gap_sentence(gap)}."
            cnn = ok[ok["family"] == "cnn"]
            modified = sorted({_base_name(r) for r in cnn.itertuples() if isinstance(r.tag, str)})
            if modified:
                text += (
                    f" Not the published model: {', '.join(modified)} (the part in parentheses "
                    "names what differs; the settings are listed under the measured table)."
                )
            compared = ok[ok["display"].isin([gap.cnn, gap.handcrafted])]
            on_val = list(compared.loc[compared["monitor"] == "val", "display"])
            if on_val:
                text += (
                    f" Monitor: {', '.join(on_val)} tuned on the validation split it is scored on "
                    "(monitor `val`), so this gap may flatter it."
                )
            blocks.append(Paragraph(text))
        notes.append(f"{g.label}: {provenance_note(sub)}")
    blocks.append(
        Table(
            _GAP_COLUMNS,
            rows,
            numeric=frozenset({"gap", "relative reduction"}),
            caption="Gap = best hand-crafted minus best CNN top-5 error of one manifest; "
            "relative = gap / hand-crafted error.",
        )
    )
    blocks += _provenance_notes(notes)

    entries = history[
        (history["benchmark"] == "ILSVRC-2012")
        & (history["split"] == "test")
        & (history["kind"] == "competition")
    ].sort_values("top5_err")
    for g in groups:
        path = top5_bar_chart(
            entries,
            g.rows[["display", "family", "top5_err"]].rename(columns={"display": "name"}),
            n_classes=g.n_classes or 1000,
            measured_label=g.label + ("\n(generated demo data, not ImageNet)" if g.is_demo else ""),
            path=out_dir / f"top5_{g.slug}.png",
        )
        files[path.name] = path
        blocks.append(
            Figure(
                path,
                f"Top-5 error: the ILSVRC-2012 test results (left) and the methods measured on "
                f"{g.label} (right); dashed: chance.",
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
            nowrap=frozenset({"evaluated on", "family"}),
            caption="Top-1 / top-5 error in percent; the 2012 results page gives top-5 only. "
            "Measured rows: subset (manifest).",
        )
    )
    blocks += _provenance_notes(notes)
    return blocks, files


_MEASURED_COLUMNS = [
    "rank",
    "method",
    "family",
    "year",
    "top-1 (%)",
    "top-5 (%)",
    "monitor",
    "train time",
    "eval time",
    "train images/s",
    "peak memory",
    "device",
]


def _measured_section(g: _Group, out_dir: Path) -> tuple[list[Block], dict[str, Path]]:
    from harness.plots import cost_chart, learning_curves_chart

    sub = g.rows
    files: dict[str, Path] = {}
    blocks: list[Block] = [Heading(f"Measured: {g.subset} · manifest {g.short}")]
    if g.is_demo:
        blocks.append(demo_warning())
    rows = []
    for r in sub.itertuples():
        rows.append(
            [
                str(int(r.rank)) if r.ok else "failed",
                r.display,
                r.family,
                str(int(r.year)) if pd.notna(r.year) and r.year else "–",
                fmt_err(r.top1_err),
                fmt_err(r.top5_err),
                r.monitor,
                fmt_duration(r.train_seconds),
                fmt_duration(r.eval_seconds),
                # Below 10 ms, n_train / seconds measures the timer, not the method.
                fmt_rate(r.train_images_per_s) if r.train_seconds >= 0.01 else "–",
                fmt_mib(r.peak_rss_mib),
                r.device if isinstance(r.device, str) else "unknown device",
            ]
        )
    blocks.append(
        Table(
            _MEASURED_COLUMNS,
            rows,
            numeric=frozenset(
                {
                    "rank",
                    "year",
                    "top-1 (%)",
                    "top-5 (%)",
                    "train time",
                    "eval time",
                    "train images/s",
                    "peak memory",
                }
            ),
            nowrap=frozenset({"family", "monitor"}),
            caption=f"{g.label}; ILSVRC flat top-k error on the validation split, lower is "
            "better; monitor = the split each method tuned on.",
        )
    )
    for note in (settings_note(sub), monitor_note(sub), provenance_note(sub)):
        if note:
            blocks.append(Paragraph(note, "note"))
    failed = sub[~sub["ok"]]
    if not failed.empty:
        blocks.append(Paragraph(f"{len(failed)} run(s) failed:"))
        for r in failed.itertuples():
            blocks.append(Paragraph(f"**{r.display}** (`{r.run_id}`): {r.error}"))

    devices = "; ".join(_unique(sub["device"])) or "unknown device"
    title = f"{g.label}\n{devices}"
    path = cost_chart(
        sub[sub["train_seconds"].notna()].rename(columns={"display": "name"}),
        title=f"Cost on {title}",
        path=out_dir / f"cost_{g.slug}.png",
    )
    if path is not None:
        files[path.name] = path
        blocks.append(
            Figure(
                path,
                "Wall time of training and evaluation, and training images per second (log scales).",
            )
        )
    cnn = sub[(sub["family"] == "cnn") & sub["ok"]]
    path = learning_curves_chart(
        dict(zip(cnn["display"], cnn["learning_curve"], strict=True)),
        title=f"CNN learning curves on {title}",
        path=out_dir / f"learning_curves_{g.slug}.png",
    )
    if path is not None:
        files[path.name] = path
        splits = ", ".join(sorted(set(cnn["monitor"]))) or "none"
        blocks.append(
            Figure(
                path,
                "Per-epoch training loss and the error on each CNN's monitor split "
                f"({splits}), as logged during training.",
            )
        )
    return blocks, files


def demo_warning() -> Paragraph:
    return Paragraph(
        "These results come from the built-in `demo` data: small procedurally drawn images that the "
        "harness generates itself. Demo numbers say nothing about ImageNet; they only show that every "
        f"method runs end to end. For real data run `{REAL_DATA_COMMAND}`.",
        "warning",
    )


def reproduce_commands(records: list[RunRecord]) -> list[str]:
    """The commands that made ``records``, each once, in order.

    A record's own ``command`` when it has one; otherwise one rebuilt from its
    configuration: ``harness run ...`` for a run, one ``harness sweep ...``
    over the grid cells found for the records of a sweep.
    """
    commands: dict[str, None] = {}
    grids: dict[str, tuple[dict[str, Any], set[int], set[int]]] = {}
    for r in records:
        if r.command or r.config.get("command") or not is_sweep_record(r):
            commands[r.command_line()] = None
            continue
        base = {k: v for k, v in r.config.items() if k not in ("classes", "train_per_class")}
        _, classes, per_class = grids.setdefault(command_from_config(base), (base, set(), set()))
        cell = r.config["sweep"]
        if isinstance(cell, dict):
            classes.add(int(cell.get("classes") or r.n_classes or 0))
            per_class.add(int(cell.get("train_per_class") or 0))
    for base, classes, per_class in grids.values():
        grid = (sorted(c for c in classes if c), sorted(m for m in per_class if m))
        commands[command_from_config(base, grid=grid)] = None
    return list(commands)


def _history_section(history: pd.DataFrame) -> list[Block]:
    rows = [
        [
            "" if pd.isna(r.year) else str(int(r.year)),
            r.benchmark,
            r.split,
            r.team_or_method,
            r.family,
            fmt_err(r.top1_err),
            fmt_err(r.top5_err),
            r.description,
            r.source,
        ]
        for r in history.itertuples()
    ]
    return [
        Heading("Historical results"),
        Table(
            [
                "year",
                "benchmark",
                "split",
                "team / method",
                "family",
                "top-1 (%)",
                "top-5 (%)",
                "what it was",
                "source",
            ],
            rows,
            numeric=frozenset({"year", "top-1 (%)", "top-5 (%)"}),
            nowrap=frozenset({"benchmark", "family"}),
            wide=frozenset({"what it was"}),
        ),
        Paragraph(
            "As published; errors rounded to 1 decimal (exact values and sources in "
            "`harness/history/ilsvrc_history.csv`). Hardware and software as in each source "
            "(SuperVision: 2 GTX 580 GPUs, 5-6 days of training). * = pre-trained on the "
            "Fall-2011 release of ImageNet.",
            "note",
        ),
    ]


def write_report(
    results_dir: Path, out_dir: Path | None = None, *, sweep_results_dir: Path | None = None
) -> dict[str, Path]:
    """Write ``report.md``, ``report.html`` and the PNGs.

    Returns ``{"html": report.html, "md": report.md, <png file name>: path, ...}``.

    ``out_dir`` defaults to ``results_dir``. Records are read only. Sweep
    records are taken from ``results_dir/runs`` and from ``sweep_results_dir``
    (default ``results_dir/sweep`` when it holds records). An unwritable
    ``out_dir`` raises :class:`harness.results.ResultsWriteError`.
    """
    from harness.sweep_plots import sweep_blocks

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
    measured = measured_frame(run_records)
    groups = _groups(measured)
    hidden = len(run_records) - len(measured)

    files: dict[str, Path] = {}
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    blocks: list[Block] = [
        Heading("ILSVRC harness: the 2012 gap, replayed", 1),
        Paragraph(
            f"Generated {now} by `harness report` from {len(records)} run record(s) in "
            f"`{_display_path(records_dir(results_dir), out_dir)}` and the historical results; "
            "regenerate it rather than editing it. Errors are ILSVRC flat top-1 / top-5 error in "
            "percent (lower is better). Tables are grouped by manifest: the exact images scored."
        ),
    ]
    if hidden:
        blocks.append(
            Paragraph(
                f"{hidden} older record(s) of a method already shown for the same manifest are "
                "not in the tables (the newest successful record wins); "
                "`harness leaderboard --all` lists every record.",
                "note",
            )
        )
    if any(g.is_demo for g in groups):
        blocks.append(demo_warning())
    if measured.empty:
        blocks.append(
            Paragraph(
                f"No run records found under `{records_dir(results_dir)}`: run `harness run` first "
                f"(e.g. `{REAL_DATA_COMMAND}`). Only the historical numbers are shown.",
                "warning",
            )
        )
    gap_blocks, gap_files = _gap_section(history, groups, out_dir)
    blocks += gap_blocks
    files.update(gap_files)
    for g in groups:
        section, section_files = _measured_section(g, out_dir)
        blocks += section
        files.update(section_files)
    if sweep_records:
        section, section_files = sweep_blocks(sweep_records, out_dir)
        blocks += [Heading("Gap versus scale (sweep)"), *section]
        files.update(section_files)
    blocks += _history_section(history)
    commands = reproduce_commands([*run_records, *sweep_records])
    blocks += [
        Heading("Reproduce"),
        Paragraph(
            "The commands that made these records (each record keeps its own; older records: "
            "rebuilt from their resolved configuration), then the report:"
            if commands
            else "No records yet; after `harness run`, regenerate this report with:"
        ),
        Code("\n".join([*commands, "harness report"])),
    ]

    md_path = out_dir / "report.md"
    html_path = out_dir / "report.html"
    atomic_write_text(md_path, render_markdown(blocks, out_dir))
    atomic_write_text(html_path, render_html(blocks, "ILSVRC harness report"))
    return {"html": html_path, "md": md_path, **files}
