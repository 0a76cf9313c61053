"""Run every method of a suite on the same manifest and record the results.

The runner knows no concrete method: it looks names up in the registry and
constructs each method once (:mod:`harness.methods`). For one run it builds
the manifest and the decoded cache once (:mod:`harness.prepare`), then for
each method: skips it when a successful record of the same configuration
exists (unless ``fresh``); otherwise hands ``fit`` the fit rows and the
monitor (:class:`harness.types.TrainData`), calls ``refit`` on the whole
training split if ``fit`` asked for it, scores the validation split once,
applies the ILSVRC protocol and writes a record (:mod:`harness.run_record`)
that says what was handed over. A method that fails in any way becomes a
record with an ``error`` field and the next method still runs. Interrupted
methods resume from what they cached in their work folder (checkpoints,
features), because a rerun of the same configuration gets the same folder.

The public entry points for code that is not the CLI (studies, ``torchrun``
launchers, notebooks) are in :mod:`harness.experiment`.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from harness.api import MethodError, RunContext, fit_method
from harness.config import MethodSpec, RunConfig
from harness.environment import images_per_s, resolve_device
from harness.fit_clock import FitClock
from harness.leaderboard import write_leaderboard
from harness.memory import PeakMemory
from harness.methods import (
    ResolvedMethod,
    check_scores,
    load_plugins,
    preflight_check,
    resolve_method,
    run_id_for,
    validate_methods,
)
from harness.prepare import PreparedData, check_writable_folder, prepare_data
from harness.record import parse_record
from harness.resources import check_resources
from harness.run_record import base_record, finish_record, scored, variant_record
from harness.store import (
    atomic_write_text,
    existing_ok_record,
    keep_failed_attempt,
    write_curve,
    write_record,
)

log = logging.getLogger("harness.runner")

__all__ = ["MethodOutcome", "RunSummary", "method_context", "run", "run_method"]


@dataclass
class MethodOutcome:
    spec: MethodSpec
    records: list[Any] = field(default_factory=list)  # RunRecord (or the failed dict)
    skipped: bool = False

    @property
    def failed(self) -> bool:
        return any(r["status"] != "ok" for r in self.records)


@dataclass
class RunSummary:
    config: RunConfig
    outcomes: list[MethodOutcome]
    data: PreparedData | None

    @property
    def failed(self) -> bool:
        return any(o.failed for o in self.outcomes)

    @property
    def records(self) -> list[Any]:
        return [r for o in self.outcomes for r in o.records]


def method_context(
    cfg: RunConfig, data: PreparedData, spec: MethodSpec, run_id: str, device: str
) -> RunContext:
    """The RunContext a method gets (no data in it: that comes as TrainData)."""
    return RunContext(
        device=device,
        seed=cfg.seed,
        cache_dir=Path(cfg.cache) / "methods" / spec.name,
        work_dir=Path(cfg.cache) / "work" / run_id,
        n_jobs=cfg.n_jobs or os.cpu_count() or 1,
        dask_scheduler=cfg.dask_scheduler,
        quiet=cfg.quiet,
        deterministic=cfg.deterministic,
        manifest_hash=data.manifest.hash,
        logger=logging.getLogger(f"harness.method.{spec.name}"),
    )


def _variants(
    method: Any, val: Any, ctx: RunContext, who: str
) -> dict[str, tuple[str, np.ndarray]]:
    """The method's declared variants' scores; an undeclared one is refused by name."""
    declared = method.declared_variants() if hasattr(method, "declared_variants") else {}
    given = method.variant_scores(val, ctx) if hasattr(method, "variant_scores") else {}
    out = {}
    for name, scores in given.items():
        if name not in declared:
            raise MethodError(
                f"{who}: variant_scores returned {name!r}, which the method does not declare "
                f"(declared: {sorted(declared) or 'none'}); declare it with its reason in "
                "`variants` / declared_variants()"
            )
        out[name] = (declared[name], check_scores(scores, val, f"{who}[{name}]"))
    return out


def _fit_and_score(
    resolved: ResolvedMethod,
    cfg: RunConfig,
    data: PreparedData,
    ctx: RunContext,
    record: dict[str, Any],
) -> dict[str, tuple[str, np.ndarray]]:
    """fit(TrainData) -> [refit(train)] -> decision_function(val); fills the record in place."""
    spec, method = resolved.spec, resolved.method
    handed = data.train_data(cfg.monitor)
    n_monitor = len(handed.monitor) if handed.monitor is not None else 0
    log.info(
        "%s: fitting on %d training images (%d monitor images beside them; %s)",
        spec.row, len(handed.fit), n_monitor, ctx.device,
    )  # fmt: skip
    refit_rows = None
    variants: dict[str, tuple[str, np.ndarray]] = {}
    peak = PeakMemory()
    clock = FitClock(ctx.work_dir)
    try:
        # one-off start-up (imports, pools) before fit's clock, recorded apart
        t_start = time.perf_counter()
        getattr(method, "warm_up", lambda ctx: None)(ctx)
        record["startup_seconds"] = round(time.perf_counter() - t_start, 3)
        with peak:
            with clock:
                t0 = time.perf_counter()
                refit_rows = fit_method(method, handed, data.train, ctx)
                if refit_rows is not None:
                    log.info("%s: refit on all %d training images", spec.row, refit_rows)
                t1 = time.perf_counter()
            # The val split is scored once, here, after fit (and refit) returned.
            scores = method.decision_function(data.val, ctx)
            t2 = time.perf_counter()
        scores = check_scores(scores, data.val, spec.name)
        variants = _variants(method, data.val, ctx, spec.name)
        clock.done()
        if clock.before:
            log.info("%s: resumed; %.1f s of fit before the interruption", spec.row, clock.before)
        record.update(
            status="ok",
            train_seconds=round(t1 - t0 + clock.before, 3),
            resumed=clock.before > 0 or None,
            eval_seconds=round(t2 - t1, 3),
            train_images_per_s=images_per_s(len(data.train), t1 - t0),
            eval_images_per_s=images_per_s(len(data.val), t2 - t1),
            **scored(scores, data.val),
        )
    except Exception as exc:  # a method may fail in any way; the sweep goes on
        log.error("%s failed: %s", spec.row, exc)
        log.debug("%s", traceback.format_exc())
        record["error"] = f"{type(exc).__name__}: {exc}"
    if peak.peak_bytes:  # failed runs too: memory is a common reason to fail
        record["peak_rss_mib"] = peak.mib
        record["peak_anon_mib"] = peak.anon_mib
    finish_record(record, ctx, cfg, data, handed, refit_rows)
    return variants


def run_method(
    cfg: RunConfig,
    data: PreparedData,
    spec: MethodSpec,
    device: str,
    results_dir: Path,
    resolved: ResolvedMethod | None = None,
) -> MethodOutcome:
    """Fit and score one method; always returns records, never raises for method faults."""
    from filelock import FileLock

    outcome = MethodOutcome(spec)
    try:
        resolved = resolved or resolve_method(spec, device)
    except Exception as exc:  # a broken plugin: a failed record, the next method runs
        resolved = None
        problem = f"{type(exc).__name__}: {exc}"
    params = resolved.params if resolved is not None else dict(spec.params)
    run_id = run_id_for(data.subset.name, spec, cfg, data.manifest.hash, device, params=params)
    lock_dir = results_dir / "runs" / ".locks"
    lock_dir.mkdir(parents=True, exist_ok=True)
    # Two runs of the same configuration: the second waits, then finds the record.
    with FileLock(str(lock_dir / f"{run_id}.lock")):
        good = existing_ok_record(results_dir, run_id)
        if not cfg.fresh and good:
            log.info("%s: record %s exists, skipping (use --fresh to rerun)", spec.row, run_id)
            outcome.records.append(good)
            outcome.skipped = True
            # its variants' rows too: a rerun's summary shows every row of the run
            method = resolved.method if resolved is not None else None
            declared = getattr(method, "declared_variants", dict)()
            for vname in declared:
                vgood = existing_ok_record(results_dir, f"{run_id}__{vname}")
                if vgood:
                    outcome.records.append(vgood)
            return outcome
        record = base_record(cfg, data, spec, run_id, device)
        ctx = method_context(cfg, data, spec, run_id, device)
        if cfg.fresh:
            # From scratch: no checkpoint to resume and no cached features or codebooks
            # (a damaged cache must not make every --fresh rerun fail the same way).
            shutil.rmtree(ctx.work_dir, ignore_errors=True)
            shutil.rmtree(ctx.cache_dir, ignore_errors=True)
        ctx.cache_dir.mkdir(parents=True, exist_ok=True)
        ctx.work_dir.mkdir(parents=True, exist_ok=True)
        variants: dict[str, tuple[str, np.ndarray]] = {}
        if resolved is None:
            log.error("%s failed: %s", spec.row, problem)
            record["error"] = problem
        else:
            record.update(resolved.info)
            variants = _fit_and_score(resolved, cfg, data, ctx, record)
        if record["status"] != "ok" and good:
            kept = keep_failed_attempt(results_dir, record)
            log.error(
                "%s: this rerun failed; the earlier good record %s is kept, the failed "
                "attempt is in %s",
                spec.row, run_id, kept,
            )  # fmt: skip
            outcome.records.append(record)
            return outcome
        write_curve(results_dir, run_id, record["learning_curve"])
        rec = parse_record(record, run_id)
        write_record(results_dir, rec)
        outcome.records.append(rec)
        for vname, (reason, vscores) in variants.items():
            vrec = variant_record(rec, vname, reason, vscores, data.val)
            write_record(results_dir, vrec)
            outcome.records.append(vrec)
    return outcome


def before_cache(
    cfg: RunConfig, methods: dict[MethodSpec, ResolvedMethod], device: str
) -> Callable[[Any], None]:
    """The checks between the manifest and the first decoded image: disk and memory
    (:mod:`harness.resources`, unless ``ignore_resources``), then the methods' pre-flight."""
    preflight = preflight_check(cfg, methods, device)

    def check(manifest: Any) -> None:
        if not cfg.ignore_resources:
            run_ids = {
                spec.row: run_id_for(
                    manifest.subset.name, spec, cfg, manifest.hash, device, params=r.params
                )
                for spec, r in methods.items()
            }
            check_resources(Path(cfg.cache), manifest, run_ids)
        preflight(manifest)

    return check


def run(cfg: RunConfig) -> RunSummary:
    """Run every method of ``cfg`` on one shared manifest; write records and the leaderboard.

    Everything that can be checked without decoding an image is checked
    first (folders, methods, parameters, the methods' pre-flight), so a
    mistake costs seconds, not a cache build.
    """
    results_dir = Path(cfg.results)
    check_writable_folder(results_dir, "--results")
    check_writable_folder(Path(cfg.cache), "--cache")
    device = resolve_device(cfg.device)
    if cfg.plugins:
        load_plugins(cfg.plugins)
    methods = validate_methods(cfg, device)
    data = prepare_data(cfg, results_dir, before_cache=before_cache(cfg, methods, device))
    monitor = data.monitor
    log.info(
        "subset %s: %d classes, %d train (%d held out as the monitor), %d val images at %dpx "
        "(manifest %s)",
        data.subset.name, data.train.n_classes, len(data.train),
        len(monitor) if monitor is not None else 0,
        len(data.val), data.train.size, data.manifest.hash[:16],
    )  # fmt: skip
    atomic_write_text(results_dir / "config.json", cfg.to_json() + "\n")
    outcomes = []
    for spec in cfg.methods:
        outcomes.append(run_method(cfg, data, spec, device, results_dir, methods.get(spec)))
        write_leaderboard(results_dir)
    return RunSummary(cfg, outcomes, data)
