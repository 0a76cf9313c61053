"""The cost of ``--deterministic``: CNN training images/s with and without it, one run.

Trains the CNNs of a suite (default: the built-in ``demo`` suite's ``lenet5``
and ``alexnet`` settings) through ``harness run`` twice per repeat, once plain
and once with ``--deterministic``, each in its own process (deterministic mode
is process-global in torch) and into its own results and cache folders, so
neither run reuses the other's checkpoints. The demo data is generated once and
shared. Prints training images/s (the trainer's own figure: epochs x images
over training seconds, checkpoint writes included) for both modes and their
ratio, per method.

    python benchmarks/deterministic_cost.py                       # CPU, demo suite
    python benchmarks/deterministic_cost.py --device cuda --repeat 3
    python benchmarks/deterministic_cost.py --suite tiny-imagenet --data /path/to/tiny-imagenet-100 \
        --methods lenet5 --param lenet5.epochs=1

Figures depend on the machine and its other load; alternate repeats are
interleaved (plain, deterministic, plain, ...) so drift hits both modes.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--suite", default="demo", help="suite whose CNN settings are used")
    p.add_argument("--data", default=None, help="dataset root (default: the suite's)")
    p.add_argument("--methods", default="lenet5,alexnet", help="CNNs to time")
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    p.add_argument("--repeat", type=int, default=2, help="runs per mode")
    p.add_argument("--param", action="append", default=[], help="METHOD.PARAM=VALUE override")
    return p.parse_args(argv)


def train_rates(args: argparse.Namespace, work: Path, tag: str, deterministic: bool) -> dict:
    """One ``harness run`` in a fresh process; the methods' training images/s."""
    out = work / tag
    cmd = [sys.executable, "-m", "harness", "run", "--suite", args.suite]
    cmd += ["--methods", args.methods, "--device", args.device, "--quiet", "--no-report"]
    cmd += ["--results", str(out / "results"), "--cache", str(out / "cache")]
    if args.data:
        cmd += ["--data", args.data]
    else:  # the generated demo data, shared by every run of the benchmark
        cmd += ["--data", str(work / "demo-data")]
    for p in args.param:
        cmd += ["--param", p]
    if deterministic:
        cmd.append("--deterministic")
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=6 * 3600)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stdout}\n{proc.stderr}")
    rates = {}
    for path in (out / "results" / "runs").glob("*.json"):
        rec = json.loads(path.read_text())
        if rec.get("variant") is None:
            rates[rec["method"]] = (
                rec["notes"].get("train_images_per_s") or rec["train_images_per_s"]
            )
    return rates


def main(argv: list[str] | None = None) -> dict[str, dict[str, float]]:
    args = parse_args(argv)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs")
    print(
        f"suite {args.suite}, methods {args.methods}, device {args.device}, {args.repeat} repeats"
    )
    modes = {"plain": [], "deterministic": []}
    with tempfile.TemporaryDirectory(prefix="det-cost-") as tmp:
        work = Path(tmp)
        if not args.data and args.suite == "demo":
            from harness.data.synthetic import make_demo_dataset

            make_demo_dataset(work / "demo-data")
        for i in range(args.repeat):
            for mode in modes:
                modes[mode].append(train_rates(args, work, f"{mode}-{i}", mode == "deterministic"))
    summary: dict[str, dict[str, float]] = {}
    print(f"{'method':10s} {'plain img/s':>12s} {'determ. img/s':>14s} {'det/plain':>10s}")
    for method in args.methods.split(","):
        rates = {m: [r[method] for r in runs if r.get(method)] for m, runs in modes.items()}
        if not all(rates.values()):
            raise SystemExit(f"{method}: no training rate in its records (not a CNN, or failed?)")
        plain = statistics.median(rates["plain"])
        det = statistics.median(rates["deterministic"])
        summary[method] = {"plain": plain, "deterministic": det, "ratio": det / plain}
        print(f"{method:10s} {plain:12.1f} {det:14.1f} {det / plain:10.3f}")
    return summary


if __name__ == "__main__":
    main()
