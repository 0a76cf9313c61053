"""AlexNet's device-side augmentation: crops, mirrors, ten-crop geometry, PCA colour noise."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from alexnet.augment import (
    AlexNetAugment,
    ColourStatistics,
    colour_statistics,
    crop_flip,
    ten_crop_offsets,
)


def _images(n: int = 6, size: int = 16, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, size, size, 3), dtype=np.uint8)


def _zero_stats(size: int) -> ColourStatistics:
    return ColourStatistics(
        mean_image=np.zeros((size, size, 3), np.float32),
        rgb_mean=np.zeros(3),
        rgb_cov=np.eye(3),
        eigvals=np.ones(3),
        eigvecs=np.eye(3),
        n_images=1,
    )


def test_colour_statistics_match_numpy_and_stream_in_batches(tmp_path) -> None:
    images = _images(7, 8)
    # Correlated channels so the eigenvectors are not the identity.
    images[..., 1] = (images[..., 0] // 2 + images[..., 1] // 2).astype(np.uint8)
    stats = colour_statistics(images, batch_size=3)
    pixels = images.reshape(-1, 3).astype(np.float64)
    np.testing.assert_allclose(stats.mean_image, images.mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(stats.rgb_mean, pixels.mean(0), rtol=1e-9)
    np.testing.assert_allclose(stats.rgb_cov, np.cov(pixels.T, bias=True), rtol=1e-9)
    assert np.all(np.diff(stats.eigvals) <= 0)
    recon = stats.eigvecs @ np.diag(stats.eigvals) @ stats.eigvecs.T
    np.testing.assert_allclose(recon, stats.rgb_cov, rtol=1e-8, atol=1e-6)
    stats.save(tmp_path / "s.npz")
    again = ColourStatistics.load(tmp_path / "s.npz")
    np.testing.assert_array_equal(again.eigvecs, stats.eigvecs)
    assert again.n_images == 7
    with pytest.raises(ValueError, match="uint8"):
        colour_statistics(images.astype(np.float32))


def test_colour_statistics_of_some_rows_only() -> None:
    images = _images(9, 8, seed=2)
    rows = np.array([0, 2, 3, 7])  # e.g. the fit rows: the monitor stays out
    some = colour_statistics(images, batch_size=3, rows=rows)
    alone = colour_statistics(images[rows])
    np.testing.assert_allclose(some.mean_image, alone.mean_image, rtol=1e-6)
    np.testing.assert_allclose(some.rgb_cov, alone.rgb_cov, rtol=1e-9)
    assert some.n_images == 4


def test_pca_noise_covariance_is_p_diag_001_lambda2_pt() -> None:
    rng = np.random.default_rng(1)
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    lam = np.array([9000.0, 2500.0, 400.0])  # variances of 0..255 pixels
    stats = ColourStatistics(
        np.zeros((8, 8, 3), np.float32), np.zeros(3), q @ np.diag(lam) @ q.T, lam, q, 1
    )
    aug = AlexNetAugment(stats, crop=8, base=8)
    g = torch.Generator().manual_seed(0)
    n = 200_000
    offsets = aug.colour_noise(n, g).double().numpy()
    # alpha ~ N(0, 0.1^2) times the eigenvalues for [0, 1] pixels, in 0..255 units.
    lam01 = lam / 255.0**2
    expected = 255.0**2 * q @ np.diag(0.01 * lam01**2) @ q.T
    # Sample covariance of n Gaussian draws: entry standard error ~ sqrt((s_ii s_jj + s_ij^2) / n).
    se = np.sqrt((np.outer(np.diag(expected), np.diag(expected)) + expected**2) / n)
    assert np.all(np.abs(np.cov(offsets.T) - expected) < 5 * se)
    assert np.all(np.abs(offsets.mean(0)) < 5 * np.sqrt(np.diag(expected) / n))


def test_train_transform_adds_one_offset_per_image_to_every_pixel() -> None:
    images = torch.from_numpy(_images(4, 8))
    stats = _zero_stats(8)
    aug = AlexNetAugment(stats, crop=8, base=8)  # crop == base: only flip and colour noise vary
    out = aug.train(images, torch.Generator().manual_seed(3)).permute(0, 2, 3, 1)
    for i in range(4):
        diff_fwd = out[i] - images[i].float()
        diff_rev = out[i] - images[i].flip(1).float()
        diff = diff_fwd if torch.allclose(diff_fwd, diff_fwd[0, 0], atol=1e-3) else diff_rev
        torch.testing.assert_close(
            diff, diff[0, 0].expand_as(diff), atol=1e-3, rtol=0
        )  # same RGB offset everywhere


def test_crop_flip_equals_slices() -> None:
    images = torch.from_numpy(_images(5, 16))
    top = torch.tensor([0, 3, 6, 2, 0])
    left = torch.tensor([6, 0, 4, 1, 0])
    flip = torch.tensor([False, True, False, True, True])
    out = crop_flip(images, top, left, flip, 10)
    assert out.shape == (5, 10, 10, 3) and out.dtype == torch.uint8
    for i in range(5):
        t, lft = int(top[i]), int(left[i])
        window = images[i, t : t + 10, lft : lft + 10]
        torch.testing.assert_close(out[i], window.flip(1) if flip[i] else window)


def test_random_crops_cover_every_offset_and_flip_half() -> None:
    # Constant-per-column images reveal the crop's left edge and its orientation.
    size, crop, n = 12, 8, 4000
    cols = torch.arange(size, dtype=torch.uint8).view(1, 1, size, 1).expand(n, size, size, 3)
    aug = AlexNetAugment(_zero_stats(size), crop=crop, base=size, pca_std=0.0)
    out = aug.train(cols.contiguous(), torch.Generator().manual_seed(0))[:, 0, 0]  # (n, crop)
    first, last = out[:, 0], out[:, -1]
    flipped = first > last
    assert 0.45 < flipped.float().mean().item() < 0.55
    left = torch.where(flipped, last, first).long()
    assert set(left.tolist()) == set(range(size - crop + 1))
    assert torch.all((out[:, 1:] - out[:, :-1]).abs() == 1)  # contiguous windows


def test_ten_crop_geometry() -> None:
    base, crop = 16, 10
    images = torch.from_numpy(_images(3, base))
    aug = AlexNetAugment(_zero_stats(base), crop=crop, base=base)
    out = aug.ten_crop(images)
    assert out.shape == (3, 10, 3, crop, crop)
    offsets = ten_crop_offsets(base, crop)
    assert offsets == [(0, 0), (0, 6), (6, 0), (6, 6), (3, 3)]
    nhwc = out.permute(0, 1, 3, 4, 2)
    for k, (t, lft) in enumerate(offsets):
        window = images[:, t : t + crop, lft : lft + crop].float()
        torch.testing.assert_close(nhwc[:, k], window)
        torch.testing.assert_close(nhwc[:, k + 5], window.flip(2))
    torch.testing.assert_close(aug.centre_crop(images), out[:, 4])


def test_mean_subtraction_pixel_and_channel() -> None:
    images = _images(5, 12)
    stats = colour_statistics(images)
    aug = AlexNetAugment(stats, crop=8, base=12, mean="pixel")
    centre = aug.centre_crop(torch.from_numpy(images)).permute(0, 2, 3, 1)
    # The per-pixel mean of the mean-subtracted training crops is zero.
    torch.testing.assert_close(centre.mean(0), torch.zeros(8, 8, 3), atol=1e-4, rtol=0)
    chan = AlexNetAugment(stats, crop=8, base=12, mean="channel")
    c = chan.centre_crop(torch.from_numpy(images)).permute(0, 2, 3, 1)
    expected = images[:, 2:10, 2:10].astype(np.float32) - stats.mean_image.mean(axis=(0, 1))
    np.testing.assert_allclose(c.numpy(), expected, rtol=1e-5, atol=1e-4)


def test_small_cache_is_upsampled_to_the_base_size() -> None:
    images = torch.from_numpy(_images(2, 8))
    aug = AlexNetAugment(_zero_stats(8), crop=14, base=16)
    out = aug.ten_crop(images)
    assert out.shape == (2, 10, 3, 14, 14)
    train = aug.train(images, torch.Generator().manual_seed(0))
    assert train.shape == (2, 3, 14, 14) and train.dtype == torch.float32
    # A constant image stays constant through the upsampling.
    flat = torch.full((1, 8, 8, 3), 77, dtype=torch.uint8)
    torch.testing.assert_close(aug.centre_crop(flat), torch.full((1, 3, 14, 14), 77.0))
