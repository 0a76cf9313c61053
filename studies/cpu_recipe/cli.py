"""The study's command line: parse, load the pilot data, run the study, print and write it.

``python -m studies.cpu_recipe`` runs :func:`main` (``__main__.py`` sets
``OMP_WAIT_POLICY`` first); the JSON goes to ``results/cpu_recipe/`` unless
``--out`` says otherwise, never into a package folder.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from studies.cpu_recipe.candidates import DEFAULT_CANDIDATES, parse_candidate
from studies.cpu_recipe.data import load_pilot_data
from studies.cpu_recipe.pilots import StudySettings, cpu_threads, run_study

__all__ = ["DEFAULT_OUT", "main", "parse_args", "write_study"]

#: under the repository's results/, beside the studies already run (study-*.json)
DEFAULT_OUT = Path(__file__).resolve().parents[2] / "results" / "cpu_recipe" / "study.json"


def _machine() -> dict[str, Any]:
    from harness.experiment import device_name, git_commit, package_versions

    return {
        "device": device_name("cpu"),
        "cpus": cpu_threads(0),
        "load_average_1min": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        "versions": package_versions(),
        "git_commit": git_commit(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def write_study(study: dict[str, Any], path: Path) -> Path:
    """Write ``study`` as indented JSON, atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(study, indent=2, default=str) + "\n")
    os.replace(tmp, path)
    return path


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m studies.cpu_recipe",
        description="Choose AlexNet's CPU recipe on the harness's monitor (never val).",
    )
    p.add_argument("--data", required=True, help="dataset root (e.g. tiny-imagenet-100)")
    p.add_argument("--cache", default=".harness", help="harness cache folder (as harness run)")
    p.add_argument("--subset", default="tiny-imagenet", help="registered subset")
    p.add_argument("--budget-minutes", type=float, default=1.5,
                   help="training minutes per candidate (default 1.5: 8 candidates ~14 min)")  # fmt: skip
    p.add_argument("--candidates", default=",".join(DEFAULT_CANDIDATES),
                   help=f"comma-separated built-ins: {', '.join(DEFAULT_CANDIDATES)}; '' = none")  # fmt: skip
    p.add_argument("--candidate", action="append", default=[],
                   help="an extra one: 'schedule=warmup-cosine,lr128=0.02,batch=128,"
                        "width=0.5,warmup=0.1[,name=N]' (repeatable)")  # fmt: skip
    p.add_argument("--classes", type=int, default=25,
                   help="pilot classes, a seeded draw (0: all; default 25)")  # fmt: skip
    p.add_argument("--fit-per-class", type=int, default=300, help="pilot fit images per class")
    p.add_argument("--monitor-per-class", type=int, default=50,
                   help="pilot monitor images per class (the harness holds out <= 50)")  # fmt: skip
    p.add_argument("--curve-points", type=int, default=4, help="monitor evaluations per pilot")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: all CPUs)")
    p.add_argument("--calibration-seconds", type=float, default=3.0,
                   help="timed training per network and batch before the pilots")  # fmt: skip
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--target-minutes", type=float, default=45.0,
                   help="full-run training time the recommended profile is sized for")  # fmt: skip
    p.add_argument("--jobs", type=int, default=0, help="decoding processes (0: all CPUs)")
    p.add_argument("--holdout-fraction", type=float, default=0.1, help="as harness run's")
    p.add_argument("--holdout-seed", type=int, default=0, help="as harness run's")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="the study's JSON file")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    chosen = [s.strip() for s in args.candidates.split(",") if s.strip()]
    unknown = [n for n in chosen if n not in DEFAULT_CANDIDATES]
    if unknown:
        raise SystemExit(
            f"--candidates: unknown {unknown}; built-ins: {', '.join(DEFAULT_CANDIDATES)}"
        )
    try:
        candidates = [DEFAULT_CANDIDATES[n] for n in chosen]
        candidates += [parse_candidate(s) for s in args.candidate]
    except ValueError as exc:
        raise SystemExit(str(exc)) from None
    if not candidates:
        raise SystemExit("no candidates: give --candidates and/or --candidate")
    settings = StudySettings(
        budget_seconds=args.budget_minutes * 60,
        curve_points=args.curve_points,
        threads=args.threads,
        seed=args.seed,
        calibration_seconds=args.calibration_seconds,
        target_minutes=args.target_minutes,
    )
    machine = _machine()
    n = len(candidates)
    print(f"study: {n} candidate(s) x {args.budget_minutes:g} min of training "
          f"(+ calibration and monitor evaluations) on {machine['device']}, "
          f"load {machine['load_average_1min']:.2f}, OMP_WAIT_POLICY="
          f"{os.environ.get('OMP_WAIT_POLICY', 'unset')}")  # fmt: skip
    t0 = time.perf_counter()
    data = load_pilot_data(
        args.data,
        args.cache,
        subset=args.subset,
        classes=args.classes or None,
        fit_per_class=args.fit_per_class,
        monitor_per_class=args.monitor_per_class,
        seed=args.seed,
        holdout_fraction=args.holdout_fraction,
        holdout_seed=args.holdout_seed,
        n_jobs=args.jobs,
    )
    pilot = data.describe["pilot"]
    print(f"data: {data.describe['subset']} (manifest {data.describe['manifest_hash'][:16]}), "
          f"pilot {pilot['classes']} classes, {pilot['n_fit']} fit / {pilot['n_monitor']} "
          f"monitor images (a full run: {data.n_fit_full} / {data.n_monitor_full}); val not read")  # fmt: skip
    study = run_study(candidates, data, settings)
    study["machine"] = machine
    study["command"] = " ".join(
        ["python -m studies.cpu_recipe", *(argv if argv is not None else sys.argv[1:])]
    )
    study["study_seconds"] = round(time.perf_counter() - t0, 1)
    print(f"\n{'candidate':<28} {'top-5 %':>8} {'+-':>5} {'top-1 %':>8} {'steps':>6} "
          f"{'train s':>8} {'img/s':>6} {'pts/CPU-min':>11}")  # fmt: skip
    for r in study["candidates"]:
        print(f"{r['candidate']['name']:<28} {r['monitor_top5_err']:>8.2f} "
              f"{r['monitor_top5_stderr']:>5.1f} {r['monitor_top1_err']:>8.2f} {r['steps']:>6} "
              f"{r['train_seconds']:>8.0f} {r['train_images_per_s']:>6.0f} "
              f"{r['top5_points_over_chance_per_cpu_minute']:>11.2f}")  # fmt: skip
    rec = study["recommended_profile"]
    print(f"chosen: {study['chosen']} (monitor top-5 {study['chosen_monitor_top5_err']:.2f}%"
          + ("" if study["margin_to_runner_up_points"] is None else
             f", {study['margin_to_runner_up_points']:.2f} points ahead of the next"
             + (" (within noise)" if study["margin_within_noise"] else "")) + ")")  # fmt: skip
    print(f"recommended profile for {rec['target_minutes']:g} min: width {rec['width']:g}, "
          f"batch {rec['batch_size']}, lr {rec['lr']:g}, {rec['lr_schedule']} schedule, "
          f"{rec['warmup_epochs']} warm-up epoch(s), {rec['epochs']} epochs "
          f"(~{rec['estimated_minutes']:g} min: {rec['basis']})")  # fmt: skip
    path = write_study(study, args.out)
    print(f"wrote {path} ({study['study_seconds']:.0f} s)")
    return study
