"""Bootstrap intervals: against the binomial closed form, paired gaps, repeats over seeds."""

from __future__ import annotations

import numpy as np
import pytest

from harness import intervals
from harness.intervals import (
    bootstrap_error_ci,
    combine_repeats,
    interval_excludes_zero,
    paired_gap_ci,
    resampled_errors,
)


def hits_with_error(n: int, err_percent: float, seed: int = 0) -> np.ndarray:
    """n hits, exactly round(n * err / 100) of them misses, in random order."""
    rng = np.random.default_rng(seed)
    hits = np.ones(n, dtype=bool)
    hits[: round(n * err_percent / 100)] = False
    return rng.permutation(hits)


@pytest.mark.parametrize(("n", "err"), [(5000, 40.0), (5000, 10.0), (1000, 60.0)])
def test_the_interval_matches_the_binomial_closed_form(n: int, err: float) -> None:
    hits = hits_with_error(n, err)
    low, high = bootstrap_error_ci(hits, n_resamples=4000)
    p = err / 100
    half = 100 * 1.96 * np.sqrt(p * (1 - p) / n)  # 0.68 points for 40% on 5,000 images
    # the bootstrap's own noise at 4,000 resamples is about 3% of the half-width
    assert low == pytest.approx(err - half, abs=0.12 * half)
    assert high == pytest.approx(err + half, abs=0.12 * half)


def test_the_interval_is_seeded_and_its_level_sets_its_width() -> None:
    hits = hits_with_error(2000, 30.0)
    assert bootstrap_error_ci(hits) == bootstrap_error_ci(hits)
    assert bootstrap_error_ci(hits, seed=1) != bootstrap_error_ci(hits)
    w95 = np.subtract(*bootstrap_error_ci(hits)[::-1])
    w50 = np.subtract(*bootstrap_error_ci(hits, level=0.5)[::-1])
    assert w50 < w95 / 2
    with pytest.raises(ValueError, match="level"):
        bootstrap_error_ci(hits, level=1.0)
    with pytest.raises(ValueError, match="1-D"):
        bootstrap_error_ci(np.stack([hits, hits]))


def test_drawing_patterns_is_the_same_as_drawing_image_indices(monkeypatch) -> None:
    # The exact shortcut (a multinomial over hit patterns) and the plain resampling of
    # image indices draw the same distribution.
    rng = np.random.default_rng(3)
    a = rng.random(400) < 0.55
    b = a ^ (rng.random(400) < 0.2)
    fast_a, fast_b = resampled_errors([a, b], n_resamples=6000, seed=1)
    monkeypatch.setattr(intervals, "_MAX_PATTERNS", 0)  # force index drawing
    slow_a, slow_b = resampled_errors([a, b], n_resamples=6000, seed=1)
    index = rng.integers(0, 400, size=(6000, 400))
    explicit_a = 100 * (1 - a[index].mean(axis=1))
    explicit_gap = 100 * (b[index].mean(axis=1) - a[index].mean(axis=1))
    for draws_a, draws_b in ((fast_a, fast_b), (slow_a, slow_b)):
        assert draws_a.std() == pytest.approx(explicit_a.std(), rel=0.1)
        assert draws_a.mean() == pytest.approx(explicit_a.mean(), abs=0.2)
        gap = draws_a - draws_b
        assert gap.std() == pytest.approx(explicit_gap.std(), rel=0.1)
        assert gap.mean() == pytest.approx(explicit_gap.mean(), abs=0.2)


def test_two_identical_methods_have_a_gap_interval_around_zero() -> None:
    a = hits_with_error(5000, 40.0)
    assert paired_gap_ci(a, a) == (0.0, 0.0)
    # near-identical: 15 images each way differ; the paired interval stays narrow around 0
    b = a.copy()
    miss, hit = np.flatnonzero(~a)[:15], np.flatnonzero(a)[:15]
    b[miss], b[hit] = True, False
    low, high = paired_gap_ci(a, b)
    assert low < 0 < high
    assert high - low < 0.5  # two independent intervals would each be 1.4 points wide
    assert not interval_excludes_zero(low, high)


def test_a_dominating_method_has_a_gap_interval_above_zero() -> None:
    a = hits_with_error(5000, 40.0)  # e.g. the best hand-crafted method
    b = a | (np.random.default_rng(1).random(5000) < 0.05)  # the CNN: a's hits and more
    low, high = paired_gap_ci(a, b)
    gap = 100 * (b.mean() - a.mean())  # err_a - err_b
    assert 0 < low < gap < high
    assert interval_excludes_zero(low, high)
    low_r, high_r = paired_gap_ci(b, a)  # the other way round: entirely below 0
    assert high_r < 0 and interval_excludes_zero(low_r, high_r)


def test_a_paired_gap_needs_the_same_images() -> None:
    with pytest.raises(ValueError, match="same images"):
        paired_gap_ci(np.ones(10, bool), np.ones(11, bool))


def test_repeats_are_aggregated_as_mean_std_and_n() -> None:
    seeds = [hits_with_error(3000, err, seed=i) for i, err in enumerate((30.0, 32.0, 34.0))]
    summary = combine_repeats(seeds)
    assert summary.n_seeds == 3
    assert summary.mean == pytest.approx(32.0)
    assert summary.std == pytest.approx(2.0)  # ddof=1
    assert summary.ci_low < 32.0 < summary.ci_high
    # seeds and images together: wider than the image interval of one seed
    low, high = bootstrap_error_ci(seeds[1])
    assert summary.ci_high - summary.ci_low > high - low


def test_one_seed_is_the_plain_image_bootstrap() -> None:
    hits = hits_with_error(2000, 25.0)
    one = combine_repeats([hits])
    assert (one.ci_low, one.ci_high) == bootstrap_error_ci(hits)
    assert one.n_seeds == 1 and np.isnan(one.std) and one.mean == pytest.approx(25.0)


def test_a_gap_between_repeated_methods_resamples_both_sides() -> None:
    a = np.stack([hits_with_error(2000, 40.0, seed=i) for i in range(3)])
    b = np.stack([hits_with_error(2000, 30.0, seed=10 + i) for i in range(2)])
    low, high = paired_gap_ci(a, b)
    assert low < 10.0 < high and interval_excludes_zero(low, high)


def test_many_images_and_resamples() -> None:
    # 50k images x 2,000 resamples: the size of ILSVRC-2012 val (milliseconds, not asserted)
    hits = hits_with_error(50_000, 18.2)
    low, high = bootstrap_error_ci(hits)
    assert low < 18.2 < high and high - low == pytest.approx(2 * 1.96 * 0.1726, abs=0.05)
