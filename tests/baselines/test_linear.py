"""The streaming one-vs-rest hinge SGD against scikit-learn's LinearSVC, and its input checks."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.svm import LinearSVC

from baselines.linear import OvrHingeSgd, check_class_counts
from harness.api import MethodError


def blobs(n_per: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    centres = np.random.default_rng(123).normal(scale=0.6, size=(5, 20))  # overlapping classes
    rng = np.random.default_rng(seed)
    x = np.concatenate([c + rng.normal(size=(n_per, 20)) for c in centres])
    return (x / 10).astype(np.float32), np.repeat(np.arange(5), n_per)


def primal_objective(
    x: np.ndarray, y: np.ndarray, coef: np.ndarray, bias: np.ndarray, reg: float
) -> float:
    signs = np.where(np.eye(coef.shape[1])[y] > 0, 1.0, -1.0)
    hinge = np.maximum(0, 1 - signs * (x @ coef + bias)).sum(1).mean()
    return float(reg / 2 * (coef**2).sum() + hinge)


def test_agrees_with_linearsvc_on_a_small_problem() -> None:
    x, y = blobs(60, 0)
    xv, yv = blobs(40, 1)
    reg = 1e-3
    # LinearSVC with C = 1 / (lambda n) minimises the same one-vs-rest objective
    ref = LinearSVC(loss="hinge", C=1 / (reg * len(y)), max_iter=100000, tol=1e-6).fit(x, y)
    # block_rows < n: training streams over several blocks
    ours = OvrHingeSgd(reg=reg, epochs=60, lr=0.5, block_rows=64, class_weight=None).fit(x, y, 5)
    ref_obj = primal_objective(x, y, ref.coef_.T, ref.intercept_, reg)
    our_obj = primal_objective(x, y, ours.coef_.numpy(), ours.intercept_.numpy(), reg)
    assert our_obj <= ref_obj * 1.02
    s_ref, s_ours = ref.decision_function(xv), ours.decision_function(xv)
    assert np.mean(s_ref.argmax(1) == s_ours.argmax(1)) >= 0.95
    assert np.mean(s_ours.argmax(1) == yv) >= np.mean(s_ref.argmax(1) == yv) - 0.03
    assert np.mean(s_ref.argmax(1) == yv) > 0.5  # the problem is learnable, not trivial


def test_reads_float16_memmap_and_is_deterministic(tmp_path) -> None:
    x, y = blobs(20, 2)
    path = tmp_path / "f.npy"
    np.save(path, x.astype(np.float16))
    feats = np.load(path, mmap_mode="r")
    a = OvrHingeSgd(epochs=3, block_rows=16, seed=3).fit(feats, y, 5).decision_function(feats)
    b = OvrHingeSgd(epochs=3, block_rows=16, seed=3).fit(feats, y, 5).decision_function(feats)
    np.testing.assert_array_equal(a, b)
    assert a.shape == (100, 5) and a.dtype == np.float32


def test_too_few_images_names_the_class() -> None:
    labels = np.array([0, 0, 0, 1, 2, 2])
    with pytest.raises(MethodError, match=r"n002 \(2\).*|n001 \(1\)") as err:
        check_class_counts(labels, ("n000", "n001", "n002", "n003"), minimum=2)
    assert "n001 (1)" in str(err.value) and "n003 (0)" in str(err.value)
    assert "n000" not in str(err.value)


def test_cuda_request_without_cuda_is_a_clear_error() -> None:
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("CUDA present")
    x, y = blobs(5, 0)
    with pytest.raises(MethodError, match="CUDA is not available"):
        OvrHingeSgd(device="cuda").fit(x, y, 5)
