"""Image -> feature vector encoders built on dense SIFT: Fisher vectors and bags of words.

An encoder is a small frozen dataclass holding only numpy arrays (the PCA,
GMM or vocabulary learned on training images), so it pickles cheaply to a
joblib or Dask worker. ``encode(images)`` maps a uint8 ``(n, S, S, 3)`` chunk
to ``(n, dim)`` float32.

Both backends compute the same vl_phow descriptor
(:mod:`baselines.features.dense_sift`; they agree to float rounding), so the
backend is a question of speed only: with ``backend="torch"`` the whole chain
(dense SIFT, PCA, posteriors, Fisher statistics / word assignment) runs in
torch on ``device`` ("cuda" for the GPU path; "cpu" so the path is testable
without a GPU); with ``backend="numpy"`` it runs in numpy with OpenCV's
filters, one process per core. ``"opencv"`` is the former name of the numpy
backend and is accepted as such.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from baselines.features.bovw import bovw_histograms, nearest_words_np, nearest_words_torch
from baselines.features.dense_sift import (
    SIFT_DIM,
    DenseGrid,
    DescriptorSettings,
    dense_sift_numpy,
    dense_sift_torch,
    gray_tensor,
    to_gray,
)
from baselines.features.fisher import (
    DiagonalGmm,
    fisher_dim,
    fisher_vectors_np,
    fisher_vectors_torch,
)
from baselines.features.spatial_pyramid import Pyramid, cell_assignment, n_cells

BACKENDS = ("numpy", "torch")
BACKEND_ALIASES = {"opencv": "numpy"}  # the numpy backend's former name (it filters with OpenCV)
DESCRIPTOR = "vl_phow-dsift-v1"  # names the descriptor in cache keys (v0: OpenCV / kornia SIFT)


@dataclass(frozen=True)
class DenseSiftExtractor:
    """vl_phow dense SIFT of the grey image with one backend on one device."""

    grid: DenseGrid = field(default_factory=DenseGrid)
    backend: str = "numpy"  # "numpy" (numpy + OpenCV filters, CPU) or "torch" (CPU or CUDA)
    device: str = "cpu"
    settings: DescriptorSettings = field(default_factory=DescriptorSettings)

    def __post_init__(self) -> None:
        backend = BACKEND_ALIASES.get(self.backend, self.backend)
        if backend not in BACKENDS:
            raise ValueError(
                f"unknown SIFT backend {self.backend!r}; expected one of {BACKENDS} "
                f"(or {sorted(BACKEND_ALIASES)})"
            )
        object.__setattr__(self, "backend", backend)
        if backend == "numpy" and self.device != "cpu":
            raise ValueError(
                "the numpy SIFT backend runs on CPU only; use backend='torch' for cuda"
            )

    def cache_params(self) -> dict[str, Any]:
        return {
            "descriptor": DESCRIPTOR,
            "bin_sizes": list(self.grid.bin_sizes),
            "step": self.grid.step,
            "magnif": self.settings.magnif,
            "window": self.settings.window,
            "window_size": self.settings.window_size,
            "contrast_threshold": self.settings.contrast_threshold,
            "backend": self.backend,  # same descriptor, but not bit-identical features
        }

    def to_tensor(self, images: np.ndarray) -> Any:
        """uint8 RGB -> (n, 1, S, S) float32 grey in [0, 1] on ``device`` (MATLAB rgb2gray)."""
        return gray_tensor(np.asarray(images), self.device)

    def descriptors_torch(self, images: np.ndarray) -> Any:
        """``(n, S, S, 3)`` uint8 -> ``(n, P, 128)`` float32 tensor on ``device`` (torch backend)."""
        return dense_sift_torch(self.to_tensor(images), self.grid, self.settings)

    def descriptors(self, images: np.ndarray) -> np.ndarray:
        """``(n, S, S, 3)`` uint8 -> ``(n, P, 128)`` float32 numpy (either backend)."""
        if self.backend == "numpy":
            return dense_sift_numpy(to_gray(np.asarray(images)), self.grid, self.settings)
        return self.descriptors_torch(images).cpu().numpy()


@dataclass(frozen=True)
class Pca:
    """Descriptor PCA as arrays: ``(x - mean) @ components.T``."""

    mean: np.ndarray  # (128,)
    components: np.ndarray  # (d, 128)

    @property
    def dim(self) -> int:
        return int(self.components.shape[0])


@dataclass(frozen=True)
class FisherEncoder:
    """Dense SIFT -> PCA -> improved Fisher vector per spatial-pyramid cell, concatenated.

    The concatenation is divided by sqrt(number of cells) so the whole vector
    has unit L2 norm (each cell already has).
    """

    extractor: DenseSiftExtractor
    pca: Pca
    gmm: DiagonalGmm
    pyramid: Pyramid
    batch_size: int = 64  # images per torch step (bounds the (b, P, C*K) posteriors)

    def dim(self, size: int) -> int:
        return fisher_dim(self.gmm.n_components, self.pca.dim, n_cells(self.pyramid))

    def encode(self, images: np.ndarray) -> np.ndarray:
        size = images.shape[1]
        cells = cell_assignment(self.extractor.grid.points(size), size, self.pyramid)
        scale = 1.0 / np.sqrt(n_cells(self.pyramid))
        if self.extractor.backend == "numpy":
            desc = self.extractor.descriptors(images)
            x = (desc - self.pca.mean.astype(np.float32)) @ self.pca.components.T.astype(np.float32)
            return fisher_vectors_np(x, self.gmm, cells) * np.float32(scale)
        return self.encode_torch(images, cells, scale).cpu().numpy()

    def encode_torch(self, images: np.ndarray, cells: np.ndarray, scale: float) -> Any:
        import torch

        dev = self.extractor.device
        mean = torch.as_tensor(self.pca.mean, dtype=torch.float32, device=dev)
        comp = torch.as_tensor(self.pca.components, dtype=torch.float32, device=dev)
        outs = []
        for start in range(0, len(images), self.batch_size):
            desc = self.extractor.descriptors_torch(images[start : start + self.batch_size])
            x = (desc - mean) @ comp.T
            outs.append(fisher_vectors_torch(x, self.gmm, cells) * scale)
        return torch.cat(outs)


@dataclass(frozen=True)
class BovwEncoder:
    """Dense SIFT -> nearest k-means word -> weighted spatial-pyramid histograms (L1)."""

    extractor: DenseSiftExtractor
    vocabulary: np.ndarray  # (V, 128)
    pyramid: Pyramid
    cell_weights: np.ndarray  # (C,) Lazebnik level weights, per cell
    batch_size: int = 64

    def dim(self, size: int) -> int:
        return len(self.vocabulary) * n_cells(self.pyramid)

    def encode(self, images: np.ndarray) -> np.ndarray:
        size = images.shape[1]
        cells = cell_assignment(self.extractor.grid.points(size), size, self.pyramid)
        if self.extractor.backend == "numpy":
            words = nearest_words_np(self.extractor.descriptors(images), self.vocabulary)
        else:
            import torch

            vocab = torch.as_tensor(
                self.vocabulary, dtype=torch.float32, device=self.extractor.device
            )
            words = (
                np.concatenate(
                    [
                        nearest_words_torch(
                            self.extractor.descriptors_torch(images[s : s + self.batch_size]),
                            vocab,
                        )
                        .cpu()
                        .numpy()
                        for s in range(0, len(images), self.batch_size)
                    ]
                )
                if len(images)
                else np.zeros((0, cells.shape[0]), dtype=np.int64)
            )
        return bovw_histograms(words, cells, len(self.vocabulary), self.cell_weights)


__all__ = [
    "BACKENDS",
    "SIFT_DIM",
    "BovwEncoder",
    "DenseSiftExtractor",
    "DescriptorSettings",
    "FisherEncoder",
    "Pca",
]
