"""The calibration of ``harness plan``: small decoded samples of the run's copy, and
each method fitted and scored on them, timed, its peak memory sampled and the bytes
it wrote counted (:func:`calibrate`). :mod:`harness.plan` projects the whole run
from these.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import gc
import logging
import math
import multiprocessing
import os
import pickle
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from harness.api import MethodError, RunContext, fit_method
from harness.config import MethodSpec, RunConfig
from harness.memory import PeakMemory
from harness.methods import resolve_method

T = TypeVar("T")
log = logging.getLogger(__name__)

CLASSES = 10  # classes of the calibration samples (fewer when the copy has fewer)
PER_CLASS = (4, 12)  # training images per class of the two samples
VAL_PER_CLASS = (2, 6)  # val images per class of the two samples
STEPS = (2, 8)  # optimiser steps of the two timed fits of a step-trained method (after an
# untimed fit of one step: imports and kernel selection are one-offs of the process); the
# difference of the two is the steady per-step time, free of set-up and warm-up
STEPS_SECONDS = 2.0  # training seconds the second fit adds over the first, at least
MAX_STEPS = 96  # optimiser steps of the second timed fit, at most
#: calibrate each method in a spawned process of its own (:func:`in_own_process`)
OWN_PROCESS = True
STEP_VAL_IMAGES = 60  # val images a step-trained calibration scores (its sample may hold
# hundreds of classes: the paper AlexNet scores 10 crops of each, 0.3 s an image on 2 cores)


@dataclass
class Calibration:
    """One timed fit + score of a method on a sample."""

    n_train: int
    n_val: int
    fit_s: float
    eval_s: float
    peak_bytes: int
    disk_bytes: int
    steps: int | None = None
    classes: int = 0
    train_s: float | None = None  # the learning curve's training seconds (steps only)
    monitor_s: float | None = None  # the learning curve's monitor pass (epoch less training)
    n_monitor: int = 0  # monitor images of the sample
    monitor_passes: int = 0  # epochs the timed fit ran, each with a monitor pass (steps only)
    eval_half_s: float | None = None  # scoring half the val sample (the fixed cost apart)
    peak_anon_bytes: int = 0  # the peak less file-backed (memory-mapped) pages
    fitted: Any = None  # (method, ctx) as fitted: the method's own plan hook reads it


def _usable_counts(manifest: Any) -> Any:
    """Train and val images of every class that has at least 2 train and 1 val image."""
    counts = manifest.entries.groupby(["wnid", "split"]).size().unstack(fill_value=0)
    for split in ("train", "val"):
        if split not in counts:
            counts[split] = 0
    return counts[(counts["train"] >= 2) & (counts["val"] >= 1)]


def cnn_sample_shape(manifest: Any, batch: int, holdout_fraction: float) -> tuple[int, int]:
    """(classes, train images per class) of the step-trained methods' sample: enough fit
    rows for ``STEPS[1]`` batches in one epoch. A copy with few images per class (4 in a
    1,000-class devkit copy, one of them held out) gives more classes, never fewer
    steps: with too few rows the timed fits would train one short epoch each and
    the two step counts would time the same step."""
    usable = _usable_counts(manifest)
    if usable.empty:
        return CLASSES, PER_CLASS[1]
    wanted = math.ceil(batch * STEPS[1] / CLASSES / max(0.5, 1 - holdout_fraction)) + 1
    k = int(min(max(PER_CLASS[1], wanted), usable["train"].median()))
    held = max(1, round(holdout_fraction * k)) if holdout_fraction > 0 else 0
    fit_per_class = max(1, k - held)
    classes = max(CLASSES, math.ceil(batch * STEPS[1] / fit_per_class) + 1)
    return min(classes, len(usable)), k


def _sample(
    subset: Any,
    manifest: Any,
    per_class: int,
    val_per_class: int,
    seed: int,
    classes: int = CLASSES,
) -> Any:
    """A subset of ``classes`` of the run's classes, ``per_class`` / ``val_per_class`` images each."""
    usable = _usable_counts(manifest)
    rng = np.random.default_rng(seed)
    wnids = sorted(usable.index)
    chosen = sorted(rng.choice(wnids, min(classes, len(wnids)), replace=False).tolist())
    k = int(min(per_class, usable.loc[chosen, "train"].min()))
    v = int(min(val_per_class, usable.loc[chosen, "val"].min()))
    return dataclasses.replace(
        subset,
        name=f"{subset.name}-plan-t{k}",
        classes=tuple(chosen),
        train_per_class=k,
        val_per_class=v,
        expected_classes=None,
    )


def _prepare_sample(cfg: RunConfig, root: Path, index: Any, sample: Any, folder: Path) -> Any:
    """Decode ``sample`` into ``folder`` and hand back the splits, as :func:`prepare_data` does."""
    from harness.data import build_manifest
    from harness.prepare import decode_splits

    manifest = build_manifest(root, sample, index=index)
    return decode_splits(cfg, sample, manifest, root, folder / "images", True, True)


def _folder_bytes(*folders: Path) -> int:
    return sum(p.stat().st_size for f in folders if f.is_dir() for p in f.rglob("*") if p.is_file())


def _calibrate(
    spec: MethodSpec, device: str, data: Any, cfg: RunConfig, folder: Path, steps: int | None
) -> Calibration:
    """Fit and score a fresh instance of ``spec`` on ``data``; time, peak memory and bytes written."""
    params = dict(spec.params)
    if steps is not None:
        params["max_steps"] = steps
    resolved = resolve_method(dataclasses.replace(spec, params=tuple(params.items())), device)
    ctx = RunContext(
        device=device,
        seed=cfg.seed,
        cache_dir=folder / "methods",
        work_dir=folder / "work",
        n_jobs=cfg.n_jobs or os.cpu_count() or 1,
        quiet=True,
        manifest_hash=data.manifest.hash,
        logger=logging.getLogger(f"harness.plan.{spec.name}"),
    )
    ctx.cache_dir.mkdir(parents=True, exist_ok=True)
    ctx.work_dir.mkdir(parents=True, exist_ok=True)
    method = resolved.method
    getattr(method, "warm_up", lambda ctx: None)(ctx)
    handed = data.train_data(cfg.monitor)
    val = data.val
    if steps is not None and len(val) > STEP_VAL_IMAGES:  # many classes, one val image each
        val = val.view(np.linspace(0, len(val) - 1, STEP_VAL_IMAGES).astype(np.int64))
    half = val.view(np.arange(len(val) // 2))
    with PeakMemory(interval_s=0.05) as peak:
        t0 = time.perf_counter()
        fit_method(method, handed, data.train, ctx)
        t1 = time.perf_counter()
        method.decision_function(half, ctx)
        t2 = time.perf_counter()
        method.decision_function(val, ctx)
        t3 = time.perf_counter()
    train_s = monitor_s = None
    if steps is not None and ctx.epoch_log:
        train_s, monitor_s = _epoch_clocks(ctx.epoch_log)
    return Calibration(
        n_train=len(data.train),
        n_val=len(val),
        fit_s=t1 - t0,
        eval_s=t3 - t2,
        peak_bytes=peak.peak_bytes,
        disk_bytes=_folder_bytes(ctx.cache_dir, ctx.work_dir),
        # the steps it took: fewer than asked when the recipe's epochs end first
        steps=int(ctx.epoch_log[-1].get("steps") or steps) if steps and ctx.epoch_log else steps,
        classes=data.train.n_classes,
        train_s=train_s,
        monitor_s=monitor_s,
        n_monitor=len(handed.monitor) if handed.monitor is not None else 0,
        monitor_passes=len(ctx.epoch_log) if steps is not None else 0,
        eval_half_s=t2 - t1,
        peak_anon_bytes=peak.anon_bytes,
        fitted=(method, ctx),
    )


def more_steps(first: Calibration) -> int:
    """Optimiser steps of the second timed fit: at least ``STEPS[1]``, and enough that the
    steps it adds take about :data:`STEPS_SECONDS` at the first fit's rate (at most
    :data:`MAX_STEPS`). Six LeNet-5 steps at 64 px are 40 ms, less than the noise of
    two fits: its projection swung between 0.7x and 1.25x of the run."""
    if not first.train_s or not first.steps:
        return STEPS[1]
    per_step = first.train_s / first.steps  # warm-up included: an overestimate, fewer steps
    wanted = first.steps + math.ceil(STEPS_SECONDS / max(per_step, 1e-6))
    return int(min(MAX_STEPS, max(STEPS[1], wanted)))


def _epoch_clocks(curve: list[dict[str, Any]]) -> tuple[float | None, float | None]:
    """(training seconds, monitor seconds) summed over a learning curve's epochs: each
    epoch's images over its training rate, and the rest of its seconds (the monitor
    pass). None when the curve has no rates."""
    train = monitor = 0.0
    seen = 0
    for row in curve:
        rate = float(row.get("images_per_s") or 0.0)
        images = int(row.get("images_seen") or 0) - seen
        seen = int(row.get("images_seen") or 0)
        if rate <= 0 or images <= 0:
            return None, None
        train += images / rate
        monitor += max(0.0, float(row.get("seconds") or 0.0) - images / rate)
    return train, monitor


@dataclass
class _Clocks:
    """What a projection reads of an earlier calibration's fitted method: its stage clock."""

    stage_clock_: Any = None


def _lighten(cal: Calibration) -> None:
    """Free ``cal``'s fitted method before the next calibration, keeping its stage clock:
    held, the first fit's model (AlexNet's 60 M weights, their gradients and momentum;
    a 1,000-class SVM) counted in the second's peak, 1 GiB over the paper AlexNet's."""
    if cal.fitted is not None:
        method, _ = cal.fitted
        cal.fitted = (_Clocks(getattr(method, "stage_clock_", None)), None)
        del method
    gc.collect()


def in_own_process(fn: Callable[..., T], args: tuple[Any, ...], what: str = "") -> T:
    """``fn(*args)`` in a fresh (spawned) process, as ``harness run`` runs a method.

    A calibration's peak memory is read as an absolute figure of the process
    tree, so in a shared process it counted what the methods calibrated before
    it left behind (the allocator's arenas, a worker pool, imported libraries):
    LeNet-5 after the four networks of the decade was projected at 1,041 MiB
    anonymous, 546 measured. A spawned process starts as a run does. Its
    exceptions are raised here; its death (the kernel's out-of-memory killer) is one
    :class:`MethodError` naming ``what``. In this process when :data:`OWN_PROCESS` is off
    (tests that spy on the calibration) or when ``args`` cannot be sent to
    another process (a method class defined inside a function).
    """
    if not OWN_PROCESS:
        return fn(*args)
    try:
        pickle.dumps(args)
    except (pickle.PicklingError, AttributeError, TypeError):
        log.debug("calibrating in this process: %s cannot be sent to another", fn.__name__)
        return fn(*args)
    spawn = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(max_workers=1, mp_context=spawn) as pool:
        try:
            return pool.submit(_then_stop_pools, fn, args).result()
        except concurrent.futures.process.BrokenProcessPool:
            raise MethodError(
                f"{what or fn.__name__}: the calibration's process died (killed: out of "
                "memory?); plan it with fewer --jobs, or on a machine with more memory"
            ) from None


def _then_stop_pools(fn: Callable[..., T], args: tuple[Any, ...]) -> T:
    """``fn(*args)``, then the process's joblib worker pool shut down: a spawned process
    waits at exit for its children, and loky's idle workers live 300 s."""
    try:
        return fn(*args)
    finally:
        from joblib.externals.loky import reusable_executor

        if getattr(reusable_executor, "_executor", None) is not None:  # one was started
            reusable_executor.get_reusable_executor().shutdown(wait=True)


@contextlib.contextmanager
def private_compile_cache(folder: Path) -> Iterator[None]:
    """``torch.compile``'s caches (inductor's, Triton's) in ``folder`` while calibrating:
    the calibration compiles as a first run on this machine does, and leaves the user's
    caches as they were. From a warm cache the compile is another: AlexNet's (CPU
    profile, Tiny ImageNet) took 17 s in a plan made after its run, 47 s cold."""
    names = {"TORCHINDUCTOR_CACHE_DIR": "inductor", "TRITON_CACHE_DIR": "triton"}
    saved = {name: os.environ.get(name) for name in names}
    os.environ.update({name: str(folder / sub) for name, sub in names.items()})
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
