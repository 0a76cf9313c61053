"""Data preparation for a run: data root -> layout (read once) -> subset -> manifest -> cache.

:func:`prepare_data` gives the :class:`PreparedData` every method of a run
shares: one manifest, one decoded cache, the train split, the holdout (which
rows of train are the monitor) and the val split. The fit rows and the
monitor are row views of train's memory map (:meth:`harness.types.Split.view`),
never copies, so they are always the rows of this run's own training split.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.config import DEMO_DATA, ConfigError, RunConfig, data_folder, user_data_root
from harness.holdout import carve_holdout
from harness.types import Holdout, Split, TrainData

__all__ = [
    "PreparedData",
    "check_writable_folder",
    "decode_splits",
    "prepare_data",
    "read_dataset",
    "resolve_data_root",
    "resolve_subset",
]


@dataclass
class PreparedData:
    """The one manifest, cache and monitor every method of a run shares."""

    subset: Any
    manifest: Any
    cached: Any
    train: Split  # every training image; fit gets holdout.fit_rows of it as a row view
    val: Split  # scored once, after fit; never handed to fit
    data_root: Path
    cache_seconds: float
    holdout: Holdout | None = None

    @property
    def monitor(self) -> Split | None:
        """The held-out rows of train as a row view (None without a holdout)."""
        if self.holdout is None or not self.holdout.n_monitor:
            return None
        return self.train.view(self.holdout.monitor_rows, name="monitor")

    def train_data(self, monitor: str = "train-holdout") -> TrainData:
        """What ``fit`` gets: fresh row views (their read counters start at zero).

        ``monitor="val"`` (``--monitor val``, the paper's practice): all of train
        to fit on and the val split as the monitor. Otherwise the fit rows and
        the held-out monitor; without a holdout, all of train and no monitor.
        """
        if monitor == "val":
            every = range(len(self.val))
            return TrainData(
                fit=self.train.view(range(len(self.train)), name="fit"),
                monitor=self.val.view(every, name="val"),
            )
        if self.holdout is None or not self.holdout.n_monitor:
            return TrainData(fit=self.train.view(range(len(self.train)), name="fit"))
        return TrainData(
            fit=self.train.view(self.holdout.fit_rows, name="fit"),
            monitor=self.train.view(self.holdout.monitor_rows, name="monitor"),
        )


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
    from harness.data import build_manifest

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
    return decode_splits(
        cfg, subset, manifest, root, Path(cfg.cache) / "images", cfg.skip_bad_images, cfg.quiet
    )


def decode_splits(
    cfg: RunConfig,
    subset: Any,
    manifest: Any,
    root: Path,
    folder: Path,
    skip_bad_images: bool,
    quiet: bool,
) -> PreparedData:
    """``manifest``'s images decoded into ``folder`` (once), as train, monitor and val splits."""
    from harness.data import ensure_cache

    t0 = time.perf_counter()
    cached = ensure_cache(
        manifest,
        folder,
        n_jobs=cfg.n_jobs or os.cpu_count() or 1,
        skip_bad_images=skip_bad_images,
        quiet=quiet,
    )
    seconds = time.perf_counter() - t0
    train = cached.split("train")
    holdout = None
    if cfg.holdout_fraction > 0:
        holdout = carve_holdout(
            train.labels, train.n_classes, fraction=cfg.holdout_fraction, seed=cfg.holdout_seed
        )
    return PreparedData(
        subset=subset,
        manifest=manifest,
        cached=cached,
        train=train,
        val=cached.split("val"),
        data_root=root,
        cache_seconds=seconds,
        holdout=holdout,
    )


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
