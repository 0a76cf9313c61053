"""How far ``harness plan`` is from the run it plans: projected against measured, per method.

Runs ``harness plan --json`` with the given flags, then ``harness run`` of each
method alone (one after the other), and prints one row per method: the
projected and the measured seconds (training + val scoring, the run record's
``train_seconds + eval_seconds``; the image cache is built before either and
is not counted), their ratio, and the projected and measured peak memory
(resident, and anonymous: less the memory-mapped pages), with the CPU and the
load average before and after each run.

The runs get a fresh ``--cache`` whose ``images/`` and ``fingerprints/`` are
links to those of the given ``--cache`` (the decoded images are shared, the
method's features and codebooks are not: every method computes them as a
first run would), and a fresh ``--results`` (kept with ``--keep DIR``: each
method's records under ``DIR/<method>/``).

    python benchmarks/plan_accuracy.py --out results/scale/plan-tiny.md -- \\
        --suite tiny-imagenet --data <tiny-imagenet-100> --cache <cache> --methods hog-svm,lenet5
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3]) if os.name == "posix" else "?"


def _flag(flags: list[str], name: str) -> str | None:
    return flags[flags.index(name) + 1] if name in flags[:-1] else None


def _without(flags: list[str], *names: str) -> list[str]:
    out, skip = [], False
    for f in flags:
        if skip:
            skip = False
        elif f in names:
            skip = True
        else:
            out.append(f)
    return out


def _harness(*args: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "harness", *args]
    return subprocess.run(cmd, capture_output=True, text=True, check=False)


def _on_record(folder: Path | None, run_id: str, cpu: str) -> dict | None:
    """The record of ``run_id`` in ``folder`` (or its ``runs/``), measured on ``cpu``; None
    when there is none."""
    if folder is None:
        return None
    for path in (folder / f"{run_id}.json", folder / "runs" / f"{run_id}.json"):
        if path.is_file():
            rec = json.loads(path.read_text())
            if rec.get("status", "ok") == "ok" and rec.get("device") == cpu:
                return rec
    return None


def _params_of(flags: list[str], method: str) -> list[str]:
    """``flags`` less the ``--param NAME.KEY=VALUE`` of other methods than ``method``
    (``harness run`` refuses a parameter of a method it does not run)."""
    out, i = [], 0
    while i < len(flags):
        if flags[i] == "--param" and i + 1 < len(flags):
            if flags[i + 1].split(".", 1)[0] == method:
                out += flags[i : i + 2]
            i += 2
        else:
            out.append(flags[i])
            i += 1
    return out


def _run(
    method: str, base: list[str], cache: Path, keep: Path | None
) -> tuple[dict | None, str, str]:
    """Run ``method`` alone on a fresh cache (the decoded images shared): its record and
    the load average before and after."""
    base = _params_of(base, method)
    with tempfile.TemporaryDirectory(prefix="plan-accuracy-") as tmp:
        fresh = Path(tmp) / "cache"
        fresh.mkdir()
        for shared in ("images", "fingerprints"):
            if (cache / shared).exists():
                (fresh / shared).symlink_to((cache / shared).resolve())
        results = Path(tmp) / "results"
        before = _load()
        run = _harness(
            "run", *base, "--methods", method, "--cache", str(fresh),
            "--results", str(results), "--no-report", "--quiet",
        )  # fmt: skip
        after = _load()
        if run.returncode != 0:
            sys.stderr.write(run.stderr)
            return None, before, after
        rec = next(
            json.loads(f.read_text())
            for f in (results / "runs").glob("*.json")
            if not f.name.endswith(".curve.json")
        )
        if keep is not None:
            shutil.copytree(results, keep / method, dirs_exist_ok=True)
    return rec, before, after


def _stages(method: str, proj: dict, rec: dict) -> list[str]:
    """One line: the plan's stages, and the record's where it notes them (the hand-crafted
    pipelines' ``<method>_stage_seconds`` and ``_refit_seconds``; the CNNs' epochs)."""
    planned = ", ".join(f"{k} {v:,.0f}" for k, v in proj["stages"].items())
    notes = rec.get("notes") or {}
    got = dict(notes.get(f"{rec['method']}_stage_seconds") or {})
    if f"{rec['method']}_refit_seconds" in notes:
        got["refit"] = notes[f"{rec['method']}_refit_seconds"]
    curve = rec.get("learning_curve") or []
    if curve and not got:
        train = sum(r["images_seen"] / r["images_per_s"] for r in curve[:1] if r["images_per_s"])
        got = {"epochs": len(curve), "first epoch's training": train}
    got["val scoring"] = rec.get("eval_seconds") or 0.0
    measured = ", ".join(f"{k} {float(v):,.0f}" for k, v in got.items())
    return [f"- {method}: projected {planned}; measured {measured}"]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, required=True, help="markdown table to write")
    p.add_argument("--keep", type=Path, help="copy each run's records to KEEP/<method>/")
    p.add_argument(
        "--records",
        type=Path,
        help="a results folder: a method whose run (the plan's run id, this CPU) is on "
        "record there is compared with that record, not run again",
    )
    p.add_argument("flags", nargs=argparse.REMAINDER, help="-- then harness run's flags")
    args = p.parse_args(argv)
    flags = [f for f in args.flags if f != "--"]
    methods = (_flag(flags, "--methods") or "").split(",")
    if not methods[0]:
        p.error("pass --methods a,b,... after --")
    cache = Path(_flag(flags, "--cache") or "cache")
    t0 = time.perf_counter()
    plan = _harness("plan", "--json", *flags)
    if plan.returncode != 0:
        sys.stderr.write(plan.stderr)
        return plan.returncode
    plan_s = time.perf_counter() - t0
    projected = {r["method"]: r for r in json.loads(plan.stdout)}
    from harness.environment import cpu_flags, device_name

    lines = [
        f"`harness plan` against `harness run`, {device_name('cpu')}{cpu_flags()}, "
        f"{time.strftime('%Y-%m-%d')}; plan took {plan_s:.0f} s.",
        "",
        f"    python benchmarks/plan_accuracy.py --out {args.out} -- {' '.join(flags)}",
        "",
        "| method | projected s | measured s | measured / projected | peak RSS MiB "
        "projected / measured | anonymous MiB projected / measured | dominant stage "
        "(projected) | load before -> after |",
        "| --- | ---: | ---: | ---: | ---: | ---: | --- | --- |",
    ]
    base = _without(flags, "--methods", "--cache", "--results")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    cpu = device_name("cpu")
    details = ["", "Stages, projected against the run record's (seconds):", ""]
    for method in methods:
        rec = _on_record(args.records, projected[method]["run_id"], cpu)
        if rec is not None:
            before = after = f"on record ({rec['date'][:10]})"
        else:
            rec, before, after = _run(method, base, cache, args.keep)
            if rec is None:
                return 1
        proj = projected[method]
        measured = float(rec["train_seconds"]) + float(rec["eval_seconds"] or 0.0)
        ratio = measured / proj["seconds"] if proj["seconds"] else float("nan")
        row = (
            f"| {method} | {proj['seconds']:,.0f} | {measured:,.0f} | {ratio:.2f} | "
            f"{proj['peak_rss_mib']:,.0f} / {rec.get('peak_rss_mib') or 0:,.0f} | "
            f"{proj.get('peak_anon_mib') or 0:,.0f} / {rec.get('peak_anon_mib') or 0:,.0f} | "
            f"{proj['dominant_stage']} | {before} -> {after} |"
        )
        lines.append(row)
        print(row, flush=True)
        details += _stages(method, proj, rec)
        args.out.write_text("\n".join(lines + details) + "\n")
    print("\n".join(lines + details))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
