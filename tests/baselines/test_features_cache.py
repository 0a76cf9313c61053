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


def chunks_of(split: Split, fail_after: int | None = None):
    def gen():
        for i, s in enumerate([slice(0, 5), slice(5, 10), slice(10, len(split))]):
            if fail_after is not None and i >= fail_after:
                raise KeyboardInterrupt("simulated kill mid-extraction")
            yield s, split.images[s].reshape(s.stop - s.start, -1)[:, :4].astype(np.float32)

    return gen


def test_second_call_reuses_the_file(tmp_path: Path) -> None:
    split, ctx = small_split(), RunContext(cache_dir=tmp_path, quiet=True)
    before = cache.BUILD_COUNT["n"]
    first = cached_features(split, ctx, {"p": 1}, 4, chunks_of(split))
    assert first.dtype == np.float16 and first.shape == (12, 4)
    np.testing.assert_allclose(first, split.images.reshape(12, -1)[:, :4], rtol=1e-3)
    assert cache.BUILD_COUNT["n"] == before + 1

    def must_not_run():
        raise AssertionError("features recomputed although cached")

    again = cached_features(split, ctx, {"p": 1}, 4, must_not_run)
    np.testing.assert_array_equal(again, first)
    assert cache.BUILD_COUNT["n"] == before + 1
    # other parameters or another split -> another key, rebuilt
    cached_features(split, ctx, {"p": 2}, 4, chunks_of(split))
    other = small_split("val")
    cached_features(other, ctx, {"p": 1}, 4, chunks_of(other))
    assert cache.BUILD_COUNT["n"] == before + 3


def test_interrupted_extraction_is_never_used(tmp_path: Path) -> None:
    split, ctx = small_split(), RunContext(cache_dir=tmp_path, quiet=True)
    with pytest.raises(KeyboardInterrupt):
        cached_features(split, ctx, {"p": 1}, 4, chunks_of(split, fail_after=2))
    folder = next((tmp_path / "features").iterdir())
    assert not (folder / "complete.json").exists()
    assert not (folder / "features.npy").exists()
    assert not list(folder.glob(".features.*"))
    before = cache.BUILD_COUNT["n"]
    feats = cached_features(split, ctx, {"p": 1}, 4, chunks_of(split))
    assert cache.BUILD_COUNT["n"] == before + 1
    assert np.isfinite(feats.astype(np.float32)).all() and feats.shape == (12, 4)


def test_file_without_marker_or_with_wrong_shape_is_rebuilt(tmp_path: Path) -> None:
    split, ctx = small_split(), RunContext(cache_dir=tmp_path, quiet=True)
    cached_features(split, ctx, {"p": 1}, 4, chunks_of(split))
    folder = next((tmp_path / "features").iterdir())
    (folder / "complete.json").unlink()  # as if killed between rename and marker
    before = cache.BUILD_COUNT["n"]
    cached_features(split, ctx, {"p": 1}, 4, chunks_of(split))
    assert cache.BUILD_COUNT["n"] == before + 1
    np.save(folder / "features.npy", np.zeros((3, 4), np.float16))  # corrupt: wrong shape
    cached_features(split, ctx, {"p": 1}, 4, chunks_of(split))
    assert cache.BUILD_COUNT["n"] == before + 2


def test_non_finite_features_are_refused(tmp_path: Path) -> None:
    split, ctx = small_split(), RunContext(cache_dir=tmp_path, quiet=True)

    def bad():
        yield slice(0, 12), np.full((12, 4), np.nan, np.float32)

    with pytest.raises(FloatingPointError, match="non-finite"):
        cached_features(split, ctx, {"p": 1}, 4, bad)
