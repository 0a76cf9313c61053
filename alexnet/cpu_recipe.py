"""Choose AlexNet's CPU recipe on the monitor: short pilot runs, error per CPU-minute.

The ``cpu`` profile (:mod:`alexnet.recipe`) is what a CPU trains in about 45
minutes, so its hyper-parameters are a compute budget's, not the paper's.
This study chooses them the way the harness allows: on the *monitor* (the
harness's seeded, per-class held-out slice of the training split), never
on val, whose images are not read.

**Data.** The harness's own path: :func:`harness.runner.prepare_data` with a
:class:`~harness.config.RunConfig` for the subset (``tiny-imagenet`` by
default), so the manifest, the decoded cache and the holdout are those of
``harness run --suite tiny-imagenet`` with the same ``--cache``. The pilots
train on a subsample of the harness's *fit* rows (``--classes`` classes, a
seeded draw, ``--fit-per-class`` images each) and are scored on the
harness's monitor rows of those classes (``--monitor-per-class``). The
default, 25 classes x 300 images and their 50 monitor images each, is there
because this network is slow to leave chance: on all 100 classes the
committed profile's first epoch (~780 steps) ends at 89.6% top-5 error, and
pilots of 40-80 s on 100 classes measured here all ended at chance (95%),
where on 20 classes the same 40 s separated the candidates by 5-12 points
(standard error ~1.6). The recommended profile is sized for a full run on
every class (the harness's fit and monitor rows).

**Pilots.** Each :class:`Candidate` (schedule, peak lr, batch, width,
warm-up) trains from the same seed for the same wall-clock budget
(``--budget-minutes``, training only): the training rate of its network and
batch is measured first (a throwaway model, real batches, the real
augmentation, every network one after the other so that all see the same
load), which fixes its number of SGD steps, so that a schedule can end
where the budget does. Candidates that share a network and batch get the
same steps, so their comparison does not depend on the load; the seconds a
pilot actually took are recorded (and flagged when 25% off the budget). Everything else is the ``cpu`` profile's and the paper's:
small stem (56 crops of the 64px cache: the only crop its fc6 is sized
for), He init with standardised inputs, momentum 0.9, weight decay 5e-4 on
weights only, mean image, PCA colour noise, dropout; the lr of a candidate
built with :func:`candidate` follows the linear scaling rule from its value
at batch 128 (Goyal et al. 2017). Schedules (per SGD step):

* ``warmup-cosine``  linear from ``lr / warm-up steps`` to ``lr`` over the
  first ``warmup`` fraction of the steps, then cosine to 0 at the last step;
* ``cosine``         the same without the warm-up;
* ``constant``       ``lr`` throughout;
* ``plateau``        the paper's rule on the monitor's top-1 error: /10
  after ``plateau_patience`` evaluations in a row without a lower error, at
  most 3 times. A pilot evaluates ``--curve-points`` times, which stand in
  for its epochs; within a few minutes the error keeps falling, so the rule
  rarely fires: the point of comparing it, as a plateau schedule does not
  end low within a fixed epoch budget.

**Choice.** The monitor's centre-crop top-1/top-5 error (the harness's one
metric, :func:`baselines.cnn.evaluation.curve_errors`) is measured
``--curve-points`` times (equally spaced in steps; evaluation time is not
part of the budget). The chosen candidate is the one with the lowest final
monitor top-5 error at the equal budget, i.e. the lowest error per
CPU-minute; each candidate's top-5 points gained over chance per
CPU-minute (``train seconds x threads``) and the standard error of its
monitor estimate are recorded beside it, so a difference within noise is
visible as such; a choice whose error is not clearly below chance is
flagged (``chosen_left_chance``) and warned about. From the chosen
candidate's measured training and
evaluation rates the study derives the epochs that fit ``--target-minutes``
(default 45) on the full fit rows, with one monitor evaluation per epoch,
and writes a recommended profile.

**Output.** One JSON file (``--out``, default
``alexnet/cpu_recipe_study.json``, written atomically): the machine, load,
threads, data (manifest hash, holdout, pilot subsample), every candidate
with its settings, planned steps, seconds, rates and learning curve, the
selection rule, the choice and the recommended profile.

    python -m alexnet.cpu_recipe --data /path/to/tiny-imagenet-100     # ~14 min on 2 cores
    python -m alexnet.cpu_recipe --data D --candidates cosine-0.02,plateau-0.02 --budget-minutes 5
    python -m alexnet.cpu_recipe --data D --candidate 'schedule=warmup-cosine,lr128=0.03,width=0.75'

Run as a script it sets ``OMP_WAIT_POLICY=PASSIVE`` (unless already set)
before torch starts: with the default spinning policy, two threads on a
2-core machine that also runs other jobs train several times slower than
one (``benchmarks/cnn_cpu_throughput.py`` measures it).

Known limits: a pilot of a few minutes ranks recipes by how fast they
reduce the error early; the widths' ranking can change with a longer
budget (a wider network needs more steps), and a warm-up's length in a
pilot is a fraction of a few hundred steps, not of the full run's
thousands. Rates are measured under whatever else the machine runs (the
load average is recorded), so the derived epochs err on the short side
when the study ran beside other jobs.
"""

from __future__ import annotations

import os
import sys

if __name__ == "__main__":  # before torch starts its OpenMP runtime (see the module docstring)
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import dataclasses
import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from alexnet.augment import AlexNetAugment, colour_statistics
from alexnet.model import STEMS, build_alexnet, count_parameters
from alexnet.recipe import PAPER, PROFILES
from baselines.cnn.batches import BatchStream, shuffled_order
from baselines.cnn.config import TrainConfig
from baselines.cnn.evaluation import curve_errors, predict_proba
from baselines.cnn.optim import parameter_groups, sgd_optimizer
from baselines.cnn.reproducibility import SeedStream, derive_seed
from harness.api import Split

__all__ = [
    "DEFAULT_CANDIDATES",
    "SCHEDULES",
    "Candidate",
    "PilotData",
    "PilotSchedule",
    "StudySettings",
    "candidate",
    "load_pilot_data",
    "main",
    "parse_candidate",
    "recommend_profile",
    "run_pilot",
    "run_study",
]

SCHEDULES = ("warmup-cosine", "cosine", "constant", "plateau")
DEFAULT_OUT = Path(__file__).resolve().parent / "cpu_recipe_study.json"
REFERENCE_BATCH = 128  # the batch at which a candidate's lr128 is given (the paper's batch)


# ----------------------------------------------------------------------------- candidates


@dataclass(frozen=True)
class Candidate:
    """One recipe to pilot; everything not here is the ``cpu`` profile's (module docstring)."""

    name: str
    schedule: str  # one of SCHEDULES
    lr: float  # peak learning rate at batch_size
    batch_size: int  # images per SGD step
    width: float  # layer-width multiplier (alexnet.model)
    warmup: float = 0.0  # "warmup-cosine": fraction of the pilot's steps warming up linearly
    plateau_patience: int = PAPER.plateau_patience  # "plateau": evaluations without improvement
    stem: str = "small"  # conv1 geometry; sets the crop (small: 56 of 64)
    init: str = "kaiming"  # alexnet.model.INITS

    def __post_init__(self) -> None:
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {SCHEDULES}, got {self.schedule!r}")
        if not self.lr > 0 or self.batch_size < 1 or not 0 < self.width <= 1:
            raise ValueError(f"{self.name}: need lr > 0, batch_size >= 1, 0 < width <= 1")
        if not 0 <= self.warmup < 1:
            raise ValueError(f"{self.name}: warmup is a fraction of the steps in [0, 1)")
        if self.schedule == "warmup-cosine" and self.warmup <= 0:
            raise ValueError(f"{self.name}: 'warmup-cosine' needs warmup > 0 (or use 'cosine')")

    @property
    def crop(self) -> int:
        return STEMS[self.stem].crop

    @property
    def lr128(self) -> float:
        """The lr this candidate's is at batch 128 under the linear scaling rule."""
        return self.lr * REFERENCE_BATCH / self.batch_size


def candidate(
    schedule: str,
    lr128: float,
    batch_size: int = REFERENCE_BATCH,
    width: float = 0.5,
    warmup: float = 0.1,
    name: str | None = None,
) -> Candidate:
    """A candidate whose lr is ``lr128`` scaled linearly to ``batch_size``."""
    warm = warmup if schedule == "warmup-cosine" else 0.0
    label = name or f"{schedule} lr128={lr128:g} batch={batch_size} width={width:g}" + (
        f" warmup={warm:g}" if warm else ""
    )
    return Candidate(
        name=label,
        schedule=schedule,
        lr=lr128 * batch_size / REFERENCE_BATCH,
        batch_size=batch_size,
        width=width,
        warmup=warm,
    )


_V1 = PROFILES["cpu"]
#: the default study: the committed profile, the plateau rule at a higher lr, warm-up + cosine
#: over lr 0.01-0.04 (batch 128) and at batch 64, the same without warm-up at the highest lr,
#: and width 0.75
DEFAULT_CANDIDATES: dict[str, Candidate] = {
    c.name: c
    for c in (
        Candidate(
            "profile-v1",
            "plateau",
            lr=_V1.lr,
            batch_size=_V1.batch_size,
            width=_V1.width,
            stem=_V1.stem,
            init=_V1.init,
        ),
        candidate("plateau", 0.02, name="plateau-0.02"),
        candidate("warmup-cosine", 0.01, name="cosine-0.01"),
        candidate("warmup-cosine", 0.02, name="cosine-0.02"),
        candidate("warmup-cosine", 0.02, batch_size=64, name="cosine-0.02-b64"),
        candidate("warmup-cosine", 0.04, name="cosine-0.04"),
        candidate("cosine", 0.04, name="cosine-0.04-no-warmup"),
        candidate("warmup-cosine", 0.02, width=0.75, name="cosine-0.02-w0.75"),
    )
}


def parse_candidate(spec: str) -> Candidate:
    """``"schedule=warmup-cosine,lr128=0.02,batch=128,width=0.75,warmup=0.1[,name=x]"``.

    ``lr=`` gives the lr at ``batch`` directly instead of ``lr128``.
    """
    fields: dict[str, str] = {}
    for part in spec.split(","):
        if not part.strip():
            continue
        if "=" not in part:
            raise ValueError(f"--candidate {spec!r}: {part!r} is not KEY=VALUE")
        key, value = (s.strip() for s in part.split("=", 1))
        fields[key] = value
    known = {"schedule", "lr128", "lr", "batch", "width", "warmup", "name", "patience"}
    unknown = sorted(set(fields) - known)
    if unknown:
        raise ValueError(f"--candidate {spec!r}: unknown keys {unknown}; known: {sorted(known)}")
    schedule = fields.get("schedule", "warmup-cosine")
    batch = int(fields.get("batch", REFERENCE_BATCH))
    width = float(fields.get("width", 0.5))
    if "lr" in fields and "lr128" in fields:
        raise ValueError(f"--candidate {spec!r}: give lr or lr128, not both")
    lr128 = float(fields["lr"]) * REFERENCE_BATCH / batch if "lr" in fields else None
    lr128 = float(fields.get("lr128", 0.02)) if lr128 is None else lr128
    c = candidate(
        schedule, lr128, batch, width, float(fields.get("warmup", 0.1)), fields.get("name")
    )
    if "patience" in fields:
        c = dataclasses.replace(c, plateau_patience=int(fields["patience"]))
    return c


# ----------------------------------------------------------------------------- schedule


class PilotSchedule:
    """The learning rate of a pilot, per SGD step; ``after_eval`` drives the plateau rule."""

    def __init__(self, c: Candidate, total_steps: int) -> None:
        self.c = c
        self.total = max(1, total_steps)
        self.warm = round(c.warmup * self.total) if c.schedule == "warmup-cosine" else 0
        self.scale = 1.0  # plateau: product of the drops so far
        self.best: float | None = None
        self.bad = 0
        self.drops: list[int] = []  # evaluations (1-based) after which the lr dropped

    def lr(self, step: int) -> float:
        """lr for 0-based ``step``."""
        c = self.c
        if c.schedule in ("constant", "plateau"):
            return c.lr * self.scale
        if step < self.warm:
            return c.lr * (step + 1) / self.warm
        span = max(1, self.total - self.warm)
        return c.lr * 0.5 * (1.0 + math.cos(math.pi * min(step - self.warm, span) / span))

    def after_eval(self, monitor_top1: float, n_eval: int) -> None:
        """The plateau rule (schedule.py's semantics): the patience-th bad evaluation drops."""
        if self.c.schedule != "plateau":
            return
        if self.best is None or monitor_top1 < self.best:
            self.best, self.bad = monitor_top1, 0
            return
        self.bad += 1
        if self.bad >= self.c.plateau_patience and len(self.drops) < PAPER.max_lr_drops:
            self.scale *= PAPER.lr_drop_factor
            self.drops.append(n_eval)
            self.bad = 0


# ----------------------------------------------------------------------------- data


@dataclass(frozen=True)
class PilotData:
    """The harness's cache and holdout, subsampled for pilots; never the val split."""

    images: np.ndarray  # the training split's images (memory map), indexed by fit_rows
    labels: np.ndarray  # pilot labels for every training row (-1 outside the pilot classes)
    fit_rows: np.ndarray  # pilot rows to train on: a subsample of the harness's fit rows
    monitor: Split  # pilot monitor: a subsample of the harness's monitor, labels remapped
    n_classes: int
    n_fit_full: int  # the harness's fit rows, every class (what a full run trains on)
    n_monitor_full: int  # the harness's monitor rows, every class (evaluated every epoch)
    describe: dict[str, Any]


def _per_class(rows: np.ndarray, labels: np.ndarray, keep: np.ndarray, k: int | None, seed: int):
    """Up to ``k`` rows per class in ``keep`` (all when ``k`` is None), seeded, sorted."""
    out = []
    for c in keep:
        mine = rows[labels[rows] == c]
        if k is not None and len(mine) > k:
            mine = np.sort(np.random.default_rng([seed, int(c)]).choice(mine, k, replace=False))
        out.append(mine)
    return np.sort(np.concatenate(out)) if out else np.zeros(0, dtype=np.int64)


def load_pilot_data(
    data: str | Path,
    cache: str | Path,
    *,
    subset: str = "tiny-imagenet",
    classes: int | None = 25,
    fit_per_class: int | None = 300,
    monitor_per_class: int | None = 50,
    seed: int = 0,
    holdout_fraction: float = 0.1,
    holdout_seed: int = 0,
    n_jobs: int = 0,
    quiet: bool = True,
) -> PilotData:
    """Manifest, cache and holdout as ``harness run`` makes them, subsampled for the pilots.

    ``classes`` draws that many classes (seeded by ``seed``; all when None);
    ``fit_per_class`` / ``monitor_per_class`` cap the images per class of the
    harness's fit rows / monitor rows (None: all). The manifest copy goes
    under ``cache/cpu-recipe/``, never into a results folder.
    """
    from harness.config import RunConfig
    from harness.runner import prepare_data

    cfg = RunConfig(
        suite="alexnet-cpu-recipe",
        subset=subset,
        data=str(data),
        cache=str(cache),
        holdout_fraction=holdout_fraction,
        holdout_seed=holdout_seed,
        n_jobs=n_jobs,
        quiet=quiet,
    )
    prepared = prepare_data(cfg, Path(cache) / "cpu-recipe")
    train, holdout, monitor = prepared.train, prepared.holdout, prepared.monitor
    if holdout is None or monitor is None or holdout.n_monitor == 0:
        raise ValueError("the pilot study needs the harness's monitor (holdout_fraction > 0)")
    n_all = train.n_classes
    keep = np.arange(n_all)
    if classes is not None and classes < n_all:
        keep = np.sort(np.random.default_rng(seed).choice(n_all, classes, replace=False))
    remap = np.full(n_all, -1, dtype=np.int64)
    remap[keep] = np.arange(len(keep))
    labels = remap[train.labels]
    fit_rows = _per_class(holdout.fit_rows, train.labels, keep, fit_per_class, seed)
    # monitor rows are positions in the harness's monitor split (holdout.monitor_rows order)
    mon_pos = np.arange(len(monitor))
    mon_keep = _per_class(mon_pos, monitor.labels, keep, monitor_per_class, seed)
    pilot_monitor = monitor.subset(mon_keep, name="monitor-pilot")
    pilot_monitor = dataclasses.replace(
        pilot_monitor,
        labels=remap[pilot_monitor.labels],
        wnids=tuple(train.wnids[i] for i in keep),
        class_names=tuple(train.class_names[i] for i in keep) if train.class_names else (),
    )
    describe = {
        "subset": prepared.subset.name,
        "subset_version": getattr(prepared.subset, "version", None),
        "data_root": str(prepared.data_root),
        "manifest_hash": prepared.manifest.hash,
        "image_size": train.size,
        "n_train": len(train),
        "holdout": holdout.describe(),
        "val": "not read: the choice is made on the monitor only",
        "pilot": {
            "classes": len(keep),
            "class_seed": seed if len(keep) < n_all else None,
            "fit_per_class": fit_per_class,
            "monitor_per_class": monitor_per_class,
            "n_fit": len(fit_rows),
            "n_monitor": len(mon_keep),
            "chance_top5_err": 100.0 * max(0.0, 1.0 - 5 / len(keep)),
        },
        "full_run": {"n_fit": len(holdout.fit_rows), "n_monitor": len(monitor)},
    }
    return PilotData(
        images=train.images,
        labels=labels,
        fit_rows=fit_rows,
        monitor=pilot_monitor,
        n_classes=len(keep),
        n_fit_full=len(holdout.fit_rows),
        n_monitor_full=len(monitor),
        describe=describe,
    )


# ----------------------------------------------------------------------------- pilots


@dataclass(frozen=True)
class StudySettings:
    """What every pilot shares (units in comments)."""

    budget_seconds: float = 90.0  # training wall time per candidate (evaluation excluded)
    curve_points: int = 4  # monitor evaluations per pilot, equally spaced in steps
    threads: int = 0  # torch intra-op threads (0: every CPU this process may use)
    seed: int = 0  # initial weights, shuffles, augmentation, dropout
    calibration_seconds: float = 3.0  # timed training per network/batch before the pilots
    eval_batch_size: int = 256  # monitor images per forward pass
    target_minutes: float = 45.0  # the full run the recommended profile is sized for


def _cpu_threads(threads: int) -> int:
    if threads > 0:
        return threads
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _build(c: Candidate, n_classes: int) -> tuple[torch.nn.Module, torch.optim.Optimizer]:
    model = build_alexnet(n_classes, c.stem, "fast", width=c.width, init=c.init)
    cfg = TrainConfig(
        epochs=1,
        batch_size=c.batch_size,
        lr=c.lr,
        momentum=PAPER.momentum,
        weight_decay=PAPER.weight_decay,
    )
    return model, sgd_optimizer(parameter_groups(model, cfg), cfg)


def _sgd_step(
    model: torch.nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor
) -> torch.Tensor:
    """baselines.cnn.loop.train_step on a CPU (fp32, no scaler, no clipping)."""
    loss = F.cross_entropy(model(x), y)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return loss.detach()


def _batches(data: PilotData, batch: int, epoch: int, seed: int, max_steps: int) -> BatchStream:
    """Up to ``max_steps`` full batches of one epoch, shuffled as the trainer shuffles.

    The stream is cut to the batches that will be used, so it is always read
    to its end: a BatchStream left early waits for its reader thread.
    """
    perm = shuffled_order(len(data.fit_rows), derive_seed(seed, SeedStream.SHUFFLE, epoch=epoch))
    n = min(len(perm) // batch, max(0, max_steps)) * batch
    return BatchStream(data.images, data.labels, data.fit_rows[perm[:n]], batch, "cpu")


def _check_batches(c: Candidate, data: PilotData) -> None:
    if len(data.fit_rows) < c.batch_size:
        raise ValueError(
            f"{c.name}: {len(data.fit_rows)} pilot images are less than one batch of "
            f"{c.batch_size}; raise --fit-per-class"
        )


def measure_rate(
    c: Candidate, data: PilotData, augment: AlexNetAugment, seconds: float, seed: int = 0
) -> float:
    """Training images/s of ``c``'s network and batch (throwaway model, real batches)."""
    _check_batches(c, data)
    torch.manual_seed(seed)
    model, opt = _build(c, data.n_classes)
    model.train()
    gen = torch.Generator().manual_seed(seed)
    warm, n, epoch, t0 = 2, 0, 0, time.perf_counter()
    while True:  # a few batches at a time, each stream read to its end
        for images, labels in _batches(data, c.batch_size, epoch, seed + 1, max_steps=4):
            _sgd_step(model, opt, augment.train(images, gen), labels)
            if warm:  # allocations and oneDNN kernel selection stay out of the timing
                warm -= 1
                t0 = time.perf_counter()
            else:
                n += len(labels)
        epoch += 1
        elapsed = time.perf_counter() - t0
        if n and elapsed >= seconds:
            return n / elapsed


def _monitor_errors(
    model: torch.nn.Module, data: PilotData, augment: AlexNetAugment, batch: int
) -> tuple[float, float, float]:
    """(top-1 %, top-5 %, seconds) on the pilot monitor, centre crop."""
    t0 = time.perf_counter()
    proba = predict_proba(model, data.monitor, augment.centre_crop, batch_size=batch)
    top1, top5 = curve_errors(proba, data.monitor.labels)
    return top1, top5, time.perf_counter() - t0


def run_pilot(
    c: Candidate,
    data: PilotData,
    augment: AlexNetAugment,
    total_steps: int,
    settings: StudySettings,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Train ``c`` for ``total_steps`` SGD steps; the learning curve on the pilot monitor."""
    seed = settings.seed
    torch.manual_seed(seed)  # the same initial weights for every candidate of a network
    model, opt = _build(c, data.n_classes)
    schedule = PilotSchedule(c, total_steps)
    _check_batches(c, data)
    points = max(1, settings.curve_points)
    evals = sorted({max(1, round(total_steps * (i + 1) / points)) for i in range(points)})
    curve: list[dict[str, Any]] = []
    step, epoch, train_s, eval_s = 0, 0, 0.0, 0.0
    loss_sum, seen = torch.zeros((), dtype=torch.float64), 0  # since the last evaluation
    load_before = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    while step < total_steps:
        gen = torch.Generator().manual_seed(derive_seed(seed, SeedStream.AUGMENT, epoch=epoch))
        torch.manual_seed(derive_seed(seed, SeedStream.DROPOUT, epoch=epoch))
        model.train()
        t0 = time.perf_counter()
        for images, labels in _batches(data, c.batch_size, epoch, seed, total_steps - step):
            lr = schedule.lr(step)
            for group in opt.param_groups:
                group["lr"] = lr
            loss = _sgd_step(model, opt, augment.train(images, gen), labels)
            loss_sum += loss.double() * len(labels)
            seen += len(labels)
            step += 1
            if len(curve) < len(evals) and step == evals[len(curve)]:
                train_s += time.perf_counter() - t0  # evaluation is outside the budget
                top1, top5, secs = _monitor_errors(model, data, augment, settings.eval_batch_size)
                eval_s += secs
                row = {
                    "step": step,
                    "images": step * c.batch_size,
                    "epoch": step * c.batch_size / len(data.fit_rows),
                    "train_seconds": round(train_s, 3),
                    "lr": lr,
                    "train_loss": float(loss_sum) / max(1, seen),
                    "monitor_top1_err": top1,
                    "monitor_top5_err": top5,
                }
                curve.append(row)
                schedule.after_eval(top1, len(curve))
                log(
                    f"  {c.name}: step {step}/{total_steps} ({row['epoch']:.2f} pilot epochs, "
                    f"{train_s:.0f} s): loss {row['train_loss']:.3f}, monitor top-1/top-5 "
                    f"{top1:.1f}/{top5:.1f}%, lr {lr:.3g}"
                )
                loss_sum.zero_()
                seen = 0
                model.train()
                t0 = time.perf_counter()
        train_s += time.perf_counter() - t0
        epoch += 1
    final = curve[-1]
    n_mon = len(data.monitor)
    p5 = final["monitor_top5_err"] / 100
    threads = torch.get_num_threads()
    chance5 = 100.0 * max(0.0, 1.0 - 5 / data.n_classes)
    cpu_minutes = train_s * threads / 60
    return {
        "candidate": {**dataclasses.asdict(c), "crop": c.crop, "lr128": c.lr128},
        "param_count": count_parameters(model),
        "planned_steps": total_steps,
        "steps": step,
        "images": step * c.batch_size,
        "pilot_epochs": step * c.batch_size / len(data.fit_rows),
        "warmup_steps": schedule.warm,
        "plateau_drops_after_eval": schedule.drops,
        "train_seconds": round(train_s, 3),
        "eval_seconds": round(eval_s, 3),
        "train_images_per_s": step * c.batch_size / max(train_s, 1e-9),
        "eval_images_per_s": len(curve) * n_mon / max(eval_s, 1e-9),
        "threads": threads,
        "cpu_minutes": cpu_minutes,
        "load_average_before": load_before,
        "monitor_top1_err": final["monitor_top1_err"],
        "monitor_top5_err": final["monitor_top5_err"],
        "monitor_top5_stderr": 100 * math.sqrt(p5 * (1 - p5) / max(1, n_mon)),
        "top5_points_over_chance_per_cpu_minute": (chance5 - final["monitor_top5_err"])
        / max(cpu_minutes, 1e-9),
        "final_train_loss": final["train_loss"],
        "curve": curve,
    }


def recommend_profile(
    result: dict[str, Any], data: PilotData, target_minutes: float
) -> dict[str, Any]:
    """The chosen candidate as a full-run profile: the epochs that fit ``target_minutes``.

    One epoch = the full fit rows at the pilot's training rate plus one monitor
    evaluation of the full monitor at the pilot's evaluation rate.
    """
    c = result["candidate"]
    epoch_s = data.n_fit_full / result["train_images_per_s"] + (
        data.n_monitor_full / result["eval_images_per_s"]
    )
    epochs = max(1, math.floor(target_minutes * 60 / epoch_s))
    warm = 0
    if c["schedule"] == "warmup-cosine":
        warm = max(1, round(c["warmup"] * epochs))
    return {
        "stem": c["stem"],
        "crop": c["crop"],
        "width": c["width"],
        "init": c["init"],
        "batch_size": c["batch_size"],
        "lr": c["lr"],
        "lr_schedule": {"warmup-cosine": "cosine", "cosine": "cosine"}.get(
            c["schedule"], c["schedule"]
        ),
        "warmup_epochs": warm,
        "epochs": epochs,
        "target_minutes": target_minutes,
        "estimated_epoch_seconds": round(epoch_s, 1),
        "estimated_minutes": round(epochs * epoch_s / 60, 1),
        "basis": (
            f"{data.n_fit_full} fit + {data.n_monitor_full} monitor images per epoch at the "
            f"pilot's {result['train_images_per_s']:.0f} training / "
            f"{result['eval_images_per_s']:.0f} evaluation images/s on "
            f"{result['threads']} thread(s)"
        ),
    }


def run_study(
    candidates: Sequence[Candidate],
    data: PilotData,
    settings: StudySettings,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Calibrate, pilot every candidate for the same budget, choose on the monitor."""
    if not candidates:
        raise ValueError("the study needs at least one candidate")
    names = [c.name for c in candidates]
    if len(set(names)) != len(names):
        raise ValueError(f"candidate names must be unique, got {names}")
    threads = _cpu_threads(settings.threads)
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        stats = colour_statistics(data.images, rows=data.fit_rows)
        augments: dict[str, AlexNetAugment] = {}
        for stem in {c.stem for c in candidates}:
            spec = STEMS[stem]
            augments[stem] = AlexNetAugment(
                stats, crop=spec.crop, base=spec.base, standardise=True, device="cpu"
            )
        rates: dict[tuple[Any, ...], float] = {}
        for c in candidates:  # one after another, so every network sees the same load
            key = (c.stem, c.width, c.batch_size, c.init)
            if key not in rates:
                rates[key] = measure_rate(
                    c, data, augments[c.stem], settings.calibration_seconds, settings.seed
                )
                log(
                    f"calibration: width {c.width:g}, batch {c.batch_size}: "
                    f"{rates[key]:.1f} training images/s on {threads} thread(s)"
                )
        results = []
        for i, c in enumerate(candidates):
            rate = rates[(c.stem, c.width, c.batch_size, c.init)]
            steps = max(1, int(settings.budget_seconds * rate / c.batch_size))
            log(
                f"[{i + 1}/{len(candidates)}] {c.name}: {steps} steps of {c.batch_size} "
                f"(~{settings.budget_seconds:.0f} s at {rate:.0f} images/s)"
            )
            res = run_pilot(c, data, augments[c.stem], steps, settings, log)
            res["calibrated_images_per_s"] = rate
            if abs(res["train_seconds"] - settings.budget_seconds) > 0.25 * settings.budget_seconds:
                res["budget_note"] = (
                    f"trained {res['train_seconds']:.0f} s for a {settings.budget_seconds:.0f} s "
                    "budget: the machine's load changed since the calibration"
                )
                log(f"  note: {res['budget_note']}")
            results.append(res)
    finally:
        torch.set_num_threads(before)
    best = min(results, key=lambda r: (r["monitor_top5_err"], r["train_seconds"]))
    chosen = best["candidate"]["name"]
    ranked = sorted(results, key=lambda r: r["monitor_top5_err"])
    runner_up = ranked[1] if len(ranked) > 1 else None
    margin = None if runner_up is None else runner_up["monitor_top5_err"] - best["monitor_top5_err"]
    noise = best["monitor_top5_stderr"] * math.sqrt(2)
    chance = data.describe["pilot"]["chance_top5_err"]
    left_chance = best["monitor_top5_err"] < chance - 2 * best["monitor_top5_stderr"]
    if not left_chance:
        log(
            f"warning: no candidate's monitor top-5 error ({best['monitor_top5_err']:.1f}%) is "
            f"clearly below chance ({chance:.1f}%): the choice means nothing; raise "
            "--budget-minutes or lower --classes"
        )
    return {
        "study": "alexnet cpu recipe: pilot runs chosen on the monitor",
        "selection_rule": (
            "lowest final monitor top-5 error (centre crop) after the same training budget per "
            "candidate = lowest error per CPU-minute; ties by fewer training seconds"
        ),
        "budget_seconds_per_candidate": settings.budget_seconds,
        "settings": dataclasses.asdict(settings),
        "threads": threads,
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
        "fixed": {
            "stem": "small (56px crops of the 64px cache)",
            "init": "kaiming + standardised inputs",
            "momentum": PAPER.momentum,
            "weight_decay": PAPER.weight_decay,
            "mean": "pixel (mean image)",
            "pca_std": PAPER.pca_alpha_std,
            "dropout": PAPER.dropout,
            "lr_scaling": f"linear from lr128 (the lr at batch {REFERENCE_BATCH})",
        },
        "data": data.describe,
        "candidates": results,
        "chosen": chosen,
        "chosen_monitor_top5_err": best["monitor_top5_err"],
        "margin_to_runner_up_points": margin,
        "margin_within_noise": None if margin is None else bool(margin < 2 * noise),
        "chosen_left_chance": bool(left_chance),
        "recommended_profile": recommend_profile(best, data, settings.target_minutes),
    }


# ----------------------------------------------------------------------------- CLI


def _machine() -> dict[str, Any]:
    from harness.runner import device_name, git_commit, package_versions

    return {
        "device": device_name("cpu"),
        "cpus": _cpu_threads(0),
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
        prog="python -m alexnet.cpu_recipe",
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
        ["python -m alexnet.cpu_recipe", *(argv if argv is not None else sys.argv[1:])]
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


if __name__ == "__main__":
    main()
