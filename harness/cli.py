"""Command line: ``harness list | plan | run | leaderboard | report | evaluate | sweep``.

Thin entry points: every command parses its flags, builds a RunConfig or calls
one function of the core, and prints. Heavy libraries load only in the command
that needs them.
"""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from harness.config import (
    ConfigError,
    suite_names,
)
from harness.flags import add_run_flags, build_config, run_seeds  # noqa: F401

log = logging.getLogger("harness")

#: The one line a run, the report and the leaderboard's notes give on a tiny subset.
FEW_CLASSES_LINE = (
    "note: {n} classes: top-5 error is 0 by construction at 5 classes or fewer; read top-1 error"
)

REAL_DATA_HINT = (
    "harness run --data /path/to/your/imagenet   (any layout: every class it holds; "
    "`harness list` shows the suites)"
)


def _print_summary(records: list[Any]) -> None:
    """Every row of the run (variants included, skipped methods too), ranked; a method run
    with several seeds is one row, its mean over them."""
    import textwrap

    import pandas as pd

    from harness.console import WIDTH, format_table
    from harness.leaderboard import leaderboard_frame, why_unranked

    if not records:
        return
    df = leaderboard_frame(records)
    several = bool((df["n_seeds"].fillna(1) > 1).any())
    rows = []
    for r in df.to_dict("records"):
        row = {
            "rank": r["rank"],
            "name": r["display"],
            "year": r["year"] or None,  # 0: a method of no year (random)
            "top1_err": r["top1_err"],
            "top5_err": r["top5_err"],
            "train_s": r["train_seconds"],
            "status": "FAILED"
            if pd.notna(r["error"])
            else ("ok" if pd.notna(r["rank"]) else why_unranked(pd.Series(r))),
        }
        if several:
            row = {**row, "seeds": r["n_seeds"], "top5_std": r["top5_err_std"]}
        rows.append(row)
    columns = ["rank", "name", "year", "top1_err", "top5_err"]
    columns += ["seeds", "top5_std"] if several else []
    print(format_table(rows, [*columns, "train_s", "status"], shrink="status"))
    if several:
        print("(errors: mean over the seeds; top5_std: their standard deviation)")
    for r in df[df["error"].notna()].itertuples():  # each failure whole, wrapped
        print(textwrap.fill(f"{r.display}: FAILED: {r.error}", WIDTH, subsequent_indent="  "))


def _write_report(results: Path) -> None:
    try:
        from harness.report import write_report
    except ImportError as exc:  # pragma: no cover - the report module ships with the harness
        log.warning("report not written: %s", exc)
        return
    paths = write_report(results)
    print(f"report: {paths.get('html', paths.get('md'))}")


def cmd_run(args: argparse.Namespace) -> int:
    from harness.frame import is_demo_run
    from harness.runner import run

    base = build_config(args)
    seeds = run_seeds(args, base)
    failed = demo = False
    records: list[Any] = []
    for seed in seeds:
        cfg = replace(base, seed=seed)
        if len(seeds) > 1:
            print(f"\n=== seed {seed} ({seeds.index(seed) + 1} of {len(seeds)}) ===")
        summary = run(cfg)
        records.extend(summary.records)
        failed |= summary.failed
        demo |= is_demo_run(summary.data.subset.name, cfg.data)
    print()
    print(
        f"subset {summary.data.subset.name} ({summary.data.train.n_classes} classes, "
        f"{len(summary.data.train)} train / {len(summary.data.val)} val images), "
        f"manifest {summary.data.manifest.hash[:16]}"
    )
    _print_summary(records)
    if summary.data.train.n_classes <= 5:
        print(FEW_CLASSES_LINE.format(n=summary.data.train.n_classes))
    results = Path(base.results)
    print(f"\nleaderboard: {results / 'leaderboard.csv'}")
    if not args.no_report:
        _write_report(results)
    if demo:
        print(
            "\nThese are demo numbers on generated pictures: they say nothing about ImageNet.\n"
            f"For real data: {REAL_DATA_HINT}"
        )
    return 1 if failed else 0


def cmd_plan(args: argparse.Namespace) -> int:
    import json

    from harness.plan import make_plan
    from harness.plan_view import plan_table

    plan = make_plan(build_config(args))
    if args.json:
        print(json.dumps([p.as_dict() for p in plan.projections], indent=1))
    else:
        print(plan_table(plan))
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from harness.console import fit_line
    from harness.data import SUBSETS, get_subset
    from harness.registry import BASELINES

    print("baselines:")
    for name in BASELINES.names():
        try:
            cls = BASELINES.get(name)
            line = f"  {name:<16} {getattr(cls, 'year', '?')!s:<5} {getattr(cls, 'source', '')}"
        except ImportError as exc:
            line = f"  {name:<16} (cannot load: {exc})"
        print(fit_line(line))
    print("\nsubsets (newest version; older ones stay usable as name@N):")
    for name in SUBSETS.names():
        if "@" in name:  # name@N entries are the versions of a name listed once below
            continue
        s = get_subset(name)
        older = sorted(
            int(n.split("@", 1)[1])
            for n in SUBSETS.names()
            if n.startswith(f"{name}@") and n != s.key
        )
        also = f" (also {', '.join(f'@{v}' for v in older)})" if older else ""
        print(fit_line(f"  {name:<16} v{s.version}{also}  {s.size}px  {s.description or ''}"))
    print("  (no suite or subset: `harness run --data PATH` runs on every class a copy holds)")
    print("\nsuites:")
    for name in suite_names():
        print(f"  {name}")
    return 0


def cmd_leaderboard(args: argparse.Namespace) -> int:
    from harness.console import fit_line, format_table
    from harness.leaderboard import leaderboard_frame, write_leaderboard
    from harness.store import load_records

    records = load_records(Path(args.results))  # a bad record: one warning, then skipped
    out = write_leaderboard(
        Path(args.results),
        Path(args.out) if args.out else None,
        all_records=args.all,
        records=records,
    )
    df = leaderboard_frame(records, all_records=args.all)
    cols = ["rank", "display", "family", "top1_err", "top5_err", "monitor", "train_seconds"]
    if not len(df):
        print("(no records)")
    sweep = _sweep_only_manifests(records)
    for manifest, group in df.groupby("manifest_hash", sort=False):
        if manifest in sweep:
            continue
        first = group.iloc[0]
        print()
        print(
            fit_line(
                f"{first['subset']} · manifest {str(manifest)[:12]} · {first['n_classes']} "
                f"classes, {first['n_train']} train / {first['n_val']} val images"
            )
        )
        print(format_table(group[cols].to_dict("records"), cols, shrink="display"))
        if first["n_classes"] <= 5:
            print(FEW_CLASSES_LINE.format(n=first["n_classes"]))
    if sweep:
        print(
            f"\n{len(sweep)} sweep cells (harness sweep) are rows of the CSV; their tables: "
            f"{Path(args.results) / 'sweep' / 'sweep.md'}"
        )
    print(f"\nwrote {out}")
    return 0


def _sweep_only_manifests(records: list[Any]) -> set[str]:
    """Manifests whose every record is a sweep cell's (tabled in sweep/, not on the console)."""
    from harness.frame import records_frame

    frame = records_frame(records)
    if frame.empty:
        return set()
    sweep = frame.groupby("manifest_hash")["is_sweep"].all()
    return set(sweep[sweep].index)


def cmd_report(args: argparse.Namespace) -> int:
    from harness.report import write_report

    paths = write_report(Path(args.results), Path(args.out) if args.out else None)
    for kind, path in paths.items():
        print(f"{kind}: {path}")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from harness.protocol import score_submission

    id_to_wnid, meta = None, None
    if args.meta:
        from harness.data.layouts.devkit import DEVKIT_META, find_devkit_file, read_devkit_meta

        meta = Path(args.meta)
        if meta.is_dir():
            found = find_devkit_file(meta, DEVKIT_META)
            if found is None:
                raise FileNotFoundError(f"--meta {meta}: no {DEVKIT_META} in that devkit folder")
            meta = found
        id_to_wnid = read_devkit_meta(meta)[0]
    res = score_submission(
        Path(args.predictions), Path(args.ground_truth), id_to_wnid, meta=str(meta or "")
    )
    print(
        f"images: {res['n_images']}  top-1 error: {res['top1_err']:.2f}%  top-5 error: {res['top5_err']:.2f}%"
    )
    return 0


def _int_list(text: str) -> list[int]:
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError as exc:
        raise ConfigError(f"expected comma-separated integers, got {text!r}") from exc


def cmd_sweep(args: argparse.Namespace) -> int:
    from harness.runner import run

    base = build_config(args)
    seeds = run_seeds(args, base)
    failed = False
    records = []
    for classes in _int_list(args.classes_grid):
        for per_class in _int_list(args.train_grid):
            for seed in seeds:
                cfg = replace(
                    base,
                    seed=seed,
                    classes=classes,
                    train_per_class=per_class,
                    extra=tuple(
                        dict(
                            base.extra, sweep={"classes": classes, "train_per_class": per_class}
                        ).items()
                    ),
                )
                print(
                    f"\n=== sweep point: {classes} classes x {per_class} training images per "
                    f"class" + (f", seed {seed}" if len(seeds) > 1 else "") + " ==="
                )
                summary = run(cfg)
                _print_summary(summary.records)
                records.extend(summary.records)
                failed |= summary.failed
    from harness.report import write_sweep_report
    from harness.report.sweep import sweep_cell_records
    from harness.store import load_records

    # The tables are drawn from the records on disk (a failed rerun's attempt, kept
    # aside, never hides the good record it left in place): every cell of the
    # subsets this grid drew from, earlier grids included (the newest record per
    # cell and method wins), and the comparison on such a subset taken whole.
    on_disk = load_records(Path(base.results))
    out = Path(base.results) / "sweep"
    paths = write_sweep_report(sweep_cell_records(on_disk, like=records), out)
    for kind, path in paths.items():
        print(f"{kind}: {path}")
    return 1 if failed else 0


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="harness",
        description="Replay the 2012 ImageNet moment: hand-crafted features + linear SVMs, "
        "LeNet-5 and AlexNet on the same subsets under the ILSVRC top-5 protocol.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("list", help="list baselines, subsets and suites")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser(
        "plan",
        help="project each method's time, memory and disk for `harness run` with the same "
        "flags, from a short calibration on this machine",
    )
    add_run_flags(p)
    p.add_argument("--json", action="store_true", help="print the projections as JSON")
    p.set_defaults(func=cmd_plan)

    p = sub.add_parser("run", help="run every method of a suite on the same subset (default: demo)")
    add_run_flags(p)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("leaderboard", help="write leaderboard.csv from the run records")
    p.add_argument("--results", default="results", help="results folder (default: results)")
    p.add_argument("--out", help="output CSV (default: RESULTS/leaderboard.csv)")
    p.add_argument(
        "--all",
        action="store_true",
        help="every record (default: the newest successful one per manifest, method, variant)",
    )
    p.set_defaults(func=cmd_leaderboard)

    p = sub.add_parser("report", help="write report.md, report.html and plots from the records")
    p.add_argument("--results", default="results", help="results folder (default: results)")
    p.add_argument("--out", help="output folder (default: the results folder)")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("evaluate", help="score a devkit-format predictions file")
    p.add_argument("--predictions", required=True, help="one line per image, up to 5 labels")
    p.add_argument("--ground-truth", required=True, help="one label per line, same order")
    p.add_argument(
        "--meta",
        help="the devkit's meta.mat (or its folder): maps ILSVRC2012_IDs to wnids when one "
        "file uses IDs and the other wnids",
    )
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("sweep", help="run the comparison over a grid of subset sizes")
    add_run_flags(p, grid=True)
    p.set_defaults(func=cmd_sweep)
    return parser


def main(argv: list[str] | None = None) -> int:
    import shlex

    parser = make_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    args.command_line = "harness " + shlex.join(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    from harness.api import MethodError
    from harness.protocol import SubmissionFormatError
    from harness.record import RecordError
    from harness.registry import PluginLoadError, UnknownNameError
    from harness.store import ResultsWriteError

    expected: tuple[type[BaseException], ...] = (
        ConfigError,
        SubmissionFormatError,
        UnknownNameError,
        PluginLoadError,
        MethodError,
        FileNotFoundError,
        ResultsWriteError,
        RecordError,
    )
    try:
        from harness.data import DataError

        expected = (*expected, DataError)
    except ImportError:  # pragma: no cover
        pass
    try:
        return int(args.func(args))
    except expected as exc:
        print(f"harness {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; rerun the same command to resume", file=sys.stderr)
        return 130
    except OSError as exc:  # a folder or file we cannot use: one line, never a traceback
        where = exc.filename or ""
        reason = exc.strerror or str(exc)
        fix = (
            "pass --results DIR (or --cache DIR) with a folder you can write to"
            if isinstance(exc, PermissionError | IsADirectoryError | NotADirectoryError)
            else "check the path and free space, then rerun the same command (it resumes)"
        )
        print(f"harness {args.command}: error: {where}: {reason}; {fix}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
