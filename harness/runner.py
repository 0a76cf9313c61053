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

import dataclasses
import hashlib
import json
import logging
import os
import platform
import shutil
import subprocess
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np

from harness import __version__
from harness.api import MethodError, RunContext, Split, get_params
from harness.config import (
    DEMO_DATA,
    ConfigError,
    MethodSpec,
    RunConfig,
    data_folder,
    user_data_root,
)
from harness.data.holdout import Holdout, carve_holdout
from harness.memory import PeakMemory
from harness.params import ParameterError, check_params
from harness.protocol import hit_error, topk_hits
from harness.record import UNHASHED_PARAMS, ValHits, parse_record
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


def git_commit(root: Path | None = None) -> str | None:
    """The commit of the harness checkout, or None when the package is not a checkout.

    A wheel installed into a venv that sits inside some other git repository
    must not record that repository's HEAD, so the package's parent folder must
    itself be the top of the work tree.
    """
    root = Path(root or Path(__file__).resolve().parent.parent).resolve()
    if not (root / ".git").exists():
        return None
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--show-toplevel", "HEAD"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=5,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    lines = out.stdout.split()
    if out.returncode != 0 or len(lines) != 2 or Path(lines[0]).resolve() != root:
        return None
    return lines[1]


def config_hash(payload: dict[str, Any]) -> str:
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


MIN_TIMED_SECONDS = 0.01  # below this a rate is clock noise (e.g. ``random``), not a speed


def images_per_s(n_images: int, seconds: float) -> float | None:
    """Throughput for the record; ``None`` when the interval is too short to time."""
    return round(n_images / seconds, 2) if seconds >= MIN_TIMED_SECONDS else None


def full_params(method: object, spec: MethodSpec) -> dict[str, Any]:
    """A constructed method's parameters, defaults included, with the suite's settings on top.

    A method whose recipe depends on the device (AlexNet's ``profile="auto"``)
    gives its resolved values through ``resolved_params()``: the record and
    the run id then say what actually ran.
    """
    if hasattr(method, "resolved_params"):
        return dict(method.resolved_params())
    return {**get_params(method), **dict(spec.params)}


def resolved_params(spec: MethodSpec, device: str = "cpu") -> dict[str, Any]:
    """The method's full parameters on ``device``: its defaults overlaid by the suite's settings.

    Hashing these (not only the overrides) means a changed default is a new run,
    never a stale record reused under the same id; and a CPU-profile run never
    shares an id with a paper-profile run on a GPU.
    """
    try:
        method = BASELINES.get(spec.name)(**dict(spec.params))
        if hasattr(method, "resolve_profile"):
            method.resolve_profile(device)
        return full_params(method, spec)
    except Exception:  # unknown or broken method: it fails later, with its message
        return dict(spec.params)


def run_id_for(
    subset: str, spec: MethodSpec, cfg: RunConfig | int, manifest_hash: str, device: str = "cpu"
) -> str:
    """One id per (method, subset, resolved config): the same configuration reuses its record.

    The monitor's draw (fraction and seed) is part of the configuration: it
    decides which images a method fits on.
    """
    params = {k: v for k, v in resolved_params(spec, device).items() if k not in UNHASHED_PARAMS}
    if isinstance(cfg, int):  # a bare seed: no holdout settings to hash
        payload = {"params": params, "seed": cfg, "manifest": manifest_hash}
    else:
        payload = {
            "params": params,
            "seed": cfg.seed,
            "manifest": manifest_hash,
            "holdout": [cfg.holdout_fraction, cfg.holdout_seed],
            **({"monitor": "val"} if cfg.monitor == "val" else {}),
        }
    digest = config_hash(payload)
    safe_subset = subset.replace("/", "_").replace(":", "_")
    return f"{safe_subset}__{spec.name}__{digest}"


# ----------------------------------------------------------------- data


@dataclass
class PreparedData:
    """The one manifest, cache and monitor every method of a run shares."""

    subset: Any
    manifest: Any
    cached: Any
    train: Split  # every training image; methods fit on holdout.fit_rows of it
    val: Split  # scored once, after fit; never handed to fit
    data_root: Path
    cache_seconds: float
    holdout: Holdout | None = None
    monitor: Split | None = None  # the held-out training rows as a Split (memory-mapped)


def resolve_data_root(cfg: RunConfig) -> Path:
    data = cfg.data or user_data_root(cfg.subset or "")
    if data is None:
        raise ConfigError(
            f"no data root for subset {cfg.subset!r}: pass --data PATH, set HARNESS_DATA, "
            "or run the built-in demo with `harness run` and no arguments"
        )
    if data == DEMO_DATA:
        from harness.data import make_demo_dataset

        return Path(make_demo_dataset(Path(cfg.cache) / "demo-data"))
    return data_folder(data)


def layout_size(layout: str) -> int:
    """Stored side length that a layout's images get when no subset names one."""
    from harness.data.layouts import get_layout

    return int(get_layout(layout).defaults.size)


def resolve_subset(cfg: RunConfig, index: Any = None) -> Any:
    """The subset of this run.

    A named subset (the suite's, or ``--subset``) applies as it is. With no
    subset, or with ad-hoc flags (``--classes``, ``--train-per-class``,
    ``--val-per-class``) and no ``--subset`` on the command line, the base is
    every class the data root holds (:func:`present_classes_subset`), so the
    flags draw from the classes present, never from a built-in class list.
    """
    from harness.data import adhoc_subset, get_subset
    from harness.data.subsets import present_classes_subset

    adhoc = any(v is not None for v in (cfg.classes, cfg.train_per_class, cfg.val_per_class))
    named = get_subset(cfg.subset) if cfg.subset else None
    if named is not None and (cfg.subset_named or not adhoc):
        subset = named
    else:
        if index is None:
            raise ConfigError("an ad-hoc subset needs the dataset index")
        size = named.size if named is not None else layout_size(index.layout)
        subset = present_classes_subset(index.layout, index.wnids, size)
    if adhoc:
        subset = adhoc_subset(
            subset,
            classes=cfg.classes,
            train_per_class=cfg.train_per_class,
            val_per_class=cfg.val_per_class,
            seed=cfg.subset_seed,
        )
    if cfg.size is not None and cfg.size != subset.size:
        subset = dataclasses.replace(subset, name=f"{subset.name}:px{cfg.size}", size=cfg.size)
    return subset


def _monitor_split(train: Split, holdout: Holdout, folder: Path) -> Split:
    """The held-out rows as a read-only memory map of their own (never all in RAM)."""
    rows = holdout.monitor_rows
    key = hashlib.sha256(rows.tobytes() + str(train.images.shape).encode()).hexdigest()[:16]
    path = folder / f"monitor-{key}.npy"
    shape = (len(rows), *train.images.shape[1:])
    images = None
    if path.is_file():
        try:
            images = np.load(path, mmap_mode="r")
            if images.shape != shape or images.dtype != np.uint8:
                images = None
        except (OSError, ValueError):
            images = None
    if images is None:
        folder.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=shape)
        for lo in range(0, len(rows), 1024):
            out[lo : lo + 1024] = train.images[rows[lo : lo + 1024]]
        out.flush()
        del out
        os.replace(tmp, path)
        images = np.load(path, mmap_mode="r")
    return Split(
        name="monitor",
        images=images,
        labels=train.labels[rows],
        wnids=train.wnids,
        paths=tuple(train.paths[i] for i in rows) if train.paths else (),
        class_names=train.class_names,
    )


def read_dataset(cfg: RunConfig) -> tuple[Path, Any, Any]:
    """Data root -> (root, its DatasetIndex, the run's subset)."""
    from harness.data import read_layout

    root = resolve_data_root(cfg)
    index = read_layout(root)
    return root, index, resolve_subset(cfg, index)


def prepare_data(
    cfg: RunConfig,
    results_dir: Path,
    before_cache: Callable[[Any], None] | None = None,
) -> PreparedData:
    """Manifest -> decoded cache -> the train, monitor and val splits.

    ``before_cache(manifest)`` runs once the manifest is known and before any
    image is decoded: the runner's pre-flight checks of the methods.
    """
    from harness.data import build_manifest, ensure_cache

    root, index, subset = read_dataset(cfg)
    manifest = build_manifest(
        root, subset, index=index, fingerprint_memo=Path(cfg.cache) / "fingerprints"
    )
    mdir = results_dir / "manifests"
    mdir.mkdir(parents=True, exist_ok=True)
    mpath = mdir / f"{subset.name.replace(':', '_')}-{manifest.hash[:16]}.csv"
    if not mpath.exists():
        manifest.save(mpath)
    if before_cache is not None:
        before_cache(manifest)
    t0 = time.perf_counter()
    cached = ensure_cache(
        manifest,
        Path(cfg.cache) / "images",
        n_jobs=cfg.n_jobs or os.cpu_count() or 1,
        skip_bad_images=cfg.skip_bad_images,
        quiet=cfg.quiet,
    )
    seconds = time.perf_counter() - t0
    train = cached.split("train")
    holdout = monitor = None
    if cfg.holdout_fraction > 0:
        holdout = carve_holdout(
            train.labels, train.n_classes, fraction=cfg.holdout_fraction, seed=cfg.holdout_seed
        )
        if holdout.n_monitor:
            monitor = _monitor_split(train, holdout, Path(cfg.cache) / "monitor")
    return PreparedData(
        subset=subset,
        manifest=manifest,
        cached=cached,
        train=train,
        val=cached.split("val"),
        data_root=root,
        cache_seconds=seconds,
        holdout=holdout,
        monitor=monitor,
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
    records: list[Any] = field(default_factory=list)  # RunRecord (or the failed dict)
    skipped: bool = False

    @property
    def failed(self) -> bool:
        return any(r["status"] != "ok" for r in self.records)


# ----------------------------------------------------------------- checks before any work


def validate_methods(cfg: RunConfig) -> None:
    """Every method of the run exists and takes its parameters; else ConfigError, before work.

    Names, types and ranges are checked against the registry and each
    method's ``__init__`` signature and ``parameter_constraints``
    (:mod:`harness.params`), so a typo never costs a cache build or leaves a
    failed record behind.
    """
    known = BASELINES.names()
    for spec in cfg.methods:
        if spec.name not in BASELINES:
            import difflib

            close = difflib.get_close_matches(spec.name, known, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ConfigError(
                f"--methods: unknown method {spec.name!r}.{hint} Known methods: "
                f"{', '.join(known)} (plugins: --plugin module:Class)"
            )
        cls = BASELINES.get(spec.name)
        try:
            check_params(cls, spec.row, dict(spec.params))
            cls(**dict(spec.params))
        except ParameterError as exc:
            raise ConfigError(str(exc)) from None
        except (TypeError, ValueError, MethodError) as exc:
            raise ConfigError(f"--param {spec.row}: {exc}") from None


def _preflight(cfg: RunConfig, device: str) -> Callable[[Any], None]:
    """Checks that need the manifest (how many images) but no decoded image yet."""

    def check(manifest: Any) -> None:
        n_train = int((manifest.entries["split"] == "train").sum())
        for spec in cfg.methods:
            method = BASELINES.get(spec.name)(**dict(spec.params))
            if hasattr(method, "preflight"):
                try:
                    method.preflight(n_train, device, allow_slow_cpu=cfg.allow_slow_cpu)
                except MethodError as exc:
                    raise ConfigError(f"{spec.row}: {exc}") from None

    return check


def check_writable_folder(path: Path, flag: str) -> None:
    """``path`` is (or can be made) a folder we can write into; else one ConfigError line."""
    path = Path(path)
    try:
        if path.exists() and not path.is_dir():
            raise ConfigError(f"{flag} {path}: is a file, not a folder; pass {flag} DIR")
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".write-probe-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except ConfigError:
        raise
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ConfigError(
            f"{flag} {path}: cannot write there ({reason}); pass {flag} DIR with a folder "
            f"you can write to"
        ) from None
    runs = path / "runs"
    if flag == "--results" and runs.exists() and not runs.is_dir():
        raise ConfigError(
            f"{runs} is a file, but records go into the folder {runs}/: move the file away "
            f"or pass --results DIR"
        )


# ----------------------------------------------------------------- one method


def method_context(
    cfg: RunConfig, data: PreparedData, spec: MethodSpec, device: str, run_id: str
) -> RunContext:
    """The RunContext a method gets: the runner and ``alexnet.train_ddp`` both build it here."""
    return RunContext(
        device=device,
        seed=cfg.seed,
        cache_dir=Path(cfg.cache) / "methods" / spec.name,
        work_dir=Path(cfg.cache) / "work" / run_id,
        n_jobs=cfg.n_jobs or os.cpu_count() or 1,
        dask_scheduler=cfg.dask_scheduler,
        quiet=cfg.quiet,
        deterministic=cfg.deterministic,
        # --monitor val: the paper's practice (its lr schedule watched val); every
        # method then fits on all of train and the record says the monitor was val
        monitor=data.val if cfg.monitor == "val" else data.monitor,
        holdout=None if cfg.monitor == "val" else data.holdout,
        manifest_hash=data.manifest.hash,
        logger=logging.getLogger(f"harness.method.{spec.name}"),
    )


def _monitor_record(data: PreparedData, cfg: RunConfig) -> dict[str, Any]:
    if cfg.monitor == "val":
        return {"split": "val", "n_images": len(data.val)}
    if data.holdout is None or data.monitor is None:
        return {"split": "none"}
    return data.holdout.describe()


def _base_record(
    cfg: RunConfig, data: PreparedData, spec: MethodSpec, run_id: str, device: str
) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "status": "error",
        "error": None,
        "method": spec.name,
        "variant": None,
        "tag": None,
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
        "crop": None,
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
        "monitor": _monitor_record(data, cfg),
        "training": {},
        "selection": [],
        "learning_curve": [],
        "notes": {},
        "config": cfg.to_dict(),
        "command": cfg.command,
    }


def _write_curve(results_dir: Path, run_id: str, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    import pandas as pd

    path = record_path(results_dir, run_id).with_suffix(".curve.csv")
    atomic_write_text(path, pd.DataFrame(rows).to_csv(index=False))


def _keep_failed_attempt(results_dir: Path, record: dict[str, Any]) -> Path:
    """A failed rerun of a run that has a good record: kept aside, the good record untouched."""
    stamp = record["date"].replace(":", "").replace("-", "")
    path = Path(results_dir) / "runs" / "failed" / f"{record['run_id']}.{stamp}.json"
    atomic_write_text(path, parse_record(record, str(path)).to_json() + "\n")
    return path


def _training_facts(ctx: RunContext) -> dict[str, Any]:
    facts = {k: v for k, v in dataclasses.asdict(ctx.training).items() if v not in (None, ())}
    if "lr_drops" in facts:
        facts["lr_drops"] = list(facts["lr_drops"])
    return facts


def _val_hits(hits: dict[int, np.ndarray], val: Split) -> dict[str, Any]:
    """The record's per-image hits of the val split (row order), for intervals later."""
    packed = ValHits.from_arrays(hits[1], hits[5], paths=val.paths, labels=val.labels)
    return packed.model_dump(mode="json")


def run_method(
    cfg: RunConfig, data: PreparedData, spec: MethodSpec, device: str, results_dir: Path
) -> MethodOutcome:
    """Fit and score one method; always returns records, never raises for method faults."""
    from filelock import FileLock

    run_id = run_id_for(data.subset.name, spec, cfg, data.manifest.hash, device)
    lock_dir = results_dir / "runs" / ".locks"
    lock_dir.mkdir(parents=True, exist_ok=True)
    outcome = MethodOutcome(spec)
    # Two runs of the same configuration: the second waits, then finds the record.
    with FileLock(str(lock_dir / f"{run_id}.lock")):
        good = existing_ok_record(results_dir, run_id)
        if not cfg.fresh and good:
            log.info("%s: record %s exists, skipping (use --fresh to rerun)", spec.row, run_id)
            outcome.records.append(good)
            outcome.skipped = True
            return outcome
        record = _base_record(cfg, data, spec, run_id, device)
        ctx = method_context(cfg, data, spec, device, run_id)
        if cfg.fresh:
            # From scratch: no checkpoint to resume and no cached features or codebooks
            # (a damaged cache must not make every --fresh rerun fail the same way).
            shutil.rmtree(ctx.work_dir, ignore_errors=True)
            shutil.rmtree(ctx.cache_dir, ignore_errors=True)
        ctx.cache_dir.mkdir(parents=True, exist_ok=True)
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
            if hasattr(method, "resolve_profile"):  # device-dependent recipes (AlexNet)
                method.resolve_profile(device)
            record["params"] = full_params(method, spec)
            # a method names its own departures from the published model in its row
            tag = method.display_tag() if hasattr(method, "display_tag") else None
            if tag:
                record["tag"] = tag
            log.info(
                "%s: fitting on %d training images (%d held out as the monitor; %s)",
                spec.row,
                len(data.train),
                data.monitor.__len__() if data.monitor is not None else 0,
                device,
            )
            with peak:
                t0 = time.perf_counter()
                fitted = method.fit(data.train, ctx)
                method = fitted if fitted is not None else method
                t1 = time.perf_counter()
                # The val split is scored once, here, after fit has returned.
                scores = method.decision_function(data.val, ctx)
                t2 = time.perf_counter()
            scores = check_scores(scores, data.val, spec.name)
            if hasattr(method, "variant_scores"):
                for vname, vscores in method.variant_scores(data.val, ctx).items():
                    variants[vname] = check_scores(vscores, data.val, f"{spec.name}[{vname}]")
            hits = topk_hits(scores, data.val.labels, (1, 5))
            record.update(
                status="ok",
                top1_err=round(hit_error(hits[1]), 4),
                top5_err=round(hit_error(hits[5]), 4),
                val_hits=_val_hits(hits, data.val),
                train_seconds=round(t1 - t0, 3),
                eval_seconds=round(t2 - t1, 3),
                train_images_per_s=images_per_s(len(data.train), t1 - t0),
                eval_images_per_s=images_per_s(len(data.val), t2 - t1),
            )
        except Exception as exc:  # a method may fail in any way; the sweep goes on
            log.error("%s failed: %s", spec.row, exc)
            log.debug("%s", traceback.format_exc())
            record["error"] = f"{type(exc).__name__}: {exc}"
        if peak.peak_bytes:  # failed runs too: memory is a common reason to fail
            record["peak_rss_mib"] = peak.mib
        record["learning_curve"] = list(ctx.epoch_log)
        facts = _training_facts(ctx)
        record["training"] = facts
        record["selection"] = [dataclasses.asdict(s) for s in ctx.selections]
        record["crop"] = facts.get("crop")
        if facts.get("images_per_s"):  # the method knows its true throughput (all epochs)
            record["train_images_per_s"] = facts["images_per_s"]
        if facts.get("seconds_before_resume") and record["train_seconds"] is not None:
            # a resumed run: this process's fit plus the epochs trained before the kill
            record["train_seconds"] = round(
                record["train_seconds"] + facts["seconds_before_resume"], 3
            )
        record["notes"] = dict(ctx.notes)
        if record["status"] != "ok" and good:
            kept = _keep_failed_attempt(results_dir, record)
            log.error(
                "%s: this rerun failed; the earlier good record %s is kept, the failed "
                "attempt is in %s",
                spec.row,
                run_id,
                kept,
            )
            outcome.records.append(record)
            return outcome
        _write_curve(results_dir, run_id, record["learning_curve"])
        rec = parse_record(record, run_id)
        write_record(results_dir, rec)
        outcome.records.append(rec)
        for vname, vscores in variants.items():
            hits = topk_hits(vscores, data.val.labels, (1, 5))
            vrec = rec.with_changes(
                run_id=f"{run_id}__{vname}",
                variant=vname,
                top1_err=round(hit_error(hits[1]), 4),
                top5_err=round(hit_error(hits[5]), 4),
                val_hits=_val_hits(hits, data.val),
                learning_curve=[],
            )
            write_record(results_dir, vrec)
            outcome.records.append(vrec)
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
    validate_methods(cfg)
    data = prepare_data(cfg, results_dir, before_cache=_preflight(cfg, device))
    log.info(
        "subset %s: %d classes, %d train (%d held out as the monitor), %d val images at %dpx "
        "(manifest %s)",
        data.subset.name,
        data.train.n_classes,
        len(data.train),
        len(data.monitor) if data.monitor is not None else 0,
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
