"""``harness plan``: each method's time, peak memory and disk for a run, projected from a calibration.

What it reads: the layout of the copy and the run's manifest (the same
fingerprint memo as ``harness run``, so the run does not redo it); no image of
the whole set is decoded. What it measures, on this machine and device: every
selected method fitted and scored on small samples of the copy (a few classes,
decoded into a temporary folder that is removed afterwards), each timed, its
peak resident memory sampled (:class:`harness.memory.PeakMemory`) and the bytes
it wrote (features, codebooks, checkpoints) counted. Each method is calibrated
in a spawned process of its own (:func:`harness.calibration.in_own_process`), as
``harness run`` runs it: its peak is its own, not what the methods before it left.

How it projects (:func:`project`):

* a method trained by optimiser steps (its parameters have ``max_steps``,
  ``epochs`` and ``batch_size``: the CNNs) is fitted twice on one sample, with
  ``max_steps`` = ``STEPS[0]`` and then enough more (:func:`more_steps`;
  ``STEPS[1]`` at least) for the difference to be timed (after an untimed
  one-step fit): the difference of the trainer's own step clocks is the steady
  time per step, free of set-up and warm-up; the monitor pass is the epoch's
  time less its steps; the full recipe is the set-up, plus
  ``epochs x ceil(fit images / batch) x members`` steps, plus a monitor pass per
  epoch, plus the val scoring (timed on half and on all of the sample's val
  images: a fixed cost and a rate). The fits run with the run's switches (the
  method's ``calibration_params(run_steps, device)``: the CNNs compile from a
  number of steps on a CPU), and a compiled run adds what compiling took in the
  untimed fit;
* a method with a ``plan_stages(n_fit, n_monitor, n_classes, ctx, earlier)``
  hook (the hand-crafted pipelines: :mod:`baselines.features.plan_cost`)
  projects its own stages from what the calibration fits timed: each stage
  scaled by what it grows with, the SVMs counted step by step and timed at the
  run's shapes, and says what its full-size tensors add to the memory;
* any other method is fitted and scored on two samples of different sizes
  (same classes), which separates its fixed costs from its per-image costs,
  extrapolated linearly in the number of images;
* disk: the image cache at its stored size (exact) plus what the method wrote,
  linear in images for features, as measured for checkpoints;
* peak memory: the anonymous peak (less memory-mapped pages) of the
  calibration plus what the method's hook adds; the resident peak is that
  plus the calibration's file-backed share, which does not grow with the data
  because the streaming readers drop the mapped pages they have read
  (:func:`harness.memory.release_rows`). The guard of ``harness run`` holds
  the anonymous figure against the machine's memory.

The projections are saved under ``<cache>/plans/`` for the guard of ``harness run``
(:mod:`harness.resources`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness import calibration
from harness.calibration import (
    CLASSES,
    PER_CLASS,
    STEPS,
    VAL_PER_CLASS,
    Calibration,
    _calibrate,
    _lighten,
    _prepare_sample,
    _sample,
    cnn_sample_shape,
    in_own_process,
    more_steps,
    private_compile_cache,
)
from harness.config import MethodSpec, RunConfig
from harness.environment import device_name, resolve_device
from harness.memory import own_anon_bytes
from harness.methods import (
    ResolvedMethod,
    load_plugins,
    resolve_method,
    run_id_for,
    validate_methods,
)
from harness.resources import (
    free_bytes,
    image_cache_bytes,
    machine_memory_bytes,
    missing_cache_bytes,
    plan_path,
)

log = logging.getLogger("harness.plan")

__all__ = ["Calibration", "Plan", "Projection", "make_plan"]

MIB = 2**20


@dataclass
class Projection:
    """A method's projected cost on the run's whole subset."""

    method: str
    seconds: float
    train_seconds: float
    eval_seconds: float
    peak_rss_mib: float
    peak_anon_mib: float  # less memory-mapped pages: what the guard holds against RAM
    disk_mib: float  # image cache + the method's own files
    method_disk_mib: float  # features, codebooks, checkpoints
    image_cache_mib: float
    dominant_stage: str
    calibration_images: int
    basis: str
    run_id: str
    stages: dict[str, float]

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class Plan:
    """What ``harness plan`` prints: the subset, the image cache and every method's projection."""

    subset: str
    n_train: int
    n_val: int
    n_classes: int
    size: int
    image_cache_mib: float
    image_cache_missing_mib: float
    decode_seconds: float
    free_disk_mib: float
    memory_mib: float
    device: str
    projections: list[Projection]
    plan_seconds: float = 0.0


def _line(x1: float, y1: float, x2: float, y2: float) -> tuple[float, float]:
    """(fixed, per unit) of the line through two measurements; never a negative slope."""
    if x2 > x1 and y2 >= y1:
        slope = (y2 - y1) / (x2 - x1)
        return max(0.0, y1 - slope * x1), slope
    return 0.0, max(y1, y2) / max(x1, x2, 1)  # noise swamped the difference: a pure rate


def len_half(n: int) -> int:
    """Images in the half of a val sample that is scored first."""
    return n // 2


def step_trained(params: dict[str, Any]) -> bool:
    """A method trained by optimiser steps with a step budget (the CNNs on the shared trainer)."""
    return all(k in params for k in ("max_steps", "epochs", "batch_size"))


def run_steps(params: dict[str, Any], n_fit: int) -> tuple[int, int]:
    """(optimiser steps, epochs) of one member of a step-trained method's run on ``n_fit``
    images: the recipe's epochs of ``ceil(n_fit / batch)`` steps, within ``max_steps``."""
    per_epoch = math.ceil(max(1, n_fit) / int(params["batch_size"]))
    epochs = int(params["epochs"])
    steps = epochs * per_epoch
    if params.get("max_steps"):  # a step budget per member (a smoke row) caps the epochs
        steps = min(steps, int(params["max_steps"]))
        epochs = min(epochs, math.ceil(steps / per_epoch))
    return steps, epochs


def _compile_seconds(warm: Calibration, a: Calibration, per_step: float) -> float:
    """What ``warm`` (the fit that compiled every shape) took beyond ``a`` (a steady fit
    on the same sample), its extra steps and monitor passes at the steady rates."""
    monitor_pass = (a.monitor_s or 0.0) / max(a.monitor_passes, 1)
    steady = (
        a.fit_s
        + ((warm.steps or 0) - (a.steps or 0)) * per_step
        + (warm.monitor_passes - a.monitor_passes) * monitor_pass
    )
    scoring = (warm.eval_s + (warm.eval_half_s or 0.0)) - (a.eval_s + (a.eval_half_s or 0.0))
    return max(0.0, warm.fit_s - steady) + max(0.0, scoring)


def project(
    resolved: ResolvedMethod,
    cals: tuple[Calibration, Calibration],
    n_fit: int,
    n_monitor: int,
    n_val: int,
    n_classes: int,
    n_refit: int | None = None,
    warm: Calibration | None = None,
) -> dict[str, Any]:
    """The full run's stages, seconds, peak memory and disk from two calibrations
    (``n_refit``: the rows the refit trains on, all of train; ``n_fit + n_monitor`` by
    default, which counts val too when val is the monitor; ``warm``: the untimed fit
    that compiled every shape, for a run that compiles: what it took beyond its steady
    steps, monitor passes and scoring is ``torch.compile``'s, paid once)."""
    a, b = cals
    n_train = n_fit + n_monitor
    params = resolved.params
    anon_extra = 0
    if step_trained(params):
        members = int(params.get("ensemble") or 1)
        steps_ab = (a.steps or 0, b.steps or 1)
        if a.train_s is not None and b.train_s is not None:  # the trainer's clock, steps only
            _, per_step = _line(steps_ab[0], a.train_s, steps_ab[1], b.train_s)
            setup = max(0.0, a.fit_s - a.train_s - (a.monitor_s or 0.0))
        else:
            setup, per_step = _line(steps_ab[0], a.fit_s, steps_ab[1], b.fit_s)
        compile_s = _compile_seconds(warm, a, per_step) if warm is not None else 0.0
        per_member, epochs = run_steps(params, n_fit)
        steps = per_member * members
        half = len_half(b.n_val)
        e_fixed, e_per = _line(half, b.eval_half_s or 0.0, b.n_val, b.eval_s)
        passes = max(b.monitor_passes, 1) * max(b.n_monitor, 1)
        monitor_per = (b.monitor_s or 0.0) / passes  # the trainer's own pass, per image
        stages = {
            "set-up": setup * members,
            **({"torch.compile": compile_s} if compile_s > 0 else {}),
            f"{steps:,} training steps": steps * per_step,
            f"{epochs} monitor passes": members * epochs * n_monitor * monitor_per,
            "val scoring": e_fixed + e_per * n_val,
        }
        disk = b.disk_bytes  # checkpoints: the size of the model and optimiser, not of the data
        basis = (
            f"projected from fits of {a.steps} and {b.steps} optimiser steps on "
            f"{b.n_train} images (their difference: steady steps)"
        )
    else:
        e_fixed, e_per = _line(len_half(b.n_val), b.eval_half_s or 0.0, b.n_val, b.eval_s)
        own = _hook(b, a, n_fit, n_monitor, n_classes, n_refit)
        if own is not None:  # the method's own stages (baselines.features.plan_cost)
            # the calibration's scoring rate, or the run's encoders' where they are slower
            per_val = max(e_per, float(own.get("score_per_image") or 0.0))
            stages = {**own["stages"], "val scoring": e_fixed + per_val * n_val}
            anon_extra = int(own.get("peak_bytes") or 0)
        else:
            fixed, per_image = _line(a.n_train, a.fit_s, b.n_train, b.fit_s)
            stages = {
                "fit: set-up": fixed,
                "fit: per image": per_image * n_train,
                "val scoring": e_fixed + e_per * n_val,
            }
        d_fixed, d_per = _line(a.n_train + a.n_val, a.disk_bytes, b.n_train + b.n_val, b.disk_bytes)
        disk = d_fixed + d_per * (n_train + n_val)
        basis = (
            f"projected from calibrations on {a.n_train + a.n_val} and "
            f"{b.n_train + b.n_val} images of {a.classes} classes"
        )
        if own is not None:
            basis = (
                f"projected from {own['basis']} ({b.n_train + b.n_val} images, {b.classes} classes)"
            )
    # anonymous: the calibration's, plus what the method says its full-size tensors add;
    # resident: that plus the calibration's file-backed share, which does not grow with the
    # data: the streaming readers drop the mapped pages they have read (release_rows)
    # (a compiling run: the warm-up's too, where torch.compile's workers and C++ compilers ran)
    timed = (*cals, warm) if warm is not None else cals
    anon = max(c.peak_anon_bytes for c in timed) + anon_extra
    peak = anon + max(c.peak_bytes - c.peak_anon_bytes for c in timed)
    return {
        "stages": {k: round(v, 3) for k, v in stages.items()},
        "peak_bytes": peak,
        "peak_anon_bytes": anon,
        "disk_bytes": disk,
        "basis": basis,
    }


def _hook(
    cal: Calibration,
    earlier: Calibration,
    n_fit: int,
    n_monitor: int,
    n_classes: int,
    n_refit: int | None,
) -> dict[str, Any] | None:
    """The fitted method's ``plan_stages(n_fit, n_monitor, n_classes, ctx, earlier, n_refit)``
    projection (``earlier``: the method as fitted on the smaller sample), or None when
    it has no such hook."""
    method, ctx = cal.fitted if cal.fitted is not None else (None, None)
    hook = getattr(method, "plan_stages", None)
    first = earlier.fitted[0] if earlier.fitted is not None else None
    return hook(n_fit, n_monitor, n_classes, ctx, first, n_refit) if callable(hook) else None


def _plan_method(
    cfg: RunConfig,
    device: str,
    spec: MethodSpec,
    cls: type,
    root: Path,
    prepared: list[tuple[Any, Any, Path]],
    tmp: Path,
    shape: tuple[int, int, int, int, int],
) -> tuple[dict[str, Any], int]:
    """Calibrate ``spec`` on the decoded samples (``prepared``: subset, manifest, folder)
    and project its run of ``shape`` (fit, monitor, val images, classes, train images):
    (the projection, the calibration's images). Run in a process of its own
    (:func:`harness.calibration.in_own_process`), as ``harness run`` runs a method."""
    from harness.methods import BASELINES
    from harness.prepare import decode_splits

    if cfg.plugins:
        load_plugins(cfg.plugins)
    if spec.name not in BASELINES:  # registered at run time in the process that asked
        BASELINES.add(spec.name, cls)
    samples = [  # decoded already: each opens its cache
        decode_splits(cfg, sub, man, root, folder / "images", True, True)
        for sub, man, folder in prepared
    ]
    counts = [len(s.manifest) for s in samples]
    resolved = resolve_method(spec, device)
    folder = tmp / "methods" / spec.row
    n_fit, n_monitor, n_val, n_classes, n_train = shape
    warm = None
    if step_trained(resolved.params):
        warm, cals = _step_calibrations(spec, resolved, device, samples, cfg, folder, n_fit)
        n_cal = counts[-1]
    else:
        # a folder each: nothing of one is reused by the other
        small = _calibrate(spec, device, samples[0], cfg, folder / "sample0", None)
        _lighten(small)
        cals = (small, _calibrate(spec, device, samples[1], cfg, folder / "sample1", None))
        n_cal = counts[0] + counts[1]
    got = project(resolved, cals, n_fit, n_monitor, n_val, n_classes, n_refit=n_train, warm=warm)
    for cal in cals:
        cal.fitted = None  # the fitted calibrations' maps close before their folder goes
    return got, n_cal


def _step_calibrations(
    spec: MethodSpec,
    resolved: ResolvedMethod,
    device: str,
    samples: list[Any],
    cfg: RunConfig,
    folder: Path,
    n_fit: int,
) -> tuple[Calibration | None, tuple[Calibration, Calibration]]:
    """(the warm-up that compiled, or None when the run does not compile; the two timed
    fits) of a step-trained method, with the run's switches (``calibration_params``:
    torch.compile from a number of steps) rather than a short fit's."""
    pin = getattr(resolved.method, "calibration_params", None)
    pinned = pin(run_steps(resolved.params, n_fit)[0], device) if callable(pin) else {}
    spec = dataclasses.replace(spec, params=tuple({**dict(spec.params), **pinned}.items()))
    with contextlib.ExitStack() as stack:
        if pinned.get("compile"):
            # compiled cold, as a first run on this machine is, in caches of its own; every
            # shape the timed fits meet compiled here (a full batch, an epoch's last partial
            # one, the monitor pass, the scoring), else their clocks hold the recompiles
            # (ZFNet's 0.26 s steps were projected at 2.3 s)
            stack.enter_context(private_compile_cache(folder / "compile-cache"))
            fit = len(samples[-1].train_data(cfg.monitor).fit)
            epoch = math.ceil(fit / int(resolved.params["batch_size"]))
            warm = _calibrate(spec, device, samples[-1], cfg, folder / "warm-up", epoch + 1)
        else:  # one step: imports and kernel selection, one-offs of the process
            warm = _calibrate(spec, device, samples[0], cfg, folder / "warm-up", 1)
        first = _calibrate(spec, device, samples[-1], cfg, folder / "steps-a", STEPS[0])
        _lighten(warm)
        _lighten(first)
        last = _calibrate(spec, device, samples[-1], cfg, folder / "steps-b", more_steps(first))
    return (warm if pinned.get("compile") else None), (first, last)


def make_plan(cfg: RunConfig) -> Plan:
    """Read the copy, calibrate every method of ``cfg`` and project the whole run."""
    from harness.data import build_manifest
    from harness.holdout import carve_holdout
    from harness.prepare import read_dataset

    start = time.perf_counter()
    device = resolve_device(cfg.device)
    if cfg.plugins:
        load_plugins(cfg.plugins)
    methods = validate_methods(cfg, device)
    before = own_anon_bytes()
    root, index, subset = read_dataset(cfg)
    manifest = build_manifest(
        root, subset, index=index, fingerprint_memo=Path(cfg.cache) / "fingerprints"
    )
    # the run holds the copy's index and manifest too (64 MiB at Tiny ImageNet's 55,000
    # images); a calibration's process holds only its samples'
    data_bytes = max(0, own_anon_bytes() - before) if calibration.OWN_PROCESS else 0
    entries = manifest.entries
    train_labels = entries.loc[entries["split"] == "train", "label"].to_numpy()
    n_train, n_val = len(train_labels), int((entries["split"] == "val").sum())
    n_monitor = 0
    if cfg.holdout_fraction > 0 and cfg.monitor != "val":
        n_monitor = carve_holdout(
            train_labels, manifest.n_classes, fraction=cfg.holdout_fraction, seed=cfg.holdout_seed
        ).n_monitor
    elif cfg.monitor == "val":
        n_monitor = n_val
    n_fit = n_train - (n_monitor if cfg.monitor != "val" else 0)
    cache_bytes = image_cache_bytes(manifest)
    label = device_name(device)
    batches = [int(r.params["batch_size"]) for r in methods.values() if step_trained(r.params)]
    projections = []
    decode_rate = 0.0
    with tempfile.TemporaryDirectory(prefix="harness-plan-") as tmp:  # never the run's cache
        sizes = [(k, v, CLASSES) for k, v in zip(PER_CLASS, VAL_PER_CLASS, strict=True)]
        if batches:  # the CNNs' sample holds the larger budget's batches of fit rows: one epoch
            classes, k = cnn_sample_shape(manifest, max(batches), cfg.holdout_fraction)
            sizes.append((k, VAL_PER_CLASS[1], classes))
        samples = []
        for i, (k, v, classes) in enumerate(sizes):
            sample = _sample(subset, manifest, k, v, cfg.subset_seed, classes)
            samples.append(_prepare_sample(cfg, root, index, sample, Path(tmp) / f"sample{i}"))
        decode_rate = max(s.cached.decode_rate for s in samples)
        prepared = [(s.subset, s.manifest, Path(tmp) / f"sample{i}") for i, s in enumerate(samples)]
        shape = (n_fit, n_monitor, n_val, manifest.n_classes, n_train)
        for spec, resolved in methods.items():
            log.info("plan: calibrating %s", spec.row)
            args = (cfg, device, spec, resolved.cls, root, prepared, Path(tmp), shape)
            got, n_cal = in_own_process(_plan_method, args, spec.row)
            stages = got["stages"]
            train_s = sum(v for k, v in stages.items() if k != "val scoring")
            run_id = run_id_for(
                manifest.subset.name, spec, cfg, manifest.hash, device, params=resolved.params
            )
            projections.append(
                Projection(
                    method=spec.row,
                    seconds=max(round(sum(stages.values()), 3), 0.001),
                    train_seconds=round(train_s, 1),
                    eval_seconds=stages["val scoring"],
                    peak_rss_mib=round((got["peak_bytes"] + data_bytes) / MIB, 1),
                    peak_anon_mib=round((got["peak_anon_bytes"] + data_bytes) / MIB, 1),
                    disk_mib=round((cache_bytes + got["disk_bytes"]) / MIB, 1),
                    method_disk_mib=round(got["disk_bytes"] / MIB, 1),
                    image_cache_mib=round(cache_bytes / MIB, 1),
                    dominant_stage=max(stages, key=lambda s: stages[s]),
                    calibration_images=n_cal,
                    basis=got["basis"],
                    run_id=run_id,
                    stages=stages,
                )
            )
    plan = Plan(
        subset=manifest.subset.name,
        n_train=n_train,
        n_val=n_val,
        n_classes=manifest.n_classes,
        size=int(manifest.subset.size),
        image_cache_mib=round(cache_bytes / MIB, 1),
        image_cache_missing_mib=round(
            missing_cache_bytes(manifest, Path(cfg.cache) / "images") / MIB, 1
        ),
        decode_seconds=round(
            (n_train + n_val) / decode_rate if decode_rate > 0 else float("nan"), 1
        ),
        free_disk_mib=round(free_bytes(Path(cfg.cache)) / MIB, 1),
        memory_mib=round(machine_memory_bytes() / MIB, 1),
        device=label,
        projections=projections,
        plan_seconds=round(time.perf_counter() - start, 1),
    )
    _save(cfg, manifest, plan)
    return plan


def _save(cfg: RunConfig, manifest: Any, plan: Plan) -> None:
    """Keep the projections for ``harness run``'s guard; a folder we cannot write is no error."""
    import json

    path = plan_path(Path(cfg.cache), manifest)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps([p.as_dict() for p in plan.projections], indent=1) + "\n")
    except OSError as exc:
        log.warning("plan not saved to %s: %s", path, exc)
