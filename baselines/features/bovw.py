"""Bag of visual words with a spatial pyramid (Lazebnik, Schmid & Ponce 2006).

Each dense SIFT descriptor is hard-assigned to its nearest k-means word; each
pyramid cell counts its words; levels are weighted as in Lazebnik et al.
(1/2^L for level 0, 1/2^(L-l+1) for level l >= 1, with L the finest level)
and the whole vector is L1-normalised, which is what the chi-squared kernel
(``sklearn.kernel_approximation.AdditiveChi2Sampler``, applied later by the
pipeline) expects. An image with no grid points gives all zeros.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from baselines.features.spatial_pyramid import Pyramid


def pyramid_level_weights(pyramid: Pyramid) -> np.ndarray:
    """Lazebnik's per-level weights, finest level weighted most."""
    n_levels = len(pyramid)
    last = n_levels - 1
    if n_levels == 1:
        return np.ones(1)
    return np.array(
        [1 / 2**last if lvl == 0 else 1 / 2 ** (last - lvl + 1) for lvl in range(n_levels)]
    )


def nearest_words_np(
    descriptors: np.ndarray, vocabulary: np.ndarray, block: int = 4096
) -> np.ndarray:
    """``(n, P, D)``, ``(V, D)`` -> ``(n, P)`` index of the nearest word (squared L2).

    Works through ``block`` descriptors at a time so the distance matrix stays
    in cache instead of being ``n*P x V`` floats.
    """
    x = descriptors.reshape(-1, descriptors.shape[-1]).astype(np.float32)
    v = vocabulary.astype(np.float32)
    v_sq = (v * v).sum(1)[None, :]
    words = np.empty(len(x), dtype=np.int64)
    for s in range(0, len(x), block):
        # ||x - v||^2 = ||x||^2 - 2 x.v + ||v||^2; ||x||^2 does not change the argmin
        words[s : s + block] = (v_sq - 2 * x[s : s + block] @ v.T).argmin(1)
    return words.reshape(descriptors.shape[:2])


def bovw_histograms(
    words: np.ndarray, cells: np.ndarray, n_words: int, cell_weights: np.ndarray
) -> np.ndarray:
    """Word indices ``(n, P)``, cell assignment ``(P, C)`` and per-cell weights ``(C,)``
    -> L1-normalised weighted histograms ``(n, C * V)`` float32, cell-major."""
    n, p = words.shape
    c = cells.shape[1]
    if p == 0:
        return np.zeros((n, c * n_words), dtype=np.float32)
    point_idx, cell_idx = np.nonzero(cells)  # every (point, cell) membership, all levels
    bins = cell_idx[None, :] * n_words + words[:, point_idx]  # (n, memberships)
    bins = bins + np.arange(n)[:, None] * (c * n_words)
    counts = np.bincount(bins.ravel(), minlength=n * c * n_words).astype(np.float32)
    out = counts.reshape(n, c, n_words) * cell_weights[None, :, None].astype(np.float32)
    out = out.reshape(n, -1)
    total = out.sum(1, keepdims=True)
    np.divide(out, total, out=out, where=total > 0)
    return out


def nearest_words_torch(descriptors: Any, vocabulary: Any) -> Any:
    """Torch twin of :func:`nearest_words_np`."""
    v = vocabulary
    dist = (v * v).sum(1) - 2 * descriptors @ v.T
    return dist.argmin(-1)
