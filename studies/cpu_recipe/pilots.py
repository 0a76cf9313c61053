"""The pilots: calibrate each network's rate, train every candidate for the same budget, choose.

A pilot is trained by the shared CNN loop (:mod:`baselines.cnn.loop`): its
steps are split into ``curve_points`` equal segments, each one "epoch" of
:func:`~baselines.cnn.loop.train_epoch` over the next rows of the seeded,
shuffled fit rows, followed by :func:`~baselines.cnn.loop.evaluate` on the
pilot monitor (outside the budget) and the schedule's ``after_epoch``.
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from alexnet.augment import AlexNetAugment, colour_statistics
from alexnet.model import STEMS, build_alexnet, count_parameters
from alexnet.recipe import PAPER
from baselines.cnn.batches import shuffled_order
from baselines.cnn.device import speed_switches
from baselines.cnn.loop import TrainingState, evaluate, train_epoch
from baselines.cnn.optim import parameter_groups, sgd_optimizer
from baselines.cnn.reproducibility import SeedStream, derive_seed
from baselines.cnn.schedule import LrSchedule
from harness.api import Split
from studies.cpu_recipe.candidates import REFERENCE_BATCH, Candidate, pilot_config
from studies.cpu_recipe.data import PilotData

__all__ = [
    "StudySettings",
    "cpu_threads",
    "measure_rate",
    "recommend_profile",
    "run_pilot",
    "run_study",
]


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


def cpu_threads(threads: int) -> int:
    if threads > 0:
        return threads
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


class _NoBar:
    def update(self, n: int = 1) -> None: ...

    def set_postfix(self, **kwargs: Any) -> None: ...


def _state(c: Candidate, data: PilotData, segments: int, steps: int, eval_batch: int):
    """The loop's state for ``c``: a fresh network (seeded by the caller), SGD, the schedule."""
    cfg = pilot_config(c, segments, eval_batch)
    model = build_alexnet(data.n_classes, c.stem, "fast", width=c.width, init=c.init)
    optimizer = sgd_optimizer(parameter_groups(model, cfg), cfg)
    return TrainingState(
        config=cfg,
        device=torch.device("cpu"),
        model=model,
        train_model=model,
        step_model=model,
        optimizer=optimizer,
        schedule=LrSchedule(optimizer, cfg, steps),
        scaler=None,
        switches=speed_switches("cpu", amp=cfg.amp, channels_last=cfg.channels_last, compile=False),
        rank=0,
        world=1,
        rows_per_rank=steps * c.batch_size,
        epoch_images=steps * c.batch_size,
        steps_per_epoch=steps,
        on_compile_failure=lambda exc: None,
    )


def _row_chunks(data: PilotData, size: int, seed: int) -> Iterator[np.ndarray]:
    """Consecutive ``size`` rows of the fit rows, reshuffled (as the trainer shuffles) when used up."""
    epoch, buffer = 0, np.zeros(0, dtype=np.int64)
    while True:
        while len(buffer) < size:
            order = shuffled_order(
                len(data.fit_rows), derive_seed(seed, SeedStream.SHUFFLE, epoch=epoch)
            )
            buffer = np.concatenate([buffer, data.fit_rows[order]])
            epoch += 1
        yield buffer[:size]
        buffer = buffer[size:]


def _train_split(data: PilotData) -> Split:
    return Split("train-pilot", data.images, data.labels, data.monitor.wnids)


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
    state = _state(c, data, segments=1, steps=4, eval_batch=256)
    train, chunks = _train_split(data), _row_chunks(data, 4 * c.batch_size, seed + 1)
    gen = torch.Generator().manual_seed(seed)
    # two batches first: allocations and oneDNN kernel selection stay out of the timing
    train_epoch(state, train, next(chunks)[: 2 * c.batch_size], augment.train, gen, _NoBar())
    images, elapsed = 0, 0.0
    while not images or elapsed < seconds:
        result = train_epoch(state, train, next(chunks), augment.train, gen, _NoBar())
        images, elapsed = images + result.images, elapsed + result.seconds
    return images / elapsed


def run_pilot(
    c: Candidate,
    data: PilotData,
    augment: AlexNetAugment,
    total_steps: int,
    settings: StudySettings,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Train ``c`` for about ``total_steps`` SGD steps; the learning curve on the pilot monitor.

    The steps are rounded down to a multiple of the evaluations (at least one step each).
    """
    seed = settings.seed
    _check_batches(c, data)
    points = max(1, min(settings.curve_points, total_steps))
    per_point = max(1, total_steps // points)
    steps_planned = per_point * points
    torch.manual_seed(seed)  # the same initial weights for every candidate of a network
    state = _state(c, data, points, per_point, settings.eval_batch_size)
    train, chunks = _train_split(data), _row_chunks(data, per_point * c.batch_size, seed)
    curve: list[dict[str, Any]] = []
    step, train_s, eval_s = 0, 0.0, 0.0
    load_before = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    for point in range(points):
        gen = torch.Generator().manual_seed(derive_seed(seed, SeedStream.AUGMENT, epoch=point))
        torch.manual_seed(derive_seed(seed, SeedStream.DROPOUT, epoch=point))
        result = train_epoch(state, train, next(chunks), augment.train, gen, _NoBar())
        step += per_point
        train_s += result.seconds
        t0 = time.perf_counter()  # evaluation is outside the budget
        top1, top5 = evaluate(state, data.monitor, augment.centre_crop)
        eval_s += time.perf_counter() - t0
        lr = state.schedule.lr  # the segment's last step's, before the plateau rule
        state.schedule.after_epoch(top1)
        row = {
            "step": step,
            "images": step * c.batch_size,
            "epoch": step * c.batch_size / len(data.fit_rows),
            "train_seconds": round(train_s, 3),
            "lr": lr,
            "train_loss": result.loss,
            "monitor_top1_err": top1,
            "monitor_top5_err": top5,
        }
        curve.append(row)
        log(
            f"  {c.name}: step {step}/{steps_planned} ({row['epoch']:.2f} pilot epochs, "
            f"{train_s:.0f} s): loss {row['train_loss']:.3f}, monitor top-1/top-5 "
            f"{top1:.1f}/{top5:.1f}%, lr {lr:.3g}"
        )
    final = curve[-1]
    n_mon = len(data.monitor)
    p5 = final["monitor_top5_err"] / 100
    threads = torch.get_num_threads()
    chance5 = 100.0 * max(0.0, 1.0 - 5 / data.n_classes)
    cpu_minutes = train_s * threads / 60
    warm = round(state.config.warmup_epochs * per_point)
    return {
        "candidate": {**dataclasses.asdict(c), "crop": c.crop, "lr128": c.lr128},
        "param_count": count_parameters(state.model),
        "planned_steps": steps_planned,
        "steps": step,
        "images": step * c.batch_size,
        "pilot_epochs": step * c.batch_size / len(data.fit_rows),
        "warmup_steps": warm,
        "plateau_drops_after_eval": list(state.schedule.drop_epochs),
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
    threads = cpu_threads(settings.threads)
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
