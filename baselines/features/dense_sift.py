"""Dense multi-scale SIFT on a regular grid (the vl_phow recipe), CPU and torch.

VLFeat's ``vl_phow`` computes SIFT densely at several bin sizes (4, 6, 8 and
10 px, step 2-4 px on images of a few hundred pixels). Every image in a batch
shares one size, so one grid serves the whole batch and descriptors come back
as a dense ``(n_images, n_points, 128)`` array, which keeps the encoders
vectorised.

Two backends compute the same grid:

* ``"opencv"``: ``cv2.SIFT.compute`` on fixed keypoints, one image at a time
  (the CPU path; parallelism comes from running chunks in several processes).
  OpenCV's histogram of a keypoint of ``size`` s spans 4 bins of 1.5 s pixels,
  so a bin of b pixels is a keypoint of size b / 1.5.
* ``"torch"``: kornia's ``DenseSIFTDescriptor`` (convolutions over the batch),
  on the GPU or on CPU tensors.

The grid positions are kornia's (``DenseSIFTDescriptor`` docstring, padding 0)
for both backends, so the spatial pyramid sees the same points. The two
backends do not give identical descriptors (OpenCV smooths with its pyramid
sigma and weights the window with a Gaussian; kornia does not), so a
codebook is learned per backend.

Degenerate input: an image smaller than the smallest descriptor has no grid
points at that scale; an image with no points at all gives an empty
``(n, 0, 128)`` array, which the encoders turn into all-zero features. A
uniform image gives all-zero SIFT descriptors (no gradient).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

SIFT_DIM = 128


@dataclass(frozen=True)
class DenseGrid:
    """Where dense SIFT is computed: bin sizes (px) and the grid step (px)."""

    bin_sizes: tuple[int, ...] = (2, 3, 4, 5)  # SIFT spatial bin widths in px (descriptor = 4 bins)
    step: int = 3  # distance between neighbouring descriptor centres, px

    def scale_points(self, size: int, bin_size: int) -> np.ndarray:
        """``(n, 2)`` float (x, y) centres for one bin size, row-major like kornia's output map."""
        e = 1 if bin_size % 2 == 0 else 0
        n_out = (size + e - 3 * bin_size - 1) // self.step + 1
        if n_out <= 0:
            return np.zeros((0, 2), dtype=np.float32)
        coords = np.arange(n_out, dtype=np.float32) * self.step + 1.5 * bin_size - e / 2
        ys, xs = np.meshgrid(coords, coords, indexing="ij")
        return np.stack([xs.ravel(), ys.ravel()], axis=1)

    def points(self, size: int) -> np.ndarray:
        """All grid centres ``(P, 2)`` for a square image of side ``size``, scale by scale."""
        pts = [self.scale_points(size, b) for b in self.bin_sizes]
        return np.concatenate(pts, axis=0) if pts else np.zeros((0, 2), np.float32)

    def n_points(self, size: int) -> int:
        return len(self.points(size))


def to_gray(images: np.ndarray) -> np.ndarray:
    """``(n, S, S, 3)`` uint8 RGB -> ``(n, S, S)`` uint8 luma (ITU-R 601, as OpenCV)."""
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"expected (n, S, S, 3) RGB images, got shape {images.shape}")
    weights = np.array([0.299, 0.587, 0.114], dtype=np.float32)
    gray = images.astype(np.float32) @ weights
    return np.clip(np.rint(gray), 0, 255).astype(np.uint8)


def dense_sift_opencv(gray: np.ndarray, grid: DenseGrid) -> np.ndarray:
    """Dense SIFT with OpenCV: ``(n, S, S)`` uint8 -> ``(n, P, 128)`` float32 (L2 ~ 512 scale removed)."""
    import cv2

    n, size = gray.shape[0], gray.shape[1]
    keypoints = []
    for b in grid.bin_sizes:
        for x, y in grid.scale_points(size, b):
            keypoints.append(cv2.KeyPoint(float(x), float(y), b / 1.5))
    out = np.zeros((n, len(keypoints), SIFT_DIM), dtype=np.float32)
    if not keypoints:
        return out
    sift = cv2.SIFT_create()
    for i in range(n):
        kps, desc = sift.compute(np.ascontiguousarray(gray[i]), keypoints)
        if desc is None or len(kps) != len(keypoints):
            # OpenCV drops no fixed keypoint inside the image; if it ever does,
            # leave this image's descriptors at zero rather than misalign the grid.
            continue
        out[i] = desc
    # OpenCV scales unit descriptors by 512 and saturates to uint8 range; bring
    # them back to unit L2 norm so both backends share one scale.
    norms = np.linalg.norm(out, axis=2, keepdims=True)
    np.divide(out, norms, out=out, where=norms > 0)
    return out


_KORNIA_MODULES: dict[tuple[int, int, str], Any] = {}


def dense_sift_torch(gray: Any, grid: DenseGrid) -> Any:
    """Dense SIFT with kornia: ``(n, 1, S, S)`` float tensor in [0, 1] -> ``(n, P, 128)`` tensor."""
    import torch
    from kornia.feature import DenseSIFTDescriptor

    n, size = gray.shape[0], gray.shape[-1]
    outs = []
    for b in grid.bin_sizes:
        if len(grid.scale_points(size, b)) == 0:
            continue
        key = (b, grid.step, str(gray.device))
        module = _KORNIA_MODULES.get(key)
        if module is None:
            # rootsift off: the 2010-2012 pipelines used plain SIFT (RootSIFT is 2012 and later)
            module = DenseSIFTDescriptor(
                spatial_bin_size=b, stride=grid.step, padding=0, rootsift=False
            ).to(gray.device)
            _KORNIA_MODULES[key] = module
        with torch.no_grad():
            desc = module(gray)  # (n, 128, h, w), h*w == len(scale_points)
        outs.append(desc.flatten(2).transpose(1, 2))
    if not outs:
        return torch.zeros((n, 0, SIFT_DIM), dtype=gray.dtype, device=gray.device)
    return torch.cat(outs, dim=1)
