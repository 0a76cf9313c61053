"""Local colour statistics on the dense SIFT grid and their Fisher vectors (XRCE's colour channel).

Perronnin, Sanchez & Mensink (ECCV 2010) and the XRCE ILSVRC 2010-2011
entries added a second Fisher vector on *local colour statistics*: each patch
is cut into 4 x 4 sub-regions and each sub-region described by the mean and
standard deviation of its R, G and B values, 4 x 4 x 2 x 3 = 96 dimensions;
PCA, a GMM and a Fisher vector follow exactly as for SIFT, and the two
channels get their own SVMs whose scores are averaged (late fusion).

Geometry: the patches are the dense SIFT frames of the same
:class:`~baselines.features.dense_sift.DenseGrid` (same centres, same scales,
same order), so both channels share their spatial-pyramid cells. A frame of
bin size b is 4b px wide (4 x 4 bins of b px); sub-region (j, i) covers the b
x b pixels around SIFT bin (j, i)'s centre, rows ``[y_j - b // 2, y_j - b // 2
+ b)`` with ``y_j = offset + step * k + j b`` (the bin centres of
:meth:`DenseGrid.offset`), columns alike; pixels outside the image are left
out of that sub-region's statistics.

Layout of one descriptor: index ``((j * 4 + i) * 2 + s) * 3 + c`` for
sub-region row j, column i, statistic s (0 mean, 1 standard deviation) and
channel c (R, G, B); values on the [0, 1] intensity scale. Sums come from
integer integral images of the values and their squares, so each statistic is
exact to float rounding and costs four lookups whatever b.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from baselines.features.dense_sift import DenseGrid
from baselines.features.fisher import (
    DiagonalGmm,
    fisher_dim,
    fisher_vectors_np,
    fisher_vectors_torch,
)
from baselines.features.spatial_pyramid import Pyramid, cell_assignment, n_cells

SUB_REGIONS = 4  # per side of a patch, as SIFT's 4 x 4 spatial bins
COLOUR_DIM = SUB_REGIONS * SUB_REGIONS * 2 * 3  # 96
DESCRIPTOR = "rgb-mean-std-4x4-v1"  # names the descriptor in cache keys


def integral_images(images: np.ndarray) -> np.ndarray:
    """``(n, S, S, 3)`` uint8 -> ``(n, S+1, S+1, 6)`` int64 zero-padded integral images of the
    values (channels 0-2) and of their squares (3-5): exact integers."""
    x = np.asarray(images, dtype=np.int64)
    n, h, w, _ = x.shape
    out = np.zeros((n, h + 1, w + 1, 6), dtype=np.int64)
    out[:, 1:, 1:, :3] = x
    out[:, 1:, 1:, 3:] = x * x
    return out.cumsum(1).cumsum(2)


def _sub_region_bounds(grid: DenseGrid, size: int, bin_size: int) -> tuple[np.ndarray, np.ndarray]:
    """``(F * 4,)`` clipped [lo, hi) pixel bounds of each frame's sub-regions along one axis."""
    first = grid.offset(bin_size) + grid.step * np.arange(grid.frames_per_side(size, bin_size))
    lo = first[:, None] + bin_size * np.arange(SUB_REGIONS)[None, :] - bin_size // 2
    return np.clip(lo, 0, size).ravel(), np.clip(lo + bin_size, 0, size).ravel()


def colour_statistics(images: np.ndarray, grid: DenseGrid) -> np.ndarray:
    """``(n, S, S, 3)`` uint8 RGB -> ``(n, P, 96)`` float32 local colour statistics.

    ``P = grid.n_points(S)``, points in the order of ``grid.points(S)``; an
    image smaller than every frame gives ``(n, 0, 96)``.
    """
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"expected (n, S, S, 3) RGB images, got shape {images.shape}")
    n, size = images.shape[0], images.shape[1]
    out = np.zeros((n, grid.n_points(size), COLOUR_DIM), dtype=np.float32)
    if out.shape[1] == 0 or n == 0:
        return out
    integral = integral_images(images)
    start = 0
    for b in grid.bin_sizes:
        f = grid.frames_per_side(size, b)
        if f == 0:
            continue
        lo, hi = _sub_region_bounds(grid, size, b)  # the same along rows and columns
        rows_lo, rows_hi = integral[:, lo], integral[:, hi]
        sums = (
            rows_hi[:, :, hi] - rows_lo[:, :, hi] - rows_hi[:, :, lo] + rows_lo[:, :, lo]
        )  # (n, f * 4 rows, f * 4 columns, 6)
        count = np.outer(hi - lo, hi - lo)[None, :, :, None].astype(np.float64)
        mean = sums[..., :3] / count
        var = sums[..., 3:] / count - mean * mean
        stats = np.concatenate([mean, np.sqrt(np.maximum(var, 0.0))], axis=-1) / 255.0
        stats = stats.reshape(n, f, SUB_REGIONS, f, SUB_REGIONS, 6).transpose(0, 1, 3, 2, 4, 5)
        out[:, start : start + f * f] = stats.reshape(n, f * f, COLOUR_DIM)
        start += f * f
    return out


@dataclass(frozen=True)
class ColourStatsExtractor:
    """Local colour statistics on a dense grid (numpy; cheap next to SIFT, so CPU only).

    ``device`` is where the Fisher vectors of these descriptors are computed
    ("cuda": torch on the GPU); ``backend`` says "torch" then, so the
    extraction runs in-process instead of in a CPU pool.
    """

    grid: DenseGrid = field(default_factory=DenseGrid)
    device: str = "cpu"

    @property
    def backend(self) -> str:
        return "numpy" if self.device == "cpu" else "torch"

    def cache_params(self) -> dict[str, Any]:
        return {
            "descriptor": DESCRIPTOR,
            "bin_sizes": list(self.grid.bin_sizes),
            "step": self.grid.step,
        }

    def descriptors(self, images: np.ndarray) -> np.ndarray:
        return colour_statistics(images, self.grid)


@dataclass(frozen=True)
class ColourFisherEncoder:
    """Colour statistics -> PCA -> improved Fisher vector per spatial-pyramid cell.

    The same normalisation as the SIFT Fisher vectors: each cell power- and
    L2-normalised, the concatenation divided by sqrt(number of cells).
    """

    extractor: ColourStatsExtractor
    pca_mean: np.ndarray  # (96,)
    pca_components: np.ndarray  # (d, 96)
    gmm: DiagonalGmm
    pyramid: Pyramid
    batch_size: int = 64  # images per torch step

    def dim(self, size: int) -> int:
        return fisher_dim(self.gmm.n_components, len(self.pca_components), n_cells(self.pyramid))

    def encode(self, images: np.ndarray) -> np.ndarray:
        size = images.shape[1]
        cells = cell_assignment(self.extractor.grid.points(size), size, self.pyramid)
        scale = np.float32(1.0 / np.sqrt(n_cells(self.pyramid)))
        mean = self.pca_mean.astype(np.float32)
        comp = self.pca_components.T.astype(np.float32)
        if self.extractor.device == "cpu":
            x = (self.extractor.descriptors(images) - mean) @ comp
            return fisher_vectors_np(x, self.gmm, cells) * scale
        import torch

        dev = self.extractor.device
        mean_t, comp_t = torch.as_tensor(mean, device=dev), torch.as_tensor(comp, device=dev)
        outs = [np.zeros((0, self.dim(size)), np.float32)]
        for s in range(0, len(images), self.batch_size):
            desc = torch.as_tensor(self.extractor.descriptors(images[s : s + self.batch_size]))
            x = (desc.to(dev) - mean_t) @ comp_t
            outs.append((fisher_vectors_torch(x, self.gmm, cells) * float(scale)).cpu().numpy())
        return np.concatenate(outs)
