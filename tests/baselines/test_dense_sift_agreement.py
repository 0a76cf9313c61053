"""Dense SIFT: the numpy and torch backends agree, and both agree with VLFeat's C SIFT.

What is compared with VLFeat (the ``vlsift`` wheel, a Cython wrapper of
VLFeat's ``vl_sift``): VLFeat's dsift documentation ("Dense SIFT as a faster
SIFT") states that ``vl_dsift(Is, 'size', b)`` without 'fast' (a Gaussian
window of windowSize 2 bins) on the image smoothed by sqrt(s^2 - 0.25)
equals ``vl_sift`` at frames of scale s = b / magnif, orientation 0. So each
backend's ``window="gaussian", window_size=2`` descriptor, with that
smoothing and no contrast threshold, is compared with ``vl_sift`` at the same
frame centres. ``vlsift`` takes an integer magnification, so s = b / m with
m = round(b / sigma0): a scale of octave 0 (no up- or down-sampling), whose
level sigma is what vl_sift smooths to. Frames within 2.5 b + 1 px of the
border are left out (vl_sift skips the outermost pixel row, vl_dsift
replicates it). The flat window ("fast", vl_phow's default) differs from SIFT
only by its window, which is checked against the Gaussian one separately.

Images: generated "natural-like" pictures (1/f noise plus a few sharp-edged
shapes), so the tests need no data.
"""

from __future__ import annotations

import numpy as np
import pytest

from baselines.features.dense_sift import (
    DenseGrid,
    DescriptorSettings,
    describe_scale_numpy,
    describe_scale_torch,
    gray_tensor,
    to_gray,
)
from baselines.features.sift_encoders import DenseSiftExtractor

SIGMA0 = 1.6 * 2 ** (1 / 3)  # vl_sift's scale of level 0 of octave 0 (3 levels per octave)
BIN_SIZES = (2, 3, 4, 5, 6, 8, 10)


def natural_images(n: int, size: int, seed: int = 0) -> np.ndarray:
    """``(n, size, size, 3)`` uint8: 1/f-spectrum noise with a few overlaid shapes."""
    rng = np.random.default_rng(seed)
    fy = np.fft.fftfreq(size)[:, None]
    fx = np.fft.fftfreq(size)[None, :]
    falloff = 1.0 / np.maximum(np.hypot(fx, fy), 1.0 / size) ** 1.2
    yy, xx = np.mgrid[:size, :size]
    out = np.empty((n, size, size, 3), np.uint8)
    for i in range(n):
        spectrum = np.fft.fft2(rng.normal(size=(size, size))) * falloff
        img = np.real(np.fft.ifft2(spectrum))
        img = (img - img.min()) / np.ptp(img)
        for _ in range(3):
            cy, cx = rng.uniform(0, size, 2)
            ry, rx = rng.uniform(size / 12, size / 4, 2)
            inside = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 < 1
            img = np.where(inside, 0.5 * img + rng.uniform(0, 0.5), img)
        tint = rng.uniform(0.8, 1.0, 3)
        out[i] = np.clip(255 * img[..., None] * tint, 0, 255).astype(np.uint8)
    return out


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine; two zero rows count as equal, one zero row as 0."""
    na, nb = np.linalg.norm(a, axis=-1), np.linalg.norm(b, axis=-1)
    c = (a * b).sum(-1) / np.maximum(na * nb, 1e-12)
    return np.where((na == 0) & (nb == 0), 1.0, c)


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    return natural_images(3, 96)


@pytest.mark.parametrize("window", ["flat", "gaussian"])
def test_numpy_and_torch_backends_give_the_same_descriptors(images, window: str) -> None:
    pytest.importorskip("torch")
    grid = DenseGrid(BIN_SIZES, 4)
    settings = DescriptorSettings(window=window)
    cpu = DenseSiftExtractor(grid, "numpy", settings=settings).descriptors(images)
    tch = DenseSiftExtractor(grid, "torch", settings=settings).descriptors(images)
    assert cpu.shape == tch.shape == (3, grid.n_points(96), 128)
    start = 0
    for b in BIN_SIZES:
        p = grid.frames_per_side(96, b) ** 2
        assert cosines(cpu[:, start : start + p], tch[:, start : start + p]).mean() >= 0.98, b
        start += p
    assert cosines(cpu, tch).mean() > 0.999  # in practice equal to float rounding


def test_torch_descriptors_do_not_depend_on_batch(images) -> None:
    pytest.importorskip("torch")
    ext = DenseSiftExtractor(DenseGrid((3, 4), 3), "torch")
    np.testing.assert_allclose(
        ext.descriptors(images)[1:2], ext.descriptors(images[1:2]), atol=1e-6
    )


@pytest.mark.gpu
def test_cuda_backend_matches_the_numpy_backend(images) -> None:
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    grid = DenseGrid(BIN_SIZES, 4)
    cpu = DenseSiftExtractor(grid, "numpy").descriptors(images)
    gpu = DenseSiftExtractor(grid, "torch", "cuda").descriptors(images)
    assert cosines(cpu, gpu).mean() > 0.999


def vl_sift_at(gray: np.ndarray, points: np.ndarray, scale: float, magnif: int) -> np.ndarray:
    """VLFeat's SIFT descriptors (unit L2) at ``points`` (x, y), orientation 0, octave 0."""
    from vlsift.sift.sift import sift

    frames = np.stack(
        [points[:, 1], points[:, 0], np.full(len(points), scale), np.zeros(len(points))], 1
    ).astype(np.float32)
    out_frames, desc = sift(
        gray,
        frames=frames,
        first_octave=0,
        magnification=magnif,
        window_size=2,
        norm_thresh=0,
        compute_descriptor=True,
        float_descriptors=True,
    )
    # vlsift reorders frames (qsort by scale); put them back in our row-major order
    ours = np.lexsort((frames[:, 1], frames[:, 0]))
    theirs = np.lexsort((out_frames[:, 1], out_frames[:, 0]))
    np.testing.assert_allclose(out_frames[theirs, :2], frames[ours, :2], atol=1e-3)
    result = np.empty_like(desc)
    result[ours] = desc[theirs]
    return result / 512.0  # vl_sift scales unit descriptors by 512


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_gaussian_window_matches_vlfeat_sift(images, backend: str) -> None:
    pytest.importorskip("vlsift")
    if backend == "torch":
        pytest.importorskip("torch")
    gray = to_gray(images)
    size, step = gray.shape[1], 4
    grid = DenseGrid(BIN_SIZES, step)
    settings = DescriptorSettings(window="gaussian", window_size=2.0, contrast_threshold=0.0)
    for b in BIN_SIZES:
        magnif = max(1, round(b / SIGMA0))
        scale = b / magnif
        phi = np.log2(scale / SIGMA0)
        assert np.floor(phi + 1 / 6) == 0  # vl_sift puts the frame in octave 0
        level_sigma = SIGMA0 * 2 ** (min(max(round(3 * phi), 0), 2) / 3)
        smoothing = float(np.sqrt(level_sigma**2 - 0.25))  # vl_sift's nominal camera blur 0.5
        if backend == "numpy":
            ours = describe_scale_numpy(gray, b, grid.offset(b), step, smoothing, settings)
        else:
            ours = describe_scale_torch(
                gray_tensor(images, "cpu"), b, grid.offset(b), step, smoothing, settings
            ).numpy()
        points = grid.scale_points(size, b)
        reach = 2.5 * b + 1
        inner = (points.min(axis=1) >= reach) & (points.max(axis=1) <= size - 1 - reach)
        assert inner.sum() >= 4, b
        cos = [
            cosines(ours[i][inner], vl_sift_at(gray[i], points[inner], scale, magnif))
            for i in range(len(gray))
        ]
        assert np.concatenate(cos).mean() >= 0.97, b


def test_flat_window_is_close_to_the_gaussian_window(images) -> None:
    grid = DenseGrid((4, 8), 4)
    flat = DenseSiftExtractor(grid, settings=DescriptorSettings(window_size=2.0)).descriptors(
        images
    )
    gauss = DenseSiftExtractor(
        grid, settings=DescriptorSettings(window="gaussian", window_size=2.0)
    ).descriptors(images)
    assert 0.98 < cosines(flat, gauss).mean() < 0.9999  # close, but not the same descriptor
