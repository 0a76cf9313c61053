"""Averaged-SGD one-vs-rest SVMs: they reach LinearSVC's optimum, lambda acts, runs are exact."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.svm import LinearSVC

from baselines.linear import OvrHingeSgd, check_class_counts, class_weights
from harness.api import MethodError

# 300 rows in 64-row blocks; one thread: tiny products gain nothing from more
SMALL = {"batch_size": 32, "block_rows": 64, "n_threads": 1}


def blobs(n_per: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    centres = np.random.default_rng(123).normal(scale=0.6, size=(5, 20))  # overlapping classes
    rng = np.random.default_rng(seed)
    x = np.concatenate([c + rng.normal(size=(n_per, 20)) for c in centres])
    return (x / 10).astype(np.float32), np.repeat(np.arange(5), n_per)


def primal_objective(
    x: np.ndarray,
    y: np.ndarray,
    coef: np.ndarray,
    bias: np.ndarray,
    reg: float,
    class_weight: str | None,
) -> float:
    """lambda/2 ||W||^2 + 1/N sum_i sum_c w_ic hinge (bias unregularised)."""
    k = coef.shape[1]
    w = class_weights(y, k, class_weight)
    pos = np.eye(k)[y] > 0
    sign, weight = np.where(pos, 1.0, -1.0), np.where(pos, w[0], w[1])
    hinge = (np.maximum(0, 1 - sign * (x @ coef + bias)) * weight).sum(1).mean()
    return float(reg / 2 * (coef**2).sum() + hinge)


def linearsvc_optimum(
    x: np.ndarray, y: np.ndarray, reg: float, class_weight: str | None
) -> tuple[np.ndarray, np.ndarray]:
    """One binary LinearSVC(C = 1 / (lambda N)) per class, with the same per-row weights."""
    k = int(y.max()) + 1
    w = class_weights(y, k, class_weight)
    coef, bias = np.zeros((x.shape[1], k)), np.zeros(k)
    for c in range(k):
        signs = np.where(y == c, 1, -1)
        ref = LinearSVC(loss="hinge", C=1 / (reg * len(y)), max_iter=200_000, tol=1e-7)
        ref.fit(x, signs, sample_weight=np.where(y == c, w[0, c], w[1, c]))
        coef[:, c], bias[c] = ref.coef_[0], ref.intercept_[0]
    return coef, bias


def weights(model: OvrHingeSgd) -> tuple[np.ndarray, np.ndarray]:
    return model.coef_.numpy(), model.intercept_.numpy()


@pytest.mark.parametrize("class_weight", [None, "balanced"])
def test_reaches_the_linearsvc_optimum(class_weight: str | None) -> None:
    x, y = blobs(60, 0)
    xv, yv = blobs(40, 1)
    reg = 1e-3
    # LinearSVC at C = 1 / (lambda N) minimises the same objective (its intercept carries a
    # tiny penalty, which here changes the optimum by < 0.01%)
    ref_w, ref_b = linearsvc_optimum(x, y, reg, class_weight)
    ours = OvrHingeSgd(reg=reg, epochs=40, class_weight=class_weight, **SMALL).fit(x, y, 5)
    ref_obj = primal_objective(x, y, ref_w, ref_b, reg, class_weight)
    our_obj = primal_objective(x, y, *weights(ours), reg, class_weight)
    assert abs(our_obj / ref_obj - 1) < 0.01
    assert our_obj == pytest.approx(ours.objective(x, y), rel=1e-5)  # its own objective agrees
    s_ref, s_ours = xv @ ref_w + ref_b, ours.decision_function(xv)
    assert np.mean(s_ref.argmax(1) == s_ours.argmax(1)) >= 0.95
    assert np.mean(s_ours.argmax(1) == yv) >= np.mean(s_ref.argmax(1) == yv) - 0.03
    assert np.mean(s_ref.argmax(1) == yv) > 0.5  # the problem is learnable, not trivial


def test_larger_lambda_shrinks_the_weights_monotonically() -> None:
    x, y = blobs(60, 0)
    regs = [1e-3, 3e-3, 1e-2, 3e-2, 1e-1, 3e-1]
    models = OvrHingeSgd(epochs=20, **SMALL).fit_grid(x, y, 5, regs)
    norms = [float(np.linalg.norm(m.coef_.numpy())) for m in models]
    assert all(a > b for a, b in zip(norms, norms[1:], strict=False)), norms
    assert norms[0] > 5 * norms[-1]  # the regulariser acts over the whole grid, not 1%
    # each is near its own optimum, so the shrinkage is lambda's doing, not the schedule's
    for reg, model in zip(regs, models, strict=True):
        ref = primal_objective(x, y, *linearsvc_optimum(x, y, reg, "balanced"), reg, "balanced")
        assert model.objective(x, y) <= ref * 1.02


def test_objective_decreases_with_epochs_towards_the_optimum() -> None:
    x, y = blobs(60, 0)
    reg = 1e-2
    found: dict[int, float] = {}

    def on_checkpoint(epoch: int, models: list[OvrHingeSgd]) -> None:
        found[epoch] = models[0].objective(x, y)

    svm = OvrHingeSgd(reg=reg, epochs=32, **SMALL)
    svm.fit_grid(x, y, 5, [reg], checkpoints=(2, 4, 8, 16, 32), on_checkpoint=on_checkpoint)
    objectives = [found[e] for e in sorted(found)]
    assert all(b <= a * (1 + 1e-4) for a, b in zip(objectives, objectives[1:], strict=False))
    ref = primal_objective(x, y, *linearsvc_optimum(x, y, reg, "balanced"), reg, "balanced")
    gaps = [o / ref - 1 for o in objectives]
    assert gaps[0] > gaps[-1] and gaps[-1] < 0.002, gaps


def test_a_checkpoint_is_exactly_a_shorter_run_and_the_grid_exactly_separate_runs() -> None:
    x, y = blobs(30, 0)
    seen: dict[int, list[OvrHingeSgd]] = {}
    grid = OvrHingeSgd(epochs=6, eta0=2.0, **SMALL)
    final = grid.fit_grid(
        x, y, 5, [1e-3, 1e-2], checkpoints=(3,), on_checkpoint=lambda e, ms: seen.update({e: ms})
    )
    for m, reg in enumerate([1e-3, 1e-2]):
        short = OvrHingeSgd(reg=reg, epochs=3, eta0=2.0, **SMALL).fit(x, y, 5)
        np.testing.assert_allclose(weights(seen[3][m])[0], weights(short)[0], rtol=1e-4, atol=1e-5)
        alone = OvrHingeSgd(reg=reg, epochs=6, eta0=2.0, **SMALL).fit(x, y, 5)
        np.testing.assert_allclose(weights(final[m])[0], weights(alone)[0], rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(weights(final[m])[1], weights(alone)[1], rtol=1e-4, atol=1e-5)
        assert seen[3][m].epochs == 3 and final[m].epochs == 6 and final[m].reg == reg


def test_rows_select_the_training_rows_and_a_given_step_is_used_as_is() -> None:
    x, y = blobs(30, 0)
    rows = np.flatnonzero(np.arange(len(y)) % 3 != 0)
    eta0 = OvrHingeSgd(reg=1e-2, **SMALL).calibrate(x, y, 5, rows=rows)
    calibrated = OvrHingeSgd(reg=1e-2, epochs=4, **SMALL).fit(x, y, 5, rows=rows)
    assert calibrated.eta0_ == eta0 and not calibrated.calibration_["at_edge"]
    given = OvrHingeSgd(reg=1e-2, epochs=4, eta0=eta0 / 2, **SMALL).fit(x, y, 5, rows=rows)
    assert given.eta0_ == eta0 / 2 and not hasattr(given, "calibration_")
    # the same rows as a copy: another visiting order, the same optimum
    copy = OvrHingeSgd(reg=1e-2, epochs=4, eta0=eta0, **SMALL).fit(x[rows], y[rows], 5)
    assert calibrated.objective(x, y, rows=rows) == pytest.approx(
        copy.objective(x[rows], y[rows]), rel=0.02
    )
    np.testing.assert_array_equal(
        calibrated.decision_function(x, rows=rows[:7]), calibrated.decision_function(x[rows[:7]])
    )


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


@pytest.mark.gpu
def test_cuda_reaches_the_same_optimum() -> None:
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    x, y = blobs(60, 0)
    cpu = OvrHingeSgd(reg=1e-2, epochs=20, **SMALL).fit(x, y, 5)
    gpu = OvrHingeSgd(reg=1e-2, epochs=20, device="cuda", **SMALL).fit(x, y, 5)
    assert gpu.objective(x, y) == pytest.approx(cpu.objective(x, y), rel=1e-3)
    assert gpu.decision_function(x).shape == (300, 5)


def test_calibration_trains_its_ladder_in_groups_within_the_memory_budget(monkeypatch) -> None:
    """Models beyond MODEL_BYTES train in turn: the same step chosen, fewer models at once."""
    from baselines import linear, ovr

    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 40)).astype(np.float32)
    y = rng.integers(0, 5, 300)
    whole = OvrHingeSgd(reg=1e-3, epochs=1, seed=0).calibrate(x, y, 5)
    sizes = []
    real = OvrHingeSgd._train

    def spy(self, features, labels, rows, n_classes, regs, *args, **kw):
        sizes.append(len(regs))
        return real(self, features, labels, rows, n_classes, regs, *args, **kw)

    monkeypatch.setattr(OvrHingeSgd, "_train", spy)
    monkeypatch.setattr(ovr, "MODEL_BYTES", 40 * 5 * 16 * 2)  # two models at a time
    model = OvrHingeSgd(reg=1e-3, epochs=1, seed=0)
    assert model.calibrate(x, y, 5) == pytest.approx(whole)
    assert sizes == [2, 2, 2]
    assert len(model.calibration_["hinge"]) == len(linear.ETA0_LADDER)
