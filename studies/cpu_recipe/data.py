"""The pilots' data: the harness's manifest, cache and holdout, subsampled; never the val split."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from harness.api import Split

__all__ = ["PilotData", "load_pilot_data"]


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
    from harness import experiment
    from harness.config import RunConfig

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
    prepared = experiment.prepare(cfg, Path(cache) / "cpu-recipe")
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
