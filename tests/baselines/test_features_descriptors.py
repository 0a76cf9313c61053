"""Dense SIFT grid, both backends, HOG dimensions, and degenerate images."""

from __future__ import annotations

import numpy as np
import pytest

from baselines.features.dense_sift import DenseGrid, dense_sift_opencv, to_gray
from baselines.features.hog import HogEncoder
from baselines.features.sift_encoders import DenseSiftExtractor


def textured(n: int, size: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, size, size, 3), dtype=np.uint8)


def test_grid_matches_kornia_output_map() -> None:
    torch = pytest.importorskip("torch")
    grid = DenseGrid(bin_sizes=(2, 3), step=3)
    desc = DenseSiftExtractor(grid, backend="torch").descriptors(textured(2, 32))
    assert desc.shape == (2, grid.n_points(32), 128)
    assert torch is not None


@pytest.mark.parametrize("backend", ["opencv", "torch"])
def test_descriptors_are_unit_sift_vectors(backend: str) -> None:
    grid = DenseGrid(bin_sizes=(2, 4), step=4)
    desc = DenseSiftExtractor(grid, backend=backend).descriptors(textured(3, 32))
    assert desc.shape == (3, grid.n_points(32), 128)
    assert desc.dtype == np.float32
    assert (desc >= 0).all()
    np.testing.assert_allclose(np.linalg.norm(desc, axis=2), 1.0, atol=1e-3)


def test_grid_point_count_formula() -> None:
    # kornia: n_out = (S + e - 3b - 1) // step + 1 per side, e = 1 for even b
    grid = DenseGrid(bin_sizes=(2, 3, 4, 5), step=3)
    expected = sum(((64 + (b % 2 == 0) - 3 * b - 1) // 3 + 1) ** 2 for b in (2, 3, 4, 5))
    assert grid.n_points(64) == expected


@pytest.mark.parametrize("backend", ["opencv", "torch"])
def test_uniform_image_gives_zero_descriptors(backend: str) -> None:
    flat = np.full((2, 32, 32, 3), 128, dtype=np.uint8)
    desc = DenseSiftExtractor(DenseGrid((2, 3), 4), backend=backend).descriptors(flat)
    assert np.isfinite(desc).all()
    assert np.abs(desc).max() < 1e-3


@pytest.mark.parametrize("backend", ["opencv", "torch"])
def test_image_smaller_than_the_grid_gives_no_points(backend: str) -> None:
    tiny = textured(2, 8)
    desc = DenseSiftExtractor(DenseGrid((4, 5), 3), backend=backend).descriptors(tiny)
    assert desc.shape == (2, 0, 128)


def test_opencv_descriptors_do_not_depend_on_batch() -> None:
    images = textured(4, 24)
    gray = to_gray(images)
    grid = DenseGrid((2, 3), 3)
    np.testing.assert_array_equal(
        dense_sift_opencv(gray, grid)[1:3], dense_sift_opencv(gray[1:3], grid)
    )


@pytest.mark.parametrize("size", [16, 32, 64])
def test_hog_dimension_formula(size: int) -> None:
    enc = HogEncoder()
    feats = enc.encode(textured(2, size))
    assert feats.shape == (2, (size // 8 - 1) ** 2 * 2 * 2 * 9) == (2, enc.dim(size))
    assert HogEncoder().dim(64) == 1764


def test_hog_degenerate_images() -> None:
    enc = HogEncoder()
    flat = enc.encode(np.zeros((1, 32, 32, 3), dtype=np.uint8))
    assert not flat.any()
    small = enc.encode(textured(2, 12))  # < 2 cells per side: one documented zero block
    assert small.shape == (2, 36)
    assert not small.any()
