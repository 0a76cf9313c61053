"""Choose each later network's CPU learning rate and epochs on the monitor, never on val.

The ``cpu`` profile of :mod:`decade.recipes` is a compute budget's recipe, not
a paper's, so its two budget-bound settings are chosen here the way the
harness allows:

* **learning rate** by pilots: for each network, every candidate lr trains
  from the same seed for the same number of SGD steps (one cosine cycle over
  a seeded sample of the harness's *fit* rows of ``--classes`` classes), and
  is scored on the harness's *monitor* rows of those classes (top-5, centre
  crop). The lowest monitor top-5 error wins; ties (within one standard
  error) go to the candidate nearer the profile's default. The step count
  of a network's pilots comes from its training rate, measured first on
  real batches (every network one after the other), so that each pilot
  takes about ``--pilot-seconds`` of training.
* **epochs** from the budget: ``--budget-minutes`` of training on the full
  fit rows (45,000 on Tiny ImageNet-100) at the network's rate measured
  in its pilots, rounded down, at least 1; the same budget for every network.

The data are the harness's own (:func:`studies.cpu_recipe.data.load_pilot_data`:
its manifest, cache and holdout); the val split is never read. The output
(``--out``, JSON) holds the machine, load, every pilot's lr, steps, seconds
and monitor errors, the choice and the ``--param`` flags of the full run::

    python -m studies.decade_recipe --data /path/to/tiny-imagenet-100 --cache .harness
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["CANDIDATES", "main"]

#: lr candidates per network (the cpu profile's default first): without batch norm around
#: AlexNet's measured CPU rate (0.003), the ResNets around the paper's 0.1
CANDIDATES: dict[str, tuple[float, ...]] = {
    "zfnet": (0.003, 0.001, 0.01),
    "vgg11": (0.003, 0.001, 0.01),
    "googlenet": (0.003, 0.001, 0.01),
    "resnet18": (0.05, 0.02, 0.1),
}


def _pilot_split(pilot: Any, rows: np.ndarray, name: str) -> Any:
    from harness.api import Split

    wnids = pilot.monitor.wnids
    return Split(name, np.asarray(pilot.images[rows]), pilot.labels[rows], wnids)


def _train_rate(name: str, n_classes: int, batch: int = 64, steps: int = 6) -> float:
    """Training images/s of ``name``'s cpu profile on random batches of its crop."""
    import torch

    from harness.registry import BASELINES

    method = BASELINES.get(name)(profile="cpu")
    method.resolve_profile("cpu")
    r = method.recipe()
    net = method.build(n_classes, r).train()
    opt = torch.optim.SGD(net.parameters(), lr=1e-3, momentum=0.9)
    crop = 56 if r.stem == "small" else 224
    x, y = torch.randn(batch, 3, crop, crop), torch.randint(0, n_classes, (batch,))
    loss_fn = type(method).loss_fn
    for i in range(steps):
        if i == 2:
            start = time.perf_counter()
        loss = loss_fn(net(x), y, 0.0)[0]
        opt.zero_grad()
        loss.backward()
        opt.step()
    return batch * (steps - 2) / (time.perf_counter() - start)


def run_pilot(name: str, lr: float, fit: Any, monitor: Any, work: Path, seed: int) -> dict:
    """Train ``name`` at ``lr`` for one cosine epoch over ``fit``; its monitor errors."""
    from harness.api import RunContext, fit_method, handover
    from harness.protocol import topk_error
    from harness.registry import BASELINES

    ctx = RunContext(
        work_dir=work / f"{name}-{lr:g}", quiet=True, seed=seed, n_jobs=os.cpu_count() or 1
    )
    method = BASELINES.get(name)(profile="cpu", lr=lr, epochs=1)
    start = time.perf_counter()
    fit_method(method, handover(fit, monitor=monitor), fit, ctx)
    seconds = time.perf_counter() - start
    scores = method.decision_function(monitor, ctx)
    top5 = topk_error(scores, monitor.labels, 5)
    n = len(monitor)
    return {
        "lr": lr,
        "steps": math.ceil(len(fit) / method.recipe().batch_size),
        "fit_seconds": round(seconds, 1),
        "images_per_s": round(len(fit) / seconds, 1),
        "monitor_top1_err": round(topk_error(scores, monitor.labels, 1), 2),
        "monitor_top5_err": round(top5, 2),
        "monitor_top5_se": round(100 * math.sqrt(max(top5 / 100 * (1 - top5 / 100), 1e-9) / n), 2),
    }


def epoch_seconds(name: str, lr: float, fit: Any, monitor: Any, work: Path, steps: int) -> dict:
    """One full-size epoch's seconds: the training rate on the run's fit rows, plus its monitor.

    Two fits of ``steps // 4`` and ``steps`` steps, each ending with a monitor
    pass; the difference of the trainer's own training clocks is the steady
    rate (free of the first steps' warm-up, as ``harness plan`` does), and the
    monitor pass is the epoch's seconds less its training.
    """
    import shutil

    from harness.api import RunContext, fit_method, handover
    from harness.registry import BASELINES

    rows = []
    for k in (max(1, steps // 4), steps):
        shutil.rmtree(work / f"{name}-rate-{k}", ignore_errors=True)  # never resume a timing
        ctx = RunContext(work_dir=work / f"{name}-rate-{k}", quiet=True, n_jobs=os.cpu_count() or 1)
        method = BASELINES.get(name)(profile="cpu", lr=lr, epochs=1, max_steps=k)
        fit_method(method, handover(fit, monitor=monitor), fit, ctx)
        row = ctx.epoch_log[0]
        train_s = float(row["images_seen"]) / float(row["images_per_s"])
        rows.append((float(row["images_seen"]), train_s, float(row["seconds"]) - train_s))
    (n1, t1, _), (n2, t2, monitor_s) = rows
    rate = (n2 - n1) / max(t2 - t1, 1e-9)
    return {
        "train_images_per_s": round(rate, 1),
        "monitor_pass_seconds": round(max(0.0, monitor_s), 1),
        "epoch_seconds": round(len(fit) / rate + max(0.0, monitor_s), 1),
    }


def choose(pilots: list[dict]) -> dict:
    """The lowest monitor top-5; within one standard error of it, the earliest candidate."""
    best = min(p["monitor_top5_err"] for p in pilots)
    for p in pilots:  # candidates in order: the profile's default first
        if p["monitor_top5_err"] <= best + p["monitor_top5_se"]:
            return p
    raise AssertionError("unreachable")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m studies.decade_recipe",
        description="Choose the later networks' CPU lr and epochs on the monitor (never val).",
    )
    p.add_argument("--data", required=True, help="dataset root (tiny-imagenet-100)")
    p.add_argument("--cache", default=".harness", help="harness cache folder (as harness run)")
    p.add_argument("--methods", default=",".join(CANDIDATES), help="networks, comma-separated")
    p.add_argument("--classes", type=int, default=25, help="pilot classes (seeded draw)")
    p.add_argument("--pilot-seconds", type=float, default=75.0, help="training per pilot")
    p.add_argument("--budget-minutes", type=float, default=25.0, help="full run's training")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="results/decade_recipe/study.json")
    p.add_argument(
        "--epochs-only",
        action="store_true",
        help="keep the lr chosen in --out; measure each network's full-size epoch "
        "(--rate-steps steps on all fit rows + the monitor pass) and fit epochs to the budget",
    )
    p.add_argument("--rate-steps", type=int, default=60, help="steps timed by --epochs-only")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    import torch

    from harness.experiment import device_name, git_commit, package_versions
    from studies.cpu_recipe.data import load_pilot_data

    args = parse_args(argv)
    names = [n.strip() for n in args.methods.split(",") if n.strip()]
    unknown = [n for n in names if n not in CANDIDATES]
    if unknown:
        print(f"error: no candidates for {', '.join(unknown)}; known: {', '.join(CANDIDATES)}")
        return 2
    if args.epochs_only:
        return _epochs_only(args, names)
    pilot = load_pilot_data(args.data, args.cache, classes=args.classes, seed=args.seed)
    rng = np.random.default_rng(args.seed)
    order = rng.permutation(pilot.fit_rows)
    rates = {n: _train_rate(n, pilot.n_classes) for n in names}
    study: dict[str, Any] = {
        "study": "decade cpu recipe: lr by equal-step pilots on the monitor, epochs by budget",
        "machine": {
            "device": device_name("cpu"),
            "threads": torch.get_num_threads(),
            "load_average_1min_at_start": os.getloadavg()[0],
            "versions": package_versions(),
            "git_commit": git_commit(),
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
        },
        "data": pilot.describe,
        "selection_rule": "lowest monitor top-5 error after the same SGD steps per candidate; "
        "within one standard error of the lowest, the earlier candidate (the profile's first)",
        "budget_minutes": args.budget_minutes,
        "pilot_seconds": args.pilot_seconds,
        "measured_rates_images_per_s": {n: round(r, 1) for n, r in rates.items()},
        "networks": {},
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    for name in names:
        n_fit = int(min(len(order), max(256, rates[name] * args.pilot_seconds)))
        fit = _pilot_split(pilot, np.sort(order[:n_fit]), "fit-pilot")
        pilots = []
        for lr in CANDIDATES[name]:
            work = Path(args.cache) / "decade-recipe"
            pilots.append(run_pilot(name, lr, fit, pilot.monitor, work, args.seed))
            print(name, json.dumps(pilots[-1]), flush=True)
        chosen = choose(pilots)
        rate = float(np.median([p["images_per_s"] for p in pilots]))
        epochs = max(1, int(args.budget_minutes * 60 * rate // pilot.n_fit_full))
        study["networks"][name] = {
            "pilot_fit_rows": n_fit,
            "pilots": pilots,
            "chosen_lr": chosen["lr"],
            "pilot_rate_images_per_s": round(rate, 1),
            "epochs_in_budget": epochs,
            "params": [f"{name}.lr={chosen['lr']:g}", f"{name}.epochs={epochs}"],
        }
        out.write_text(json.dumps(study, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


def _epochs_only(args: argparse.Namespace, names: list[str]) -> int:
    """Re-derive each network's epochs from a full-size epoch's measured seconds."""
    from studies.cpu_recipe.data import load_pilot_data

    out = Path(args.out)
    study = json.loads(out.read_text())
    full = load_pilot_data(
        args.data, args.cache, classes=None, fit_per_class=None, monitor_per_class=None
    )
    fit = _pilot_split(full, full.fit_rows, "fit")
    study["epochs_rule"] = (
        f"epochs = floor(budget / one epoch), one epoch = the fit rows at the steady training "
        f"rate (fits of {args.rate_steps // 4} and {args.rate_steps} steps on them, their "
        "difference) + one monitor pass; at least 1"
    )
    study["epochs_measured_load_average_1min"] = os.getloadavg()[0]
    for name in names:
        net = study["networks"][name]
        work = Path(args.cache) / "decade-recipe"
        rate = epoch_seconds(name, net["chosen_lr"], fit, full.monitor, work, args.rate_steps)
        epochs = max(1, int(args.budget_minutes * 60 // rate["epoch_seconds"]))
        net.update(full_epoch=rate, epochs_in_budget=epochs)
        net["params"] = [f"{name}.lr={net['chosen_lr']:g}", f"{name}.epochs={epochs}"]
        print(name, json.dumps(rate), "epochs", epochs, flush=True)
    study["budget_minutes"] = args.budget_minutes
    out.write_text(json.dumps(study, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    sys.exit(main())
