"""Dense SIFT (vl_phow grid and descriptor properties, both backends), HOG, degenerate images."""

from __future__ import annotations

import numpy as np
import pytest

from baselines.features.dense_sift import (
    DenseGrid,
    DescriptorSettings,
    dense_sift_numpy,
    pooling_kernels,
    to_gray,
)
from baselines.features.hog import HogEncoder
from baselines.features.sift_encoders import DenseSiftExtractor

BACKENDS = ["numpy", "torch"]


def textured(n: int, size: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, size, size, 3), dtype=np.uint8)


def extractor(backend: str, grid: DenseGrid, **settings: object) -> DenseSiftExtractor:
    if backend == "torch":
        pytest.importorskip("torch")
    return DenseSiftExtractor(grid, backend=backend, settings=DescriptorSettings(**settings))


def test_grid_follows_vl_phow_bounds() -> None:
    # vl_phow: off = floor(1 + 3/2 (max(sizes) - size)) (1-based), first centre off - 1 + 3/2 size
    grid = DenseGrid(bin_sizes=(4, 6, 8, 10), step=4)
    for b in grid.bin_sizes:
        pts = grid.scale_points(256, b)
        assert grid.offset(b) == int(np.floor(1 + 1.5 * (10 - b))) - 1
        assert pts[0].tolist() == [15.0, 15.0]  # 3/2 max(sizes), 0-based, at every scale
        # vl_dsift: frames while the upper-left bin centre is <= W - 1 - 3 b
        n = (255 - grid.offset(b) - 3 * b) // 4 + 1
        assert len(pts) == n * n == grid.frames_per_side(256, b) ** 2
        assert pts[:, 0].max() + 1.5 * b <= 255  # the last bin centre is inside the image
    # the grids of all (even) scales share their centres
    common = {tuple(p) for p in grid.scale_points(256, 10)}
    assert common <= {tuple(p) for p in grid.scale_points(256, 4)}
    assert np.all(grid.points(256) == np.rint(grid.points(256)))  # integer centres
    assert grid.n_points(256) == len(grid.points(256))


def test_grid_of_mixed_parity_bins_is_half_a_pixel_apart() -> None:
    grid = DenseGrid(bin_sizes=(2, 3, 4, 5), step=3)
    starts = [grid.scale_points(64, b)[0, 0] for b in grid.bin_sizes]
    assert starts == [7.0, 7.5, 7.0, 7.5]  # as vl_phow: odd bins centre on half pixels


def test_pooling_kernels_are_bilinear_binning() -> None:
    flat = pooling_kernels(4, "flat", 1.5)
    assert flat.shape == (4, 7)  # 2b - 1 taps
    triangle = 1 - np.abs(np.arange(-3, 4)) / 4
    for row in flat:
        np.testing.assert_allclose(row / row.max(), triangle, rtol=1e-6)
    # the window weighs the outer bins less, symmetrically
    assert flat[0, 3] == pytest.approx(flat[3, 3]) and flat[0, 3] < flat[1, 3] <= 1
    gauss = pooling_kernels(4, "gaussian", 2.0)
    assert gauss[0, 0] < gauss[0, -1]  # bin 0 sits left of the centre: its left taps are farther


@pytest.mark.parametrize("backend", BACKENDS)
def test_descriptors_are_unit_sift_vectors(backend: str) -> None:
    grid = DenseGrid(bin_sizes=(2, 4), step=4)
    desc = extractor(backend, grid).descriptors(textured(3, 32))
    assert desc.shape == (3, grid.n_points(32), 128)
    assert desc.dtype == np.float32
    assert (desc >= 0).all()
    np.testing.assert_allclose(np.linalg.norm(desc, axis=2), 1.0, atol=1e-4)
    # clamped at 0.2 then renormalised: no value much above 0.2 / |clamped| (<= ~0.3)
    assert desc.max() < 0.35


@pytest.mark.parametrize("backend", BACKENDS)
def test_uniform_image_gives_zero_descriptors(backend: str) -> None:
    flat = np.full((2, 32, 32, 3), 128, dtype=np.uint8)
    desc = extractor(backend, DenseGrid((2, 3), 4)).descriptors(flat)
    assert np.isfinite(desc).all()
    assert not desc.any()


@pytest.mark.parametrize("backend", BACKENDS)
def test_contrast_threshold_zeroes_faint_patches(backend: str) -> None:
    # a faint ramp (0.2 grey levels per px) is below vl_phow's 0.005; a strong one is above
    ramp = np.arange(32, dtype=np.float64)
    faint = np.broadcast_to((100 + 0.2 * ramp)[None, :, None], (32, 32, 3))
    strong = np.broadcast_to((30 + 6 * ramp)[None, :, None], (32, 32, 3))
    images = np.rint(np.stack([faint, strong])).astype(np.uint8)
    grid = DenseGrid((4,), 3)
    desc = extractor(backend, grid).descriptors(images)
    assert not desc[0].any()
    assert np.linalg.norm(desc[1], axis=1) == pytest.approx(1.0, abs=1e-4)
    kept = extractor(backend, grid, contrast_threshold=0.0).descriptors(images)
    assert (np.linalg.norm(kept[0], axis=1) > 0.99).mean() > 0.5  # faint, not flat


@pytest.mark.parametrize("backend", BACKENDS)
def test_horizontal_ramp_fills_the_zero_orientation_bin(backend: str) -> None:
    ramp = np.broadcast_to((40 + 5 * np.arange(40))[None, :, None], (40, 40, 3)).astype(np.uint8)
    desc = extractor(backend, DenseGrid((4,), 4)).descriptors(ramp[None])
    per_orientation = desc[0].reshape(-1, 16, 8).sum(axis=1).mean(axis=0)
    assert per_orientation.argmax() == 0  # gradient along +x: angle 0
    assert per_orientation[0] > 0.9 * per_orientation.sum()


@pytest.mark.parametrize("backend", BACKENDS)
def test_image_smaller_than_the_grid_gives_no_points(backend: str) -> None:
    tiny = textured(2, 8)
    desc = extractor(backend, DenseGrid((4, 5), 3)).descriptors(tiny)
    assert desc.shape == (2, 0, 128)


def test_numpy_descriptors_do_not_depend_on_batch() -> None:
    images = textured(20, 24)  # more than one 16-image chunk
    gray = to_gray(images)
    grid = DenseGrid((2, 3), 3)
    np.testing.assert_array_equal(
        dense_sift_numpy(gray, grid)[17:19], dense_sift_numpy(gray[17:19], grid)
    )


def test_opencv_is_the_numpy_backend() -> None:
    assert DenseSiftExtractor(DenseGrid(), backend="opencv").backend == "numpy"
    with pytest.raises(ValueError, match="unknown SIFT backend"):
        DenseSiftExtractor(DenseGrid(), backend="kornia")
    with pytest.raises(ValueError, match="CPU only"):
        DenseSiftExtractor(DenseGrid(), backend="numpy", device="cuda")
    with pytest.raises(ValueError, match="window"):
        DescriptorSettings(window="square")


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


def test_hog_sees_an_edge_of_pure_chroma() -> None:
    from skimage.color import rgb2gray

    # two colours of exactly equal luminance for skimage's rgb2gray (0.2125, 0.7154, 0.0721)
    left, right = np.array([60, 140, 160]), np.array([221, 108, 3])
    weights = np.array([2125, 7154, 721])
    assert left @ weights == right @ weights
    image = np.zeros((32, 32, 3), np.uint8)
    image[:, :16], image[:, 16:] = left, right
    assert np.ptp(rgb2gray(image)) < 1e-9  # no luminance edge at all
    colour = HogEncoder().encode(image[None])
    grey = HogEncoder(colour=False).encode(image[None])
    assert colour.max() > 0.1  # the RGB max-gradient channel sees the edge
    assert grey.max() < 1e-3  # grayscale HOG sees nothing
