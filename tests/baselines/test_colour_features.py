"""Local colour statistics (Perronnin et al. 2010): layout, values on built images, the channel."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from baselines.features.colour import (
    COLOUR_DIM,
    ColourFisherEncoder,
    ColourStatsExtractor,
    colour_statistics,
)
from baselines.features.dense_sift import DenseGrid
from baselines.features.fisher import DiagonalGmm
from harness.api import RunContext, Split
from harness.data.holdout import carve_holdout
from harness.registry import BASELINES


def brute_force(image: np.ndarray, grid: DenseGrid) -> np.ndarray:
    """Each frame's 4 x 4 sub-regions of b x b px around the SIFT bin centres, clipped."""
    size = image.shape[0]
    out = []
    for b in grid.bin_sizes:
        for cx, cy in grid.scale_points(size, b):
            x0, y0 = round(cx - 1.5 * b), round(cy - 1.5 * b)  # the first bin's centre
            desc = []
            for j in range(4):
                for i in range(4):
                    r, c = y0 + j * b - b // 2, x0 + i * b - b // 2
                    patch = image[max(r, 0) : r + b, max(c, 0) : c + b].reshape(-1, 3) / 255.0
                    desc += [*patch.mean(0), *patch.std(0)]
            out.append(desc)
    return np.asarray(out, np.float32).reshape(-1, COLOUR_DIM)


def test_dimensions_follow_the_dense_sift_grid() -> None:
    grid = DenseGrid((2, 3, 4, 5), 3)
    images = np.random.default_rng(0).integers(0, 256, (3, 64, 64, 3), dtype=np.uint8)
    desc = colour_statistics(images, grid)
    assert COLOUR_DIM == 96
    assert desc.shape == (3, grid.n_points(64), 96) and desc.dtype == np.float32
    assert desc.min() >= 0 and desc.max() <= 1
    np.testing.assert_allclose(desc[1], brute_force(images[1], grid), atol=1e-6)
    # too small for any frame: no points, as dense SIFT
    assert colour_statistics(images[:, :8, :8], grid).shape == (3, 0, 96)
    with pytest.raises(ValueError, match="RGB"):
        colour_statistics(images[..., 0], grid)


def test_values_on_constructed_images() -> None:
    grid, size = DenseGrid((4,), 4), 32
    f = grid.frames_per_side(size, 4)  # 5 frames a side, first bin centres at 0, 4, ..., 16
    # a flat colour: every sub-region has that mean and no spread, border ones included
    flat = np.zeros((1, size, size, 3), np.uint8)
    flat[...] = (255, 51, 0)
    desc = colour_statistics(flat, grid)[0].reshape(-1, 4, 4, 2, 3)
    np.testing.assert_allclose(desc[:, :, :, 0], np.broadcast_to([1.0, 0.2, 0.0], (f * f, 4, 4, 3)))
    np.testing.assert_allclose(desc[:, :, :, 1], 0.0, atol=1e-6)
    # R = column, B = row: sub-region (j, i) of the frame whose first bin centre is (x0, y0)
    # averages columns x0 + 4 i - 2 .. x0 + 4 i + 1 (clipped at 0), rows likewise
    ramp = np.zeros((1, size, size, 3), np.uint8)
    ramp[0, :, :, 0] = np.arange(size)[None, :]
    ramp[0, :, :, 2] = np.arange(size)[:, None]
    desc = colour_statistics(ramp, grid)[0].reshape(f, f, 4, 4, 2, 3)  # (y, x, j, i, stat, rgb)
    y, x, j, i = 2, 4, 1, 3  # frame (row 2, column 4): first bin centre (4 * 4, 4 * 2)
    cols = np.arange(16 + 4 * i - 2, 16 + 4 * i + 2)
    rows = np.arange(8 + 4 * j - 2, 8 + 4 * j + 2)
    assert desc[y, x, j, i, 0, 0] == pytest.approx(cols.mean() / 255, abs=1e-6)
    assert desc[y, x, j, i, 1, 0] == pytest.approx(cols.std() / 255, abs=1e-6)
    assert desc[y, x, j, i, 0, 2] == pytest.approx(rows.mean() / 255, abs=1e-6)
    assert desc[y, x, j, i, 0, 1] == 0 and desc[y, x, j, i, 1, 1] == 0  # no green
    # the first frame's first sub-region overhangs the border: columns 0..1 only
    assert desc[0, 0, 0, 0, 0, 0] == pytest.approx(0.5 / 255, abs=1e-6)
    # a 2-px green checkerboard: every 2 x 2 sub-region is half on, spread 0.5
    check = np.zeros((1, 16, 16, 3), np.uint8)
    check[0, :, :, 1] = 255 * (np.add.outer(np.arange(16), np.arange(16)) % 2)
    desc = colour_statistics(check, DenseGrid((2,), 2))[0].reshape(-1, 16, 2, 3)
    inside = desc[7]  # a frame away from the border (whose clipped sub-regions differ)
    np.testing.assert_allclose(inside[:, 0, 1], 0.5, atol=1e-6)
    np.testing.assert_allclose(inside[:, 1, 1], 0.5, atol=1e-6)


def test_colour_fisher_encoder_dims_and_normalisation() -> None:
    grid = DenseGrid((4,), 4)
    rng = np.random.default_rng(0)
    gmm = DiagonalGmm(np.full(3, 1 / 3), rng.normal(size=(3, 8)), np.ones((3, 8)))
    encoder = ColourFisherEncoder(
        extractor=ColourStatsExtractor(grid),
        pca_mean=np.full(96, 0.5, np.float32),
        pca_components=rng.normal(size=(8, 96)).astype(np.float32) / 10,
        gmm=gmm,
        pyramid=((1, 1), (2, 2)),
    )
    images = rng.integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)
    fv = encoder.encode(images)
    assert fv.shape == (2, encoder.dim(32)) == (2, 2 * 3 * 8 * 5)
    np.testing.assert_allclose(np.linalg.norm(fv, axis=1), 1.0, rtol=1e-5)
    assert ColourStatsExtractor(grid).cache_params()["descriptor"].startswith("rgb-mean-std")


def coloured_split(name: str, per_class: int, seed: int) -> Split:
    """Four classes told apart by colour only (the same noise texture in each)."""
    rng = np.random.default_rng(seed)
    hues = np.array([(200, 40, 40), (40, 200, 40), (40, 40, 200), (200, 200, 40)])
    images, labels = [], []
    for c, hue in enumerate(hues):
        for _ in range(per_class):
            noise = rng.normal(0, 25, (32, 32, 1))
            images.append(np.clip(hue + noise, 0, 255).astype(np.uint8))
            labels.append(c)
    return Split(name, np.stack(images), np.array(labels), tuple(f"n{c:08d}" for c in range(4)))


def test_colour_channel_is_selected_on_the_monitor_and_late_fused(tmp_path: Path) -> None:
    train, val = coloured_split("train", 20, 0), coloured_split("val", 5, 1)
    holdout = carve_holdout(train.labels, train.n_classes, seed=0)
    ctx = RunContext(
        cache_dir=tmp_path,
        quiet=True,
        holdout=holdout,
        monitor=train.subset(holdout.monitor_rows, name="monitor"),
    )
    # through the registry, which names the class after its entry point (its notes' prefix)
    method = BASELINES.get("sift-fv-svm")(
        n_components=4,
        pca_dim=16,
        codebook_images=40,
        descriptors_per_image=30,
        colour=True,
        svm_grid=(1e-3, 1e-1),
        svm_epoch_grid=(2, 4),
    )
    assert method.get_params()["colour"] is True
    method.fit(train, ctx)
    assert sorted(method.svms_) == ["colour", "main"]
    assert [s.parameters for s in ctx.selections] == [
        ("svm_reg", "svm_epochs", "svm_class_weight"),
        ("colour_svm_reg", "colour_svm_epochs", "colour_svm_class_weight"),
    ]
    assert ctx.notes["sift-fv-svm_colour_feature_dim"] == 2 * 4 * 16 * 5
    assert set(ctx.notes["sift-fv-svm_fused_monitor_err"]) == {
        "monitor_top1_err",
        "monitor_top5_err",
    }
    scores = method.decision_function(val, ctx)
    per_channel = [
        method.svms_[c].decision_function(method.features(val, ctx, c)) for c in ("main", "colour")
    ]
    np.testing.assert_allclose(scores, np.mean(per_channel, axis=0), rtol=1e-6, atol=1e-6)
    accuracy = [np.mean(s.argmax(1) == val.labels) for s in (*per_channel, scores)]
    assert accuracy[1] == 1.0  # the colour channel sees what grey SIFT cannot (chance: 0.25)
    assert accuracy[2] >= accuracy[0] + 0.25  # and the fusion keeps much of it
