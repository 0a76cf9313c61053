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


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, required=True, help="markdown table to write")
    p.add_argument("--keep", type=Path, help="copy each run's records to KEEP/<method>/")
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
    for method in methods:
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
                return run.returncode
            rec = next(
                json.loads(f.read_text())
                for f in (results / "runs").glob("*.json")
                if not f.name.endswith(".curve.json")
            )
            if args.keep is not None:
                shutil.copytree(results, args.keep / method, dirs_exist_ok=True)
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
        args.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
