"""Run every method of a suite on the same manifest and record the results.

The runner knows no concrete method: it looks names up in the registry. For
one run it builds the manifest once, decodes the image cache once, then for
each method: skips it when a successful record of the same configuration
exists (unless ``fresh``), otherwise fits, scores the validation split, applies
the ILSVRC protocol and writes a record. A method that fails in any way becomes
a record with an ``error`` field and the next method still runs. Interrupted
methods resume from what they cached in their work folder (checkpoints,
features), because a rerun of the same configuration gets the same folder.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import shutil
import subprocess
import time
import traceback
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np

from harness import __version__
from harness.api import MethodError, RunContext, Split, get_params
from harness.config import DEMO_DATA, ConfigError, MethodSpec, RunConfig, user_data_root
from harness.memory import PeakMemory
from harness.protocol import topk_errors
from harness.registry import BASELINES, import_object
from harness.results import (
    atomic_write_text,
    existing_ok_record,
    record_path,
    write_leaderboard,
    write_record,
)

log = logging.getLogger("harness.runner")

LABEL_SPACE = "sorted-wnid-index"
_VERSIONED = (
    "numpy",
    "torch",
    "scikit-learn",
    "scikit-image",
    "opencv-python-headless",
    "opencv-python",
    "pandas",
    "kornia",
    "dask",
)


# ----------------------------------------------------------------- environment


def resolve_device(device: str) -> str:
    """``auto`` -> ``cuda`` when a CUDA GPU is usable, else ``cpu``.

    Without an NVIDIA device node torch is not imported at all, so the
    hand-crafted methods on a CPU machine never pay for importing it.
    """
    if device not in ("auto", "cpu", "cuda"):
        raise ConfigError(f"--device must be auto, cpu or cuda, not {device!r}")
    if device == "cpu":
        return "cpu"
    has_node = any(Path("/dev").glob("nvidia[0-9]*"))
    cuda = False
    if has_node or device == "cuda":
        try:
            import torch

            cuda = bool(torch.cuda.is_available())
        except ImportError:
            cuda = False
    if device == "cuda" and not cuda:
        raise ConfigError("--device cuda was asked for but torch sees no CUDA GPU")
    return "cuda" if cuda else "cpu"


def device_name(device: str) -> str:
    """A human-readable name of the hardware a run used."""
    if device == "cuda":
        import torch

        return f"cuda: {torch.cuda.get_device_name(0)}"
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"cpu: {model} ({os.cpu_count()} cores)"


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version(), "ilsvrc-harness": __version__}
    for name in _VERSIONED:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            continue
    return versions


def git_commit() -> str | None:
    root = Path(__file__).resolve().parent.parent
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def config_hash(payload: dict[str, Any]) -> str:
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


MIN_TIMED_SECONDS = 0.01  # below this a rate is clock noise (e.g. ``random``), not a speed


def images_per_s(n_images: int, seconds: float) -> float | None:
    """Throughput for the record; ``None`` when the interval is too short to time."""
    return round(n_images / seconds, 2) if seconds >= MIN_TIMED_SECONDS else None


def full_params(method: object, spec: MethodSpec) -> dict[str, Any]:
    """A constructed method's parameters, defaults included, with the suite's settings on top."""
    return {**get_params(method), **dict(spec.params)}


def resolved_params(spec: MethodSpec) -> dict[str, Any]:
    """The method's full parameters: its defaults overlaid by the suite's settings.

    Hashing these (not only the overrides) means a changed default is a new run,
    never a stale record reused under the same id.
    """
    try:
        return full_params(BASELINES.get(spec.name)(**dict(spec.params)), spec)
    except Exception:  # unknown or broken method: it fails later, with its message
        return dict(spec.params)


def run_id_for(subset: str, spec: MethodSpec, seed: int, manifest_hash: str) -> str:
    """One id per (method, subset, resolved config): the same configuration reuses its record."""
    digest = config_hash({"params": resolved_params(spec), "seed": seed, "manifest": manifest_hash})
    safe_subset = subset.replace("/", "_").replace(":", "_")
    return f"{safe_subset}__{spec.name}__{digest}"


# ----------------------------------------------------------------- data


@dataclass
class PreparedData:
    """The one manifest and cache every method of a run shares."""

    subset: Any
    manifest: Any
    cached: Any
    train: Split
    val: Split
    data_root: Path
    cache_seconds: float


def resolve_data_root(cfg: RunConfig) -> Path:
    data = cfg.data or user_data_root(cfg.subset)
    if data is None:
        raise ConfigError(
            f"no data root for subset {cfg.subset!r}: pass --data PATH, set HARNESS_DATA, "
            "or run the built-in demo with `harness run` and no arguments"
        )
    if data == DEMO_DATA:
        from harness.data import make_demo_dataset

        return Path(make_demo_dataset(Path(cfg.cache) / "demo-data"))
    root = Path(data).expanduser()
    if not root.is_dir():
        raise ConfigError(f"data root {root} is not a folder")
    return root


def resolve_subset(cfg: RunConfig) -> Any:
    from harness.data import adhoc_subset, get_subset

    subset = get_subset(cfg.subset)
    if any(v is not None for v in (cfg.classes, cfg.train_per_class, cfg.val_per_class)):
        subset = adhoc_subset(
            subset,
            classes=cfg.classes,
            train_per_class=cfg.train_per_class,
            val_per_class=cfg.val_per_class,
            seed=cfg.subset_seed,
        )
    return subset


def prepare_data(cfg: RunConfig, results_dir: Path) -> PreparedData:
    """Manifest -> decoded cache -> the train and val splits."""
    from harness.data import build_manifest, ensure_cache

    root = resolve_data_root(cfg)
    subset = resolve_subset(cfg)
    manifest = build_manifest(root, subset, fingerprint_memo=Path(cfg.cache) / "fingerprints")
    mdir = results_dir / "manifests"
    mdir.mkdir(parents=True, exist_ok=True)
    mpath = mdir / f"{subset.name.replace(':', '_')}-{manifest.hash[:16]}.csv"
    if not mpath.exists():
        manifest.save(mpath)
    t0 = time.perf_counter()
    cached = ensure_cache(
        manifest,
        Path(cfg.cache) / "images",
        n_jobs=cfg.n_jobs or os.cpu_count() or 1,
        skip_bad_images=cfg.skip_bad_images,
        quiet=cfg.quiet,
    )
    seconds = time.perf_counter() - t0
    return PreparedData(
        subset=subset,
        manifest=manifest,
        cached=cached,
        train=cached.split("train"),
        val=cached.split("val"),
        data_root=root,
        cache_seconds=seconds,
    )


# ----------------------------------------------------------------- methods


def check_scores(scores: Any, split: Split, who: str) -> np.ndarray:
    """Scores must be a finite (n_images, n_classes) array; say what is wrong."""
    try:
        arr = np.asarray(scores, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise MethodError(
            f"{who}: decision_function returned {type(scores).__name__}, not an array"
        ) from exc
    expected = (len(split), split.n_classes)
    if arr.shape != expected:
        raise MethodError(
            f"{who}: decision_function returned scores of shape {arr.shape}, expected {expected} "
            f"(n_images, n_classes) for split {split.name!r}"
        )
    bad = ~np.isfinite(arr)
    if bad.any():
        rows = np.flatnonzero(bad.any(axis=1))
        raise MethodError(
            f"{who}: decision_function returned {int(bad.sum())} NaN/inf scores "
            f"in {len(rows)} rows (first row {int(rows[0])})"
        )
    return arr


def load_plugins(specs: tuple[str, ...]) -> list[str]:
    """Register ``module:Class`` plugins given on the command line; returns their names."""
    names = []
    for spec in specs:
        cls = import_object(spec)
        name = getattr(cls, "name", None) or spec.rsplit(":", 1)[-1].lower()
        BASELINES.add(name, cls)
        names.append(name)
    return names


@dataclass
class MethodOutcome:
    spec: MethodSpec
    records: list[dict[str, Any]] = field(default_factory=list)
    skipped: bool = False

    @property
    def failed(self) -> bool:
        return any(r["status"] != "ok" for r in self.records)


def _base_record(
    cfg: RunConfig, data: PreparedData, spec: MethodSpec, run_id: str, device: str
) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "status": "error",
        "error": None,
        "method": spec.name,
        "variant": None,
        "display_name": spec.name,
        "family": "other",
        "year": None,
        "source": None,
        "params": dict(spec.params),
        "subset": data.subset.name,
        "subset_version": getattr(data.subset, "version", None),
        "manifest_hash": data.manifest.hash,
        "layout": getattr(data.manifest, "layout", None),
        "label_space": LABEL_SPACE,
        "n_classes": data.train.n_classes,
        "n_train": len(data.train),
        "n_val": len(data.val),
        "image_size": data.train.size,
        "top1_err": None,
        "top5_err": None,
        "train_seconds": None,
        "eval_seconds": None,
        "train_images_per_s": None,
        "eval_images_per_s": None,
        "peak_rss_mib": None,
        "device": device_name(device),
        "versions": package_versions(),
        "git_commit": git_commit(),
        "seed": cfg.seed,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        **data.cached.record(),  # cache folder, decode rate, bad_images
        "manifest_notes": list(getattr(data.manifest, "notes", [])),
        "learning_curve": [],
        "notes": {},
        "config": cfg.to_dict(),
    }


def _write_curve(results_dir: Path, run_id: str, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    import pandas as pd

    path = record_path(results_dir, run_id).with_suffix(".curve.csv")
    atomic_write_text(path, pd.DataFrame(rows).to_csv(index=False))


def run_method(
    cfg: RunConfig, data: PreparedData, spec: MethodSpec, device: str, results_dir: Path
) -> MethodOutcome:
    """Fit and score one method; always returns records, never raises for method faults."""
    from filelock import FileLock

    run_id = run_id_for(data.subset.name, spec, cfg.seed, data.manifest.hash)
    lock_dir = results_dir / "runs" / ".locks"
    lock_dir.mkdir(parents=True, exist_ok=True)
    outcome = MethodOutcome(spec)
    # Two runs of the same configuration: the second waits, then finds the record.
    with FileLock(str(lock_dir / f"{run_id}.lock")):
        if not cfg.fresh and (done := existing_ok_record(results_dir, run_id)):
            log.info("%s: record %s exists, skipping (use --fresh to rerun)", spec.name, run_id)
            outcome.records.append(done)
            outcome.skipped = True
            return outcome
        record = _base_record(cfg, data, spec, run_id, device)
        ctx = RunContext(
            device=device,
            seed=cfg.seed,
            cache_dir=Path(cfg.cache) / "methods" / spec.name,
            work_dir=Path(cfg.cache) / "work" / run_id,
            n_jobs=cfg.n_jobs or os.cpu_count() or 1,
            dask_scheduler=cfg.dask_scheduler,
            quiet=cfg.quiet,
            deterministic=cfg.deterministic,
            monitor=data.val,
            manifest_hash=data.manifest.hash,
            logger=logging.getLogger(f"harness.method.{spec.name}"),
        )
        ctx.cache_dir.mkdir(parents=True, exist_ok=True)
        if cfg.fresh:  # a rerun from scratch: no resuming from an earlier run's checkpoints
            shutil.rmtree(ctx.work_dir, ignore_errors=True)
        ctx.work_dir.mkdir(parents=True, exist_ok=True)
        variants: dict[str, np.ndarray] = {}
        peak = PeakMemory()
        try:
            cls = BASELINES.get(spec.name)
            record.update(
                year=getattr(cls, "year", None),
                source=getattr(cls, "source", None),
                family=getattr(cls, "family", "other"),
            )
            try:
                method = cls(**dict(spec.params))
            except TypeError as exc:
                raise MethodError(
                    f"{spec.name}: bad parameters {dict(spec.params)}: {exc}"
                ) from exc
            record["params"] = full_params(method, spec)
            # a method names its own departures from the published model in its row
            tag = method.display_tag() if hasattr(method, "display_tag") else None
            if tag:
                record["display_name"] = f"{spec.name} ({tag})"
            log.info("%s: fitting on %d images (%s)", spec.name, len(data.train), device)
            with peak:
                t0 = time.perf_counter()
                fitted = method.fit(data.train, ctx)
                method = fitted if fitted is not None else method
                t1 = time.perf_counter()
                scores = method.decision_function(data.val, ctx)
                t2 = time.perf_counter()
            scores = check_scores(scores, data.val, spec.name)
            if hasattr(method, "variant_scores"):
                for vname, vscores in method.variant_scores(data.val, ctx).items():
                    variants[vname] = check_scores(vscores, data.val, f"{spec.name}[{vname}]")
            errs = topk_errors(scores, data.val.labels, (1, 5))
            record.update(
                status="ok",
                top1_err=round(errs[1], 4),
                top5_err=round(errs[5], 4),
                train_seconds=round(t1 - t0, 3),
                eval_seconds=round(t2 - t1, 3),
                train_images_per_s=images_per_s(len(data.train), t1 - t0),
                eval_images_per_s=images_per_s(len(data.val), t2 - t1),
            )
        except Exception as exc:  # a method may fail in any way; the sweep goes on
            log.error("%s failed: %s", spec.name, exc)
            log.debug("%s", traceback.format_exc())
            record["error"] = f"{type(exc).__name__}: {exc}"
        if peak.peak_bytes:  # failed runs too: memory is a common reason to fail
            record["peak_rss_mib"] = peak.mib
        record["learning_curve"] = list(ctx.epoch_log)
        notes = dict(ctx.notes)
        if "train_images_per_s" in notes:  # the method knows its true throughput (epochs x images)
            record["train_images_per_s"] = notes["train_images_per_s"]
        if notes.get("train_seconds_before_resume") and record["train_seconds"] is not None:
            # a resumed run: this process's fit plus the epochs trained before the kill
            record["train_seconds"] = round(
                record["train_seconds"] + notes["train_seconds_before_resume"], 3
            )
        record["notes"] = notes
        _write_curve(results_dir, run_id, record["learning_curve"])
        write_record(results_dir, record)
        outcome.records.append(record)
        for vname, vscores in variants.items():
            errs = topk_errors(vscores, data.val.labels, (1, 5))
            vrecord = {
                **record,
                "run_id": f"{run_id}__{vname}",
                "variant": vname,
                "display_name": f"{record['display_name']}[{vname}]",
                "top1_err": round(errs[1], 4),
                "top5_err": round(errs[5], 4),
                "learning_curve": [],
            }
            write_record(results_dir, vrecord)
            outcome.records.append(vrecord)
    return outcome


@dataclass
class RunSummary:
    config: RunConfig
    outcomes: list[MethodOutcome]
    data: PreparedData | None

    @property
    def failed(self) -> bool:
        return any(o.failed for o in self.outcomes)

    @property
    def records(self) -> list[dict[str, Any]]:
        return [r for o in self.outcomes for r in o.records]


def run(cfg: RunConfig) -> RunSummary:
    """Run every method of ``cfg`` on one shared manifest; write records and the leaderboard."""
    results_dir = Path(cfg.results)
    results_dir.mkdir(parents=True, exist_ok=True)
    device = resolve_device(cfg.device)
    if cfg.plugins:
        load_plugins(cfg.plugins)
    data = prepare_data(cfg, results_dir)
    log.info(
        "subset %s: %d classes, %d train, %d val images at %dpx (manifest %s)",
        data.subset.name,
        data.train.n_classes,
        len(data.train),
        len(data.val),
        data.train.size,
        data.manifest.hash[:16],
    )
    atomic_write_text(results_dir / "config.json", cfg.to_json() + "\n")
    outcomes = []
    for spec in cfg.methods:
        outcomes.append(run_method(cfg, data, spec, device, results_dir))
        write_leaderboard(results_dir)
    return RunSummary(cfg, outcomes, data)
