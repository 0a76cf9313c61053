"""Confidence intervals of top-k errors and of gaps, bootstrapped over the scored images.

Every interval here is a percentile bootstrap over the validation images: the
images are drawn ``n`` times with replacement, the statistic is recomputed on
the draw, and the interval is the central ``level`` share of
:data:`N_RESAMPLES` such draws, seeded (:data:`SEED`) so the same hits always
give the same interval. Errors and intervals are in percent (gaps in points).

- :func:`bootstrap_error_ci`: one method, one seed: the interval of its error.
- :func:`paired_gap_ci`: ``err_a - err_b`` of two methods scored on the same
  images, with the *same* draw of images for both (a paired bootstrap: an
  image that is hard for both moves both errors together, so the gap's
  interval is narrower than two independent intervals would suggest).
- :func:`combine_repeats`: one method run with several seeds: mean and
  standard deviation of the error over seeds, and an interval that covers
  seed and image variation (a two-level bootstrap, below).

How it is drawn. Resampling the images and counting each method's hits is,
in distribution, the same as drawing how many of the ``n`` draws fall on each
*pattern* of hits across the methods and seeds (for two methods: both hit,
only A, only B, neither): a multinomial draw with the patterns' observed
shares. That is what is drawn (exact, not an approximation), so 50,000 images
x 2,000 resamples take milliseconds. When the hits have too many distinct
patterns (many seeds), image indices are drawn instead, in blocks.

Repeats (two levels). With seeds, each resample draws the images (one draw
shared by every method and seed, so comparisons stay paired) and,
independently for each method, ``S`` of its ``S`` seeds with replacement; the
statistic is the mean, over the drawn seeds, of the error on the drawn
images. With one seed this is the plain image bootstrap. With few seeds
(2-5) the seed level is crude: a bootstrap of ``S`` values understates their
spread by about ``sqrt((S - 1) / S)``; the reported standard deviation over
seeds (``ddof=1``) does not.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = [
    "LEVEL",
    "N_RESAMPLES",
    "SEED",
    "RepeatSummary",
    "bootstrap_error_ci",
    "combine_repeats",
    "interval_excludes_zero",
    "paired_gap_ci",
    "resampled_errors",
]

N_RESAMPLES = 2000  # bootstrap draws per interval
LEVEL = 0.95  # coverage of every interval
SEED = 0  # seed of the draws: the same hits give the same interval
_MAX_PATTERNS = 4096  # above this many hit patterns, draw image indices instead
_BLOCK_CELLS = 1 << 22  # resamples x images held in memory at once when drawing indices


def _as_seeds(hits: np.ndarray | Sequence[np.ndarray], what: str) -> np.ndarray:
    """Hits as a (seeds, images) bool array: a 1-D array is one seed."""
    arr = np.asarray(hits)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(
            f"{what}: expected hits of shape (images,) or (seeds, images), got {arr.shape}"
        )
    return arr.astype(bool, copy=False)


def _check(n_resamples: int, level: float) -> None:
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be >= 1, got {n_resamples}")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")


def _resampled_hit_counts(
    columns: np.ndarray, n_resamples: int, rng: np.random.Generator
) -> np.ndarray:
    """Hits of each column on ``n_resamples`` draws of the rows: (n_resamples, n_columns) ints."""
    n, m = columns.shape
    patterns, counts = np.unique(columns, axis=0, return_counts=True)
    if len(patterns) <= _MAX_PATTERNS:
        draws = rng.multinomial(n, counts / n, size=n_resamples)  # (B, patterns)
        return draws @ patterns.astype(np.int64)
    # Many patterns (many seeds): draw image indices, count each image's draws, and
    # sum the hits with one matrix product per block of resamples.
    cols = columns.astype(np.float64)
    block = max(1, _BLOCK_CELLS // n)
    out = np.empty((n_resamples, m), dtype=np.int64)
    for start in range(0, n_resamples, block):
        b = min(block, n_resamples - start)
        index = rng.integers(0, n, size=(b, n)) + (np.arange(b) * n)[:, None]
        drawn = np.bincount(index.ravel(), minlength=b * n).reshape(b, n).astype(np.float64)
        out[start : start + b] = np.rint(drawn @ cols).astype(np.int64)
    return out


def resampled_errors(
    groups: Sequence[np.ndarray | Sequence[np.ndarray]],
    *,
    n_resamples: int = N_RESAMPLES,
    seed: int = SEED,
) -> list[np.ndarray]:
    """Bootstrap draws of each group's mean error (percent): one ``(n_resamples,)`` array per group.

    A group is one method's hits, ``(images,)`` for one seed or ``(seeds,
    images)``; all groups hold the same images in the same order. The images
    are drawn once per resample for all groups; each group's seeds are drawn
    with replacement, independently (see the module docstring).
    """
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be >= 1, got {n_resamples}")
    arrays = [_as_seeds(g, f"group {i}") for i, g in enumerate(groups)]
    if not arrays:
        raise ValueError("no hits to resample")
    n = arrays[0].shape[1]
    if any(a.shape[1] != n for a in arrays):
        raise ValueError(
            "paired hits must cover the same images: got "
            + ", ".join(str(a.shape[1]) for a in arrays)
            + " images"
        )
    rng = np.random.default_rng(seed)
    counts = _resampled_hit_counts(np.concatenate(arrays, axis=0).T, n_resamples, rng)
    errors = 100.0 * (1.0 - counts / n)  # (B, all seeds of all groups)
    out, start = [], 0
    for a in arrays:
        s = a.shape[0]
        errs = errors[:, start : start + s]
        start += s
        if s == 1:
            out.append(errs[:, 0])
        else:
            weights = rng.multinomial(s, np.full(s, 1.0 / s), size=n_resamples) / s
            out.append((weights * errs).sum(axis=1))
    return out


def _interval(draws: np.ndarray, level: float) -> tuple[float, float]:
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(draws, [tail, 1.0 - tail])
    return float(low), float(high)


def bootstrap_error_ci(
    hits: np.ndarray,
    n_resamples: int = N_RESAMPLES,
    seed: int = SEED,
    level: float = LEVEL,
) -> tuple[float, float]:
    """The ``level`` interval (low, high) of the error in percent of one seed's per-image hits."""
    _check(n_resamples, level)
    arr = np.asarray(hits)
    if arr.ndim != 1:
        raise ValueError(
            f"hits of one seed must be 1-D, got shape {arr.shape}; see combine_repeats"
        )
    (draws,) = resampled_errors([arr], n_resamples=n_resamples, seed=seed)
    return _interval(draws, level)


def paired_gap_ci(
    hits_a: np.ndarray | Sequence[np.ndarray],
    hits_b: np.ndarray | Sequence[np.ndarray],
    n_resamples: int = N_RESAMPLES,
    seed: int = SEED,
    level: float = LEVEL,
) -> tuple[float, float]:
    """The ``level`` interval of ``err_a - err_b`` (points), the same images drawn for both.

    Each side is ``(images,)`` or ``(seeds, images)`` (then its mean over
    seeds, with the seeds drawn too). For the 2012 gap, ``a`` is the best
    hand-crafted method and ``b`` the best CNN: above zero, the CNN is ahead.
    """
    _check(n_resamples, level)
    draws_a, draws_b = resampled_errors([hits_a, hits_b], n_resamples=n_resamples, seed=seed)
    return _interval(draws_a - draws_b, level)


def interval_excludes_zero(low: float | None, high: float | None) -> bool:
    """True when an interval of a gap lies entirely on one side of zero (the ordering is resolved)."""
    if low is None or high is None or np.isnan(low) or np.isnan(high):
        return False
    return bool(low > 0.0 or high < 0.0)


@dataclass(frozen=True)
class RepeatSummary:
    """One method's error over seeds: mean and spread, and the two-level interval (percent)."""

    mean: float  # mean over seeds of each seed's error
    std: float  # standard deviation over seeds (ddof=1; NaN for one seed)
    n_seeds: int
    ci_low: float
    ci_high: float


def combine_repeats(
    hits_by_seed: Sequence[np.ndarray] | np.ndarray,
    n_resamples: int = N_RESAMPLES,
    seed: int = SEED,
    level: float = LEVEL,
) -> RepeatSummary:
    """Mean, std and interval of the error of one method's seeds, all scored on the same images.

    ``hits_by_seed``: one boolean hit array per seed (same images, same order).
    The interval covers both the seeds and the images (the two-level bootstrap
    of the module docstring); with one seed it is :func:`bootstrap_error_ci`.
    """
    _check(n_resamples, level)
    arr = _as_seeds(np.asarray(hits_by_seed), "hits_by_seed")
    errors = 100.0 * (1.0 - arr.mean(axis=1))
    (draws,) = resampled_errors([arr], n_resamples=n_resamples, seed=seed)
    low, high = _interval(draws, level)
    std = float(np.std(errors, ddof=1)) if len(errors) > 1 else float("nan")
    return RepeatSummary(float(errors.mean()), std, len(errors), low, high)
