"""Fisher vectors: the batched numpy and torch encoders equal scikit-image's fisher_vector."""

from __future__ import annotations

import numpy as np
import pytest
from skimage.feature import fisher_vector
from sklearn.mixture import GaussianMixture

from baselines.features.fisher import (
    DiagonalGmm,
    fisher_dim,
    fisher_vectors_np,
    fisher_vectors_torch,
)
from baselines.features.spatial_pyramid import cell_assignment, n_cells


@pytest.fixture(scope="module")
def gmm_and_descriptors() -> tuple[GaussianMixture, np.ndarray]:
    rng = np.random.default_rng(0)
    train = np.concatenate([rng.normal(loc=m, size=(300, 6)) for m in (-2.0, 0.0, 3.0)])
    gmm = GaussianMixture(5, covariance_type="diag", random_state=0).fit(train)
    return gmm, rng.normal(size=(4, 40, 6))


def skimage_reference(desc: np.ndarray, gmm: GaussianMixture, improved: bool) -> np.ndarray:
    return np.stack([fisher_vector(d, gmm, improved=improved) for d in desc])


@pytest.mark.parametrize("improved", [True, False])
def test_numpy_encoder_equals_skimage(gmm_and_descriptors, improved: bool) -> None:
    gmm, desc = gmm_and_descriptors
    g, ref = DiagonalGmm.from_sklearn(gmm), skimage_reference(desc, gmm, improved)
    f64 = fisher_vectors_np(desc, g, improved=improved, include_weights=True, dtype=np.float64)
    np.testing.assert_allclose(f64, ref, rtol=1e-6, atol=1e-7)  # float32 output
    f32 = fisher_vectors_np(desc, g, improved=improved, include_weights=True)
    np.testing.assert_allclose(f32, ref, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("improved", [True, False])
def test_torch_encoder_equals_skimage_on_cpu(gmm_and_descriptors, improved: bool) -> None:
    torch = pytest.importorskip("torch")
    gmm, desc = gmm_and_descriptors
    g = DiagonalGmm.from_sklearn(gmm)
    ref = skimage_reference(desc, gmm, improved)
    f64 = fisher_vectors_torch(torch.from_numpy(desc), g, improved=improved, include_weights=True)
    np.testing.assert_allclose(f64.numpy(), ref, rtol=1e-9, atol=1e-12)
    f32 = fisher_vectors_torch(
        torch.from_numpy(desc).float(), g, improved=improved, include_weights=True
    )
    np.testing.assert_allclose(f32.numpy(), ref, rtol=1e-4, atol=1e-5)


@pytest.mark.gpu
def test_torch_encoder_equals_skimage_on_cuda(gmm_and_descriptors) -> None:
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    gmm, desc = gmm_and_descriptors
    x = torch.from_numpy(desc).float().cuda()
    ours = (
        fisher_vectors_torch(x, DiagonalGmm.from_sklearn(gmm), include_weights=True).cpu().numpy()
    )
    np.testing.assert_allclose(ours, skimage_reference(desc, gmm, True), rtol=1e-4, atol=1e-5)


def test_without_weights_is_skimage_minus_weight_gradients_renormalised(
    gmm_and_descriptors,
) -> None:
    gmm, desc = gmm_and_descriptors
    k = gmm.n_components
    raw = skimage_reference(desc, gmm, improved=False)[:, k:]  # drop d_pi
    expected = np.sign(raw) * np.sqrt(np.abs(raw))
    expected /= np.linalg.norm(expected, axis=1, keepdims=True)
    ours = fisher_vectors_np(desc, DiagonalGmm.from_sklearn(gmm), dtype=np.float64)
    assert ours.shape == (4, 2 * k * 6)
    np.testing.assert_allclose(ours, expected, rtol=1e-5, atol=1e-6)


def test_pyramid_cells_are_skimage_on_each_cells_descriptors(gmm_and_descriptors) -> None:
    gmm, desc = gmm_and_descriptors
    rng = np.random.default_rng(1)
    points = rng.uniform(0, 32, size=(desc.shape[1], 2))
    pyramid = ((1, 1), (2, 2))
    cells = cell_assignment(points, 32, pyramid)
    ours = fisher_vectors_np(
        desc, DiagonalGmm.from_sklearn(gmm), cells, include_weights=True, dtype=np.float64
    )
    per_cell = fisher_dim(gmm.n_components, 6, 1, include_weights=True)
    assert ours.shape == (4, per_cell * n_cells(pyramid))
    for c in range(n_cells(pyramid)):
        inside = cells[:, c] > 0
        ref = skimage_reference(desc[:, inside], gmm, improved=True)
        np.testing.assert_allclose(
            ours[:, c * per_cell : (c + 1) * per_cell], ref, rtol=1e-5, atol=1e-6
        )


def test_no_descriptors_and_empty_cells_give_zeros(gmm_and_descriptors) -> None:
    torch = pytest.importorskip("torch")
    gmm, _ = gmm_and_descriptors
    g = DiagonalGmm.from_sklearn(gmm)
    empty = np.zeros((2, 0, 6))
    assert not fisher_vectors_np(empty, g).any()
    assert fisher_vectors_np(empty, g).shape == (2, 2 * 5 * 6)
    assert not fisher_vectors_torch(torch.zeros(2, 0, 6), g).any()
    # every point in the top-left quadrant: the other three 2x2 cells are zero, not NaN
    points = np.full((10, 2), 3.0)
    cells = cell_assignment(points, 32, ((1, 1), (2, 2)))
    fv = fisher_vectors_np(np.ones((1, 10, 6)), g, cells)
    per_cell = 2 * 5 * 6
    assert np.isfinite(fv).all()
    assert np.abs(fv[0, per_cell : 2 * per_cell]).sum() > 0
    assert not fv[0, 2 * per_cell :].any()
