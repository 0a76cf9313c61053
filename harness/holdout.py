"""The monitor: a seeded, per-class held-out slice of the training split.

Under the ILSVRC protocol the validation images are scored once and decide
nothing before that. Everything a method chooses (hyper-parameters, learning
rate schedules, stopping points) it chooses on the *monitor*, a slice of the
training images the harness holds out, never on val.

Selection rule (documented once, here). For each class ``c`` with ``n_c``
training images, ``k_c = clip(round(fraction * n_c), min_per_class,
max_per_class)`` images are held out, never all of them (at least one stays
for fitting; a class with a single image holds out none and says so). Which
ones: a permutation of the class's rows from
``numpy.random.default_rng([seed, c])``, so a class's choice does not move
when other classes are added or removed. The defaults (10%, at least 1, at
most 50 per class) give 5,000 monitor images on Tiny ImageNet-100, and at
ILSVRC-2012 scale never more images than its val split (50 per class).
"""

from __future__ import annotations

import numpy as np

from harness.types import Holdout

__all__ = [
    "DEFAULT_FRACTION",
    "DEFAULT_MAX_PER_CLASS",
    "DEFAULT_MIN_PER_CLASS",
    "Holdout",
    "carve_holdout",
]

DEFAULT_FRACTION = 0.1  # share of each class's training images held out
DEFAULT_MIN_PER_CLASS = 1  # at least this many per class (when the class has more)
DEFAULT_MAX_PER_CLASS = 50  # at most this many per class (ILSVRC val's 50 per class)


def carve_holdout(
    labels: np.ndarray,
    n_classes: int,
    *,
    fraction: float = DEFAULT_FRACTION,
    seed: int = 0,
    min_per_class: int = DEFAULT_MIN_PER_CLASS,
    max_per_class: int | None = DEFAULT_MAX_PER_CLASS,
) -> Holdout:
    """Split the rows of a training split (``labels``) into fit rows and monitor rows."""
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"holdout fraction must be in [0, 1), got {fraction}")
    labels = np.asarray(labels, dtype=np.int64)
    # the rows of every class in one stable sort (a scan per class would be N x C)
    order = np.argsort(labels, kind="stable")
    starts = np.searchsorted(labels[order], np.arange(n_classes + 1))
    monitor: list[np.ndarray] = []
    single: list[int] = []
    for c in range(n_classes):
        rows = order[starts[c] : starts[c + 1]]  # ascending row numbers of class c
        n = len(rows)
        if n == 0:
            continue
        k = round(fraction * n) if fraction > 0 else 0
        if fraction > 0:
            k = max(k, min_per_class)
        if max_per_class is not None:
            k = min(k, max_per_class)
        k = min(k, n - 1)  # at least one image of every class stays for fitting
        if n == 1 and fraction > 0:
            single.append(c)
        if k <= 0:
            continue
        perm = np.random.default_rng([seed, c]).permutation(n)
        monitor.append(rows[np.sort(perm[:k])])
    mon = np.sort(np.concatenate(monitor)) if monitor else np.zeros(0, dtype=np.int64)
    keep = np.ones(len(labels), dtype=bool)
    keep[mon] = False
    notes = ()
    if single:
        notes = (f"{len(single)} class(es) with a single training image hold out none",)
    return Holdout(
        fit_rows=np.flatnonzero(keep).astype(np.int64),
        monitor_rows=mon.astype(np.int64),
        fraction=fraction,
        seed=seed,
        min_per_class=min_per_class,
        max_per_class=max_per_class,
        notes=notes,
    )
