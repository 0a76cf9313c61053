"""The three hand-crafted baselines end to end on tiny synthetic splits (CPU)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from baselines.features import cache
from baselines.hog_svm import HogSvm
from baselines.sift_bovw_svm import SiftBovwSvm
from baselines.sift_fv_svm import SiftFvSvm
from harness.api import FitResult, MethodError, RunContext, Split, fit_method, handover
from harness.registry import BASELINES

N_CLASSES, SIZE = 4, 32
WNIDS = tuple(f"n{c:08d}" for c in range(N_CLASSES))
# small codebooks and a short SVM schedule keep each fit to a few seconds; these contexts
# have no monitor, so the SVMs train once with svm_reg (test_svm_selection.py selects)
FAST_SVM = {"svm_epochs": 8}
FAST = {
    "hog-svm": {},
    "sift-bovw-svm": {"n_words": 24, "codebook_images": 40, "descriptors_per_image": 30},
    "sift-fv-svm": {
        "n_components": 4,
        "pca_dim": 16,
        "codebook_images": 40,
        "descriptors_per_image": 30,
    },
}


def oriented_texture_split(name: str, per_class: int, seed: int) -> Split:
    """Class c = gratings at orientation c*45 degrees plus noise: easy for gradients."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:SIZE, :SIZE]
    images, labels = [], []
    for c in range(N_CLASSES):
        angle = np.pi * c / N_CLASSES
        for _ in range(per_class):
            phase, freq = rng.uniform(0, 2 * np.pi), rng.uniform(0.6, 1.0)
            wave = np.sin(freq * (np.cos(angle) * xx + np.sin(angle) * yy) + phase)
            img = 128 + 80 * wave[..., None] + rng.normal(0, 20, (SIZE, SIZE, 3))
            images.append(np.clip(img, 0, 255).astype(np.uint8))
            labels.append(c)
    return Split(name, np.stack(images), np.array(labels), WNIDS)


@pytest.fixture(scope="module")
def splits() -> tuple[Split, Split]:
    return oriented_texture_split("train", 10, 0), oriented_texture_split("val", 5, 1)


def make(name: str, **extra: object):
    return BASELINES.get(name)(**FAST[name], **FAST_SVM, **extra)


def fitted(method, train: Split, ctx: RunContext):
    """``method`` fitted as the runner does: fit on all of train (no monitor), then the refit
    the pipelines always ask for (their SVMs are trained in ``refit``)."""
    assert fit_method(method, handover(train), train, ctx) == len(train)
    return method


def top1(scores: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(scores.argmax(1) == labels))


def test_registered_under_their_entry_point_names() -> None:
    assert BASELINES.get("hog-svm") is HogSvm
    assert BASELINES.get("sift-bovw-svm") is SiftBovwSvm
    assert BASELINES.get("sift-fv-svm") is SiftFvSvm
    for cls in (HogSvm, SiftBovwSvm, SiftFvSvm):
        assert cls.year and cls.source and cls.description


@pytest.mark.parametrize("name", ["hog-svm", "sift-bovw-svm", "sift-fv-svm"])
def test_learns_an_easy_task_and_feature_dims(name: str, splits, tmp_path: Path) -> None:
    train, val = splits
    ctx = RunContext(cache_dir=tmp_path, quiet=True, seed=0)
    method = make(name)
    assert method.fit(handover(train), ctx) == FitResult(refit=True)  # the SVMs train in refit
    assert not hasattr(method, "svm_")
    method.refit(train, ctx)
    scores = method.decision_function(val, ctx)
    assert scores.shape == (len(val), N_CLASSES) and scores.dtype == np.float32
    assert top1(scores, val.labels) >= 0.75  # chance is 0.25
    expected_dim = {
        "hog-svm": (SIZE // 8 - 1) ** 2 * 36,
        "sift-bovw-svm": 24 * (1 + 4 + 16) * 3,  # words x pyramid cells x chi2 samples
        "sift-fv-svm": 2 * 4 * 16 * (1 + 4),  # 2 K D x pyramid cells
    }[name]
    assert method.n_features_ == expected_dim
    if name == "sift-bovw-svm":  # what its vocabulary cost, for harness plan's projection
        cost = ctx.notes["sift_bovw_vocabulary_cost"]
        assert 0 < cost["kmeans_steps"] <= cost["kmeans_max_steps"]
        assert cost["descriptor_seconds"] >= 0 and cost["kmeans_seconds"] >= 0


def test_fisher_torch_backend_on_cpu_is_as_good(splits, tmp_path: Path) -> None:
    train, val = splits
    ctx = RunContext(cache_dir=tmp_path, quiet=True)
    cpu = fitted(make("sift-fv-svm", backend="opencv"), train, ctx).decision_function(val, ctx)
    tch = fitted(make("sift-fv-svm", backend="torch"), train, ctx).decision_function(val, ctx)
    assert top1(tch, val.labels) >= top1(cpu, val.labels) - 0.1
    assert top1(tch, val.labels) >= 0.75


def test_rerun_reuses_cached_features(splits, tmp_path: Path) -> None:
    train, val = splits
    ctx = RunContext(cache_dir=tmp_path, quiet=True)
    first = fitted(make("sift-fv-svm"), train, ctx).decision_function(val, ctx)
    built = cache.BUILD_COUNT["n"]
    files = sorted((tmp_path / "features").glob("*/features.npy"))
    mtimes = [f.stat().st_mtime_ns for f in files]
    second = fitted(make("sift-fv-svm"), train, ctx).decision_function(val, ctx)
    assert cache.BUILD_COUNT["n"] == built  # nothing recomputed
    assert [f.stat().st_mtime_ns for f in files] == mtimes
    np.testing.assert_array_equal(first, second)  # same seed, same cache: same scores


@pytest.mark.parametrize("name", ["hog-svm", "sift-bovw-svm", "sift-fv-svm"])
def test_degenerate_images_give_valid_scores(name: str, splits, tmp_path: Path) -> None:
    train, _ = splits
    ctx = RunContext(cache_dir=tmp_path, quiet=True)
    method = fitted(make(name), train, ctx)
    flat = np.zeros((4, SIZE, SIZE, 3), dtype=np.uint8)
    flat[1] = 255
    flat[2] = (10, 200, 30)
    scores = method.decision_function(Split("val", flat, np.arange(4), WNIDS), ctx)
    assert scores.shape == (4, N_CLASSES) and np.isfinite(scores).all()


@pytest.mark.parametrize("name", ["sift-bovw-svm", "sift-fv-svm"])
def test_images_too_small_for_the_grid(name: str, splits, tmp_path: Path) -> None:
    train, _ = splits
    ctx = RunContext(cache_dir=tmp_path, quiet=True)
    method = fitted(make(name), train, ctx)
    tiny = np.random.default_rng(0).integers(0, 256, (3, 4, 4, 3), dtype=np.uint8)
    scores = method.decision_function(Split("val", tiny, np.arange(3), WNIDS), ctx)
    # no grid point / no HOG block: all-zero features, so every image gets the SVM biases
    assert scores.shape == (3, N_CLASSES) and np.isfinite(scores).all()
    np.testing.assert_allclose(scores, np.broadcast_to(scores[:1], scores.shape), atol=1e-6)


def test_hog_of_another_image_size_is_a_clear_error(splits, tmp_path: Path) -> None:
    train, _ = splits
    ctx = RunContext(cache_dir=tmp_path, quiet=True)
    method = fitted(make("hog-svm"), train, ctx)
    small = Split("val", np.zeros((2, 16, 16, 3), np.uint8), np.arange(2), WNIDS)
    with pytest.raises(MethodError, match="16 px images, whose features have 36 dims"):
        method.decision_function(small, ctx)


def test_training_images_too_small_for_any_sift_is_a_clear_error(tmp_path: Path) -> None:
    tiny = np.random.default_rng(0).integers(0, 256, (8, 8, 8, 3), dtype=np.uint8)
    split = Split("train", tiny, np.arange(8) % 2, WNIDS[:2])
    ctx = RunContext(cache_dir=tmp_path, quiet=True)
    for name in ("sift-bovw-svm", "sift-fv-svm"):
        with pytest.raises(MethodError, match="training images of 8 px are smaller"):
            make(name, bin_sizes=(4, 5)).fit(handover(split), ctx)
    scores = fitted(make("hog-svm"), split, ctx).decision_function(split, ctx)  # one zero block
    assert np.isfinite(scores).all()


def test_class_with_too_few_images_is_named(splits, tmp_path: Path) -> None:
    train, _ = splits
    keep = np.flatnonzero(train.labels != 2)
    keep = np.concatenate([keep, np.flatnonzero(train.labels == 2)[:1]])
    short = train.subset(np.sort(keep))
    ctx = RunContext(cache_dir=tmp_path, quiet=True)
    for name in FAST:
        with pytest.raises(MethodError, match=r"n00000002 \(1\)"):
            make(name).fit(handover(short), ctx)


@pytest.mark.gpu
@pytest.mark.parametrize("name", ["hog-svm", "sift-bovw-svm", "sift-fv-svm"])
def test_cuda_path_learns_as_well_as_cpu(name: str, splits, tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    train, val = splits
    cpu_ctx = RunContext(cache_dir=tmp_path / "cpu", quiet=True)
    gpu_ctx = RunContext(cache_dir=tmp_path / "gpu", quiet=True, device="cuda")
    cpu = fitted(make(name), train, cpu_ctx).decision_function(val, cpu_ctx)
    gpu = fitted(make(name), train, gpu_ctx).decision_function(
        val, gpu_ctx
    )  # auto -> kornia on cuda
    assert top1(gpu, val.labels) >= top1(cpu, val.labels) - 0.1
