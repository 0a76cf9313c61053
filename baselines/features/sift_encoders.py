"""Image -> feature vector encoders built on dense SIFT: Fisher vectors and bags of words.

An encoder is a small frozen dataclass holding only numpy arrays (the PCA,
GMM or vocabulary learned on training images), so it pickles cheaply to a
joblib or Dask worker. ``encode(images)`` maps a uint8 ``(n, S, S, 3)`` chunk
to ``(n, dim)`` float32. With ``backend="torch"`` the whole chain (kornia
dense SIFT, PCA, posteriors, Fisher statistics / word assignment) runs in
torch on ``device`` ("cuda" for the GPU path; "cpu" so the path is testable
without a GPU); with ``backend="opencv"`` it runs in numpy/OpenCV.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from baselines.features.bovw import bovw_histograms, nearest_words_np, nearest_words_torch
from baselines.features.dense_sift import (
    SIFT_DIM,
    DenseGrid,
    dense_sift_opencv,
    dense_sift_torch,
    to_gray,
)
from baselines.features.fisher import (
    DiagonalGmm,
    fisher_dim,
    fisher_vectors_np,
    fisher_vectors_torch,
)
from baselines.features.spatial_pyramid import Pyramid, cell_assignment, n_cells

BACKENDS = ("opencv", "torch")


@dataclass(frozen=True)
class DenseSiftExtractor:
    """Dense SIFT of the grayscale image with one backend on one device."""

    grid: DenseGrid = field(default_factory=DenseGrid)
    backend: str = "opencv"  # "opencv" (CPU) or "torch" (kornia, CPU or CUDA)
    device: str = "cpu"

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise ValueError(f"unknown SIFT backend {self.backend!r}; expected one of {BACKENDS}")
        if self.backend == "opencv" and self.device != "cpu":
            raise ValueError(
                "the OpenCV SIFT backend runs on CPU only; use backend='torch' for cuda"
            )

    def cache_params(self) -> dict[str, Any]:
        return {
            "bin_sizes": list(self.grid.bin_sizes),
            "step": self.grid.step,
            "backend": self.backend,
        }

    def to_tensor(self, images: np.ndarray) -> Any:
        """uint8 RGB -> (n, 1, S, S) float32 gray in [0, 1] on ``device`` (same luma as OpenCV)."""
        import torch

        gray = torch.from_numpy(to_gray(np.asarray(images))).to(self.device)
        return gray.float().div_(255.0)[:, None]

    def descriptors(self, images: np.ndarray) -> np.ndarray:
        """``(n, S, S, 3)`` uint8 -> ``(n, P, 128)`` float32 numpy (either backend)."""
        if self.backend == "opencv":
            return dense_sift_opencv(to_gray(np.asarray(images)), self.grid)
        return dense_sift_torch(self.to_tensor(images), self.grid).cpu().numpy()


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
        if self.extractor.backend == "opencv":
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
            gray = self.extractor.to_tensor(images[start : start + self.batch_size])
            desc = dense_sift_torch(gray, self.extractor.grid)
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
        if self.extractor.backend == "opencv":
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
                            dense_sift_torch(
                                self.extractor.to_tensor(images[s : s + self.batch_size]),
                                self.extractor.grid,
                            ),
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


__all__ = ["SIFT_DIM", "BovwEncoder", "DenseSiftExtractor", "FisherEncoder", "Pca"]
