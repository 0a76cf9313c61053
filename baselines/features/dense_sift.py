"""Dense multi-scale SIFT with VLFeat's ``vl_phow`` / ``vl_dsift`` semantics (0.9.x), numpy and torch.

``vl_phow`` (the dense SIFT of the 2010-2012 ImageNet systems) computes, for
each bin size b (4, 6, 8, 10 px at 256 px):

1. the grey image in [0, 1] (MATLAB ``rgb2gray`` weights, no rounding),
   smoothed by a Gaussian of sigma = b / magnif, magnif 6 (``vl_imsmooth``:
   kernel radius ceil(4 sigma), unit mass, image edges replicated);
2. gradients by central differences (one-sided on the image border), their
   angle atan2(gy, gx) with y pointing down, each pixel's magnitude split
   linearly between the two nearest of 8 orientation bins;
3. ``vl_dsift(..., 'fast', 'windowsize', 1.5)``: 4 x 4 spatial bins of b px
   whose centres lie on integer pixels; each bin pools the orientation maps
   with the bilinear-binning weight 1 - |d| / b over the 2b - 1 pixels
   around its centre (offsets d), done as a separable filter with edge
   replication; the "fast" (flat) window then scales bin (i, j) by the
   mean, over that support, of the Gaussian window of sigma windowSize x b
   centred on the frame (``_vl_dsift_get_bin_window_mean``);
4. the descriptor's *norm* (``vl_dsift``'s third frame row) is its mass:
   the sum of its 128 values divided by (3b + 1)^2, the frame area;
   the descriptor is L2-normalised, clamped at 0.2 and L2-normalised again;
5. ``vl_phow`` zeroes the descriptors whose norm is below the contrast
   threshold 0.005 (flat patches).

``window="gaussian"`` is ``vl_dsift`` without 'fast': each pixel weighted
by the Gaussian window itself (the same separable filter, one kernel per
bin); with ``window_size=2`` that is SIFT's own window, which is how
``tests/baselines/test_dense_sift_agreement.py`` compares the descriptors with
VLFeat's C SIFT (the ``vlsift`` wheel) at the same frames.

Grid (``vl_phow``'s ``bounds``): the first frame of bin size b has its
upper-left bin centre at ``floor(3/2 (max(bin_sizes) - b))`` (0-based) in x
and y, then one frame every ``step`` px while the frame fits in the image.
Frame centres lie 3/2 b further, so the first centre is 3/2 max(bin_sizes)
at every scale and the grids of all scales share their centres when all bin
sizes are even (integer centres) or all odd (half-integer centres); with
mixed parities (the 64 px default 2, 3, 4, 5) the odd scales sit half a
pixel off the even ones, exactly as in ``vl_phow``. Points are listed scale
by scale, row-major inside a scale.

Descriptor layout: index ``(row bin * 4 + column bin) * 8 + orientation``,
orientation t covering angle 2 pi t / 8 from +x towards +y (down): VLFeat's
C layout on a row-major image, which is what ``vlsift`` and cyvlfeat return
(MATLAB's ``vl_phow`` returns a transposed permutation of it). Values are
float32 with unit L2 norm (VLFeat's uint8 descriptors are floor(512 d)).

Backends: :func:`dense_sift_numpy` (vectorised numpy, OpenCV's separable
filters with ``BORDER_REPLICATE``) and :func:`dense_sift_torch` (batched
torch convolutions on CPU or CUDA) implement the same arithmetic, so they
agree to float rounding (``tests/baselines/test_dense_sift_agreement.py``).

Degenerate input: an image smaller than the smallest frame has no points at
that scale; one with no points at all gives an empty ``(n, 0, 128)`` array,
which the encoders turn into all-zero features. A uniform image gives
all-zero descriptors (no gradient, and below the contrast threshold).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

SIFT_DIM = 128
NUM_SPATIAL_BINS = 4  # per side (vl_dsift's numBinX = numBinY)
NUM_ORIENTATIONS = 8  # vl_dsift's numBinT
VL_EPSILON_F = 1.19209290e-07  # added to the L2 norm before dividing, as vl_dsift does
WINDOWS = ("flat", "gaussian")
# MATLAB rgb2gray (Rec. 601 luma), what vl_phow applies to an RGB image
RGB2GRAY = np.array([0.298936021293775, 0.587043074451121, 0.114020904255103], np.float32)
_CV_MAX_CHANNELS = 128  # channels per cv2 filter call (cv2 refuses 256 on numpy input)


def frames_along(length: int, offset: int, bin_size: int, step: int) -> int:
    """vl_dsift's frame count along an axis: upper-left bin centres offset, offset + step, ...

    while the last bin centre, 3 b further, stays inside the ``length`` pixels.
    """
    span = length - 1 - offset - (NUM_SPATIAL_BINS - 1) * bin_size
    return span // step + 1 if span >= 0 else 0


@dataclass(frozen=True)
class DenseGrid:
    """Where dense SIFT is computed: bin sizes (px) and the grid step (px), aligned as vl_phow."""

    bin_sizes: tuple[int, ...] = (2, 3, 4, 5)  # SIFT spatial bin widths in px (descriptor = 4 bins)
    step: int = 3  # distance between neighbouring frames of one scale, px

    def offset(self, bin_size: int) -> int:
        """0-based coordinate of the first frame's upper-left bin centre (vl_phow's bounds)."""
        return math.floor(1.5 * (max(self.bin_sizes) - bin_size))

    def frames_per_side(self, size: int, bin_size: int) -> int:
        """Frames along one side of a ``size`` px image (vl_dsift's numFramesX)."""
        return frames_along(size, self.offset(bin_size), bin_size, self.step)

    def scale_points(self, size: int, bin_size: int) -> np.ndarray:
        """``(n, 2)`` float32 (x, y) frame centres of one bin size, row-major."""
        n = self.frames_per_side(size, bin_size)
        if n == 0:
            return np.zeros((0, 2), dtype=np.float32)
        first = self.offset(bin_size) + 1.5 * bin_size
        coords = (first + self.step * np.arange(n)).astype(np.float32)
        ys, xs = np.meshgrid(coords, coords, indexing="ij")
        return np.stack([xs.ravel(), ys.ravel()], axis=1)

    def points(self, size: int) -> np.ndarray:
        """All frame centres ``(P, 2)`` for a square image of side ``size``, scale by scale."""
        pts = [self.scale_points(size, b) for b in self.bin_sizes]
        return np.concatenate(pts, axis=0) if pts else np.zeros((0, 2), np.float32)

    def n_points(self, size: int) -> int:
        return sum(self.frames_per_side(size, b) ** 2 for b in self.bin_sizes)


@dataclass(frozen=True)
class DescriptorSettings:
    """What each descriptor is (vl_phow's options); the defaults are vl_phow's."""

    magnif: float = 6.0  # pre-smoothing sigma = bin size / magnif (vl_phow 'Magnif')
    window: str = "flat"  # "flat": vl_dsift 'fast' (vl_phow); "gaussian": no 'fast' (= vl_sift)
    window_size: float = 1.5  # Gaussian window sigma, in bins (vl_phow 'WindowSize')
    contrast_threshold: float = 0.005  # zero descriptors whose vl_dsift norm is below (vl_phow)

    def __post_init__(self) -> None:
        if self.window not in WINDOWS:
            raise ValueError(f"unknown SIFT window {self.window!r}; expected one of {WINDOWS}")
        if self.magnif <= 0 or self.window_size <= 0:
            raise ValueError("magnif and window_size must be positive")

    def sigma(self, bin_size: int) -> float:
        """vl_phow's pre-smoothing of the scale whose bins are ``bin_size`` px."""
        return bin_size / self.magnif


# --------------------------------------------------------------------------- shared arithmetic


def to_gray(images: np.ndarray) -> np.ndarray:
    """``(n, H, W, 3)`` uint8 RGB -> ``(n, H, W)`` float32 grey in [0, 1] (MATLAB rgb2gray, unrounded)."""
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"expected (n, S, S, 3) RGB images, got shape {images.shape}")
    return images.astype(np.float32) @ (RGB2GRAY / np.float32(255.0))


def gaussian_kernel(sigma: float) -> np.ndarray:
    """vl_imsmooth's kernel: radius ceil(4 sigma), unit mass; ``[1]`` (no smoothing) below 0.01."""
    if sigma < 0.01:
        return np.ones(1, np.float32)
    radius = math.ceil(4.0 * sigma)
    x = np.arange(-radius, radius + 1, dtype=np.float64) / sigma
    k = np.exp(-0.5 * x * x)
    return (k / k.sum()).astype(np.float32)


def pooling_kernels(bin_size: int, window: str, window_size: float) -> np.ndarray:
    """``(4, 2b - 1)`` weights of the pixels at offsets -(b-1)..b-1 from each bin's centre.

    Row j is bin j (of 4 along one axis, centre 1.5 b before the frame centre
    for j = 0): the bilinear-binning triangle 1 - |d| / b times the window,
    a Gaussian of sigma ``window_size`` x b centred on the frame; with the
    flat window its mean over the bin's support instead (vl_dsift 'fast').
    The 2-D weight of spatial bin (row j, column i) is ``k[j] (x) k[i]``.
    """
    b = bin_size
    d = np.arange(-(b - 1), b, dtype=np.float64)
    triangle = 1.0 - np.abs(d) / b
    sigma = b * window_size
    rows = []
    for j in range(NUM_SPATIAL_BINS):
        centre = b * (j - 0.5 * (NUM_SPATIAL_BINS - 1))  # bin centre relative to the frame centre
        gauss = np.exp(-0.5 * ((d + centre) / sigma) ** 2)
        rows.append(triangle * (gauss.mean() if window == "flat" else gauss))
    return np.asarray(rows, np.float32)


def _normalise_np(desc: np.ndarray, mass: np.ndarray, threshold: float) -> np.ndarray:
    """vl_dsift's L2 -> clamp 0.2 -> L2, then vl_phow's contrast threshold on the mass."""
    desc = desc / (np.sqrt(np.einsum("...k,...k->...", desc, desc))[..., None] + VL_EPSILON_F)
    np.minimum(desc, 0.2, out=desc)
    desc /= np.sqrt(np.einsum("...k,...k->...", desc, desc))[..., None] + VL_EPSILON_F
    desc[mass < threshold] = 0.0
    return desc


# --------------------------------------------------------------------------- numpy / OpenCV


def _cv_filter(img: np.ndarray, kernel_y: np.ndarray | None, kernel_x: np.ndarray | None) -> Any:
    """Separable correlation of ``(H, W, C)`` float32 with edge replication, C in chunks for cv2."""
    import cv2

    one = np.ones(1, np.float32)
    ky = one if kernel_y is None else kernel_y
    kx = one if kernel_x is None else kernel_x
    h, w, c = img.shape
    parts = [
        cv2.sepFilter2D(
            np.ascontiguousarray(img[:, :, s : s + _CV_MAX_CHANNELS]),
            cv2.CV_32F,
            kx,
            ky,
            borderType=cv2.BORDER_REPLICATE,
        ).reshape(h, w, -1)  # cv2 drops a single channel's axis
        for s in range(0, c, _CV_MAX_CHANNELS)
    ]
    return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=2)


def _gradients_np(img: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(H, W, C)`` -> (gx, gy): central differences, one-sided on the border (vl_dsift).

    Needs H, W >= 2 (a frame is at least 3 b + 1 >= 4 px wide).
    """
    gx = np.empty_like(img)
    gx[:, 1:-1] = 0.5 * (img[:, 2:] - img[:, :-2])
    gx[:, 0] = img[:, 1] - img[:, 0]
    gx[:, -1] = img[:, -1] - img[:, -2]
    gy = np.empty_like(img)
    gy[1:-1] = 0.5 * (img[2:] - img[:-2])
    gy[0] = img[1] - img[0]
    gy[-1] = img[-1] - img[-2]
    return gx, gy


def _orientation_maps_np(gx: np.ndarray, gy: np.ndarray) -> np.ndarray:
    """``(..., 8)`` gradient magnitude split linearly between the two nearest orientation bins."""
    mod = np.sqrt(gx * gx + gy * gy).ravel()
    nt = np.mod(np.arctan2(gy, gx), 2 * np.pi).ravel() * np.float32(NUM_ORIENTATIONS / (2 * np.pi))
    low = nt.astype(np.int64)  # floor: nt >= 0
    frac = nt - low
    low %= NUM_ORIENTATIONS  # nt may round up to exactly 8
    maps = np.zeros((mod.size, NUM_ORIENTATIONS), np.float32)
    pixel = np.arange(mod.size)
    maps[pixel, low] = (1.0 - frac) * mod
    maps[pixel, (low + 1) % NUM_ORIENTATIONS] = frac * mod
    return maps.reshape(*gx.shape, NUM_ORIENTATIONS)


def describe_scale_numpy(
    gray: np.ndarray,
    bin_size: int,
    offset: int,
    step: int,
    sigma: float,
    settings: DescriptorSettings,
) -> np.ndarray:
    """One scale of dense SIFT: ``(n, H, W)`` float32 grey -> ``(n, ny * nx, 128)`` float32.

    ``sigma`` is the pre-smoothing (vl_phow: ``settings.sigma(bin_size)``);
    frames start at upper-left bin centre ``offset`` and repeat every ``step``.
    """
    b, nb = bin_size, NUM_SPATIAL_BINS
    n, h, w = gray.shape
    ny, nx = frames_along(h, offset, b, step), frames_along(w, offset, b, step)
    if n == 0 or ny == 0 or nx == 0:
        return np.zeros((n, ny * nx, SIFT_DIM), np.float32)
    g = gaussian_kernel(sigma)
    img = np.ascontiguousarray(gray.transpose(1, 2, 0), dtype=np.float32)  # (H, W, n) for cv2
    if len(g) > 1:
        img = _cv_filter(img, g, g)
    gx, gy = _gradients_np(img)
    maps = _orientation_maps_np(gx, gy).reshape(h, w, n * NUM_ORIENTATIONS)  # channel = (image, t)
    kernels = pooling_kernels(b, settings.window, settings.window_size)
    frames = offset + step * np.arange(max(ny, nx))
    rows = [frames[:ny] + j * b for j in range(nb)]
    cols = [frames[:nx] + i * b for i in range(nb)]
    if settings.window == "flat":
        # one triangle filter serves every bin; the window is a constant per bin
        triangle = kernels[0] / kernels[0].max()
        pooled = _cv_filter(maps, triangle, triangle)
        scale = np.outer(kernels[:, b - 1], kernels[:, b - 1])  # (j, i) window means
        grid = pooled[np.stack(rows)[:, :, None, None], np.stack(cols)[None, None]]
        desc = grid * scale[:, None, :, None, None]  # (j, ny, i, nx, C)
    else:
        parts = []
        for j in range(nb):
            by_row = _cv_filter(maps, kernels[j], None)[rows[j]]  # (ny, W, C)
            parts.append(
                np.stack([_cv_filter(by_row, None, kernels[i])[:, cols[i]] for i in range(nb)], 1)
            )
        desc = np.stack(parts)  # (j, ny, i, nx, C)
    desc = desc.reshape(nb, ny, nb, nx, n, NUM_ORIENTATIONS).transpose(4, 1, 3, 0, 2, 5)
    desc = np.ascontiguousarray(desc).reshape(n, ny * nx, SIFT_DIM)
    mass = desc.sum(axis=2) / float(((nb - 1) * b + 1) ** 2)
    return _normalise_np(desc, mass, settings.contrast_threshold)


_NP_CHUNK = 16  # images at a time: 16 x 8 orientation maps = 128 channels, one cv2 call


def dense_sift_numpy(
    gray: np.ndarray, grid: DenseGrid, settings: DescriptorSettings | None = None
) -> np.ndarray:
    """Dense SIFT on CPU: ``(n, S, S)`` float32 grey in [0, 1] -> ``(n, P, 128)`` float32."""
    settings = settings or DescriptorSettings()
    n, size = gray.shape[0], gray.shape[1]
    out = np.zeros((n, grid.n_points(size), SIFT_DIM), np.float32)
    start = 0
    for b in grid.bin_sizes:
        p = grid.frames_per_side(size, b) ** 2
        if p == 0:
            continue
        for s in range(0, n, _NP_CHUNK):
            out[s : s + _NP_CHUNK, start : start + p] = describe_scale_numpy(
                gray[s : s + _NP_CHUNK], b, grid.offset(b), grid.step, settings.sigma(b), settings
            )
        start += p
    return out


# --------------------------------------------------------------------------- torch


def _replicate_pad(x: Any, pad_y: int, pad_x: int) -> Any:
    import torch.nn.functional as F

    if pad_y == 0 and pad_x == 0:
        return x
    return F.pad(x, (pad_x, pad_x, pad_y, pad_y), mode="replicate")


def describe_scale_torch(
    gray: Any,
    bin_size: int,
    offset: int,
    step: int,
    sigma: float,
    settings: DescriptorSettings,
) -> Any:
    """One scale of dense SIFT: ``(n, 1, H, W)`` float tensor -> ``(n, ny * nx, 128)`` tensor.

    The same arithmetic as :func:`describe_scale_numpy`, as batched
    convolutions: the pooling of all 4 x 4 bins is one strided depthwise
    convolution along y then one along x, evaluated only at the frames.
    """
    import torch
    import torch.nn.functional as F

    b, nb = bin_size, NUM_SPATIAL_BINS
    n, _, h, w = gray.shape
    ny, nx = frames_along(h, offset, b, step), frames_along(w, offset, b, step)
    dev, dt = gray.device, gray.dtype
    if n == 0 or ny == 0 or nx == 0:
        return torch.zeros((n, ny * nx, SIFT_DIM), dtype=dt, device=dev)
    g = torch.as_tensor(gaussian_kernel(sigma), dtype=dt, device=dev)
    x = gray
    if len(g) > 1:
        r = len(g) // 2
        x = F.conv2d(_replicate_pad(x, r, 0), g.view(1, 1, -1, 1))
        x = F.conv2d(_replicate_pad(x, 0, r), g.view(1, 1, 1, -1))
    x = x[:, 0]  # central differences, one-sided on the border; H, W >= 4 here
    gx = torch.cat(
        [x[..., 1:2] - x[..., :1], 0.5 * (x[..., 2:] - x[..., :-2]), x[..., -1:] - x[..., -2:-1]],
        dim=-1,
    )
    gy = torch.cat(
        [x[:, 1:2] - x[:, :1], 0.5 * (x[:, 2:] - x[:, :-2]), x[:, -1:] - x[:, -2:-1]], dim=1
    )
    mod = torch.sqrt(gx * gx + gy * gy)
    nt = torch.remainder(torch.atan2(gy, gx), 2 * math.pi) * (NUM_ORIENTATIONS / (2 * math.pi))
    low = nt.long()  # floor: nt >= 0
    frac = (nt - low)[:, None]
    low = torch.remainder(low, NUM_ORIENTATIONS)[:, None]  # nt may round up to exactly 8
    maps = torch.zeros((n, NUM_ORIENTATIONS, h, w), dtype=dt, device=dev)
    maps.scatter_(1, low, (1.0 - frac) * mod[:, None])
    maps.scatter_(1, torch.remainder(low + 1, NUM_ORIENTATIONS), frac * mod[:, None])
    maps = _replicate_pad(maps, b - 1, b - 1)  # padded index = image index + b - 1
    # One filter per bin along an axis, each spanning the whole frame (5b - 1 taps, zero outside
    # the bin's 2b - 1), so one strided depthwise convolution per axis gives every bin at once.
    k = pooling_kernels(b, settings.window, settings.window_size)
    span = (nb + 1) * b - 1
    frame_k = np.zeros((nb, span), np.float32)
    for j in range(nb):
        frame_k[j, j * b : j * b + 2 * b - 1] = k[j]
    frame_k_t = torch.as_tensor(frame_k, dtype=dt, device=dev)
    rows = maps[:, :, offset : offset + (ny - 1) * step + span]
    by_row = F.conv2d(
        rows,
        frame_k_t.repeat(NUM_ORIENTATIONS, 1).view(NUM_ORIENTATIONS * nb, 1, span, 1),
        stride=(step, 1),
        groups=NUM_ORIENTATIONS,
    )  # (n, 8 t x 4 j, ny, W + 2b - 2)
    cols = by_row[..., offset : offset + (nx - 1) * step + span]
    pooled = F.conv2d(
        cols,
        frame_k_t.repeat(NUM_ORIENTATIONS * nb, 1).view(NUM_ORIENTATIONS * nb * nb, 1, 1, span),
        stride=(1, step),
        groups=NUM_ORIENTATIONS * nb,
    )  # (n, 8 t x 4 j x 4 i, ny, nx)
    desc = pooled.reshape(n, NUM_ORIENTATIONS, nb, nb, ny, nx).permute(0, 4, 5, 2, 3, 1)
    desc = desc.reshape(n, ny * nx, SIFT_DIM)
    mass = desc.sum(dim=2) / float(((nb - 1) * b + 1) ** 2)
    desc = desc / (torch.linalg.vector_norm(desc, dim=2, keepdim=True) + VL_EPSILON_F)
    desc = torch.clamp(desc, max=0.2)
    desc = desc / (torch.linalg.vector_norm(desc, dim=2, keepdim=True) + VL_EPSILON_F)
    return desc * (mass >= settings.contrast_threshold).to(dt)[..., None]


def gray_tensor(images: np.ndarray, device: str) -> Any:
    """``(n, H, W, 3)`` uint8 RGB -> ``(n, 1, H, W)`` float32 grey in [0, 1] on ``device``."""
    import torch

    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"expected (n, S, S, 3) RGB images, got shape {images.shape}")
    x = torch.from_numpy(np.ascontiguousarray(images)).to(device).float()
    weights = torch.as_tensor(RGB2GRAY / np.float32(255.0), device=device)
    return (x @ weights)[:, None]


def dense_sift_torch(gray: Any, grid: DenseGrid, settings: DescriptorSettings | None = None) -> Any:
    """Dense SIFT in torch: ``(n, 1, S, S)`` float tensor in [0, 1] -> ``(n, P, 128)`` tensor."""
    import torch

    settings = settings or DescriptorSettings()
    size = gray.shape[-1]
    with torch.no_grad():
        outs = [
            describe_scale_torch(gray, b, grid.offset(b), grid.step, settings.sigma(b), settings)
            for b in grid.bin_sizes
            if grid.frames_per_side(size, b) > 0
        ]
    if not outs:
        return torch.zeros((gray.shape[0], 0, SIFT_DIM), dtype=gray.dtype, device=gray.device)
    return torch.cat(outs, dim=1)
