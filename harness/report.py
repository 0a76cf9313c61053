"""`harness report`: the 2012-gap report, regenerated from run records and history.

Reads the records under ``results_dir/runs`` (never writes them) and the
historical numbers (``harness.history``), and writes ``report.md``, a
self-contained ``report.html`` and the PNG figures it shows:

1. per subset, the measured table (method, year, top-1/top-5 error, time,
   images/s, device; failed runs with their error);
2. the 2012-gap table: historical rows with their sources beside the measured
   rows, and the gap between the best hand-crafted method and the best CNN in
   points and as a relative reduction, historical versus measured;
3. a top-5 bar chart in the style of the 2012 results slide, CNN learning
   curves and a cost chart;
4. under every table, the manifest hash, hardware and versions.

Records of a gap-versus-scale sweep (``config["sweep"]`` set) are shown in a
sweep section rather than as one table per grid cell.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from harness.gap import Gap, best_gap, family_of
from harness.history import historical_gaps, load_history
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
from harness.results import atomic_write_text, load_records, records_dir
from harness.sweep_plots import write_sweep_report

__all__ = [
    "REAL_DATA_COMMAND",
    "demo_warning",
    "is_demo_subset",
    "is_sweep_record",
    "measured_frame",
    "provenance_note",
    "write_report",
    "write_sweep_report",
]

REAL_DATA_COMMAND = "harness run --suite tiny-imagenet --data /path/to/tiny-imagenet-100"

_MEASURED_COLUMNS = [
    "subset",
    "subset_version",
    "name",
    "method",
    "family",
    "year",
    "ok",
    "error",
    "top1_err",
    "top5_err",
    "train_seconds",
    "eval_seconds",
    "train_images_per_s",
    "peak_rss_mib",
    "device",
    "manifest_hash",
    "n_classes",
    "n_train",
    "n_val",
    "image_size",
    "versions",
    "git_commit",
    "date",
    "run_id",
    "learning_curve",
    "overrides",
]


def method_overrides(record: dict[str, Any]) -> dict[str, Any]:
    """The settings a run changed from the method's defaults (suite file or ``--param``)."""
    for spec in (record.get("config") or {}).get("methods") or []:
        if spec.get("name") == record.get("method"):
            return dict(spec.get("params") or {})
    return {}


def settings_note(rows: pd.DataFrame) -> str:
    """One line naming every method's non-default settings, or "" when all ran on defaults."""
    parts = []
    for name, overrides in zip(rows["name"], rows["overrides"], strict=True):
        row = name.split("[", 1)[0]  # a variant row shares its run's settings
        if overrides and not any(p.startswith(f"**{row}**:") for p in parts):
            values = ", ".join(f"{k}={v}" for k, v in sorted(overrides.items()))
            parts.append(f"**{row}**: {values}")
    if not parts:
        return ""
    return "Settings changed from each method's defaults (suite file or --param): " + "; ".join(
        parts
    )


def is_demo_subset(subset: str) -> bool:
    """The built-in generated ``demo`` data (numbers that say nothing about ImageNet)."""
    return str(subset).startswith("demo")


def is_sweep_record(record: dict[str, Any]) -> bool:
    """A record written by ``harness sweep`` (its config names the grid cell)."""
    config = record.get("config")
    return isinstance(config, dict) and bool(config.get("sweep"))


def _float(x: Any) -> float:
    try:
        return float(x) if x is not None else float("nan")
    except (TypeError, ValueError):
        return float("nan")


def measured_frame(records: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per record, with the family resolved and ``ok`` for usable results."""
    rows = []
    for r in records:
        ok = r.get("status") == "ok" and r.get("top5_err") is not None
        rows.append(
            {
                "subset": r["subset"],
                "subset_version": r.get("subset_version"),
                "name": r.get("display_name") or r["method"],
                "method": r["method"],
                "family": family_of(r),
                "year": r.get("year"),
                "ok": ok,
                "error": None if ok else (r.get("error") or f"status {r.get('status')!r}"),
                "top1_err": _float(r.get("top1_err")) if ok else float("nan"),
                "top5_err": _float(r.get("top5_err")) if ok else float("nan"),
                "train_seconds": _float(r.get("train_seconds")),
                "eval_seconds": _float(r.get("eval_seconds")),
                "train_images_per_s": _float(r.get("train_images_per_s")),
                "peak_rss_mib": _float(r.get("peak_rss_mib")),
                "device": r.get("device") or "unknown device",
                "manifest_hash": r.get("manifest_hash"),
                "n_classes": r.get("n_classes"),
                "n_train": r.get("n_train"),
                "n_val": r.get("n_val"),
                "image_size": r.get("image_size"),
                "versions": r.get("versions") or {},
                "git_commit": r.get("git_commit"),
                "date": r.get("date"),
                "run_id": r["run_id"],
                "learning_curve": r.get("learning_curve") or [],
                "overrides": method_overrides(r),
            }
        )
    df = pd.DataFrame(rows, columns=_MEASURED_COLUMNS)
    df["ok"] = df["ok"].astype(bool)
    return df.sort_values(["subset", "ok", "top5_err", "name"], ascending=[True, False, True, True])


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
    sizes = rows[["n_classes", "n_train", "n_val", "image_size"]].drop_duplicates()
    for _, s in sizes.iterrows():
        if pd.notna(s["n_classes"]):
            size = f"{int(s['n_classes'])} classes"
            if pd.notna(s["n_train"]) and pd.notna(s["n_val"]):
                size += f", {int(s['n_train']):,} train / {int(s['n_val']):,} val images"
            if pd.notna(s["image_size"]):
                size += f" stored at {int(s['image_size'])} px"
            parts.append(size)
    parts.append("hardware: " + "; ".join(_unique(rows["device"])))
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


def _subset_label(rows: pd.DataFrame) -> str:
    subset = rows["subset"].iloc[0]
    n = rows["n_classes"].dropna()
    return f"{subset} val" + (f", {int(n.iloc[0])} classes" if len(n) else "")


def _provenance_notes(notes: list[str]) -> list[Block]:
    head = "Historical rows: as published (hardware and software per source)."
    return [Paragraph(head, "note"), *[Paragraph(f"Measured, {n}", "note") for n in notes]]


def _gap_section(
    history: pd.DataFrame, measured: pd.DataFrame, subsets: list[str], out_dir: Path
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

    rows = [_gap_row(f"historical: {h.label}", h.gap, h.source) for h in hist_gaps]
    notes = []
    for subset in subsets:
        sub = measured[measured["subset"] == subset]
        gap = best_gap(sub[sub["ok"]], name_col="name")
        label = f"measured: {_subset_label(sub)}"
        if gap is None:
            rows.append([label, MISSING_GAP, MISSING_GAP, MISSING_GAP, MISSING_GAP, "this harness"])
            done = set(sub.loc[sub["ok"], "family"])
            missing = " and ".join(
                f"a successful {f if f == 'hand-crafted' else 'CNN'} run"
                for f in ("hand-crafted", "cnn")
                if f not in done
            )
            blocks.append(
                Paragraph(
                    f"Measured on **{_subset_label(sub)}**: no gap yet; it needs {missing} "
                    "(the `random` reference never counts)."
                )
            )
        else:
            rows.append(_gap_row(label, gap, "this harness"))
            text = f"Measured on **{_subset_label(sub)}**: {_gap_sentence(gap)}."
            modified = sorted(set(sub.loc[sub["ok"] & (sub["family"] == "cnn"), "name"]))
            modified = [n for n in modified if " (" in n and "[" not in n]
            if modified:
                text += (
                    f" Not the published model: {', '.join(modified)} (the part in parentheses "
                    "names what differs; the settings are listed under the measured table)."
                )
            blocks.append(Paragraph(text))
        notes.append(f"{subset}: {provenance_note(sub)}")
    blocks.append(
        Table(
            _GAP_COLUMNS,
            rows,
            numeric=frozenset({"gap", "relative reduction"}),
            caption="Gap = best hand-crafted minus best CNN top-5 error; relative = gap / hand-crafted error.",
        )
    )
    blocks += _provenance_notes(notes)

    entries = history[
        (history["benchmark"] == "ILSVRC-2012")
        & (history["split"] == "test")
        & (history["kind"] == "competition")
    ].sort_values("top5_err")
    for subset in subsets:
        sub = measured[measured["subset"] == subset]
        n_classes = sub["n_classes"].dropna()
        path = top5_bar_chart(
            entries,
            sub[["name", "family", "top5_err"]],
            n_classes=int(n_classes.iloc[0]) if len(n_classes) else 1000,
            measured_label=_subset_label(sub)
            + ("\n(generated demo data, not ImageNet)" if is_demo_subset(subset) else ""),
            path=out_dir / f"top5_{_slug(subset)}.png",
        )
        files[path.name] = path
        blocks.append(
            Figure(
                path,
                f"Top-5 error: the ILSVRC-2012 test results (left) and the methods measured on "
                f"{_subset_label(sub)} (right); dashed: chance.",
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
    for subset in subsets:
        sub = measured[measured["subset"] == subset]
        table_rows += [
            [
                f"{subset} val",
                r.name,
                r.family,
                fmt_err(r.top1_err),
                fmt_err(r.top5_err) if r.ok else "failed",
                f"this harness ({str(r.date)[:10]})" if r.date else "this harness",
            ]
            for r in sub.itertuples()
        ]
    blocks.append(
        Table(
            ["evaluated on", "team / method", "family", "top-1 (%)", "top-5 (%)", "source"],
            table_rows,
            numeric=frozenset({"top-1 (%)", "top-5 (%)"}),
            nowrap=frozenset({"evaluated on", "family"}),
            caption="Top-1 / top-5 error in percent; the 2012 results page gives top-5 only.",
        )
    )
    blocks += _provenance_notes(notes)
    return blocks, files


MISSING_GAP = "–"


def _measured_section(
    subset: str, sub: pd.DataFrame, out_dir: Path
) -> tuple[list[Block], dict[str, Path]]:
    from harness.plots import cost_chart, learning_curves_chart

    files: dict[str, Path] = {}
    blocks: list[Block] = [Heading(f"Measured: {subset}")]
    if is_demo_subset(subset):
        blocks.append(demo_warning())
    columns = [
        "rank",
        "method",
        "family",
        "year",
        "top-1 (%)",
        "top-5 (%)",
        "train time",
        "eval time",
        "train images/s",
        "peak memory",
        "device",
    ]
    rows = []
    rank = 0
    for r in sub.itertuples():
        if r.ok:
            rank += 1
        rows.append(
            [
                str(rank) if r.ok else "failed",
                r.name,
                r.family,
                str(int(r.year)) if pd.notna(r.year) and r.year else "–",
                fmt_err(r.top1_err),
                fmt_err(r.top5_err),
                fmt_duration(r.train_seconds),
                fmt_duration(r.eval_seconds),
                # Below 10 ms, n_train / seconds measures the timer, not the method.
                fmt_rate(r.train_images_per_s) if r.train_seconds >= 0.01 else "–",
                fmt_mib(r.peak_rss_mib),
                r.device,
            ]
        )
    blocks.append(
        Table(
            columns,
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
            nowrap=frozenset({"family"}),
            caption=f"{_subset_label(sub)}; ILSVRC flat top-k error on the validation split, lower is better.",
        )
    )
    settings = settings_note(sub)
    if settings:
        blocks.append(Paragraph(settings, "note"))
    blocks.append(Paragraph(provenance_note(sub), "note"))
    failed = sub[~sub["ok"]]
    if not failed.empty:
        blocks.append(Paragraph(f"{len(failed)} run(s) failed:"))
        for r in failed.itertuples():
            blocks.append(Paragraph(f"**{r.name}** (`{r.run_id}`): {r.error}"))

    title = f"{_subset_label(sub)}\n{'; '.join(_unique(sub['device']))}"
    path = cost_chart(
        sub[sub["train_seconds"].notna()],
        title=f"Cost on {title}",
        path=out_dir / f"cost_{_slug(subset)}.png",
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
        dict(zip(cnn["name"], cnn["learning_curve"], strict=True)),
        title=f"CNN learning curves on {title}",
        path=out_dir / f"learning_curves_{_slug(subset)}.png",
    )
    if path is not None:
        files[path.name] = path
        blocks.append(
            Figure(
                path,
                "Per-epoch training loss and validation error of the CNNs, as logged during training.",
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
    (default ``results_dir/sweep`` when it holds records).
    """
    from harness.sweep_plots import sweep_blocks

    results_dir = Path(results_dir)
    out_dir = Path(out_dir) if out_dir is not None else results_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    history = load_history()
    records = load_records(results_dir)
    if sweep_results_dir is None and records_dir(results_dir / "sweep").is_dir():
        sweep_results_dir = results_dir / "sweep"
    sweep_records = [r for r in records if is_sweep_record(r)]
    if sweep_results_dir is not None and Path(sweep_results_dir).resolve() != results_dir.resolve():
        sweep_records += [r for r in load_records(Path(sweep_results_dir)) if is_sweep_record(r)]
    measured = measured_frame([r for r in records if not is_sweep_record(r)])
    # Real subsets first: the demo is a smoke test, not a result.
    subsets = sorted(measured["subset"].unique(), key=lambda s: (is_demo_subset(s), s))

    files: dict[str, Path] = {}
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    blocks: list[Block] = [
        Heading("ILSVRC harness: the 2012 gap, replayed", 1),
        Paragraph(
            f"Generated {now} by `harness report` from {len(records)} run record(s) in "
            f"`{_display_path(records_dir(results_dir), out_dir)}` and the historical results; regenerate it rather than editing it. "
            "Errors are ILSVRC flat top-1 / top-5 error in percent (lower is better)."
        ),
    ]
    if any(is_demo_subset(s) for s in subsets):
        blocks.append(demo_warning())
    if measured.empty:
        blocks.append(
            Paragraph(
                f"No run records found under `{records_dir(results_dir)}`: run `harness run` first "
                f"(e.g. `{REAL_DATA_COMMAND}`). Only the historical numbers are shown.",
                "warning",
            )
        )
    gap_blocks, gap_files = _gap_section(history, measured, subsets, out_dir)
    blocks += gap_blocks
    files.update(gap_files)
    for subset in subsets:
        section, section_files = _measured_section(
            subset, measured[measured["subset"] == subset], out_dir
        )
        blocks += section
        files.update(section_files)
    if sweep_records:
        section, section_files = sweep_blocks(sweep_records, out_dir)
        blocks += [Heading("Gap versus scale (sweep)"), *section]
        files.update(section_files)
    blocks += _history_section(history)
    blocks += [
        Heading("Reproduce"),
        Code(f"{REAL_DATA_COMMAND}\nharness report"),
    ]

    md_path = out_dir / "report.md"
    html_path = out_dir / "report.html"
    atomic_write_text(md_path, render_markdown(blocks, out_dir))
    atomic_write_text(html_path, render_html(blocks, "ILSVRC harness report"))
    return {"html": html_path, "md": md_path, **files}
