"""The float16 feature cache: reuse, keys, and no half-written file ever used."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from baselines.features import cache
from baselines.features.cache import cached_features
from harness.api import RunContext, Split


def small_split(name: str = "train", n: int = 12) -> Split:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (n, 8, 8, 3), dtype=np.uint8)
    return Split(name, images, np.arange(n) % 3, ("a", "b", "c"))


def expected(split: Split) -> np.ndarray:
    """The features ``chunks_of`` computes: the first four pixel values of each image."""
    return np.asarray(split.images).reshape(len(split), -1)[:, :4].astype(np.float32)


def parent_rows_of(todo: Split) -> list[int]:
    """Which rows of the parent split ``todo`` shows (all of its own rows for a full split)."""
    rows = todo.parent_rows if todo.parent_rows is not None else np.arange(len(todo))
    return [int(r) for r in rows]


def chunks_of(fail_after: int | None = None, log: list[int] | None = None):
    """``chunks(todo)``: the rows of ``todo`` in chunks of 5; ``log`` gets the parent rows encoded."""

    def gen(todo: Split):
        feats = expected(todo)
        for i, start in enumerate(range(0, len(todo), 5)):
            if fail_after is not None and i >= fail_after:
                raise KeyboardInterrupt("simulated kill mid-extraction")
            part = slice(start, min(start + 5, len(todo)))
            if log is not None:
                log.extend(parent_rows_of(todo)[part])
            yield part, feats[part]

    return gen


def must_not_run(todo: Split):
    raise AssertionError(f"features recomputed although cached ({len(todo)} rows)")


def test_second_call_reuses_the_file(tmp_path: Path) -> None:
    split, ctx = small_split(), RunContext(cache_dir=tmp_path, quiet=True)
    before = cache.BUILD_COUNT["n"]
    first = cached_features(split, ctx, {"p": 1}, 4, chunks_of())
    assert first.dtype == np.float16 and first.shape == (12, 4)
    np.testing.assert_allclose(first, split.images.reshape(12, -1)[:, :4], rtol=1e-3)
    assert cache.BUILD_COUNT["n"] == before + 1

    again = cached_features(split, ctx, {"p": 1}, 4, must_not_run)
    np.testing.assert_array_equal(again, first)
    assert cache.BUILD_COUNT["n"] == before + 1
    # other parameters or another split -> another key, rebuilt
    cached_features(split, ctx, {"p": 2}, 4, chunks_of())
    other = small_split("val")
    cached_features(other, ctx, {"p": 1}, 4, chunks_of())
    assert cache.BUILD_COUNT["n"] == before + 3


def test_interrupted_extraction_is_never_used(tmp_path: Path) -> None:
    split, ctx = small_split(), RunContext(cache_dir=tmp_path, quiet=True)
    with pytest.raises(KeyboardInterrupt):
        cached_features(split, ctx, {"p": 1}, 4, chunks_of(fail_after=2))
    folder = next((tmp_path / "features").iterdir())
    assert not (folder / "complete.json").exists()
    # the rows written before the kill are not marked done: none of them is trusted
    assert not np.load(folder / "done.npy").any()
    assert not list(folder.glob(".features.*"))
    before = cache.BUILD_COUNT["n"]
    log: list[int] = []
    feats = cached_features(split, ctx, {"p": 1}, 4, chunks_of(log=log))
    assert sorted(log) == list(range(12))  # every row encoded again, once
    assert cache.BUILD_COUNT["n"] == before + 1
    assert np.isfinite(feats.astype(np.float32)).all() and feats.shape == (12, 4)
    np.testing.assert_allclose(feats, expected(split), rtol=1e-3)
    assert (folder / "complete.json").exists()


def test_rows_not_marked_done_or_a_file_of_the_wrong_shape_are_rebuilt(tmp_path: Path) -> None:
    split, ctx = small_split(), RunContext(cache_dir=tmp_path, quiet=True)
    cached_features(split, ctx, {"p": 1}, 4, chunks_of())
    folder = next((tmp_path / "features").iterdir())
    # as if killed after rows 0..4 were written but before they were marked done
    (folder / "complete.json").unlink()
    done = np.load(folder / "done.npy")
    done[:5] = False
    np.save(folder / "done.npy", done)
    before = cache.BUILD_COUNT["n"]
    log: list[int] = []
    feats = cached_features(split, ctx, {"p": 1}, 4, chunks_of(log=log))
    assert sorted(log) == [0, 1, 2, 3, 4]  # exactly the rows not marked done
    assert cache.BUILD_COUNT["n"] == before + 1
    assert (folder / "complete.json").exists()
    np.testing.assert_allclose(feats, expected(split), rtol=1e-3)
    # every row done but the marker lost (killed just before writing it): nothing re-encoded
    (folder / "complete.json").unlink()
    cached_features(split, ctx, {"p": 1}, 4, must_not_run)
    assert (folder / "complete.json").exists() and cache.BUILD_COUNT["n"] == before + 1
    np.save(folder / "features.npy", np.zeros((3, 4), np.float16))  # corrupt: wrong shape
    log.clear()
    feats = cached_features(split, ctx, {"p": 1}, 4, chunks_of(log=log))
    assert sorted(log) == list(range(12))  # the whole file again
    assert cache.BUILD_COUNT["n"] == before + 2
    np.testing.assert_allclose(feats, expected(split), rtol=1e-3)


def test_non_finite_features_are_refused(tmp_path: Path) -> None:
    split, ctx = small_split(), RunContext(cache_dir=tmp_path, quiet=True)

    def bad(todo: Split):
        yield slice(0, len(todo)), np.full((len(todo), 4), np.nan, np.float32)

    with pytest.raises(FloatingPointError, match="non-finite"):
        cached_features(split, ctx, {"p": 1}, 4, bad)


#: With a manifest hash (the runner's) and without (a hand-built RunContext: a digest of
#: the parent's pixels), a row view shares its parent's file.
SHARED = pytest.mark.parametrize("manifest_hash", ["manifest-abc", ""])


@SHARED
def test_fit_then_monitor_then_parent_encode_each_row_once(
    tmp_path: Path, manifest_hash: str
) -> None:
    train = small_split()
    ctx = RunContext(cache_dir=tmp_path, quiet=True, manifest_hash=manifest_hash)
    monitor_rows = np.array([1, 4, 7, 11])
    fit_rows = np.setdiff1d(np.arange(12), monitor_rows)
    fit, monitor = train.view(fit_rows, name="fit"), train.view(monitor_rows, name="monitor")
    log: list[int] = []
    before = cache.BUILD_COUNT["n"]

    fit_feats = cached_features(fit, ctx, {"p": 1}, 4, chunks_of(log=log))
    assert sorted(log) == fit_rows.tolist()  # the fit rows only
    assert fit_feats.shape == (len(fit_rows), 4) and fit_feats.dtype == np.float16
    mon_feats = cached_features(monitor, ctx, {"p": 1}, 4, chunks_of(log=log))
    assert sorted(log) == list(range(12))  # now the monitor's rows too, each once
    assert mon_feats.shape == (len(monitor_rows), 4)
    full = cached_features(train, ctx, {"p": 1}, 4, must_not_run)  # nothing left to encode
    assert sorted(log) == list(range(12))  # no row encoded twice
    assert cache.BUILD_COUNT["n"] == before + 2
    # one file (the parent's) for the three, complete
    (folder,) = (tmp_path / "features").iterdir()
    assert folder.name.startswith("features-train-") and (folder / "complete.json").exists()

    # the values are those of encoding the whole split at once
    fresh = RunContext(cache_dir=tmp_path / "fresh", quiet=True, manifest_hash=manifest_hash)
    whole = cached_features(train, fresh, {"p": 1}, 4, chunks_of())
    np.testing.assert_array_equal(np.asarray(full), np.asarray(whole))
    np.testing.assert_array_equal(np.asarray(fit_feats), np.asarray(whole)[fit_rows])
    np.testing.assert_array_equal(np.asarray(mon_feats), np.asarray(whole)[monitor_rows])
    np.testing.assert_allclose(np.asarray(whole), expected(train), rtol=1e-3)
    # a view asked again reads the finished file
    again = cached_features(monitor, ctx, {"p": 1}, 4, must_not_run)
    np.testing.assert_array_equal(np.asarray(again), np.asarray(whole)[monitor_rows])


@SHARED
def test_the_parent_after_a_view_encodes_only_the_missing_rows(
    tmp_path: Path, manifest_hash: str
) -> None:
    train = small_split()
    ctx = RunContext(cache_dir=tmp_path, quiet=True, manifest_hash=manifest_hash)
    fit_rows = np.array([0, 2, 3, 5, 8, 9, 10])
    log: list[int] = []
    cached_features(train.view(fit_rows, name="fit"), ctx, {"p": 1}, 4, chunks_of(log=log))
    log.clear()
    full = cached_features(train, ctx, {"p": 1}, 4, chunks_of(log=log))
    assert sorted(log) == np.setdiff1d(np.arange(12), fit_rows).tolist()
    np.testing.assert_allclose(np.asarray(full), expected(train), rtol=1e-3)
