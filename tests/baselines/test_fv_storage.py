"""Fisher vectors stored float16 (sift-fv-svm's default) or float32: keys, rounding, SVM scores."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from baselines.features import cache
from baselines.features.cache import cached_features
from baselines.linear import OvrHingeSgd
from baselines.sift_fv_svm import SiftFvSvm
from harness.api import RunContext, Split, handover


def fv_like(n: int, dim: int, n_classes: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Unit-norm, signed-square-rooted rows with a class signal, like improved FVs."""
    centres = np.random.default_rng(1234).standard_normal((n_classes, dim))  # same classes
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, n_classes, n)
    raw = centres[labels] + 12 * rng.standard_normal((n, dim))
    x = np.sign(raw) * np.sqrt(np.abs(raw))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x.astype(np.float32), labels


def split_of(x: np.ndarray, labels: np.ndarray, n_classes: int) -> Split:
    images = np.zeros((len(x), 4, 4, 3), np.uint8)
    images[:, 0, 0, 0] = np.arange(len(x)) % 251  # distinct pixels: a distinct fingerprint
    return Split("train", images, labels, tuple(f"n{c:08d}" for c in range(n_classes)))


def test_float16_storage_rounds_halves_bytes_and_is_keyed(tmp_path: Path) -> None:
    x, labels = fv_like(40, 64, 3)
    split, ctx = split_of(x, labels, 3), RunContext(cache_dir=tmp_path, quiet=True)

    def chunks(todo: Split):
        yield slice(0, len(todo)), x

    before = cache.BUILD_COUNT["n"]
    f16 = cached_features(split, ctx, {"p": 1}, 64, chunks, dtype="float16")
    f32 = cached_features(split, ctx, {"p": 1}, 64, chunks, dtype="float32")
    assert cache.BUILD_COUNT["n"] == before + 2  # the float32 file is not the float16 one
    assert f16.dtype == np.float16 and f32.dtype == np.float32
    np.testing.assert_array_equal(f32, x)
    np.testing.assert_array_equal(f16, x.astype(np.float16))  # exactly fp16 rounding
    assert np.max(np.abs(f16.astype(np.float32) - x)) <= np.max(np.abs(x)) * 2**-11
    assert f16.nbytes / len(x) == 64 * 2 and f32.nbytes / len(x) == 64 * 4
    # each dtype reuses its own file; neither is read as the other
    assert cache.feature_key(split, ctx, {"p": 1}, "float16") != cache.feature_key(
        split, ctx, {"p": 1}, "float32"
    )
    again = cached_features(split, ctx, {"p": 1}, 64, chunks, dtype="float32")
    assert again.dtype == np.float32 and cache.BUILD_COUNT["n"] == before + 2
    with pytest.raises(ValueError):
        cached_features(split, ctx, {"p": 1}, 64, chunks, dtype="int8")


def test_float16_keys_are_unchanged() -> None:
    """Files written before the dtype was a choice (all float16) keep their key."""
    split, ctx = split_of(*fv_like(5, 4, 2), 2), RunContext(quiet=True)
    assert cache.feature_key(split, ctx, {"p": 1}) == cache.feature_key(
        split, ctx, {"p": 1}, "float16"
    )


def test_svm_scores_from_float16_match_float32(tmp_path: Path) -> None:
    n_classes = 10
    x, labels = fv_like(1500, 2048, n_classes)
    val, val_labels = fv_like(400, 2048, n_classes, seed=1)
    p16, p32 = tmp_path / "f16.npy", tmp_path / "f32.npy"
    np.save(p16, x.astype(np.float16))
    np.save(p32, x)
    scores = {}
    for name, path in (("f16", p16), ("f32", p32)):
        feats = np.load(path, mmap_mode="r")
        svm = OvrHingeSgd(reg=1e-4, epochs=4, eta0=16.0, seed=0, block_rows=256)
        svm.fit(feats, labels, n_classes)
        val_stored = val.astype(np.float16) if name == "f16" else val
        scores[name] = svm.decision_function(val_stored)
    # fp16 inputs move the SGD path a little: measured mean |diff| 0.8% of the scores' std,
    # max 2.7% of the largest score, top-1 agreement 99.5% (val top-1 77%)
    diff = np.abs(scores["f16"] - scores["f32"])
    assert diff.mean() < 0.02 * scores["f32"].std()
    assert diff.max() < 0.06 * np.abs(scores["f32"]).max()
    agree = np.mean(scores["f16"].argmax(1) == scores["f32"].argmax(1))
    assert agree >= 0.98, agree
    assert np.mean(scores["f32"].argmax(1) == val_labels) > 0.5  # a real signal (chance: 0.1)


def fitted_sift_fv(dtype: str, tmp_path: Path) -> tuple[SiftFvSvm, Split, RunContext]:
    """A tiny sift-fv-svm fitted (no monitor) with its features stored as ``dtype``."""
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (16, 32, 32, 3), dtype=np.uint8)
    train = Split("train", images, np.arange(16) % 2, ("n00000000", "n00000001"))
    ctx = RunContext(cache_dir=tmp_path, quiet=True, seed=0)
    method = SiftFvSvm(
        n_components=2,
        pca_dim=8,
        codebook_images=16,
        descriptors_per_image=30,
        svm_epochs=1,
        feature_dtype=dtype,
    )
    method.fit(handover(train), ctx)
    return method, train, ctx


@pytest.mark.parametrize("dtype", ["float16", "float32"])
def test_sift_fv_notes_the_storage(dtype: str, tmp_path: Path) -> None:
    method, train, ctx = fitted_sift_fv(dtype, tmp_path)
    dim = method.n_features_
    storage = ctx.notes["sift-fv-svm_feature_storage"]
    assert storage == {"dtype": dtype, "bytes_per_image": dim * np.dtype(dtype).itemsize}
    assert method.features(train, ctx).dtype == np.dtype(dtype)
    gmm_fit = ctx.notes["sift_fv_sift_gmm_fit"]
    assert gmm_fit["iterations"] >= 1 and isinstance(gmm_fit["converged"], bool)
